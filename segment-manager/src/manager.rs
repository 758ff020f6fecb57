//! One segment manager: the segments that back one owner's sessions (an app
//! listener, or an app worker's connects), their locking, and fifo-pair
//! allocation from them (VPP `segment_manager_t`).
//!
//! Locking follows VPP: the segment pool sits behind a reader-writer lock.
//! Fifo allocation and free in existing segments take the read side (many
//! threads at once: each segment's allocator has its own per-slice locks);
//! adding and deleting segments take the write side, so a segment is never
//! deleted under a thread that is allocating or freeing in it.

use ct_fifo_segment::{Fifo, FifoSegment, SegmentError, SegmentFlags};
use ct_sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use ct_sync::{Arc, RwLock};

use crate::error::{Result, SmError};
use crate::guard::SegmentGuard;
use crate::handle::{SegmentHandle, SegmentManagerHandle};
use crate::hook::SegmentHook;
use crate::pool::Pool;
use crate::props::{DEFAULT_SEGMENT_SIZE, SegmentBacking, SegmentManagerProps, SmFlags};

/// Page size segments are rounded up to.
const PAGE_SIZE: usize = 4096;
/// Room added to every requested segment size for the segment header and
/// its slices, so the requested bytes are there for fifos (VPP adds its
/// header, slice and allocator overhead the same way).
const SEGMENT_OVERHEAD: usize = 2 * PAGE_SIZE;
/// Largest segment `init_first` creates when preallocating (VPP's 4 GiB
/// minus a margin).
const MAX_PREALLOC_SEGMENT: usize = (1 << 32) - (128 << 10);

/// An rx and a tx fifo allocated together for one session, and the segment
/// that holds both.
#[derive(Clone)]
pub struct FifoPair {
    /// Receive fifo.
    pub rx: Fifo,
    /// Transmit fifo.
    pub tx: Fifo,
    /// The segment both fifos live in.
    pub segment: SegmentHandle,
}

impl std::fmt::Debug for FifoPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FifoPair")
            .field("rx_offset", &self.rx.offset())
            .field("tx_offset", &self.tx.offset())
            .field("segment", &self.segment)
            .finish()
    }
}

/// The segment pool and whether the manager was freed, under one lock so a
/// free cannot race an allocation.
pub(crate) struct Segments {
    pub(crate) pool: Pool<FifoSegment>,
    pub(crate) freed: bool,
}

/// A segment manager. Shared as `Arc<SegmentManager>`: threads hold it while
/// they allocate; its [`SegmentManagers`](crate::SegmentManagers) pool owns
/// its index.
pub struct SegmentManager {
    handle: SegmentManagerHandle,
    props: SegmentManagerProps,
    n_slices: u32,
    pub(crate) segments: RwLock<Segments>,
    flags: AtomicU8,
    first_is_protected: AtomicBool,
    hook: std::sync::Arc<dyn SegmentHook>,
    /// Generation source shared by every manager of one `SegmentManagers`.
    generations: Arc<AtomicU32>,
    /// Names segments (memfd names show in /proc/PID/fd).
    name_counter: AtomicU32,
}

impl std::fmt::Debug for SegmentManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentManager")
            .field("handle", &self.handle)
            .field("flags", &self.flags())
            .field("n_slices", &self.n_slices)
            .finish_non_exhaustive()
    }
}

impl SegmentManager {
    pub(crate) fn new(
        handle: SegmentManagerHandle,
        props: SegmentManagerProps,
        n_slices: u32,
        hook: std::sync::Arc<dyn SegmentHook>,
        generations: Arc<AtomicU32>,
    ) -> Self {
        Self {
            handle,
            props,
            n_slices,
            segments: RwLock::new(Segments {
                pool: Pool::new(),
                freed: false,
            }),
            flags: AtomicU8::new(0),
            first_is_protected: AtomicBool::new(false),
            hook,
            generations,
            name_counter: AtomicU32::new(0),
        }
    }

    /// This manager's handle.
    pub fn handle(&self) -> SegmentManagerHandle {
        self.handle
    }

    /// VPP `segment_manager_index`: what fifos record and segment handles
    /// carry in their high half.
    pub fn segment_manager_index(&self) -> u32 {
        self.handle.index()
    }

    /// The properties the manager was allocated with.
    pub fn props(&self) -> &SegmentManagerProps {
        &self.props
    }

