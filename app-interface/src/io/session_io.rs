//! [`SessionIo`]: the app's end of one session's fifo pair.

use ct_fifo_segment::{Consumer, DeqNtf, Fifo, FifoError, Producer};

use super::{IoError, IoEvt, IoEvtSink};

/// The app's end of one session: consumer of the rx fifo, producer of the
/// tx fifo, and the sink that reaches the session's worker. Never blocks:
/// waiting is the wrapper's business (app-worker waits on a
/// `SessionWaker`, app-client on its event queue).
pub struct SessionIo<S> {
    rx: Consumer,
    tx: Producer,
    sink: S,
    tx_events: u64,
    rx_events: u64,
}

impl<S> std::fmt::Debug for SessionIo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionIo")
            .field("rx", &self.rx.fifo().offset())
            .field("tx", &self.tx.fifo().offset())
            .field("tx_events", &self.tx_events)
            .field("rx_events", &self.rx_events)
            .finish()
    }
}

impl<S: IoEvtSink> SessionIo<S> {
    /// Takes the consumer role of `rx` and the producer role of `tx`.
    pub fn new(rx: &Fifo, tx: &Fifo, sink: S) -> Result<Self, FifoError> {
        Ok(Self::from_ends(rx.consumer()?, tx.producer()?, sink))
    }

    /// Over ends the caller already holds.
    pub fn from_ends(rx: Consumer, tx: Producer, sink: S) -> Self {
        SessionIo {
            rx,
            tx,
            sink,
            tx_events: 0,
            rx_events: 0,
        }
    }

    /// The receive fifo.
    pub fn rx_fifo(&self) -> &Fifo {
        self.rx.fifo()
    }

    /// The transmit fifo.
    pub fn tx_fifo(&self) -> &Fifo {
        self.tx.fifo()
    }

    /// The event sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The event sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// TX events sent to the worker.
    pub fn tx_events_sent(&self) -> u64 {
        self.tx_events
    }

    /// RX-dequeue events sent to the worker.
    pub fn rx_events_sent(&self) -> u64 {
        self.rx_events
    }

    /// Bytes waiting to be read.
    pub fn max_dequeue(&self) -> Result<u32, FifoError> {
        self.rx.max_dequeue()
    }

    /// Free space to write.
    pub fn max_enqueue(&self) -> Result<u32, FifoError> {
        self.tx.max_enqueue()
    }

    /// Whether unread data waits in the rx fifo (closing now is a reset).
    pub fn has_unread(&self) -> bool {
        self.max_dequeue().is_ok_and(|n| n > 0)
    }

    fn notify_tx(&mut self) -> Result<(), IoError<S::Error>> {
        if self.tx.fifo().set_event() {
            self.tx_events += 1;
            self.sink.io_evt(IoEvt::Tx).map_err(IoError::Sink)?;
        }
        Ok(())
    }

    fn notify_rx(&mut self, n: u32) -> Result<(), IoError<S::Error>> {
        let f = self.rx.fifo();
        if n > 0 && f.needs_deq_ntf(n) {
            f.clear_deq_ntf();
            self.rx_events += 1;
            self.sink.io_evt(IoEvt::RxDequeue).map_err(IoError::Sink)?;
        }
        Ok(())
    }

    /// Shuts this side's direction (a half-close): the peer reads what was
    /// written, then the end of the stream, and may still write back; our
    /// writes from here on are [`FifoError::Shutdown`]. A TX event goes out
    /// even if one is pending (the transport turns it into an RX event for
    /// the peer, so a peer asleep on an empty fifo wakes and sees the end).
    /// Shutting again sends nothing.
    pub fn shutdown_tx(&mut self) -> Result<(), IoError<S::Error>> {
        if self.tx.is_shut() {
            return Ok(());
        }
        self.tx.shutdown()?;
        self.tx.fifo().set_event();
        self.tx_events += 1;
        self.sink.io_evt(IoEvt::Tx).map_err(IoError::Sink)
    }

    /// Whether this side shut its direction ([`SessionIo::shutdown_tx`]).
    pub fn tx_shut(&self) -> bool {
        self.tx.is_shut()
    }

    /// The end of the peer's stream: the peer shut its direction and
    /// everything it wrote was read.
    pub fn peer_shutdown(&self) -> Result<bool, FifoError> {
        self.rx.at_eof()
    }

    /// Writes as much of `data` as fits; returns how much. 0 means full: a
    /// dequeue notification is armed and a TX event will come back when
    /// the reader makes room. After [`SessionIo::shutdown_tx`], every write
    /// (even an empty one) is [`FifoError::Shutdown`].
    pub fn write(&mut self, data: &[u8]) -> Result<usize, IoError<S::Error>> {
        if self.tx.is_shut() {
            return Err(FifoError::Shutdown.into());
        }
        if data.is_empty() {
            return Ok(0);
        }
        let mut n = self.tx.enqueue(data)?;
        if n == 0 {
            // Arm, then look again: a dequeue between the first try and the
            // arming would otherwise leave nobody to wake us.
            self.tx.fifo().add_want_deq_ntf(DeqNtf::NOTIF);
            n = self.tx.enqueue(data)?;
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
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError<S::Error>> {
        let n = self.rx.dequeue(buf)?;
        self.notify_rx(n as u32)?;
        Ok(n)
    }

    /// Copies bytes `offset` past the read position without consuming them.
    pub fn peek(&self, offset: u32, buf: &mut [u8]) -> Result<usize, FifoError> {
        self.rx.peek(offset, buf)
    }

    /// Consumes up to `n` bytes without copying them; returns how many.
    pub fn drop_bytes(&mut self, n: u32) -> Result<u32, IoError<S::Error>> {
        let k = self.rx.dequeue_drop(n)?;
        self.notify_rx(k)?;
        Ok(k)
    }

    /// Zero-copy write: the free space as two slices; fill them, then
    /// [`SessionIo::commit`].
    pub fn write_slices(&mut self) -> Result<(&mut [u8], &mut [u8]), FifoError> {
        self.tx.write_slices()
    }

    /// Publishes `n` bytes written through [`SessionIo::write_slices`] and
    /// sends the TX event if needed.
    pub fn commit(&mut self, n: u32) -> Result<(), IoError<S::Error>> {
        self.tx.commit(n)?;
        if n > 0 {
            self.notify_tx()?;
        }
        Ok(())
    }

    /// Zero-copy read: the readable bytes as two slices; then
    /// [`SessionIo::release`] what was consumed.
    pub fn read_slices(&self) -> Result<(&[u8], &[u8]), FifoError> {
        self.rx.read_slices()
    }

    /// Consumes `n` bytes read through [`SessionIo::read_slices`] and
    /// sends the RX-dequeue event if the producer asked for one.
    pub fn release(&mut self, n: u32) -> Result<(), IoError<S::Error>> {
        self.rx.release(n)?;
        self.notify_rx(n)
    }
}
