//! Fifo segments: a memfd (or heap) region holding fifos, with a header in
//! shared memory and a process-private allocator (see `alloc.rs`): each
//! slice has its own lock, chunk table and free lists by size class, so
//! threads allocating on their own slices share no lock; only carving fresh
//! memory takes a small shared lock.
//!
//! The creator owns the segment: it allocates and frees fifos. A peer maps
//! the segment from its fd ([`FifoSegment::attach`]) and opens fifos by
//! offset ([`FifoSegment::fifo_at`]); it cannot allocate or free.

use ct_sync::unmodeled::atomic::{AtomicU32 as StdAtomicU32, Ordering as StdOrdering};
use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

use hashbrown::HashMap;

use crate::alloc::{ChunkId, ChunkState, Fresh, N_CLASSES, SliceAlloc};
use crate::error::SegmentError;
use crate::fifo::{Fifo, FifoInner};
use crate::layout::{
    self, CACHE_LINE, FIFO_MAGIC, FifoShared, MAX_FIFO_SIZE, MAX_SLICES, SegmentHeader,
};
use crate::storage::Storage;
use ct_sync::Mutex;
use ct_sync::atomic::{AtomicU32, AtomicUsize, Ordering};

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

/// One slice: its allocator behind its own lock, and counters that
/// `num_fifos` / `available_bytes` sum without taking it. Aligned so two
/// threads on two slices never write one cache line.
#[repr(align(64))]
pub(crate) struct Slice {
    pub alloc: Mutex<SliceAlloc>,
    /// Allocated, not freed fifos of this slice.
    live: AtomicUsize,
    /// Bytes on this slice's free lists.
    free_bytes: AtomicUsize,
    /// Free chunks per size class: a mirror of the free lists' lengths, so
    /// [`FifoSegment::can_alloc_fifos_w_slice`] can answer without the lock.
    free_chunks: [AtomicU32; N_CLASSES],
}

impl Slice {
    /// Moves this slice's counters. Only the holder of the slice's lock
    /// writes them (`_held` is its guarded state), so a load and a store
    /// suffice: no read-modify-write on the alloc/free path, and lock-free
    /// readers see whole values.
    fn count(&self, _held: &SliceAlloc, live: Delta, free_bytes: Delta) {
        for (counter, delta) in [(&self.live, live), (&self.free_bytes, free_bytes)] {
            let now = counter.load(Ordering::Relaxed);
            let new = match delta {
                Delta::Add(n) => now + n,
                Delta::Sub(n) => now.saturating_sub(n),
            };
            if new != now {
                counter.store(new, Ordering::Release);
            }
        }
    }

    /// Republishes the free-chunk count of `class` after its list changed.
    /// Only the holder of the slice's lock writes it, so a store suffices.
    fn mirror_free(&self, held: &SliceAlloc, class: u8) {
        if let Some(counter) = self.free_chunks.get(class as usize) {
            let n = u32::try_from(held.n_free(class)).unwrap_or(u32::MAX);
            counter.store(n, Ordering::Release);
        }
    }

    /// Free chunks of `class` (0 for a class out of range).
    fn free_chunks(&self, class: u8) -> usize {
        self.free_chunks
            .get(class as usize)
            .map_or(0, |c| c.load(Ordering::Acquire) as usize)
    }
}

/// A change of a [`Slice`] counter.
#[derive(Clone, Copy)]
enum Delta {
    Add(usize),
    Sub(usize),
}

/// A peer's open handles by header offset, so every `fifo_at` of one fifo
/// shares one private part: one refcount, one producer and one consumer
/// role per fifo in this process.
#[derive(Default)]
pub(crate) struct PeerOpen {
    open: HashMap<usize, Arc<FifoInner>>,
    /// Generation source for handles.
    next_generation: u64,
}

pub(crate) struct SegmentInner {
    pub storage: Storage,
    pub owner: bool,
    pub n_slices: u32,
    /// Trusted flags; mirrored into the header by the owner.
    flags: StdAtomicU32,
    /// Owner: one per slice (empty on an attached segment).
    slices: Box<[Slice]>,
    /// Owner: memory no slice has carved yet.
    fresh: Mutex<Fresh>,
    /// Peer: open fifos (unused on the owner, whose chunks track theirs).
    peer: Mutex<PeerOpen>,
}

