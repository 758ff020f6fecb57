//! The reader guard: a segment held under its manager's read lock (VPP
//! `segment_manager_get_segment_w_lock` ... `segment_reader_unlock`).

use std::ops::Deref;

use ct_fifo_segment::{Fifo, FifoSegment};
use ct_sync::RwLockReadGuard;

use crate::error::{Result, SmError};
use crate::handle::SegmentHandle;
use crate::manager::{SegmentManager, Segments};

/// A segment of a [`SegmentManager`], kept alive and undeletable until the
/// guard drops: it holds the manager's segment-pool read lock, so
/// `lock_and_del_segment` (and anything else that takes the write side)
/// waits for it. Dropping the guard is VPP's `segment_reader_unlock`.
///
/// Derefs to the [`FifoSegment`].
pub struct SegmentGuard<'a> {
    sm: &'a SegmentManager,
    _lock: RwLockReadGuard<'a, Segments>,
    segment: FifoSegment,
    handle: SegmentHandle,
}

impl<'a> SegmentGuard<'a> {
    pub(crate) fn new(
        sm: &'a SegmentManager,
        lock: RwLockReadGuard<'a, Segments>,
        index: u32,
        generation: u32,
    ) -> Result<Self> {
        let handle = SegmentHandle::new(sm.segment_manager_index(), index, generation);
        let segment = lock
            .pool
            .get_checked(index, generation)
            .cloned()
            .ok_or_else(|| SmError::StaleSegment(handle))?;
        Ok(Self {
            sm,
            _lock: lock,
            segment,
            handle,
        })
    }

    /// The segment's handle.
    pub fn handle(&self) -> SegmentHandle {
        self.handle
    }

    /// The segment's index in its manager.
    pub fn segment_index(&self) -> u32 {
        self.handle.segment_index()
    }

    /// The segment.
    pub fn segment(&self) -> &FifoSegment {
        &self.segment
    }

    /// VPP `segment_manager_try_alloc_fifos`: an rx fifo of at least
    /// `rx_size` and a tx fifo of at least `tx_size` bytes (each at least the
    /// default fifo size) on `thread`'s slice of this segment, with their
    /// segment and segment-manager indices set; both or neither.
    /// [`SmError::SegNoSpace`] when they do not fit.
    ///
    /// Works on custom-use segments too: it is how ct fills its own.
    pub fn try_alloc_fifos(&self, thread: u32, rx_size: u32, tx_size: u32) -> Result<(Fifo, Fifo)> {
        let rx_size = rx_size.max(crate::props::DEFAULT_FIFO_SIZE);
        let tx_size = tx_size.max(crate::props::DEFAULT_FIFO_SIZE);
        self.sm.alloc_in(
            &self.segment,
            self.segment_index(),
            thread,
            rx_size,
            tx_size,
        )
    }

    /// Drops one reference to a fifo of this segment (VPP
    /// `fifo_segment_free_fifo` under the reader lock, as ct does). Returns
    /// true when the fifo was freed. A fifo of another segment is an error.
    pub fn free_fifo(&self, fifo: &Fifo) -> Result<bool> {
        if fifo.segment_index() != self.segment_index()
            || fifo.segment_manager_index() != self.handle.sm_index()
        {
            return Err(SmError::BadFifo(ct_fifo_segment::SegmentError::ForeignFifo));
        }
        self.segment.free_fifo(fifo).map_err(SmError::BadFifo)
    }
}

impl Deref for SegmentGuard<'_> {
    type Target = FifoSegment;

    fn deref(&self) -> &FifoSegment {
        &self.segment
    }
}

impl std::fmt::Debug for SegmentGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentGuard")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}
