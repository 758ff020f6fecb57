//! App-side session I/O: the app writes its tx fifo and reads its rx fifo
//! directly, and tells the session's worker only what it must know.
//!
//! - After a write, `set_event` on the tx fifo; only when the flag was clear
//!   is a TX event sent to the session's worker (the transport clears it
//!   when it handles the event), so a burst of writes costs one event.
//! - After a read, an RX-dequeue event goes to the worker only when the
//!   producer asked for a dequeue notification (`needs_deq_ntf`); the
//!   request is cleared first so it is sent once.
//! - A write that finds the fifo full arms a dequeue notification, then
//!   looks again (the store-load pair DESIGN.md fences), so a reader that
//!   drained the fifo meanwhile is never missed.
//!
//! [`AppSession`] implements `std::io::Read` and `Write`, in non-blocking
//! mode (`WouldBlock`) or blocking mode (waits on the session's
//! [`SessionWaker`]; threaded runtimes only, a stepped runtime would never
//! deliver the wake-up).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fifo_segment::{Consumer, DeqNtf, Fifo, FifoError, Producer};
use session::{IoEvent, Session, SessionError, SessionHandle, SessionMain};

use crate::queue::SessionFifos;
use crate::waker::SessionWaker;

/// How [`AppSession`]'s `Read` / `Write` behave when they cannot progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// Return `WouldBlock`.
    NonBlocking,
    /// Wait for the peer, up to the timeout (`None`: forever).
    Blocking(Option<Duration>),
}

/// Maps a fifo error to the session error an app sees.
pub(crate) fn fifo_err(e: FifoError) -> SessionError {
    match e {
        FifoError::Freed => SessionError::NoSession,
        FifoError::Corrupted(_) | FifoError::RoleTaken | FifoError::OutOfRange => {
            SessionError::Invalid
        }
    }
}

/// The app's end of one session: consumer of the rx fifo, producer of the
/// tx fifo, and the way to the session's worker.
pub struct AppSession {
    handle: SessionHandle,
    main: Arc<SessionMain>,
    rx: Consumer,
    tx: Producer,
    mode: IoMode,
    waker: Option<Arc<SessionWaker>>,
    tx_events: u64,
    rx_events: u64,
}

impl std::fmt::Debug for AppSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSession")
            .field("handle", &self.handle)
            .field("mode", &self.mode)
            .field("tx_events", &self.tx_events)
            .field("rx_events", &self.rx_events)
            .finish()
    }
}

impl AppSession {
    /// The app's end of the session `fifos` describes (from an accept or
    /// connect message). Takes the rx consumer and tx producer roles.
    pub fn from_fifos(main: Arc<SessionMain>, fifos: &SessionFifos) -> Result<Self, SessionError> {
        Self::new(main, fifos.session, &fifos.rx_fifo, &fifos.tx_fifo)
    }

    pub(crate) fn from_session(main: Arc<SessionMain>, s: &Session) -> Result<Self, SessionError> {
        let (rx, tx) = match (&s.rx_fifo, &s.tx_fifo) {
            (Some(rx), Some(tx)) => (rx, tx),
            _ => return Err(SessionError::WrongState),
        };
        Self::new(main, s.handle(), rx, tx)
    }

    fn new(
        main: Arc<SessionMain>,
        handle: SessionHandle,
        rx: &Fifo,
        tx: &Fifo,
    ) -> Result<Self, SessionError> {
        Ok(AppSession {
            handle,
            main,
            rx: rx.consumer().map_err(fifo_err)?,
            tx: tx.producer().map_err(fifo_err)?,
            mode: IoMode::NonBlocking,
            waker: None,
            tx_events: 0,
            rx_events: 0,
        })
    }

    /// The session.
    pub fn handle(&self) -> SessionHandle {
        self.handle
    }