impl SegmentInner {
    fn header(&self) -> &SegmentHeader {
        // SAFETY: the owner built a `SegmentHeader` at offset 0 in `new`;
        // a peer's header is all atomic integers, valid for any bits, and
        // `attach` checked the mapping is large enough.
        unsafe { self.storage.get::<SegmentHeader>(0) }
    }

    /// The last handle of `fi` is gone (`Fifo`'s drop). A freed owner
    /// chunk goes back to its slice's free list only now, so a thread that
    /// still held a `Producer` could never write into a new fifo; a peer
    /// forgets the offset. Either only if no new handle came meanwhile
    /// (`fifo_at` counts one under the same lock) and the part is still the
    /// one the chunk or table holds.
    pub(crate) fn last_handle_gone(&self, fi: &FifoInner) {
        if let Some(id) = fi.owned {
            // An unfreed fifo stays as it is: `fifo_at` hands its part out
            // again, and this path takes no lock.
            if !fi.is_freed() {
                return;
            }
            let Some(slice) = self.slices.get(id.slice as usize) else {
                return;
            };
            let mut sa = slice.alloc.lock();
            let ours = sa
                .chunk(id.index)
                .and_then(|c| c.part.as_ref())
                .is_some_and(|p| std::ptr::eq(&**p, fi));
            if ours && fi.handles() == 0 {
                let bytes = sa.put_back(id.index);
                slice.count(&sa, Delta::Add(0), Delta::Add(bytes));
                if bytes > 0
                    && let Some(class) = sa.chunk(id.index).map(|c| c.class)
                {
                    slice.mirror_free(&sa, class);
                }
            }
            drop(sa);
        } else {
            let mut peer = self.peer.lock();
            let ours = peer
                .open
                .get(&fi.hdr_off)
                .is_some_and(|p| std::ptr::eq(&**p, fi));
            if ours && fi.handles() == 0 {
                // Not the last reference: the dropping handle still holds one.
                peer.open.remove(&fi.hdr_off);
            }
            drop(peer);
        }
    }

    /// Drops the parts the segment keeps (chunks, peer table) when its last
    /// `FifoSegment` goes: each holds the segment, so kept they would keep
    /// it forever. Fifos still open keep their parts and the mapping.
    fn drop_parts(&self) {
        let mut parts = Vec::new();
        for slice in self.slices.iter() {
            let mut sa = slice.alloc.lock();
            parts.extend(sa.take_parts());
        }
        parts.extend(std::mem::take(&mut self.peer.lock().open).into_values());
        // Dropped with no lock held.
        drop(parts);
    }
}

/// A counted reference to a segment for the fifos of one slice (or of a
/// peer). Every fifo's private part holds one, so allocating and dropping
/// a fifo moves this slice's own count (its own cache line, by the
/// alignment) instead of the segment's count that every thread shares.
#[repr(align(64))]
pub(crate) struct SegRef(Arc<SegmentInner>);

impl SegRef {
    /// The segment behind the reference.
    pub(crate) fn segment(&self) -> &Arc<SegmentInner> {
        &self.0
    }
}

impl std::ops::Deref for SegRef {
    type Target = SegmentInner;

    #[inline]
    fn deref(&self) -> &SegmentInner {
        &self.0
    }
}

/// What the clones of one `FifoSegment` share: one segment reference per
/// slice on the owner (one on a peer), for the fifos to hold. Its drop is
/// the last `FifoSegment` going.
struct Refs(Box<[Arc<SegRef>]>);

impl Drop for Refs {
    fn drop(&mut self) {
        if let Some(r) = self.0.first() {
            r.drop_parts();
        }
    }
}

impl std::ops::Index<usize> for Refs {
    type Output = Arc<SegRef>;

    fn index(&self, i: usize) -> &Arc<SegRef> {
        &self.0[i]
    }
}