    /// Slices per segment: the threads that allocate fifos (thread indices
    /// `0..n_slices`).
    pub fn n_slices(&self) -> u32 {
        self.n_slices
    }

    /// Current flags.
    pub fn flags(&self) -> SmFlags {
        SmFlags::from_bits_truncate(self.flags.load(Ordering::Acquire))
    }

    /// VPP `segment_manager_app_detached`.
    pub fn app_detached(&self) -> bool {
        self.flags().contains(SmFlags::DETACHED)
    }

    /// VPP `segment_manager_app_detach`: the owner is gone. No more
    /// notifications, no new segments or fifo pairs; the manager can be
    /// freed once its fifos are gone.
    pub fn app_detach(&self) {
        self.flags
            .fetch_or(SmFlags::DETACHED.bits(), Ordering::AcqRel);
    }

    /// Marks a listener's manager whose listener went away.
    pub fn set_detached_listener(&self) {
        self.flags
            .fetch_or(SmFlags::DETACHED_LISTENER.bits(), Ordering::AcqRel);
    }

    /// Protects segment 0 from deletion when it empties (VPP
    /// `first_is_protected`: the first manager of an app keeps its first
    /// segment until the app detaches).
    pub fn set_first_is_protected(&self, protected: bool) {
        self.first_is_protected.store(protected, Ordering::Release);
    }

    /// Is segment 0 protected?
    pub fn first_is_protected(&self) -> bool {
        self.first_is_protected.load(Ordering::Acquire)
    }

    /// Creates the first segment (VPP `segment_manager_init_first`), without
    /// notifying the owner (it learns of it when it attaches). With
    /// `prealloc_fifos` set, creates as many segments as the preallocated
    /// pairs need, carves the pairs out and flags them preallocated.
    /// Returns the first segment's handle.
    pub fn init_first(&self) -> Result<SegmentHandle> {
        let mut segs = self.segments.write();
        self.check_usable(&segs)?;
        let first_size = self.props.segment_size.max(DEFAULT_SEGMENT_SIZE);
        let mut remaining = self.props.prealloc_fifos as usize;
        if remaining == 0 {
            let index =
                self.add_segment_locked(&mut segs, first_size, SegmentFlags::empty(), false)?;
            return self.handle_of(&segs, index);
        }
        let pair = FifoSegment::fifo_footprint(self.props.effective_rx_fifo_size())
            + FifoSegment::fifo_footprint(self.props.effective_tx_fifo_size());
        let mut first = None;
        while remaining > 0 {
            let size = first_size.max(remaining.saturating_mul(pair).min(MAX_PREALLOC_SEGMENT));
            let index =
                self.add_segment_locked(&mut segs, size, SegmentFlags::IS_PREALLOCATED, false)?;
            first.get_or_insert(index);
            let seg = segs.pool.get(index).cloned().ok_or(SmError::Freed)?;
            let made = self.preallocate_pairs(&seg, remaining)?;
            if made == 0 {
                // Not even one pair fits a fresh segment: more segments
                // would not help.
                return Err(SmError::SegNoSpace2);
            }
            remaining -= made;
        }
        let first = first.ok_or(SmError::SegNoSpace)?;
        self.handle_of(&segs, first)
    }

