//! The two ends of a session's fifo pair, each on its own: a stream's
//! reader and its writer (two threads, clones, halves) each lock only
//! theirs, so data never waits for the other direction. app-interface's
//! `SessionIo` keeps both ends in one value, for owners that use them from
//! one thread; these follow its event rules, one direction each.

use ct_sync::atomic::{AtomicU64, Ordering};
use std::io;
use std::sync::Arc;

use ct_app_interface::SessionError;
use ct_app_interface::wire::{AppMsg, SessionRef};
use ct_fifo_segment::{Consumer, DeqNtf, FifoError, Producer};

use crate::app_worker::AppWorkerShared;
use crate::error::ClientError;

/// Where a session's IO events go: the control queue of its thread.
#[derive(Debug, Clone)]
pub(crate) struct CtrlSink {
    wrk: Arc<AppWorkerShared>,
    sref: SessionRef,
}

impl CtrlSink {
    pub(crate) fn new(wrk: Arc<AppWorkerShared>, sref: SessionRef) -> Self {
        CtrlSink { wrk, sref }
    }

    fn send(&self, msg: fn(SessionRef) -> AppMsg, sent: &AtomicU64) -> io::Result<()> {
        sent.fetch_add(1, Ordering::Relaxed);
        self.wrk
            .ctrl
            .send(self.sref.thread(), &msg(self.sref))
            .map_err(ClientError::into_io)
    }
}

/// A fifo error as the app sees it.
pub(crate) fn fifo_err(e: FifoError) -> io::Error {
    crate::error::to_io(SessionError::from(e))
}

/// The receive end: consumer of the rx fifo.
pub(crate) struct RxEnd {
    rx: Consumer,
    sink: CtrlSink,
}

impl RxEnd {
    pub(crate) fn new(rx: Consumer, sink: CtrlSink) -> Self {
        RxEnd { rx, sink }
    }

    /// Bytes waiting to be read.
    pub(crate) fn max_dequeue(&self) -> io::Result<u32> {
        self.rx.max_dequeue().map_err(fifo_err)
    }

    /// Reads up to `buf.len()` bytes; 0 when the fifo is empty. `sent`
    /// counts the RX-dequeue events this sends.
    pub(crate) fn read(&mut self, buf: &mut [u8], sent: &AtomicU64) -> io::Result<usize> {
        let n = self.rx.dequeue(buf).map_err(fifo_err)?;
        self.dequeued(n as u32, sent)?;
        Ok(n)
    }

    /// The readable bytes as two slices.
    pub(crate) fn read_slices(&self) -> io::Result<(&[u8], &[u8])> {
        self.rx.read_slices().map_err(fifo_err)
    }

    /// Consumes `n` bytes seen through [`RxEnd::read_slices`].
    pub(crate) fn release(&mut self, n: u32, sent: &AtomicU64) -> io::Result<()> {
        self.rx.release(n).map_err(fifo_err)?;
        self.dequeued(n, sent)
    }

    /// The writer asked to hear when we read: the session's thread tells
    /// it there is room.
    fn dequeued(&self, n: u32, sent: &AtomicU64) -> io::Result<()> {
        let f = self.rx.fifo();
        if n > 0 && f.needs_deq_ntf(n) {
            f.clear_deq_ntf();
            self.sink.send(AppMsg::IoRxDequeue, sent)?;
        }
        Ok(())
    }
}

/// The transmit end: producer of the tx fifo.
pub(crate) struct TxEnd {
    tx: Producer,
    sink: CtrlSink,
}

impl TxEnd {
    pub(crate) fn new(tx: Producer, sink: CtrlSink) -> Self {
        TxEnd { tx, sink }
    }

    /// Room to write.
    pub(crate) fn max_enqueue(&self) -> io::Result<u32> {
        self.tx.max_enqueue().map_err(fifo_err)
    }

    /// Room to write; with none, a dequeue notification is armed so the
    /// reader's side says when it drains (armed, then looked at again: a
    /// dequeue between the two would otherwise wake nobody).
    pub(crate) fn room(&self) -> io::Result<u32> {
        let n = self.max_enqueue()?;
        if n > 0 {
            return Ok(n);
        }
        self.tx.fifo().add_want_deq_ntf(DeqNtf::NOTIF);
        let n = self.max_enqueue()?;
        if n > 0 {
            self.tx.fifo().del_want_deq_ntf(DeqNtf::NOTIF);
        }
        Ok(n)
    }

    /// Writes as much of `data` as fits; 0 when full (a notification is
    /// then armed, as in [`TxEnd::room`]). `sent` counts TX events.
    pub(crate) fn write(&mut self, data: &[u8], sent: &AtomicU64) -> io::Result<usize> {
        let mut n = self.tx.enqueue(data).map_err(fifo_err)?;
        if n == 0 && !data.is_empty() {
            self.tx.fifo().add_want_deq_ntf(DeqNtf::NOTIF);
            n = self.tx.enqueue(data).map_err(fifo_err)?;
            if n > 0 {
                self.tx.fifo().del_want_deq_ntf(DeqNtf::NOTIF);
            }
        }
        if n > 0 {
            self.enqueued(sent)?;
        }
        Ok(n)
    }

    /// The free space as two slices.
    pub(crate) fn write_slices(&mut self) -> io::Result<(&mut [u8], &mut [u8])> {
        self.tx.write_slices().map_err(fifo_err)
    }

    /// Publishes `n` bytes written through [`TxEnd::write_slices`].
    pub(crate) fn commit(&mut self, n: u32, sent: &AtomicU64) -> io::Result<()> {
        self.tx.commit(n).map_err(fifo_err)?;
        if n > 0 {
            self.enqueued(sent)?;
        }
        Ok(())
    }

    /// Data landed: the session's thread hears of it unless it already
    /// has an event pending for this fifo.
    fn enqueued(&self, sent: &AtomicU64) -> io::Result<()> {
        if self.tx.fifo().set_event() {
            self.sink.send(AppMsg::IoTx, sent)?;
        }
        Ok(())
    }
}