/// A fifo segment. Cloning shares the same mapping.
#[derive(Clone)]
pub struct FifoSegment {
    inner: Arc<SegmentInner>,
    refs: Arc<Refs>,
}

impl fmt::Debug for FifoSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FifoSegment")
            .field("size", &self.size())
            .field("n_slices", &self.n_slices())
            .field("owner", &self.is_owner())
            .field("flags", &self.flags())
            .field("num_fifos", &self.num_fifos())
            .finish()
    }
}

impl FifoSegment {
    /// Creates a memfd-backed segment of `size` bytes with `n_slices` slices
    /// (one per thread that allocates), sealed against shrinking and growing.
    /// Under `cfg(loom)` this makes a heap segment (loom cannot model a
    /// mapping).
    pub fn create(
        name: &str,
        size: usize,
        n_slices: u32,
        flags: SegmentFlags,
    ) -> Result<Self, SegmentError> {
        Self::check_create_args(size, n_slices)?;
        #[cfg(not(loom))]
        let storage = Storage::memfd(name, size)?;
        #[cfg(loom)]
        let storage = {
            let _ = name;
            Storage::heap(size).ok_or(SegmentError::InvalidArgument("size"))?
        };
        Ok(Self::new_owner(storage, n_slices, flags))
    }

    /// Same, backed by a heap buffer (tests; the only backing under loom).
    pub fn create_heap(
        size: usize,
        n_slices: u32,
        flags: SegmentFlags,
    ) -> Result<Self, SegmentError> {
        Self::check_create_args(size, n_slices)?;
        let storage = Storage::heap(size).ok_or(SegmentError::InvalidArgument("size"))?;
        Ok(Self::new_owner(storage, n_slices, flags))
    }

    fn check_create_args(size: usize, n_slices: u32) -> Result<(), SegmentError> {
        if size < layout::segment_header_len() + layout::class_footprint(0)
            || size > isize::MAX as usize
        {
            return Err(SegmentError::InvalidArgument("segment size"));
        }
        if n_slices == 0 || n_slices > MAX_SLICES {
            return Err(SegmentError::InvalidArgument("n_slices"));
        }
        Ok(())
    }

    fn new_owner(storage: Storage, n_slices: u32, flags: SegmentFlags) -> Self {
        let size = storage.len();
        // SAFETY: `storage` was just made and nothing else refers to it.
        unsafe { storage.init(0, SegmentHeader::new(size, n_slices, flags.bits())) };
        let slices = (0..n_slices)
            .map(|slice| Slice {
                alloc: Mutex::new(SliceAlloc::new(slice)),
                live: AtomicUsize::new(0),
                free_bytes: AtomicUsize::new(0),
                free_chunks: std::array::from_fn(|_| AtomicU32::new(0)),
            })
            .collect();
        Self::with_refs(
            SegmentInner {
                storage,
                owner: true,
                n_slices,
                flags: StdAtomicU32::new(flags.bits()),
                slices,
                fresh: Mutex::new(Fresh::new(layout::segment_header_len(), size)),
                peer: Mutex::new(PeerOpen::default()),
            },
            n_slices,
        )
    }

    fn with_refs(inner: SegmentInner, n_refs: u32) -> Self {
        let inner = Arc::new(inner);
        let refs = (0..n_refs)
            .map(|_| Arc::new(SegRef(inner.clone())))
            .collect();
        Self {
            inner,
            refs: Arc::new(Refs(refs)),
        }
    }

