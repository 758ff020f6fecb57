//! [`RxEnd`]: the app's end of a session's rx fifo and its read rule.

use ct_fifo_segment::{Consumer, Fifo, FifoError};

use super::{IoError, IoEvt, IoEvtSink};

/// Consumer of a session's rx fifo. Every read goes through here, so the
/// RX-dequeue rule (module docs) holds whoever owns the end. The sink is
/// passed to each call that may send: a [`SessionIo`](super::SessionIo)
/// owns one sink for both of its ends, app-client shares one between a
/// stream's two ends, each behind its own lock.
#[derive(Debug)]
pub struct RxEnd {
    rx: Consumer,
    events: u64,
}

impl RxEnd {
    /// Over a consumer the caller already holds.
    pub fn new(rx: Consumer) -> Self {
        RxEnd { rx, events: 0 }
    }

    /// The receive fifo.
    pub fn fifo(&self) -> &Fifo {
        self.rx.fifo()
    }

    /// The end of the peer's stream: the peer shut its direction and
    /// everything it wrote was read.
    pub fn peer_shutdown(&self) -> Result<bool, FifoError> {
        self.rx.at_eof()
    }

    /// RX-dequeue events this end sent.
    pub fn events_sent(&self) -> u64 {
        self.events
    }

    /// Bytes waiting to be read.
    pub fn max_dequeue(&self) -> Result<u32, FifoError> {
        self.rx.max_dequeue()
    }

    /// Whether unread data waits (closing now is a reset).
    pub fn has_unread(&self) -> bool {
        self.max_dequeue().is_ok_and(|n| n > 0)
    }

    /// Reads up to `buf.len()` bytes; 0 when the fifo is empty.
    pub fn read<S: IoEvtSink>(
        &mut self,
        buf: &mut [u8],
        sink: &mut S,
    ) -> Result<usize, IoError<S::Error>> {
        let n = self.rx.dequeue(buf)?;
        self.dequeued(n as u32, sink)?;
        Ok(n)
    }

    /// Copies bytes `offset` past the read position without consuming them.
    pub fn peek(&self, offset: u32, buf: &mut [u8]) -> Result<usize, FifoError> {
        self.rx.peek(offset, buf)
    }

    /// Consumes up to `n` bytes without copying them; returns how many.
    pub fn drop_bytes<S: IoEvtSink>(
        &mut self,
        n: u32,
        sink: &mut S,
    ) -> Result<u32, IoError<S::Error>> {
        let k = self.rx.dequeue_drop(n)?;
        self.dequeued(k, sink)?;
        Ok(k)
    }

    /// Zero-copy read: the readable bytes as two slices; then
    /// [`RxEnd::release`] what was consumed.
    pub fn read_slices(&self) -> Result<(&[u8], &[u8]), FifoError> {
        self.rx.read_slices()
    }

    /// Consumes `n` bytes read through [`RxEnd::read_slices`].
    pub fn release<S: IoEvtSink>(&mut self, n: u32, sink: &mut S) -> Result<(), IoError<S::Error>> {
        self.rx.release(n)?;
        self.dequeued(n, sink)
    }

    /// `n` bytes left the fifo: the producer hears of it only if it asked,
    /// and its request is cleared first so it hears once.
    fn dequeued<S: IoEvtSink>(&mut self, n: u32, sink: &mut S) -> Result<(), IoError<S::Error>> {
        let f = self.rx.fifo();
        if n > 0 && f.needs_deq_ntf(n) {
            f.clear_deq_ntf();
            self.events += 1;
            sink.io_evt(IoEvt::RxDequeue).map_err(IoError::Sink)?;
        }
        Ok(())
    }
}
