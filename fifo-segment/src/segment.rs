//! Fifo segments: a memfd (or heap) region holding fifos, with a header,
//! per-thread slices and chunk free lists by size class.
//!
//! API CONTRACT (bodies to be written).
#![allow(unused_variables, missing_docs, dead_code)]

use std::os::fd::{BorrowedFd, OwnedFd};

use crate::error::SegmentError;
use crate::fifo::Fifo;

bitflags::bitflags! {
    /// Segment flags (VPP `FIFO_SEGMENT_F_*`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SegmentFlags: u32 {
        /// Reserved for one user (ct): not for general fifo allocation.
        const CUSTOM_USE = 1 << 0;
        /// Fifos were preallocated at creation.
        const IS_PREALLOCATED = 1 << 1;
        /// The segment has reached its memory limit.
        const MEM_LIMIT = 1 << 2;
    }
}

/// A fifo segment. Cloning shares the same mapping.
#[derive(Clone)]
pub struct FifoSegment {}

impl FifoSegment {
    /// Creates a memfd-backed segment of `size` bytes with `n_slices` slices
    /// (one per thread that allocates), sealed against shrinking.
    pub fn create(name: &str, size: usize, n_slices: u32, flags: SegmentFlags) -> Result<Self, SegmentError> { todo!() }
    /// Same, backed by a heap buffer (tests; the only backing under loom).
    pub fn create_heap(size: usize, n_slices: u32, flags: SegmentFlags) -> Result<Self, SegmentError> { todo!() }
    /// Maps a peer's segment from its fd and validates the header. Such a
    /// segment cannot allocate; fifos are opened with `fifo_at`.
    pub fn attach(fd: OwnedFd) -> Result<Self, SegmentError> { todo!() }
    /// The memfd, for sending to a peer (None for heap segments).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> { todo!() }
    pub fn size(&self) -> usize { todo!() }
    pub fn n_slices(&self) -> u32 { todo!() }
    pub fn flags(&self) -> SegmentFlags { todo!() }
    pub fn set_flags(&self, flags: SegmentFlags) { todo!() }
    pub fn clear_flags(&self, flags: SegmentFlags) { todo!() }
    pub fn is_owner(&self) -> bool { todo!() }
    /// Allocates a fifo of at least `size` data bytes (rounded up to a power
    /// of two) from `slice`'s free list or fresh segment memory.
    pub fn alloc_fifo_w_slice(&self, slice: u32, size: u32) -> Result<Fifo, SegmentError> { todo!() }
    /// Drops one logical reference (VPP `fifo_segment_free_fifo`: refcount
    /// decrement, free at zero). Returns true when the fifo was freed: its
    /// handles become stale at once, `num_fifos` drops, and its memory
    /// returns to the slice's free list once the last handle is gone.
    pub fn free_fifo(&self, fifo: &Fifo) -> Result<bool, SegmentError> { todo!() }
    /// Opens the fifo whose header is at `offset` (peer side), validated.
    pub fn fifo_at(&self, offset: u64) -> Result<Fifo, SegmentError> { todo!() }
    /// Bytes that allocations can still use (fresh memory and free lists).
    pub fn available_bytes(&self) -> usize { todo!() }
    /// Live (allocated, not freed) fifos.
    pub fn num_fifos(&self) -> usize { todo!() }
    /// Bytes a fifo of `size` data bytes takes in a segment, header included.
    pub fn fifo_footprint(size: u32) -> usize { todo!() }
    /// Same mapping?
    pub fn same(&self, other: &FifoSegment) -> bool { todo!() }
}