    /// Maps a peer's segment from its fd and validates the header (magic,
    /// version, header length, size against the file, slice count) and the
    /// fd's seals (it must be sealed against shrinking). Such a segment
    /// cannot allocate; fifos are opened with `fifo_at`. Not available
    /// under `cfg(loom)`.
    ///
    /// # Examples
    ///
    /// The owner sends the segment's fd and a fifo's offset to a peer
    /// (another process, normally); the peer maps it and opens the fifo.
    ///
    /// ```
    /// use ct_fifo_segment::{FifoSegment, SegmentFlags};
    ///
    /// # #[cfg(not(miri))] // Miri has no memfd or mmap
    /// # {
    /// let owner = FifoSegment::create("attach-doc", 1 << 20, 1, SegmentFlags::empty())?;
    /// let fifo = owner.alloc_fifo_w_slice(0, 4096)?;
    /// fifo.producer()?.enqueue(b"from the owner")?;
    ///
    /// let fd = owner.fd().expect("memfd segment").try_clone_to_owned()?;
    /// let peer = FifoSegment::attach(fd)?;
    /// let seen = peer.fifo_at(fifo.offset())?;
    /// assert_eq!(seen.max_dequeue()?, 14);
    /// // An offset that is no fifo is an error, never a wild access.
    /// assert!(peer.fifo_at(fifo.offset() + 8).is_err());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach(fd: OwnedFd) -> Result<Self, SegmentError> {
        #[cfg(loom)]
        {
            drop(fd);
            Err(SegmentError::InvalidArgument(
                "attach needs a memfd mapping (not under loom)",
            ))
        }
        #[cfg(not(loom))]
        {
            let storage = Storage::map_fd(fd)?;
            if storage.len() < layout::segment_header_len() {
                return Err(SegmentError::Corrupted(
                    "file smaller than a segment header",
                ));
            }
            // SAFETY: the mapping holds at least a header (checked above) and
            // a `SegmentHeader` of std atomics is valid for any bytes.
            let hdr = unsafe { storage.get::<SegmentHeader>(0) };
            if hdr.magic.load(Ordering::Acquire) != layout::SEGMENT_MAGIC {
                return Err(SegmentError::Corrupted("segment magic"));
            }
            if hdr.version.load(Ordering::Relaxed) != layout::SEGMENT_VERSION {
                return Err(SegmentError::Corrupted("segment version"));
            }
            if hdr.header_len.load(Ordering::Relaxed) as usize != layout::segment_header_len() {
                return Err(SegmentError::Corrupted("segment header length"));
            }
            if hdr.size.load(Ordering::Relaxed) != storage.len() as u64 {
                return Err(SegmentError::Corrupted(
                    "segment size does not match the file",
                ));
            }
            let n_slices = hdr.n_slices.load(Ordering::Relaxed);
            if n_slices == 0 || n_slices > MAX_SLICES {
                return Err(SegmentError::Corrupted("segment slice count"));
            }
            let flags = SegmentFlags::from_bits_truncate(hdr.flags.load(Ordering::Relaxed));
            Ok(Self::with_refs(
                SegmentInner {
                    storage,
                    owner: false,
                    n_slices,
                    flags: StdAtomicU32::new(flags.bits()),
                    slices: Box::new([]),
                    fresh: Mutex::new(Fresh::new(0, 0)),
                    peer: Mutex::new(PeerOpen::default()),
                },
                1,
            ))
        }
    }

    /// The memfd, for sending to a peer (None for heap segments).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        #[cfg(not(loom))]
        {
            self.inner.storage.fd()
        }
        #[cfg(loom)]
        {
            None
        }
    }

    /// Segment size in bytes, header included.
    pub fn size(&self) -> usize {
        self.inner.storage.len()
    }

    /// Number of slices (allocating threads).
    pub fn n_slices(&self) -> u32 {
        self.inner.n_slices
    }

    /// This process's (trusted) copy of the flags.
    pub fn flags(&self) -> SegmentFlags {
        SegmentFlags::from_bits_truncate(self.inner.flags.load(StdOrdering::Acquire))
    }

    /// Sets `flags`. The owner mirrors its flags into the header for peers;
    /// on an attached segment only this process's view changes.
    pub fn set_flags(&self, flags: SegmentFlags) {
        let new = self.inner.flags.fetch_or(flags.bits(), StdOrdering::AcqRel) | flags.bits();
        self.mirror_flags(new);
    }

    /// Clears `flags` (see [`FifoSegment::set_flags`]).
    pub fn clear_flags(&self, flags: SegmentFlags) {
        let new = self
            .inner
            .flags
            .fetch_and(!flags.bits(), StdOrdering::AcqRel)
            & !flags.bits();
        self.mirror_flags(new);
    }

    fn mirror_flags(&self, bits: u32) {
        if self.inner.owner {
            self.inner.header().flags.store(bits, Ordering::Release);
        }
    }

    /// True for the creator, false for a segment attached from a peer's fd.
    pub fn is_owner(&self) -> bool {
        self.inner.owner
    }

    /// Allocates a fifo of at least `size` data bytes (rounded up to a power
    /// of two, at most 2^31) from `slice`'s free list for that size class,
    /// or from fresh segment memory. Its refcount is 1. `Full` (nothing
    /// taken) when neither has room.
    ///
    /// # Examples
    ///
    /// ```
    /// use ct_fifo_segment::{FifoSegment, SegmentError, SegmentFlags};
    ///
    /// let seg = FifoSegment::create_heap(64 << 10, 1, SegmentFlags::empty())?;
    /// let fifo = seg.alloc_fifo_w_slice(0, 3000)?;
    /// assert_eq!(fifo.size(), 4096); // rounded up to a power of two
    /// // A fifo that cannot fit is refused, and nothing is taken.
    /// assert!(matches!(seg.alloc_fifo_w_slice(0, 1 << 20), Err(SegmentError::Full { .. })));
    /// seg.free_fifo(&fifo)?;
    /// # Ok::<(), SegmentError>(())
    /// ```
    pub fn alloc_fifo_w_slice(&self, slice: u32, size: u32) -> Result<Fifo, SegmentError> {
        if !self.inner.owner {
            return Err(SegmentError::NotOwner);
        }
        if slice >= self.inner.n_slices {
            return Err(SegmentError::InvalidArgument("slice out of range"));
        }
        let class = layout::size_class(size).ok_or(SegmentError::InvalidArgument("fifo size"))?;
        let slice_state = &self.inner.slices[slice as usize];
        let mut sa = slice_state.alloc.lock();
        let (index, listed) = sa
            .take(class, &self.inner.fresh)
            .map_err(|requested| SegmentError::Full { requested })?;
        let chunk = sa.chunk(index).ok_or(SegmentError::NotOwner)?;
        let data_size = 1u32 << class;
        // SAFETY: the chunk is either fresh or was put back on the free list
        // by the drop of the last handle of a freed fifo, so no handle in
        // this process can touch it; we hold its slice's lock.
        unsafe {
            self.inner
                .storage
                .init(chunk.off, FifoShared::new(data_size, 0))
        };
        // The chunk's last part is reused when nothing else holds it
        // (no handle left, none still dropping).
        let mut kept = chunk.part.take();
        let part = match kept.as_mut().and_then(Arc::get_mut) {
            Some(p) => {
                p.reuse(data_size, chunk.generation);
                kept
            }
            None => None,
        }
        .unwrap_or_else(|| {
            Arc::new(FifoInner::new(
                self.refs[slice as usize].clone(),
                chunk.off,
                data_size,
                chunk.generation,
                Some(ChunkId { slice, index }),
            ))
        });
        chunk.part = Some(part.clone());
        chunk.state = ChunkState::Live;
        slice_state.count(&sa, Delta::Add(1), Delta::Sub(listed));
        if listed > 0 {
            slice_state.mirror_free(&sa, class);
        }
        drop(sa);
        Ok(Fifo::from_inner(part))
    }

    /// Drops one logical reference (VPP `fifo_segment_free_fifo`: refcount
    /// decrement, free at zero). Returns true when the fifo was freed: its
    /// handles become stale at once, `num_fifos` drops, and its memory
    /// returns to the slice's free list once the last handle is gone.
    pub fn free_fifo(&self, fifo: &Fifo) -> Result<bool, SegmentError> {
        if !self.inner.owner {
            return Err(SegmentError::NotOwner);
        }
        let fi = fifo.inner();
        if !Arc::ptr_eq(fi.seg.segment(), &self.inner) {
            return Err(SegmentError::ForeignFifo);
        }
        let id = fi.owned.ok_or(SegmentError::NotOwner)?;
        let slice = &self.inner.slices[id.slice as usize];
        let mut sa = slice.alloc.lock();
        if fi.is_freed() {
            return Err(SegmentError::Fifo(crate::FifoError::Freed));
        }
        if fi.ref_dec() > 0 {
            return Ok(false);
        }
        fi.mark_freed();
        if let Some(chunk) = sa.chunk(id.index) {
            chunk.state = ChunkState::Draining;
        }
        slice.count(&sa, Delta::Sub(1), Delta::Add(0));
        drop(sa);
        // A peer that looks this offset up again must not find a fifo.
        fi.shared().ctl.0.magic.store(0, Ordering::Release);
        Ok(true)
    }

    /// Opens the fifo whose header is at `offset` (peer side), validated:
    /// in bounds, aligned, fifo magic, a power-of-two size whose data fits
    /// in the segment. On the owner, `offset` must be an allocated fifo.
    /// Every open handle of one fifo in this process shares its private
    /// part (refcount, roles).
    pub fn fifo_at(&self, offset: u64) -> Result<Fifo, SegmentError> {
        let seg_len = self.inner.storage.len();
        let hdr_len = layout::fifo_header_len();
        let off = usize::try_from(offset).map_err(|_| SegmentError::Corrupted("fifo offset"))?;
        if off < layout::segment_header_len()
            || !off.is_multiple_of(CACHE_LINE)
            || off.checked_add(hdr_len).is_none_or(|end| end > seg_len)
        {
            return Err(SegmentError::Corrupted(
                "fifo offset out of bounds or misaligned",
            ));
        }
        if self.inner.owner {
            self.owner_fifo_at(off)
        } else {
            self.peer_fifo_at(off)
        }
    }

    fn owner_fifo_at(&self, off: usize) -> Result<Fifo, SegmentError> {
        // The owner's private records are the truth here: a live chunk's
        // part is handed out whatever a peer wrote into the header.
        let not_allocated = || SegmentError::InvalidArgument("no fifo allocated at offset");
        let id = self
            .inner
            .fresh
            .lock()
            .find(off)
            .ok_or_else(not_allocated)?;
        let slice = &self.inner.slices[id.slice as usize];
        let mut sa = slice.alloc.lock();
        let chunk = sa.chunk(id.index).ok_or_else(not_allocated)?;
        match (&chunk.state, &chunk.part) {
            (ChunkState::Live, Some(part)) => Ok(Fifo::another(part)),
            _ => Err(not_allocated()),
        }
    }

    fn peer_fifo_at(&self, off: usize) -> Result<Fifo, SegmentError> {
        let seg_len = self.inner.storage.len();
        let mut peer = self.inner.peer.lock();
        if let Some(part) = peer.open.get(&off) {
            return Ok(Fifo::another(part));
        }
        // SAFETY: `off` is aligned and the header lies inside the mapping
        // (checked by `fifo_at`); a header of std atomics is valid for any
        // bytes.
        let shr = unsafe { self.inner.storage.get::<FifoShared>(off) };
        if shr.ctl.0.magic.load(Ordering::Acquire) != FIFO_MAGIC {
            return Err(SegmentError::Corrupted("fifo magic"));
        }
        let size = shr.ctl.0.size.load(Ordering::Relaxed);
        if size == 0 || !size.is_power_of_two() || size > MAX_FIFO_SIZE {
            return Err(SegmentError::Corrupted("fifo size"));
        }
        if (off + layout::fifo_header_len())
            .checked_add(size as usize)
            .is_none_or(|end| end > seg_len)
        {
            return Err(SegmentError::Corrupted("fifo data outside the segment"));
        }
        peer.next_generation += 1;
        let inner = Arc::new(FifoInner::new(
            self.refs[0].clone(),
            off,
            size,
            peer.next_generation,
            None,
        ));
        peer.open.insert(off, inner.clone());
        drop(peer);
        Ok(Fifo::from_inner(inner))
    }

    /// Bytes that allocations can still use (fresh memory and free lists).
    /// 0 on an attached segment.
    pub fn available_bytes(&self) -> usize {
        if !self.inner.owner {
            return 0;
        }
        let listed: usize = self
            .inner
            .slices
            .iter()
            .map(|s| s.free_bytes.load(Ordering::Acquire))
            .sum();
        self.inner.fresh.lock().left() + listed
    }

    /// Bytes `slice` can still put fifos in: fresh memory plus the chunks on
    /// its own free lists (every size class). What
    /// [`FifoSegment::alloc_fifo_w_slice`] on that slice may use, unlike
    /// [`FifoSegment::available_bytes`], which also counts the other slices'
    /// free lists. 0 on an attached segment or for a slice out of range.
    /// A snapshot: other slices may carve fresh memory meanwhile.
    pub fn slice_available_bytes(&self, slice: u32) -> usize {
        let Some(s) = self.owner_slice(slice) else {
            return 0;
        };
        let listed = s.free_bytes.load(Ordering::Acquire);
        self.inner.fresh.lock().left() + listed
    }

    /// Could `slice` allocate one fifo of each of `sizes` right now, each
    /// from its own free list of the fifo's size class or else from fresh
    /// memory (exactly what [`FifoSegment::alloc_fifo_w_slice`] would do)?
    /// Cheap enough for every connect: no allocation, no lock on the slice
    /// (its free counts are mirrored in atomics) and the shared fresh-memory
    /// lock only when the free lists do not cover the request. False on an
    /// attached segment, for a slice out of range or a size no fifo can
    /// have. A snapshot: other threads may free (or, for fresh memory,
    /// take) bytes meanwhile, so the allocation itself can still fail.
    pub fn can_alloc_fifos_w_slice(&self, slice: u32, sizes: &[u32]) -> bool {
        let Some(s) = self.owner_slice(slice) else {
            return false;
        };
        let mut from_fresh = 0usize;
        for (i, &size) in sizes.iter().enumerate() {
            let Some(class) = layout::size_class(size) else {
                return false;
            };
            // Earlier fifos of the same class take free chunks first.
            let before = sizes[..i]
                .iter()
                .filter(|&&z| layout::size_class(z) == Some(class))
                .count();
            if s.free_chunks(class) <= before {
                from_fresh = from_fresh.saturating_add(layout::class_footprint(class));
            }
        }
        from_fresh == 0 || from_fresh <= self.inner.fresh.lock().left()
    }

    /// `slice` of an owner segment.
    fn owner_slice(&self, slice: u32) -> Option<&Slice> {
        if !self.inner.owner {
            return None;
        }
        self.inner.slices.get(slice as usize)
    }

    /// Live (allocated, not freed) fifos. 0 on an attached segment.
    pub fn num_fifos(&self) -> usize {
        self.inner
            .slices
            .iter()
            .map(|s| s.live.load(Ordering::Acquire))
            .sum()
    }

    /// Bytes a fifo of `size` data bytes takes in a segment, header
    /// included (`size` rounded up to a power of two, clamped to 1..=2^31).
    pub fn fifo_footprint(size: u32) -> usize {
        let class = layout::size_class(size.clamp(1, MAX_FIFO_SIZE)).unwrap_or(31);
        layout::class_footprint(class)
    }

    /// Carves `len` bytes (rounded up to the cache line) of fresh memory
    /// for a block that is not a fifo (a message queue, see `msg_q`),
    /// cache-line aligned. Never freed: it lives as long as the segment.
    /// Owner only.
    pub(crate) fn alloc_block(&self, len: usize) -> Result<usize, SegmentError> {
        if !self.inner.owner {
            return Err(SegmentError::NotOwner);
        }
        let len = layout::align_up(len.max(1), CACHE_LINE);
        self.inner
            .fresh
            .lock()
            .carve_block(len)
            .map_err(|requested| SegmentError::Full { requested })
    }

    /// The segment's bytes (for `msg_q`, which lays out its own blocks).
    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Same mapping?
    pub fn same(&self, other: &FifoSegment) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