    /// Sets how `Read` / `Write` wait.
    pub fn set_mode(&mut self, mode: IoMode) {
        self.mode = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> IoMode {
        self.mode
    }

    /// Uses `waker` for blocking waits (see
    /// [`Apps::session_waker`](crate::Apps::session_waker)).
    pub fn set_waker(&mut self, waker: Arc<SessionWaker>) {
        self.waker = Some(waker);
    }

    /// The receive fifo.
    pub fn rx_fifo(&self) -> &Fifo {
        self.rx.fifo()
    }

    /// The transmit fifo.
    pub fn tx_fifo(&self) -> &Fifo {
        self.tx.fifo()
    }

    /// TX events this end sent to the worker.
    pub fn tx_events_sent(&self) -> u64 {
        self.tx_events
    }

    /// RX-dequeue events this end sent to the worker.
    pub fn rx_events_sent(&self) -> u64 {
        self.rx_events
    }

    /// Bytes waiting to be read.
    pub fn max_dequeue(&self) -> Result<u32, SessionError> {
        self.rx.max_dequeue().map_err(fifo_err)
    }

    /// Free space to write.
    pub fn max_enqueue(&self) -> Result<u32, SessionError> {
        self.tx.max_enqueue().map_err(fifo_err)
    }

    /// Whether unread data waits in the rx fifo (closing now is a reset).
    pub fn has_unread(&self) -> bool {
        self.max_dequeue().is_ok_and(|n| n > 0)
    }

    fn notify_tx(&mut self) -> Result<(), SessionError> {
        if self.tx.fifo().set_event() {
            self.tx_events += 1;
            self.main.send_io_evt_to_thread(self.handle, IoEvent::Tx)?;
        }
        Ok(())
    }

    fn notify_rx(&mut self, n: u32) -> Result<(), SessionError> {
        let f = self.rx.fifo();
        if n > 0 && f.needs_deq_ntf(n) {
            f.clear_deq_ntf();
            self.rx_events += 1;
            self.main
                .send_io_evt_to_thread(self.handle, IoEvent::RxDequeue)?;
        }
        Ok(())
    }

    /// Writes as much of `data` as fits; returns how much. 0 means full: a
    /// dequeue notification is armed and a TX event will arrive when the
    /// reader makes room.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, SessionError> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut n = self.tx.enqueue(data).map_err(fifo_err)?;
        if n == 0 {
            // Arm, then look again: a dequeue between the first try and the
            // arming would otherwise leave nobody to wake us.
            self.tx.fifo().add_want_deq_ntf(DeqNtf::NOTIF);
            n = self.tx.enqueue(data).map_err(fifo_err)?;
            if n > 0 {
                self.tx.fifo().del_want_deq_ntf(DeqNtf::NOTIF);
            }
        }
        if n > 0 {
            self.notify_tx()?;
        }
        Ok(n)
    }

    /// Reads up to `buf.len()` bytes; 0 when the fifo is empty.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, SessionError> {
        let n = self.rx.dequeue(buf).map_err(fifo_err)?;
        self.notify_rx(n as u32)?;
        Ok(n)
    }

    /// Copies bytes `offset` past the read position without consuming them.
    pub fn peek(&self, offset: u32, buf: &mut [u8]) -> Result<usize, SessionError> {
        self.rx.peek(offset, buf).map_err(fifo_err)
    }

    /// Consumes up to `n` bytes without copying them.
    pub fn drop_bytes(&mut self, n: u32) -> Result<u32, SessionError> {
        let k = self.rx.dequeue_drop(n).map_err(fifo_err)?;
        self.notify_rx(k)?;
        Ok(k)
    }

    /// Zero-copy write: the free space as two slices; fill them, then
    /// [`AppSession::commit`].
    pub fn write_slices(&mut self) -> Result<(&mut [u8], &mut [u8]), SessionError> {
        self.tx.write_slices().map_err(fifo_err)
    }

    /// Publishes `n` bytes written through [`AppSession::write_slices`] and
    /// sends the TX event if needed.
    pub fn commit(&mut self, n: u32) -> Result<(), SessionError> {
        self.tx.commit(n).map_err(fifo_err)?;
        if n > 0 {
            self.notify_tx()?;
        }
        Ok(())
    }

    /// Zero-copy read: the readable bytes as two slices; then
    /// [`AppSession::release`] what was consumed.
    pub fn read_slices(&self) -> Result<(&[u8], &[u8]), SessionError> {
        self.rx.read_slices().map_err(fifo_err)
    }

    /// Consumes `n` bytes read through [`AppSession::read_slices`] and
    /// sends the RX-dequeue event if the producer asked for one.
    pub fn release(&mut self, n: u32) -> Result<(), SessionError> {
        self.rx.release(n).map_err(fifo_err)?;
        self.notify_rx(n)
    }

    fn deadline(&self) -> Option<Instant> {
        match self.mode {
            IoMode::Blocking(Some(t)) => Some(Instant::now() + t),
            _ => None,
        }
    }

    /// Blocks until `op` makes progress, the session closes or the mode's
    /// timeout passes.
    fn block_on(
        &mut self,
        mut op: impl FnMut(&mut Self) -> Result<usize, SessionError>,
        on_closed: io::Result<usize>,
    ) -> io::Result<usize> {
        let deadline = self.deadline();
        loop {
            let seq = self.waker.as_ref().map(|w| w.seq());
            let n = op(self).map_err(io::Error::other)?;
            if n > 0 {
                return Ok(n);
            }
            if let Some(w) = &self.waker
                && w.is_closed()
            {
                // One more try: data may have arrived with the close.
                let n = op(self).map_err(io::Error::other)?;
                return if n > 0 { Ok(n) } else { on_closed };
            }
            if self.mode == IoMode::NonBlocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match (&self.waker, seq) {
                (Some(w), Some(seq)) => {
                    // Short waits: a wake-up that raced the re-check is
                    // caught by the next round anyway.
                    let until = Instant::now() + Duration::from_millis(5);
                    let until = deadline.map_or(until, |d| d.min(until));
                    w.wait_past(seq, Some(until));
                }
                _ => std::thread::sleep(Duration::from_micros(50)),
            }
        }
    }
}

impl io::Read for AppSession {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A closed peer is end of stream.
        self.block_on(|s| AppSession::read(s, buf), Ok(0))
    }
}

impl io::Write for AppSession {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.block_on(
            |s| AppSession::write(s, buf),
            Err(io::ErrorKind::BrokenPipe.into()),
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        // Data is in the fifo once written; the TX event went out then.
        Ok(())
    }
}
