//! [`SessionIo`]: the app's end of one session's fifo pair.

use ct_fifo_segment::{Consumer, Fifo, FifoError, Producer};

use super::{IoError, IoEvtSink, RxEnd, TxEnd};

/// The app's end of one session: its [`RxEnd`] and [`TxEnd`] and the one
/// sink that reaches the session's worker, for an owner that uses both
/// directions from one place. Never blocks: waiting is the wrapper's
/// business (app-worker waits on a `SessionWaker`, app-client on its
/// event queue).
pub struct SessionIo<S> {
    rx: RxEnd,
    tx: TxEnd,
    sink: S,
}

impl<S> std::fmt::Debug for SessionIo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionIo")
            .field("rx", &self.rx.fifo().offset())
            .field("tx", &self.tx.fifo().offset())
            .field("tx_events", &self.tx.events_sent())
            .field("rx_events", &self.rx.events_sent())
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
            rx: RxEnd::new(rx),
            tx: TxEnd::new(tx),
            sink,
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
        self.tx.events_sent()
    }

    /// RX-dequeue events sent to the worker.
    pub fn rx_events_sent(&self) -> u64 {
        self.rx.events_sent()
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
        self.rx.has_unread()
    }

    /// [`TxEnd::shutdown`]: a half-close of this side's direction.
    pub fn shutdown_tx(&mut self) -> Result<(), IoError<S::Error>> {
        self.tx.shutdown(&mut self.sink)
    }

    /// [`TxEnd::is_shut`].
    pub fn tx_shut(&self) -> bool {
        self.tx.is_shut()
    }

    /// [`RxEnd::peer_shutdown`].
    pub fn peer_shutdown(&self) -> Result<bool, FifoError> {
        self.rx.peer_shutdown()
    }

    /// [`TxEnd::write`].
    pub fn write(&mut self, data: &[u8]) -> Result<usize, IoError<S::Error>> {
        self.tx.write(data, &mut self.sink)
    }

    /// [`RxEnd::read`].
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError<S::Error>> {
        self.rx.read(buf, &mut self.sink)
    }

    /// [`RxEnd::peek`].
    pub fn peek(&self, offset: u32, buf: &mut [u8]) -> Result<usize, FifoError> {
        self.rx.peek(offset, buf)
    }

    /// [`RxEnd::drop_bytes`].
    pub fn drop_bytes(&mut self, n: u32) -> Result<u32, IoError<S::Error>> {
        self.rx.drop_bytes(n, &mut self.sink)
    }

    /// [`TxEnd::write_slices`]; then [`SessionIo::commit`].
    pub fn write_slices(&mut self) -> Result<(&mut [u8], &mut [u8]), FifoError> {
        self.tx.write_slices()
    }

    /// [`TxEnd::commit`].
    pub fn commit(&mut self, n: u32) -> Result<(), IoError<S::Error>> {
        self.tx.commit(n, &mut self.sink)
    }

    /// [`RxEnd::read_slices`]; then [`SessionIo::release`].
    pub fn read_slices(&self) -> Result<(&[u8], &[u8]), FifoError> {
        self.rx.read_slices()
    }

    /// [`RxEnd::release`].
    pub fn release(&mut self, n: u32) -> Result<(), IoError<S::Error>> {
        self.rx.release(n, &mut self.sink)
    }
}
