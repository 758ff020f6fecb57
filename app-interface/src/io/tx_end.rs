//! [`TxEnd`]: the app's end of a session's tx fifo and its write rules.

use ct_fifo_segment::{DeqNtf, Fifo, FifoError, Producer, WriteNotice};

use super::{IoError, IoEvt, IoEvtSink};

/// Producer of a session's tx fifo. Every write goes through here, so the
/// TX-event and full-fifo rules (module docs) hold whoever owns the end.
/// The sink is passed to each call that may send, as for
/// [`RxEnd`](super::RxEnd).
#[derive(Debug)]
pub struct TxEnd {
    tx: Producer,
    events: u64,
    direct: u64,
}

impl TxEnd {
    /// Over a producer the caller already holds.
    pub fn new(tx: Producer) -> Self {
        TxEnd {
            tx,
            events: 0,
            direct: 0,
        }
    }

    /// The transmit fifo.
    pub fn fifo(&self) -> &Fifo {
        self.tx.fifo()
    }

    /// TX events this end sent.
    pub fn events_sent(&self) -> u64 {
        self.events
    }

    /// Writes that a reader waiting on the fifo saw (or was woken for)
    /// without a TX event.
    pub fn direct_wakes(&self) -> u64 {
        self.direct
    }

    /// Free space to write.
    pub fn max_enqueue(&self) -> Result<u32, FifoError> {
        self.tx.max_enqueue()
    }

    /// Free space to write; with none, a dequeue notification is armed
    /// (as by a write that finds the fifo full) so the reader's side says
    /// when it drains. After [`TxEnd::shutdown`], [`FifoError::Shutdown`].
    pub fn room(&mut self) -> Result<u32, FifoError> {
        self.check_open()?;
        let n = self.or_arm(|tx| tx.max_enqueue().map(|n| n as usize))?;
        Ok(n as u32)
    }

    /// Shuts this direction (a half-close): the peer reads what was
    /// written, then the end of the stream, and may still write back;
    /// writes from here on are [`FifoError::Shutdown`]. A TX event goes out
    /// even if one is pending (the transport turns it into an RX event for
    /// the peer, so a peer asleep on an empty fifo wakes and sees the end).
    /// Shutting again sends nothing.
    pub fn shutdown<S: IoEvtSink>(&mut self, sink: &mut S) -> Result<(), IoError<S::Error>> {
        if self.tx.is_shut() {
            return Ok(());
        }
        self.tx.shutdown()?;
        // A reader asleep on the fifo's futex word hears no event: wake it
        // to see the end (one polling sees the flag as it sees data).
        self.tx.fifo().wake_reader();
        self.tx.fifo().set_event();
        self.events += 1;
        sink.io_evt(IoEvt::Tx).map_err(IoError::Sink)
    }

    /// Whether this end shut its direction ([`TxEnd::shutdown`]).
    pub fn is_shut(&self) -> bool {
        self.tx.is_shut()
    }

    fn check_open(&self) -> Result<(), FifoError> {
        if self.tx.is_shut() {
            return Err(FifoError::Shutdown);
        }
        Ok(())
    }

    /// Writes as much of `data` as fits; returns how much. 0 means full: a
    /// dequeue notification is armed and a TX event will come back when
    /// the reader makes room. After [`TxEnd::shutdown`], every write (even
    /// an empty one) is [`FifoError::Shutdown`].
    pub fn write<S: IoEvtSink>(
        &mut self,
        data: &[u8],
        sink: &mut S,
    ) -> Result<usize, IoError<S::Error>> {
        self.check_open()?;
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.or_arm(|tx| tx.enqueue(data))?;
        if n > 0 {
            self.enqueued(sink)?;
        }
        Ok(n)
    }

    /// Zero-copy write: the free space as two slices; fill them, then
    /// [`TxEnd::commit`].
    pub fn write_slices(&mut self) -> Result<(&mut [u8], &mut [u8]), FifoError> {
        self.tx.write_slices()
    }

    /// Publishes `n` bytes written through [`TxEnd::write_slices`] and
    /// sends the TX event if needed.
    pub fn commit<S: IoEvtSink>(&mut self, n: u32, sink: &mut S) -> Result<(), IoError<S::Error>> {
        self.tx.commit(n)?;
        if n > 0 {
            self.enqueued(sink)?;
        }
        Ok(())
    }

    /// `attempt`; when it finds no room, arm a dequeue notification and
    /// attempt again: a dequeue between the first try and the arming
    /// would otherwise leave nobody to wake the writer. Disarmed when the
    /// second attempt finds room after all.
    fn or_arm(
        &mut self,
        mut attempt: impl FnMut(&mut Producer) -> Result<usize, FifoError>,
    ) -> Result<usize, FifoError> {
        let n = attempt(&mut self.tx)?;
        if n > 0 {
            return Ok(n);
        }
        self.tx.fifo().add_want_deq_ntf(DeqNtf::NOTIF);
        let n = attempt(&mut self.tx)?;
        if n > 0 {
            self.tx.fifo().del_want_deq_ntf(DeqNtf::NOTIF);
        }
        Ok(n)
    }

    /// Data landed. A reader that waits on the fifo itself hears of it
    /// directly: one polling it sees the data, one asleep on the fifo's
    /// futex word is woken here (ARCHITECTURE.md, "Event flow"). Otherwise
    /// the worker hears of it, unless an event for this fifo is pending
    /// already (its flag set).
    fn enqueued<S: IoEvtSink>(&mut self, sink: &mut S) -> Result<(), IoError<S::Error>> {
        match self.tx.fifo().notify_write() {
            WriteNotice::Watching | WriteNotice::Woken => self.direct += 1,
            WriteNotice::EventOwed => {
                self.events += 1;
                sink.io_evt(IoEvt::Tx).map_err(IoError::Sink)?;
            }
            WriteNotice::EventPending => {}
        }
        Ok(())
    }
}