#[cfg(all(test, not(loom)))]
#[path = "segment_tests.rs"]
mod tests;

/// The segment keeps its fifos' parts for reuse; these check that doing so
/// never keeps a segment alive after its last handle of either kind.
#[cfg(all(test, not(loom)))]
mod lifetime_tests {
    use super::*;

    fn watch(seg: &FifoSegment) -> std::sync::Weak<SegmentInner> {
        Arc::downgrade(&seg.inner)
    }

    #[test]
    fn segment_goes_with_its_last_handle() {
        // Freed and unfreed fifos, parts kept in their chunks.
        let seg = FifoSegment::create_heap(1 << 16, 2, SegmentFlags::empty()).unwrap();
        let w = watch(&seg);
        let a = seg.alloc_fifo_w_slice(0, 64).unwrap();
        let b = seg.alloc_fifo_w_slice(1, 64).unwrap();
        assert!(seg.free_fifo(&a).unwrap());
        drop((a, b));
        let clone = seg.clone();
        drop(seg);
        assert!(w.upgrade().is_some(), "a clone still holds it");
        drop(clone);
        assert!(w.upgrade().is_none());
    }

    #[test]
    fn open_fifos_outlive_the_segment_handle() {
        let seg = FifoSegment::create_heap(1 << 16, 1, SegmentFlags::empty()).unwrap();
        let w = watch(&seg);
        let f = seg.alloc_fifo_w_slice(0, 64).unwrap();
        let mut tx = f.producer().unwrap();
        drop(seg);
        assert!(w.upgrade().is_some());
        assert_eq!(tx.enqueue(b"still mapped").unwrap(), 12);
        drop(f);
        assert!(w.upgrade().is_some(), "the producer holds it");
        drop(tx);
        assert!(w.upgrade().is_none());
    }

