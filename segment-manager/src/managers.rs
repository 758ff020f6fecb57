//! The pool of segment managers (VPP `sm_main.segment_managers`), as a value
//! the stack owns and shares, not a global.

use ct_fifo_segment::{Fifo, FifoSegment};
use ct_sync::atomic::AtomicU32;
use ct_sync::{Arc, RwLock};

use crate::error::{Result, SmError};
use crate::handle::{SegmentHandle, SegmentManagerHandle};
use crate::hook::SegmentHook;
use crate::manager::SegmentManager;
use crate::pool::Pool;
use crate::props::SegmentManagerProps;

/// What [`SegmentManagers::init_free`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeOutcome {
    /// The manager had no fifos and was freed.
    Freed,
    /// The manager still has fifos: it is detached and will be freed when
    /// the last pair goes through [`SegmentManagers::dealloc_fifos`] (or
    /// its user calls [`SegmentManagers::free_safe`]).
    Deferred,
}

/// All segment managers of one stack: an index-addressed pool with
/// generations. Shared as `Arc<SegmentManagers>`.
pub struct SegmentManagers {
    pool: RwLock<Pool<Arc<SegmentManager>>>,
    /// One generation source for managers and segments, so no handle of a
    /// freed manager or deleted segment matches a later one.
    generations: Arc<AtomicU32>,
    n_slices: u32,
}

impl std::fmt::Debug for SegmentManagers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentManagers")
            .field("len", &self.len())
            .field("n_slices", &self.n_slices)
            .finish()
    }
}

impl SegmentManagers {
    /// An empty pool whose managers' segments get `n_threads` slices (one
    /// per thread that allocates fifos: main plus workers; at least 1).
    pub fn new(n_threads: u32) -> Self {
        Self {
            pool: RwLock::new(Pool::new()),
            generations: Arc::new(AtomicU32::new(1)),
            n_slices: n_threads.max(1),
        }
    }

    /// Slices per segment.
    pub fn n_slices(&self) -> u32 {
        self.n_slices
    }

    /// Allocates a segment manager with `props`, notifying `hook` of the
    /// segments it adds for fifos (VPP `segment_manager_alloc` +
    /// `segment_manager_init`). It has no segment yet: call
    /// [`SegmentManager::init_first`] for VPP's `init_first`. The hook is a
    /// `std` `Arc` in every build (loom models do not track it).
    pub fn alloc(
        &self,
        props: SegmentManagerProps,
        hook: std::sync::Arc<dyn SegmentHook>,
    ) -> Arc<SegmentManager> {
        let generation = self
            .generations
            .fetch_add(1, ct_sync::atomic::Ordering::Relaxed);
        let mut pool = self.pool.write();
        let index = pool.next_index();
        let sm = Arc::new(SegmentManager::new(
            SegmentManagerHandle::new(index, generation),
            props,
            self.n_slices,
            hook,
            self.generations.clone(),
        ));
        pool.insert(generation, sm.clone());
        tracing::debug!(sm = index, "segment manager allocated");
        sm
    }

    /// The manager with this handle; stale handles are errors.
    pub fn get(&self, handle: SegmentManagerHandle) -> Result<Arc<SegmentManager>> {
        self.pool
            .read()
            .get_checked(handle.index(), handle.generation())
            .cloned()
            .ok_or(SmError::StaleSegmentManager(handle))
    }

    /// VPP `segment_manager_get_if_valid`: the manager at `index` (what a
    /// fifo's private part records), whatever its generation.
    pub fn get_by_index(&self, index: u32) -> Result<Arc<SegmentManager>> {
        self.pool
            .read()
            .get(index)
            .cloned()
            .ok_or_else(|| SmError::UnknownSegmentManager(index))
    }

    /// Live segment managers.
    pub fn len(&self) -> usize {
        self.pool.read().len()
    }

    /// No live segment managers?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Handles of all live managers.
    pub fn handles(&self) -> Vec<SegmentManagerHandle> {
        self.pool
            .read()
            .iter()
            .map(|(i, g, _)| SegmentManagerHandle::new(i, g))
            .collect()
    }