    /// Allocates up to `want` pairs spread over the slices, then frees them
    /// all: their memory stays on the slices' free lists for later sessions.
    fn preallocate_pairs(&self, seg: &FifoSegment, want: usize) -> Result<usize> {
        let (rx_size, tx_size) = (
            self.props.effective_rx_fifo_size(),
            self.props.effective_tx_fifo_size(),
        );
        let mut made = Vec::new();
        let mut result = Ok(());
        'fill: while made.len() < want {
            let slice = (made.len() as u32) % self.n_slices;
            match try_alloc_pair(seg, slice, rx_size, tx_size) {
                Ok(pair) => made.push(pair),
                Err(SmError::SegNoSpace) => break 'fill,
                Err(e) => {
                    result = Err(e);
                    break 'fill;
                }
            }
        }
        for (rx, tx) in &made {
            seg.free_fifo(rx).map_err(SmError::BadFifo)?;
            seg.free_fifo(tx).map_err(SmError::BadFifo)?;
        }
        result.map(|()| made.len())
    }

    /// Adds a segment of `size` bytes (0: the properties' `add_segment_size`,
    /// allowed only when `add_segment` is on) with `flags`, without notifying
    /// the owner: VPP `segment_manager_add_segment2`, used by ct with
    /// `SegmentFlags::CUSTOM_USE` so the segment is not used for other fifos
    /// (ct notifies both apps itself).
    pub fn add_segment(&self, size: usize, flags: SegmentFlags) -> Result<SegmentHandle> {
        self.add_segment_inner(size, flags, false)
    }

    /// Same as [`SegmentManager::add_segment`], then tells the owner through
    /// its hook; if the hook fails the segment is deleted again and the
    /// error is [`SmError::AddNotify`].
    pub fn add_segment_notify(&self, size: usize, flags: SegmentFlags) -> Result<SegmentHandle> {
        self.add_segment_inner(size, flags, true)
    }

    fn add_segment_inner(
        &self,
        size: usize,
        flags: SegmentFlags,
        notify: bool,
    ) -> Result<SegmentHandle> {
        let mut segs = self.segments.write();
        self.check_usable(&segs)?;
        self.check_attached()?;
        let index = self.add_segment_locked(&mut segs, size, flags, notify)?;
        self.handle_of(&segs, index)
    }

    /// Creates a segment and puts it in the pool; the caller holds the
    /// write lock.
    fn add_segment_locked(
        &self,
        segs: &mut Segments,
        size: usize,
        flags: SegmentFlags,
        notify: bool,
    ) -> Result<u32> {
        if size == 0 && !self.props.add_segment {
            return Err(SmError::AddSegmentNotAllowed);
        }
        if let Some(max) = self.props.max_segments
            && segs.pool.len() >= max as usize
        {
            return Err(SmError::MaxSegments { max });
        }
        let size = if size == 0 {
            self.props.add_segment_size
        } else {
            size
        };
        let size = size
            .checked_add(SEGMENT_OVERHEAD + PAGE_SIZE - 1)
            .ok_or(SmError::SegCreate(SegmentError::InvalidArgument(
                "segment size overflows",
            )))?
            & !(PAGE_SIZE - 1);
        let flags = flags - SegmentFlags::MEM_LIMIT;
        let segment = self
            .create_segment(size, flags)
            .map_err(SmError::SegCreate)?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let index = segs.pool.insert(generation, segment);
        tracing::debug!(
            sm = self.handle.index(),
            index,
            size,
            ?flags,
            "segment added"
        );
        if notify {
            let handle = SegmentHandle::new(self.handle.index(), index, generation);
            let hook_result = match segs.pool.get(index) {
                Some(seg) => self.hook.on_add(handle, seg),
                None => Ok(()),
            };
            if let Err(source) = hook_result {
                segs.pool.remove(index);
                tracing::debug!(sm = self.handle.index(), index, "owner refused segment");
                return Err(SmError::AddNotify { handle, source });
            }
        }
        Ok(index)
    }

    fn create_segment(
        &self,
        size: usize,
        flags: SegmentFlags,
    ) -> Result<FifoSegment, SegmentError> {
        let heap = cfg!(loom) || self.props.backing == SegmentBacking::Heap;
        if heap {
            FifoSegment::create_heap(size, self.n_slices, flags)
        } else {
            let n = self.name_counter.fetch_add(1, Ordering::Relaxed);
            let name = format!("ct-seg-{}-{}-{n}", std::process::id(), self.handle.index());
            FifoSegment::create(&name, size, self.n_slices, flags)
        }
    }

    /// VPP `segment_manager_lock_and_del_segment`: takes the write lock
    /// (waiting for every [`SegmentGuard`] to go) and deletes segment
    /// `index`, telling the owner unless it detached. A preallocated
    /// segment is kept while the owner is attached (`Ok(false)`); a segment
    /// that still holds fifos is refused ([`SmError::SegmentHasFifos`]).
    pub fn lock_and_del_segment(&self, index: u32) -> Result<bool> {
        let mut segs = self.segments.write();
        self.check_usable(&segs)?;
        let generation = segs.pool.generation(index).ok_or(SmError::UnknownSegment {
            sm_index: self.handle.index(),
            index,
        })?;
        self.del_segment_locked(&mut segs, index, generation)
    }

    /// [`SegmentManager::lock_and_del_segment`] by handle: a stale handle is
    /// [`SmError::StaleSegment`].
    pub fn del_segment(&self, handle: SegmentHandle) -> Result<bool> {
        self.check_handle(handle)?;
        let mut segs = self.segments.write();
        self.check_usable(&segs)?;
        if segs
            .pool
            .get_checked(handle.segment_index(), handle.generation())
            .is_none()
        {
            return Err(SmError::StaleSegment(handle));
        }
        self.del_segment_locked(&mut segs, handle.segment_index(), handle.generation())
    }

    fn del_segment_locked(&self, segs: &mut Segments, index: u32, generation: u32) -> Result<bool> {
        let handle = SegmentHandle::new(self.handle.index(), index, generation);
        let seg = segs
            .pool
            .get_checked(index, generation)
            .ok_or(SmError::StaleSegment(handle))?;
        if seg.num_fifos() != 0 {
            return Err(SmError::SegmentHasFifos(handle));
        }
        if seg.flags().contains(SegmentFlags::IS_PREALLOCATED) && !self.app_detached() {
            return Ok(false);
        }
        segs.pool.remove(index);
        if !self.app_detached() {
            self.hook.on_del(handle);
        }
        tracing::debug!(sm = self.handle.index(), index, "segment deleted");
        Ok(true)
    }

    /// VPP `segment_manager_get_segment_w_lock`: the segment at `index`,
    /// read-locked until the guard drops (`segment_reader_unlock`). While
    /// any guard lives no segment of this manager is added or deleted.
    ///
    /// Do not call other methods of this manager while holding a guard: a
    /// writer queued behind it would deadlock a second read lock.
    pub fn get_segment_w_lock(&self, index: u32) -> Result<SegmentGuard<'_>> {
        let segs = self.segments.read();
        self.check_usable(&segs)?;
        let generation = self.handle_of(&segs, index)?.generation();
        SegmentGuard::new(self, segs, index, generation)
    }

    /// [`SegmentManager::get_segment_w_lock`] by handle, generation checked.
    pub fn get_segment_w_handle(&self, handle: SegmentHandle) -> Result<SegmentGuard<'_>> {
        self.check_handle(handle)?;
        let segs = self.segments.read();
        self.check_usable(&segs)?;
        if segs
            .pool
            .get_checked(handle.segment_index(), handle.generation())
            .is_none()
        {
            return Err(SmError::StaleSegment(handle));
        }
        SegmentGuard::new(self, segs, handle.segment_index(), handle.generation())
    }

    /// The segment with this handle (a clone sharing its mapping: to read
    /// its fd, size or flags, e.g. to hand it to an app).
    pub fn segment(&self, handle: SegmentHandle) -> Result<FifoSegment> {
        // The checks of `get_segment_w_handle`, without its guard: the
        // guard's own clone would make this two clones (four `Arc`
        // counts) per call, and ct looks segments up on every accept.
        self.check_handle(handle)?;
        let segs = self.segments.read();
        self.check_usable(&segs)?;
        segs.pool
            .get_checked(handle.segment_index(), handle.generation())
            .cloned()
            .ok_or_else(|| SmError::StaleSegment(handle))
    }

    /// Handle of segment `index` (VPP `segment_manager_segment_handle`).
    pub fn segment_handle(&self, index: u32) -> Result<SegmentHandle> {
        let segs = self.segments.read();
        self.handle_of(&segs, index)
    }

    /// Handles of all live segments, by index.
    pub fn segment_handles(&self) -> Vec<SegmentHandle> {
        let segs = self.segments.read();
        segs.pool
            .iter()
            .map(|(i, g, _)| SegmentHandle::new(self.handle.index(), i, g))
            .collect()
    }

    /// Live segments.
    pub fn num_segments(&self) -> usize {
        self.segments.read().pool.len()
    }

    /// Live fifos over all segments.
    pub fn num_fifos(&self) -> usize {
        let segs = self.segments.read();
        segs.pool.iter().map(|(_, _, s)| s.num_fifos()).sum()
    }

    /// VPP `segment_manager_has_fifos`.
    pub fn has_fifos(&self) -> bool {
        let segs = self.segments.read();
        segs.pool.iter().any(|(_, _, s)| s.num_fifos() != 0)
    }

    /// VPP `segment_manager_alloc_session_fifos`: an rx/tx pair of the
    /// properties' sizes on `thread`'s slice. Fast path under the read lock:
    /// the non-custom-use segment with the most free bytes. Slow path, when
    /// that fails and `add_segment` is on: under the write lock, look again
    /// (another thread may have freed fifos or added a segment), else add a
    /// segment, tell the owner, and allocate there.
    pub fn alloc_session_fifos(&self, thread: u32) -> Result<FifoPair> {
        self.check_thread(thread)?;
        self.check_attached()?;
        let (rx_size, tx_size) = (
            self.props.effective_rx_fifo_size(),
            self.props.effective_tx_fifo_size(),
        );
        {
            let segs = self.segments.read();
            self.check_usable(&segs)?;
            if let Ok(pair) = self.lookup_and_alloc(&segs, thread, rx_size, tx_size) {
                return Ok(pair);
            }
        }
        if !self.props.add_segment {
            return Err(SmError::SegNoSpace);
        }
        let mut segs = self.segments.write();
        self.check_usable(&segs)?;
        self.check_attached()?;
        if let Ok(pair) = self.lookup_and_alloc(&segs, thread, rx_size, tx_size) {
            return Ok(pair);
        }
        let index = match self.add_segment_locked(&mut segs, 0, SegmentFlags::empty(), true) {
            Ok(index) => index,
            Err(SmError::MaxSegments { .. }) => return Err(SmError::SegNoSpace),
            Err(e) => return Err(e),
        };
        let generation = segs.pool.generation(index).ok_or(SmError::Freed)?;
        let seg = segs.pool.get(index).ok_or(SmError::Freed)?;
        match self.alloc_in(seg, index, thread, rx_size, tx_size) {
            Ok((rx, tx)) => Ok(FifoPair {
                rx,
                tx,
                segment: SegmentHandle::new(self.handle.index(), index, generation),
            }),
            Err(_) => {
                // A fresh segment too small for one pair is useless: drop it
                // rather than keep an empty segment around.
                self.del_segment_locked(&mut segs, index, generation)?;
                Err(SmError::SegNoSpace2)
            }
        }
    }

    /// Picks the usable segment with the most free bytes and allocates a
    /// pair there (VPP `sm_lookup_segment_and_alloc_fifos`).
    fn lookup_and_alloc(
        &self,
        segs: &Segments,
        thread: u32,
        rx_size: u32,
        tx_size: u32,
    ) -> Result<FifoPair> {
        let mut candidates = segs
            .pool
            .iter()
            .filter(|(_, _, seg)| !seg.flags().contains(SegmentFlags::CUSTOM_USE));
        let best = match (candidates.next(), candidates.next()) {
            // One candidate (the common case): trying it is the check, a
            // segment without room answers Full; this saves a pass over the
            // segment's allocator lock.
            (Some(only), None) => Some(only),
            (first, second) => {
                let mut max_free = rx_size as usize + tx_size as usize - 1;
                let mut best = None;
                for (index, generation, seg) in first.into_iter().chain(second).chain(candidates) {
                    let free = seg.available_bytes();
                    if free > max_free {
                        max_free = free;
                        best = Some((index, generation, seg));
                    }
                }
                best
            }
        };
        let (index, generation, seg) = best.ok_or(SmError::SegNoSpace)?;
        let (rx, tx) = self.alloc_in(seg, index, thread, rx_size, tx_size)?;
        Ok(FifoPair {
            rx,
            tx,
            segment: SegmentHandle::new(self.handle.index(), index, generation),
        })
    }

    /// Allocates a pair in `seg` and records where the fifos live.
    pub(crate) fn alloc_in(
        &self,
        seg: &FifoSegment,
        index: u32,
        thread: u32,
        rx_size: u32,
        tx_size: u32,
    ) -> Result<(Fifo, Fifo)> {
        self.check_thread(thread)?;
        let (rx, tx) = try_alloc_pair(seg, thread, rx_size, tx_size)?;
        for f in [&rx, &tx] {
            f.set_segment_index(index);
            f.set_segment_manager_index(self.handle.index());
        }
        Ok((rx, tx))
    }

    /// Frees a pair under the read lock and says whether the segment should
    /// be deleted now (the first half of VPP `segment_manager_dealloc_fifos`).
    pub(crate) fn free_pair(&self, rx: &Fifo, tx: &Fifo) -> Result<Option<(u32, u32)>> {
        let index = rx.segment_index();
        if tx.segment_index() != index || tx.segment_manager_index() != rx.segment_manager_index() {
            return Err(SmError::MismatchedPair);
        }
        let segs = self.segments.read();
        self.check_usable(&segs)?;
        let generation = segs.pool.generation(index).ok_or(SmError::UnknownSegment {
            sm_index: self.handle.index(),
            index,
        })?;
        let seg = segs.pool.get(index).ok_or(SmError::Freed)?;
        // Free both even if one fails, so a bad rx cannot leak a good tx.
        let rx_result = seg.free_fifo(rx);
        let tx_result = seg.free_fifo(tx);
        let freed_one =
            rx_result.map_err(SmError::BadFifo)? | tx_result.map_err(SmError::BadFifo)?;
        // Only a fifo actually freed can have emptied the segment. Custom-use
        // segments belong to their user (ct), which deletes them when its
        // own accounting says so; the first segment may be protected while
        // the owner is attached.
        // The fifo count sums every slice's counter, lines other threads
        // write: read it last, only for a segment that could go.
        let deletable = freed_one
            && !seg.flags().contains(SegmentFlags::CUSTOM_USE)
            && (index != 0 || !self.first_is_protected() || self.app_detached())
            && seg.num_fifos() == 0;
        Ok(deletable.then_some((index, generation)))
    }

    /// Deletes segment `index` if it is still the same segment and still
    /// empty once the write lock is held.
    pub(crate) fn del_if_empty(&self, index: u32, generation: u32) {
        let mut segs = self.segments.write();
        if segs.freed {
            return;
        }
        let empty = segs
            .pool
            .get_checked(index, generation)
            .is_some_and(|s| s.num_fifos() == 0);
        if empty {
            // Cannot fail: the segment exists and is empty.
            let _ = self.del_segment_locked(&mut segs, index, generation);
        }
    }

    /// Deletes every segment and marks the manager freed, if it is detached
    /// and has no fifos (VPP `segment_manager_free`). Ok(false) when it was
    /// already freed.
    pub(crate) fn free_segments(&self) -> Result<bool> {
        let mut segs = self.segments.write();
        if segs.freed {
            return Ok(false);
        }
        if !self.app_detached() {
            return Err(SmError::NotDetached);
        }
        if segs.pool.iter().any(|(_, _, s)| s.num_fifos() != 0) {
            return Err(SmError::HasFifos);
        }
        segs.pool.drain();
        segs.freed = true;
        Ok(true)
    }

    fn handle_of(&self, segs: &Segments, index: u32) -> Result<SegmentHandle> {
        let generation = segs
            .pool
            .generation(index)
            .ok_or_else(|| SmError::UnknownSegment {
                sm_index: self.handle.index(),
                index,
            })?;
        Ok(SegmentHandle::new(self.handle.index(), index, generation))
    }

    fn check_handle(&self, handle: SegmentHandle) -> Result<()> {
        if handle.sm_index() != self.handle.index() {
            return Err(SmError::StaleSegment(handle));
        }
        Ok(())
    }

    fn check_usable(&self, segs: &Segments) -> Result<()> {
        if segs.freed {
            Err(SmError::Freed)
        } else {
            Ok(())
        }
    }

    fn check_attached(&self) -> Result<()> {
        if self.app_detached() {
            Err(SmError::Detached)
        } else {
            Ok(())
        }
    }

    pub(crate) fn check_thread(&self, thread: u32) -> Result<()> {
        if thread < self.n_slices {
            Ok(())
        } else {
            Err(SmError::BadThread {
                thread,
                n_slices: self.n_slices,
            })
        }
    }
}

/// VPP `segment_manager_try_alloc_fifos` on one segment: both fifos or
/// neither.
pub(crate) fn try_alloc_pair(
    seg: &FifoSegment,
    slice: u32,
    rx_size: u32,
    tx_size: u32,
) -> Result<(Fifo, Fifo)> {
    let rx = seg
        .alloc_fifo_w_slice(slice, rx_size)
        .map_err(alloc_error)?;
    match seg.alloc_fifo_w_slice(slice, tx_size) {
        Ok(tx) => Ok((rx, tx)),
        Err(e) => {
            seg.free_fifo(&rx).map_err(SmError::BadFifo)?;
            Err(alloc_error(e))
        }
    }
}

fn alloc_error(e: SegmentError) -> SmError {
    match e {
        SegmentError::Full { .. } => SmError::SegNoSpace,
        e => SmError::Alloc(e),
    }
}