    #[test]
    #[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
    fn peer_segment_goes_with_its_last_handle() {
        let owner = FifoSegment::create("lifetime", 1 << 16, 1, SegmentFlags::empty()).unwrap();
        let f = owner.alloc_fifo_w_slice(0, 64).unwrap();
        let fd = owner.fd().unwrap().try_clone_to_owned().unwrap();
        let peer = FifoSegment::attach(fd).unwrap();
        let w = watch(&peer);
        let pf = peer.fifo_at(f.offset()).unwrap();
        let again = peer.fifo_at(f.offset()).unwrap();
        assert!(again.same(&pf));
        drop(again);
        drop(peer);
        assert!(w.upgrade().is_some());
        drop(pf);
        assert!(w.upgrade().is_none());
        // Opened and closed with the segment handle alive: forgotten, so
        // nothing keeps it either.
        let peer = FifoSegment::attach(owner.fd().unwrap().try_clone_to_owned().unwrap()).unwrap();
        let w = watch(&peer);
        drop(peer.fifo_at(f.offset()).unwrap());
        assert!(peer.inner.peer.lock().open.is_empty());
        drop(peer);
        assert!(w.upgrade().is_none());
    }

    #[test]
    fn a_reused_part_starts_fresh() {
        let seg = FifoSegment::create_heap(1 << 16, 1, SegmentFlags::empty()).unwrap();
        let a = seg.alloc_fifo_w_slice(0, 64).unwrap();
        let part = std::ptr::from_ref(a.inner());
        a.set_segment_index(7);
        a.set_segment_manager_index(8);
        a.ref_inc();
        drop(a.producer().unwrap());
        let _rx = a.consumer().unwrap();
        assert!(!seg.free_fifo(&a).unwrap());
        assert!(seg.free_fifo(&a).unwrap());
        drop(_rx);
        drop(a);
        let b = seg
            .alloc_fifo_w_slice(0, 128)
            .unwrap_or_else(|e| panic!("{e}"));
        let c = seg.alloc_fifo_w_slice(0, 64).unwrap();
        assert_eq!(std::ptr::from_ref(c.inner()), part, "the part was reused");
        assert_eq!(c.refcount(), 1);
        assert_eq!(c.segment_index(), u32::MAX);
        assert_eq!(c.segment_manager_index(), u32::MAX);
        assert!(!c.is_freed());
        assert_eq!(c.size(), 64);
        assert!(c.producer().is_ok() && c.consumer().is_ok());
        // An unfreed fifo keeps its part (and logical refcount) with no
        // handle open.
        c.ref_inc();
        let off = c.offset();
        drop(c);
        let d = seg.fifo_at(off).unwrap();
        assert_eq!(d.refcount(), 2);
        drop(b);
    }
}
