//! [`AppSession`]: a builtin app's end of one session, over the shared
//! app-side session I/O ([`ct_app_interface::SessionIo`]: direct fifo reads
//! and writes, TX / RX-dequeue events only when the worker must know). Its
//! events go to the session's worker queue; blocking waits use the
//! session's [`SessionWaker`].
//!
//! [`AppSession`] implements `std::io::Read` and `Write`, in non-blocking
//! mode (`WouldBlock`) or blocking mode (waits on the session's
//! [`SessionWaker`], which first spins briefly on the fifo, adaptively;
//! threaded runtimes only, a stepped runtime would never deliver the
//! wake-up).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_interface::{IoEvt, IoEvtSink, SessionIo};
use ct_fifo_segment::Fifo;
use ct_session::{IoEvent, Session, SessionError, SessionHandle, SessionMain};

use crate::waker::SessionWaker;
use ct_session::SessionFifos;

/// How [`AppSession`]'s `Read` / `Write` behave when they cannot progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// Return `WouldBlock`.
    NonBlocking,
    /// Wait for the peer, up to the timeout (`None`: forever).
    Blocking(Option<Duration>),
}

/// A builtin app's events: straight onto the session's worker queue.
struct WorkerSink {
    main: Arc<SessionMain>,
    handle: SessionHandle,
}

impl IoEvtSink for WorkerSink {
    type Error = SessionError;

    fn io_evt(&mut self, evt: IoEvt) -> Result<(), SessionError> {
        let ev = match evt {
            IoEvt::Tx => IoEvent::Tx,
            IoEvt::RxDequeue => IoEvent::RxDequeue,
        };
        self.main.send_io_evt_to_thread(self.handle, ev)
    }
}

/// The app's end of one session: consumer of the rx fifo, producer of the
/// tx fifo, and the way to the session's worker.
pub struct AppSession {
    io: SessionIo<WorkerSink>,
    mode: IoMode,
    waker: Option<Arc<SessionWaker>>,
}

impl std::fmt::Debug for AppSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSession")
            .field("handle", &self.handle())
            .field("mode", &self.mode)
            .field("tx_events", &self.io.tx_events_sent())
            .field("rx_events", &self.io.rx_events_sent())
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
            io: SessionIo::new(rx, tx, WorkerSink { main, handle })?,
            mode: IoMode::NonBlocking,
            waker: None,
        })
    }

    /// The session.
    pub fn handle(&self) -> SessionHandle {
        self.io.sink().handle
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
        self.io.rx_fifo()
    }

    /// The transmit fifo.
    pub fn tx_fifo(&self) -> &Fifo {
        self.io.tx_fifo()
    }

    /// TX events this end sent to the worker.
    pub fn tx_events_sent(&self) -> u64 {
        self.io.tx_events_sent()
    }

    /// RX-dequeue events this end sent to the worker.
    pub fn rx_events_sent(&self) -> u64 {
        self.io.rx_events_sent()
    }

    /// Bytes waiting to be read.
    pub fn max_dequeue(&self) -> Result<u32, SessionError> {
        Ok(self.io.max_dequeue()?)
    }

    /// Free space to write.
    pub fn max_enqueue(&self) -> Result<u32, SessionError> {
        Ok(self.io.max_enqueue()?)
    }

    /// Whether unread data waits in the rx fifo (closing now is a reset).
    pub fn has_unread(&self) -> bool {
        self.io.has_unread()
    }

    /// Writes as much of `data` as fits; returns how much. 0 means full: a
    /// dequeue notification is armed and a TX event will arrive when the
    /// reader makes room.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, SessionError> {
        Ok(self.io.write(data)?)
    }

    /// Shuts this side's direction (a half-close): the peer reads what was
    /// written, then the end of the stream, and can still write back.
    /// Writes from here on are [`SessionError::WrongState`].
    pub fn shutdown_tx(&mut self) -> Result<(), SessionError> {
        Ok(self.io.shutdown_tx()?)
    }

    /// The end of the peer's stream: it shut its direction and everything
    /// it wrote was read.
    pub fn peer_shutdown(&self) -> Result<bool, SessionError> {
        Ok(self.io.peer_shutdown()?)
    }

    /// Reads up to `buf.len()` bytes; 0 when the fifo is empty.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, SessionError> {
        Ok(self.io.read(buf)?)
    }

    /// Copies bytes `offset` past the read position without consuming them.
    pub fn peek(&self, offset: u32, buf: &mut [u8]) -> Result<usize, SessionError> {
        Ok(self.io.peek(offset, buf)?)
    }

    /// Consumes up to `n` bytes without copying them.
    pub fn drop_bytes(&mut self, n: u32) -> Result<u32, SessionError> {
        Ok(self.io.drop_bytes(n)?)
    }

    /// Zero-copy write: the free space as two slices; fill them, then
    /// [`AppSession::commit`].
    pub fn write_slices(&mut self) -> Result<(&mut [u8], &mut [u8]), SessionError> {
        Ok(self.io.write_slices()?)
    }

    /// Publishes `n` bytes written through [`AppSession::write_slices`] and
    /// sends the TX event if needed.
    pub fn commit(&mut self, n: u32) -> Result<(), SessionError> {
        Ok(self.io.commit(n)?)
    }

    /// Zero-copy read: the readable bytes as two slices; then
    /// [`AppSession::release`] what was consumed.
    pub fn read_slices(&self) -> Result<(&[u8], &[u8]), SessionError> {
        Ok(self.io.read_slices()?)
    }

    /// Consumes `n` bytes read through [`AppSession::read_slices`] and
    /// sends the RX-dequeue event if the producer asked for one.
    pub fn release(&mut self, n: u32) -> Result<(), SessionError> {
        Ok(self.io.release(n)?)
    }

    fn deadline(&self) -> Option<Instant> {
        match self.mode {
            IoMode::Blocking(Some(t)) => Some(Instant::now() + t),
            _ => None,
        }
    }

    /// Blocks until `op` makes progress, the session closes or the mode's
    /// timeout passes. `ready` says `op` could progress now (data to read,
    /// room to write): the waker polls it for its adaptive spin before
    /// sleeping.
    fn block_on(
        &mut self,
        mut op: impl FnMut(&mut Self) -> Result<usize, SessionError>,
        ready: impl Fn(&Self) -> bool,
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
                    w.wait_past_or(seq, Some(until), || ready(self));
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
        // A closed peer is end of stream. An error counts as ready: the
        // read reports it.
        self.block_on(
            |s| AppSession::read(s, buf),
            |s| s.io.max_dequeue().map_or(true, |n| n > 0),
            Ok(0),
        )
    }
}

impl io::Write for AppSession {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.block_on(
            |s| AppSession::write(s, buf),
            |s| s.io.max_enqueue().map_or(true, |n| n > 0),
            Err(io::ErrorKind::BrokenPipe.into()),
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        // Data is in the fifo once written; the TX event went out then.
        Ok(())
    }
}