    /// VPP `segment_manager_get_segment_w_handle`: the segment a handle
    /// names (a clone sharing its mapping); stale handles are errors.
    pub fn segment(&self, handle: SegmentHandle) -> Result<FifoSegment> {
        let sm = self
            .get_by_index(handle.sm_index())
            .map_err(|_| SmError::StaleSegment(handle))?;
        sm.segment(handle)
    }

    /// VPP `segment_manager_dealloc_fifos`: frees a session's pair (one
    /// reference each: fifos shared crossed by ct are freed by their last
    /// user), found through the fifos' private part. Then, as VPP: a segment
    /// left empty is deleted unless it is custom-use (its user deletes it)
    /// or the protected first segment; a detached manager left without
    /// fifos is freed.
    pub fn dealloc_fifos(&self, rx: &Fifo, tx: &Fifo) -> Result<()> {
        let sm = self.get_by_index(rx.segment_manager_index())?;
        self.dealloc_fifos_w_manager(&sm, rx, tx)
    }

    /// [`SegmentManagers::dealloc_fifos`] for a caller that already holds
    /// the fifos' manager: skips the pool lookup and its `Arc` clone, whose
    /// count and lock are cache lines every allocating thread writes. A
    /// manager that is not the fifos' (by index) is
    /// [`SmError::MismatchedPair`].
    pub fn dealloc_fifos_w_manager(&self, sm: &SegmentManager, rx: &Fifo, tx: &Fifo) -> Result<()> {
        if rx.segment_manager_index() != sm.segment_manager_index() {
            return Err(SmError::MismatchedPair);
        }
        if let Some((index, generation)) = sm.free_pair(rx, tx)? {
            sm.del_if_empty(index, generation);
        }
        if sm.app_detached() && !sm.has_fifos() {
            self.free_manager(sm)?;
        }
        Ok(())
    }

    /// VPP `segment_manager_free_safe`: frees the manager if it is detached
    /// and has no fifos left. Ok(false) if it still has fifos (it will be
    /// freed by the `dealloc_fifos` that frees the last pair) or is gone
    /// already. VPP defers the free to the main thread; here the manager's
    /// write lock makes it safe from any thread.
    pub fn free_safe(&self, handle: SegmentManagerHandle) -> Result<bool> {
        let sm = match self.get(handle) {
            Ok(sm) => sm,
            Err(_) => return Ok(false),
        };
        if !sm.app_detached() {
            return Err(SmError::NotDetached);
        }
        match self.free_manager(&sm) {
            Ok(freed) => Ok(freed),
            Err(SmError::HasFifos) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// VPP `segment_manager_free`: deletes the manager's (empty) segments,
    /// without notifications since its owner detached, and frees its index.
    /// Errors if it is attached or still holds fifos.
    pub fn free(&self, handle: SegmentManagerHandle) -> Result<()> {
        let sm = self.get(handle)?;
        if self.free_manager(&sm)? {
            Ok(())
        } else {
            Err(SmError::StaleSegmentManager(handle))
        }
    }

    /// VPP `segment_manager_init_free`: detaches the manager and frees it
    /// now if it has no fifos; otherwise the free is deferred to the last
    /// `dealloc_fifos` (the owner closes the sessions that hold them).
    pub fn init_free(&self, handle: SegmentManagerHandle) -> Result<FreeOutcome> {
        let sm = self.get(handle)?;
        sm.app_detach();
        match self.free_manager(&sm) {
            Ok(_) => Ok(FreeOutcome::Freed),
            Err(SmError::HasFifos) => Ok(FreeOutcome::Deferred),
            Err(e) => Err(e),
        }
    }

    /// Frees `sm` if detached and empty; Ok(false) when another thread freed
    /// it first. Lock order: the manager's segment lock, then the pool's.
    fn free_manager(&self, sm: &SegmentManager) -> Result<bool> {
        if !sm.free_segments()? {
            return Ok(false);
        }
        let handle = sm.handle();
        let mut pool = self.pool.write();
        if pool
            .get_checked(handle.index(), handle.generation())
            .is_some()
        {
            pool.remove(handle.index());
        }
        tracing::debug!(sm = handle.index(), "segment manager freed");
        Ok(true)
    }
}
