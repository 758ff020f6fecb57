//! SVM fifos: SPSC byte rings whose header and data live in a segment.
//!
//! API CONTRACT (bodies to be written): the signatures here are what the
//! crates above build against.
#![allow(unused_variables, missing_docs, dead_code)]

use crate::error::FifoError;

bitflags::bitflags! {
    /// Dequeue-notification requests a producer can arm on a fifo
    /// (VPP `SVM_FIFO_WANT_DEQ_NOTIF*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DeqNtf: u8 {
        /// Notify on every dequeue.
        const NOTIF = 1 << 0;
        /// Notify when a dequeue takes the fifo from full to not full.
        const IF_FULL = 1 << 1;
        /// Notify when a dequeue empties the fifo.
        const IF_EMPTY = 1 << 2;
    }
}

/// A handle on one fifo: control operations any thread may do (events,
/// notification flags, occupancy queries, master session, private
/// bookkeeping). Cheap to clone; the producer and consumer ends are taken
/// from it once each.
#[derive(Clone)]
pub struct Fifo {}

/// The producer end of a fifo. `Send`, not `Clone`: one writer.
pub struct Producer {}

/// The consumer end of a fifo. `Send`, not `Clone`: one reader.
pub struct Consumer {}

impl Fifo {
    /// Takes the producer role; `RoleTaken` while another `Producer` lives.
    pub fn producer(&self) -> Result<Producer, FifoError> { todo!() }
    /// Takes the consumer role; `RoleTaken` while another `Consumer` lives.
    pub fn consumer(&self) -> Result<Consumer, FifoError> { todo!() }
    /// Data bytes the fifo holds (a power of two).
    pub fn size(&self) -> u32 { todo!() }
    /// Offset of the fifo header from the segment base (what a peer passes to
    /// `FifoSegment::fifo_at`).
    pub fn offset(&self) -> u64 { todo!() }
    /// Bytes ready to dequeue.
    pub fn max_dequeue(&self) -> Result<u32, FifoError> { todo!() }
    /// Bytes of free space.
    pub fn max_enqueue(&self) -> Result<u32, FifoError> { todo!() }
    pub fn is_empty(&self) -> Result<bool, FifoError> { todo!() }
    pub fn is_full(&self) -> Result<bool, FifoError> { todo!() }
    /// Sets the has-event flag; true when it was clear (the caller must then
    /// send the event).
    pub fn set_event(&self) -> bool { todo!() }
    /// Clears the has-event flag (SeqCst fence after, see DESIGN.md).
    pub fn unset_event(&self) { todo!() }
    pub fn has_event(&self) -> bool { todo!() }
    /// Producer side: arm dequeue notifications.
    pub fn add_want_deq_ntf(&self, ntf: DeqNtf) { todo!() }
    pub fn del_want_deq_ntf(&self, ntf: DeqNtf) { todo!() }
    pub fn want_deq_ntf(&self) -> DeqNtf { todo!() }
    /// After a notification was sent (VPP `svm_fifo_clear_deq_ntf`).
    pub fn clear_deq_ntf(&self) { todo!() }
    /// VPP `svm_fifo_reset_has_deq_ntf`.
    pub fn reset_has_deq_ntf(&self) { todo!() }
    /// Consumer side, after dequeuing `n_last_deq` bytes: should the
    /// producer be notified (VPP `svm_fifo_needs_deq_ntf`)?
    pub fn needs_deq_ntf(&self, n_last_deq: u32) -> bool { todo!() }
    /// (thread, session index) of the session this fifo belongs to.
    pub fn master_session(&self) -> (u32, u32) { todo!() }
    pub fn set_master_session(&self, thread: u32, session_index: u32) { todo!() }
    /// Private bookkeeping (never in shared memory).
    pub fn segment_index(&self) -> u32 { todo!() }
    pub fn set_segment_index(&self, index: u32) { todo!() }
    pub fn segment_manager_index(&self) -> u32 { todo!() }
    pub fn set_segment_manager_index(&self, index: u32) { todo!() }
    /// Logical users of this fifo (VPP `refcnt`; ct shares fifos crossed).
    pub fn refcount(&self) -> u32 { todo!() }
    pub fn ref_inc(&self) -> u32 { todo!() }
    /// Returns the new count.
    pub fn ref_dec(&self) -> u32 { todo!() }
    /// True once `FifoSegment::free_fifo` freed it.
    pub fn is_freed(&self) -> bool { todo!() }
    /// Same fifo (same segment, same offset, same allocation)?
    pub fn same(&self, other: &Fifo) -> bool { todo!() }
}

impl Producer {
    pub fn fifo(&self) -> &Fifo { todo!() }
    /// Copies as much of `data` as fits; Ok(0) when full.
    pub fn enqueue(&mut self, data: &[u8]) -> Result<usize, FifoError> { todo!() }
    pub fn max_enqueue(&self) -> Result<u32, FifoError> { todo!() }
    /// Zero-copy: the free space as up to two slices (second is the wrap).
    pub fn write_slices(&mut self) -> Result<(&mut [u8], &mut [u8]), FifoError> { todo!() }
    /// Publishes `n` bytes written through `write_slices`.
    pub fn commit(&mut self, n: u32) -> Result<(), FifoError> { todo!() }
}

impl Consumer {
    pub fn fifo(&self) -> &Fifo { todo!() }
    /// Copies out up to `buf.len()` bytes; Ok(0) when empty.
    pub fn dequeue(&mut self, buf: &mut [u8]) -> Result<usize, FifoError> { todo!() }
    /// Copies bytes starting `offset` past head without consuming them.
    pub fn peek(&self, offset: u32, buf: &mut [u8]) -> Result<usize, FifoError> { todo!() }
    /// Consumes up to `n` bytes without copying; returns how many.
    pub fn dequeue_drop(&mut self, n: u32) -> Result<u32, FifoError> { todo!() }
    /// Drops everything readable now.
    pub fn dequeue_drop_all(&mut self) -> Result<u32, FifoError> { todo!() }
    pub fn max_dequeue(&self) -> Result<u32, FifoError> { todo!() }
    /// Zero-copy: readable bytes as up to two slices.
    pub fn read_slices(&self) -> Result<(&[u8], &[u8]), FifoError> { todo!() }
    /// Releases `n` bytes read through `read_slices` (same as dequeue_drop,
    /// but `n` beyond what is readable is an error).
    pub fn release(&mut self, n: u32) -> Result<(), FifoError> { todo!() }
}
