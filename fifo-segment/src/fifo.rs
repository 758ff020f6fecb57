//! SVM fifos: SPSC byte rings whose header and data live in a segment.
//!
//! A fifo has a shared header (`layout::FifoShared`, three cache lines by
//! writer: size, magic, master session and the event flag; head with the
//! dequeue-notification flags the consumer reads after every dequeue; tail)
//! followed by its data, and a process-private part
//! ([`Fifo`] handles share it): the trusted size and data offset (taken once,
//! at allocation or after validation, never re-read from shared memory),
//! segment index, segment manager index, refcount, role and freed flags.
//!
//! Ordering (ARCHITECTURE.md, "Shared memory"): the producer writes data, then publishes tail with
//! Release; the consumer loads tail with Acquire, reads, then publishes head
//! with Release. Each end caches the other's index and re-reads it only when
//! the cache says full (producer) or empty (consumer). Flag-then-recheck
//! pairs (`set_event` / `unset_event` + re-check, `add_want_deq_ntf` +
//! re-check / head store + `needs_deq_ntf`) have a SeqCst fence on both
//! sides.
//!
//! Every head or tail read from shared memory is checked (`tail - head <=
//! size`); a violation is [`FifoError::Corrupted`], never an access outside
//! the fifo.

use ct_sync::unmodeled::atomic::{AtomicBool, AtomicU32 as StdAtomicU32, Ordering as StdOrdering};
use std::fmt;
use std::sync::Arc;

use crate::alloc::ChunkId;
use crate::error::FifoError;
use crate::layout::{FifoShared, INVALID_INDEX, MAX_FIFO_SIZE, fifo_header_len};
use crate::segment::SegRef;
use ct_sync::atomic::{Ordering, fence};

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

/// The private part of a fifo, shared by its handles. Its atomics are std's,
/// not the loom shim's: they are process-local bookkeeping that no loom
/// model is about, and keeping them out of loom keeps the models small.
///
/// The segment keeps a reference too (the owner in the fifo's chunk, a peer
/// in its open table), so `fifo_at` finds it and the owner reuses it for the
/// chunk's next fifo: `handles` counts the [`Fifo`]s, and the last one to go
/// tells the segment (`SegmentInner::last_handle_gone`).
pub(crate) struct FifoInner {
    /// Keeps the mapping alive as long as any handle (or role) lives.
    pub(crate) seg: Arc<SegRef>,
    pub(crate) hdr_off: usize,
    data_off: usize,
    /// Trusted data size (a power of two).
    size: u32,
    generation: u64,
    /// Owner allocations: the chunk, which returns to its slice's free list.
    pub(crate) owned: Option<ChunkId>,
    segment_index: StdAtomicU32,
    segment_manager_index: StdAtomicU32,
    refcount: StdAtomicU32,
    producer_taken: AtomicBool,
    consumer_taken: AtomicBool,
    freed: AtomicBool,
    /// Live `Fifo` handles (roles hold one each).
    handles: StdAtomicU32,
}

impl FifoInner {
    pub(crate) fn new(
        seg: Arc<SegRef>,
        hdr_off: usize,
        size: u32,
        generation: u64,
        owned: Option<ChunkId>,
    ) -> Self {
        Self {
            seg,
            hdr_off,
            data_off: hdr_off + fifo_header_len(),
            size,
            generation,
            owned,
            segment_index: StdAtomicU32::new(INVALID_INDEX),
            segment_manager_index: StdAtomicU32::new(INVALID_INDEX),
            refcount: StdAtomicU32::new(1),
            producer_taken: AtomicBool::new(false),
            consumer_taken: AtomicBool::new(false),
            freed: AtomicBool::new(false),
            handles: StdAtomicU32::new(1),
        }
    }

    /// Makes a part no one else references (`Arc::get_mut` proved it) the
    /// part of a new allocation of its chunk, with one handle.
    pub(crate) fn reuse(&mut self, size: u32, generation: u64) {
        self.size = size;
        self.generation = generation;
        *self.segment_index.get_mut() = INVALID_INDEX;
        *self.segment_manager_index.get_mut() = INVALID_INDEX;
        *self.refcount.get_mut() = 1;
        *self.producer_taken.get_mut() = false;
        *self.consumer_taken.get_mut() = false;
        *self.freed.get_mut() = false;
        *self.handles.get_mut() = 1;
    }

    /// Live `Fifo` handles.
    pub(crate) fn handles(&self) -> u32 {
        self.handles.load(StdOrdering::Acquire)
    }

    #[inline]
    pub(crate) fn shared(&self) -> &FifoShared {
        // SAFETY: `hdr_off` was validated against the segment when this
        // part was built (bounds, alignment); the owner built a
        // `FifoShared` there, and a peer's header is std atomics (valid for
        // any bytes). The mapping lives as long as `self.seg`.
        unsafe { self.seg.storage.get::<FifoShared>(self.hdr_off) }
    }

    #[inline]
    fn check_live(&self) -> Result<(), FifoError> {
        if self.freed.load(StdOrdering::Acquire) {
            Err(FifoError::Freed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn is_freed(&self) -> bool {
        self.freed.load(StdOrdering::Acquire)
    }

    pub(crate) fn mark_freed(&self) {
        self.freed.store(true, StdOrdering::Release);
    }

    /// Decrements the refcount (not below zero); returns the new count.
    pub(crate) fn ref_dec(&self) -> u32 {
        let prev = self
            .refcount
            .fetch_update(StdOrdering::AcqRel, StdOrdering::Acquire, |c| {
                Some(c.saturating_sub(1))
            })
            .unwrap_or(0);
        prev.saturating_sub(1)
    }

    #[inline]
    fn index(&self, pos: u32) -> usize {
        (pos & (self.size - 1)) as usize
    }

    /// Copies `src` into the ring at position `pos` (`src.len() <= size`).
    #[inline]
    fn write_ring(&self, pos: u32, src: &[u8]) {
        let idx = self.index(pos);
        let first = src.len().min(self.size as usize - idx);
        self.seg.storage.copy_in(self.data_off + idx, &src[..first]);
        if first < src.len() {
            self.seg.storage.copy_in(self.data_off, &src[first..]);
        }
    }

    /// Copies from the ring at position `pos` into `dst` (`dst.len() <= size`).
    #[inline]
    fn read_ring(&self, pos: u32, dst: &mut [u8]) {
        let idx = self.index(pos);
        let first = dst.len().min(self.size as usize - idx);
        let (a, b) = dst.split_at_mut(first);
        self.seg.storage.copy_out(self.data_off + idx, a);
        if !b.is_empty() {
            self.seg.storage.copy_out(self.data_off, b);
        }
    }

    /// Bytes between `head` and `tail`, validated.
    #[inline]
    fn distance(&self, head: u32, tail: u32) -> Result<u32, FifoError> {
        let used = tail.wrapping_sub(head);
        if used > self.size {
            Err(FifoError::Corrupted("head/tail distance exceeds fifo size"))
        } else {
            Ok(used)
        }
    }

    /// A snapshot of the occupancy for an observer that owns neither index.
    /// Head is loaded on both sides of tail: with the same head both times
    /// the pair is consistent (head <= tail <= head + size for honest ends)
    /// and validated strictly; if the consumer moved meanwhile, retry, and
    /// after a few tries report a clamped value (any value in 0..=size is a
    /// truthful answer to a question that races both ends).
    fn occupancy(&self) -> Result<u32, FifoError> {
        let shr = self.shared();
        let mut last = 0;
        for _ in 0..16 {
            let h1 = shr.consumer.0.head.load(Ordering::Acquire);
            let t = shr.tail.0.load(Ordering::Acquire);
            let h2 = shr.consumer.0.head.load(Ordering::Acquire);
            if h1 == h2 {
                return self.distance(h1, t);
            }
            // Honest ends keep t - h2 <= size (head read after tail), but
            // the consumer may have passed t: clamp that to empty.
            let d = t.wrapping_sub(h2);
            last = if d > MAX_FIFO_SIZE {
                0
            } else {
                d.min(self.size)
            };
        }
        Ok(last)
    }
}

/// A handle on one fifo: control operations any thread may do (events,
/// notification flags, occupancy queries, master session, private
/// bookkeeping). Cheap to clone; the producer and consumer ends are taken
/// from it once each.
pub struct Fifo {
    inner: Arc<FifoInner>,
}

impl Clone for Fifo {
    fn clone(&self) -> Self {
        Self::another(&self.inner)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        // Last handle gone: only now may a freed chunk be reused, so a thread
        // that still held a `Producer` could never write into a new fifo.
        if self.inner.handles.fetch_sub(1, StdOrdering::AcqRel) == 1 {
            self.inner.seg.last_handle_gone(&self.inner);
        }
    }
}

impl fmt::Debug for Fifo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fifo")
            .field("offset", &self.offset())
            .field("size", &self.size())
            .field("generation", &self.inner.generation)
            .field("refcount", &self.refcount())
            .field("freed", &self.is_freed())
            .finish()
    }
}

impl Fifo {
    /// The first handle of a part made (or reused) with one handle counted.
    pub(crate) fn from_inner(inner: Arc<FifoInner>) -> Self {
        Self { inner }
    }

    /// One more handle on `inner`.
    pub(crate) fn another(inner: &Arc<FifoInner>) -> Self {
        inner.handles.fetch_add(1, StdOrdering::Relaxed);
        Self {
            inner: inner.clone(),
        }
    }

    pub(crate) fn inner(&self) -> &FifoInner {
        &self.inner
    }

    /// Takes the producer role; `RoleTaken` while another `Producer` lives.
    pub fn producer(&self) -> Result<Producer, FifoError> {
        let f = &*self.inner;
        f.check_live()?;
        if f.producer_taken.swap(true, StdOrdering::Acquire) {
            return Err(FifoError::RoleTaken);
        }
        let shr = f.shared();
        let tail = shr.tail.0.load(Ordering::Acquire);
        let head = shr.consumer.0.head.load(Ordering::Acquire);
        if let Err(e) = f.distance(head, tail) {
            f.producer_taken.store(false, StdOrdering::Release);
            return Err(e);
        }
        Ok(Producer {
            fifo: self.clone(),
            tail,
            cached_head: head,
            shut: self.is_shut(),
        })
    }

    /// Takes the consumer role; `RoleTaken` while another `Consumer` lives.
    pub fn consumer(&self) -> Result<Consumer, FifoError> {
        let f = &*self.inner;
        f.check_live()?;
        if f.consumer_taken.swap(true, StdOrdering::Acquire) {
            return Err(FifoError::RoleTaken);
        }
        let shr = f.shared();
        let head = shr.consumer.0.head.load(Ordering::Acquire);
        let tail = shr.tail.0.load(Ordering::Acquire);
        if let Err(e) = f.distance(head, tail) {
            f.consumer_taken.store(false, StdOrdering::Release);
            return Err(e);
        }
        Ok(Consumer {
            fifo: self.clone(),
            head,
            cached_tail: tail,
        })
    }

    /// Data bytes the fifo holds (a power of two).
    pub fn size(&self) -> u32 {
        self.inner.size
    }

    /// Offset of the fifo header from the segment base (what a peer passes to
    /// `FifoSegment::fifo_at`).
    pub fn offset(&self) -> u64 {
        self.inner.hdr_off as u64
    }

    /// Allocation generation of this handle's private part: with the
    /// offset it tells a reused chunk from the fifo that was there before.
    pub fn generation(&self) -> u64 {
        self.inner.generation
    }

    /// Bytes ready to dequeue.
    pub fn max_dequeue(&self) -> Result<u32, FifoError> {
        self.inner.check_live()?;
        self.inner.occupancy()
    }

    /// Bytes of free space.
    pub fn max_enqueue(&self) -> Result<u32, FifoError> {
        self.inner.check_live()?;
        Ok(self.inner.size - self.inner.occupancy()?)
    }

    /// No bytes to dequeue?
    pub fn is_empty(&self) -> Result<bool, FifoError> {
        Ok(self.max_dequeue()? == 0)
    }

    /// No free space?
    pub fn is_full(&self) -> Result<bool, FifoError> {
        Ok(self.max_dequeue()? == self.inner.size)
    }

    /// Sets the has-event flag; true when it was clear (the caller must then
    /// send the event). A SeqCst fence before the swap pairs with the one
    /// in [`Fifo::unset_event`]: either this call sees the flag cleared, or
    /// the worker's re-check after clearing sees the data enqueued before it.
    ///
    /// # Examples
    ///
    /// A burst of writes costs one event; the reader clears the flag, then
    /// re-checks, so data written meanwhile is never left without one.
    ///
    /// ```
    /// use ct_fifo_segment::{FifoSegment, SegmentFlags};
    ///
    /// let seg = FifoSegment::create_heap(64 << 10, 1, SegmentFlags::empty())?;
    /// let fifo = seg.alloc_fifo_w_slice(0, 4096)?;
    /// let mut tx = fifo.producer()?;
    /// tx.enqueue(b"a")?;
    /// assert!(fifo.set_event()); // was clear: send the event
    /// tx.enqueue(b"b")?;
    /// assert!(!fifo.set_event()); // one is pending already
    ///
    /// // The reader's side of the handshake.
    /// fifo.unset_event();
    /// assert_eq!(fifo.max_dequeue()?, 2); // the re-check sees both bytes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_event(&self) -> bool {
        let shr = self.inner.shared();
        fence(Ordering::SeqCst);
        shr.ctl.0.has_event.swap(1, Ordering::AcqRel) == 0
    }

    /// Clears the has-event flag, then a SeqCst fence: the caller must
    /// re-check `max_dequeue` afterwards (see [`Fifo::set_event`]).
    pub fn unset_event(&self) {
        let shr = self.inner.shared();
        shr.ctl.0.has_event.swap(0, Ordering::AcqRel);
        fence(Ordering::SeqCst);
    }

    /// Is an event pending?
    pub fn has_event(&self) -> bool {
        self.inner.shared().ctl.0.has_event.load(Ordering::Acquire) != 0
    }

    /// Has the producer shut its direction ([`Producer::shutdown`])? The
    /// data it wrote before is still readable: the consumer's end of the
    /// stream is [`Consumer::at_eof`]. The flag is the peer's to set, so a
    /// hostile one can only end the stream early.
    pub fn is_shut(&self) -> bool {
        self.inner.shared().ctl.0.shut.load(Ordering::Acquire) != 0
    }

    /// Producer side: arm dequeue notifications, then a SeqCst fence. The
    /// producer must re-check free space after arming: either it sees the
    /// consumer's dequeue, or the consumer's [`Fifo::needs_deq_ntf`] sees
    /// the request.
    pub fn add_want_deq_ntf(&self, ntf: DeqNtf) {
        self.inner
            .shared()
            .consumer
            .0
            .want_deq_ntf
            .fetch_or(ntf.bits(), Ordering::AcqRel);
        fence(Ordering::SeqCst);
    }

    /// Producer side: withdraw dequeue-notification requests.
    pub fn del_want_deq_ntf(&self, ntf: DeqNtf) {
        self.inner
            .shared()
            .consumer
            .0
            .want_deq_ntf
            .fetch_and(!ntf.bits(), Ordering::AcqRel);
    }

    /// The armed dequeue-notification requests.
    pub fn want_deq_ntf(&self) -> DeqNtf {
        DeqNtf::from_bits_truncate(
            self.inner
                .shared()
                .consumer
                .0
                .want_deq_ntf
                .load(Ordering::Acquire),
        )
    }

    /// After a notification was sent (VPP `svm_fifo_clear_deq_ntf`): a
    /// request that was IF_FULL alone is marked sent (no more until
    /// [`Fifo::reset_has_deq_ntf`]); NOTIF is one-shot and is withdrawn.
    pub fn clear_deq_ntf(&self) {
        let cons = &self.inner.shared().consumer.0;
        let want = DeqNtf::from_bits_truncate(cons.want_deq_ntf.load(Ordering::Acquire));
        cons.has_deq_ntf
            .store(u8::from(want == DeqNtf::IF_FULL), Ordering::Release);
        cons.want_deq_ntf
            .fetch_and(!DeqNtf::NOTIF.bits(), Ordering::AcqRel);
    }

    /// Re-enables IF_FULL / IF_EMPTY notifications after one was sent (VPP
    /// `svm_fifo_reset_has_deq_ntf`).
    pub fn reset_has_deq_ntf(&self) {
        self.inner
            .shared()
            .consumer
            .0
            .has_deq_ntf
            .store(0, Ordering::Release);
    }

    /// Consumer side, after dequeuing `n_last_deq` bytes (head already
    /// published): should the producer be notified (VPP
    /// `svm_fifo_needs_deq_ntf`)? NOTIF: always. IF_FULL: this dequeue took
    /// the fifo from full to not full. IF_EMPTY: the fifo is now empty.
    /// IF_FULL / IF_EMPTY fire once until reset. Starts with a SeqCst fence
    /// that pairs with [`Fifo::add_want_deq_ntf`]'s. A corrupted header
    /// answers true: the producer then finds the corruption itself rather
    /// than wait forever.
    pub fn needs_deq_ntf(&self, n_last_deq: u32) -> bool {
        fence(Ordering::SeqCst);
        let cons = &self.inner.shared().consumer.0;
        let want = DeqNtf::from_bits_truncate(cons.want_deq_ntf.load(Ordering::Acquire));
        if want.is_empty() {
            return false;
        }
        if want.contains(DeqNtf::NOTIF) {
            return true;
        }
        let has = cons.has_deq_ntf.load(Ordering::Acquire) != 0;
        let Ok(max_deq) = self.inner.occupancy() else {
            return true;
        };
        let size = self.inner.size;
        if want.contains(DeqNtf::IF_FULL)
            && !has
            && max_deq < size
            && u64::from(max_deq) + u64::from(n_last_deq) >= u64::from(size)
        {
            return true;
        }
        want.contains(DeqNtf::IF_EMPTY) && !has && max_deq == 0
    }

    /// (thread, session index) of the session this fifo belongs to
    /// (`u32::MAX` for both until set).
    pub fn master_session(&self) -> (u32, u32) {
        let ctl = &self.inner.shared().ctl.0;
        (
            ctl.master_thread.load(Ordering::Acquire),
            ctl.master_session_index.load(Ordering::Acquire),
        )
    }

    /// Records the owning session (visible to the peer).
    pub fn set_master_session(&self, thread: u32, session_index: u32) {
        let ctl = &self.inner.shared().ctl.0;
        ctl.master_session_index
            .store(session_index, Ordering::Release);
        ctl.master_thread.store(thread, Ordering::Release);
    }

    /// Index of the fifo's segment in its segment manager (private
    /// bookkeeping, never in shared memory; `u32::MAX` until set).
    pub fn segment_index(&self) -> u32 {
        self.inner.segment_index.load(StdOrdering::Acquire)
    }

    /// See [`Fifo::segment_index`].
    pub fn set_segment_index(&self, index: u32) {
        self.inner.segment_index.store(index, StdOrdering::Release);
    }

    /// Index of the owning segment manager (private; `u32::MAX` until set).
    pub fn segment_manager_index(&self) -> u32 {
        self.inner.segment_manager_index.load(StdOrdering::Acquire)
    }

    /// See [`Fifo::segment_manager_index`].
    pub fn set_segment_manager_index(&self, index: u32) {
        self.inner
            .segment_manager_index
            .store(index, StdOrdering::Release);
    }

    /// Logical users of this fifo (VPP `refcnt`; ct shares fifos crossed).
    pub fn refcount(&self) -> u32 {
        self.inner.refcount.load(StdOrdering::Acquire)
    }

    /// Adds a logical user; returns the new count.
    pub fn ref_inc(&self) -> u32 {
        self.inner.refcount.fetch_add(1, StdOrdering::AcqRel) + 1
    }

    /// Drops a logical user without freeing (never below zero); returns the
    /// new count. `FifoSegment::free_fifo` is the decrement that frees.
    pub fn ref_dec(&self) -> u32 {
        self.inner.ref_dec()
    }

    /// True once `FifoSegment::free_fifo` freed it.
    pub fn is_freed(&self) -> bool {
        self.inner.is_freed()
    }

    /// Same fifo (same segment, same offset, same allocation)?
    pub fn same(&self, other: &Fifo) -> bool {
        Arc::ptr_eq(self.inner.seg.segment(), other.inner.seg.segment())
            && self.inner.hdr_off == other.inner.hdr_off
            && self.inner.generation == other.inner.generation
    }

    /// Moves head and tail to `position` (VPP `svm_fifo_init_pointers`),
    /// emptying the fifo. Needs both roles free (`RoleTaken` otherwise).
    /// Tests use it to start near `u32::MAX` and cross the wrap.
    pub fn init_pointers(&self, position: u32) -> Result<(), FifoError> {
        let f = &*self.inner;
        f.check_live()?;
        if f.producer_taken.swap(true, StdOrdering::Acquire) {
            return Err(FifoError::RoleTaken);
        }
        if f.consumer_taken.swap(true, StdOrdering::Acquire) {
            f.producer_taken.store(false, StdOrdering::Release);
            return Err(FifoError::RoleTaken);
        }
        let shr = f.shared();
        shr.consumer.0.head.store(position, Ordering::Release);
        shr.tail.0.store(position, Ordering::Release);
        f.consumer_taken.store(false, StdOrdering::Release);
        f.producer_taken.store(false, StdOrdering::Release);
        Ok(())
    }
}

/// Re-reads head for a producer at `tail`; returns the free space.
#[inline]
fn refresh_head(f: &FifoInner, tail: u32, cached_head: &mut u32) -> Result<u32, FifoError> {
    let head = f.shared().consumer.0.head.load(Ordering::Acquire);
    let used = f.distance(head, tail)?;
    *cached_head = head;
    Ok(f.size - used)
}

/// The producer end of a fifo. `Send`, not `Clone`: one writer. Dropping it
/// releases the role.
pub struct Producer {
    fifo: Fifo,
    /// Our own position: trusted, never re-read from shared memory.
    tail: u32,
    /// Last head seen; re-read only when it says there is too little room.
    cached_head: u32,
    /// This end shut the fifo: our own record, never re-read from shared
    /// memory (set from the shared flag when the role was taken).
    shut: bool,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("fifo", &self.fifo)
            .field("tail", &self.tail)
            .finish()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.fifo
            .inner
            .producer_taken
            .store(false, StdOrdering::Release);
    }
}

impl Producer {
    /// The fifo this end writes.
    pub fn fifo(&self) -> &Fifo {
        &self.fifo
    }

    /// Shuts this direction (a half-close): the consumer reads what the
    /// fifo holds, then sees the end of the stream ([`Consumer::at_eof`]);
    /// writes from here on are [`FifoError::Shutdown`]. The flag is stored
    /// after every tail publish (Release), so a consumer that sees it
    /// (Acquire) and then loads tail sees all the data. Shutting twice is a
    /// no-op. The caller tells the consumer (an event), as after a write.
    pub fn shutdown(&mut self) -> Result<(), FifoError> {
        let f = &*self.fifo.inner;
        f.check_live()?;
        self.shut = true;
        f.shared().ctl.0.shut.store(1, Ordering::Release);
        Ok(())
    }

    /// Whether this end shut the fifo.
    pub fn is_shut(&self) -> bool {
        self.shut
    }

    #[inline]
    fn check_writable(&self) -> Result<(), FifoError> {
        self.fifo.inner.check_live()?;
        if self.shut {
            return Err(FifoError::Shutdown);
        }
        Ok(())
    }

    /// Copies as much of `data` as fits; Ok(0) when full.
    #[inline]
    pub fn enqueue(&mut self, data: &[u8]) -> Result<usize, FifoError> {
        self.check_writable()?;
        let f = &*self.fifo.inner;
        let want = data.len().min(f.size as usize) as u32;
        let mut free = f.size - self.tail.wrapping_sub(self.cached_head);
        if free < want {
            free = refresh_head(f, self.tail, &mut self.cached_head)?;
        }
        let n = free.min(want);
        if n == 0 {
            return Ok(0);
        }
        f.write_ring(self.tail, &data[..n as usize]);
        self.tail = self.tail.wrapping_add(n);
        f.shared().tail.0.store(self.tail, Ordering::Release);
        Ok(n as usize)
    }

    /// Bytes of free space (re-reads head).
    pub fn max_enqueue(&self) -> Result<u32, FifoError> {
        let f = &*self.fifo.inner;
        f.check_live()?;
        let head = f.shared().consumer.0.head.load(Ordering::Acquire);
        Ok(f.size - f.distance(head, self.tail)?)
    }

    /// Zero-copy: the free space as up to two slices (second is the wrap).
    /// Write into them, then [`Producer::commit`] what was written.
    ///
    /// # Examples
    ///
    /// ```
    /// use ct_fifo_segment::{FifoSegment, SegmentFlags};
    ///
    /// let seg = FifoSegment::create_heap(64 << 10, 1, SegmentFlags::empty())?;
    /// let fifo = seg.alloc_fifo_w_slice(0, 4096)?;
    /// let (mut tx, mut rx) = (fifo.producer()?, fifo.consumer()?);
    ///
    /// // Format straight into the fifo's memory, then publish.
    /// let (first, _wrap) = tx.write_slices()?;
    /// first[..5].copy_from_slice(b"hello");
    /// tx.commit(5)?;
    ///
    /// // Read in place, then release what was consumed.
    /// let (data, _) = rx.read_slices()?;
    /// assert_eq!(data, b"hello");
    /// rx.release(5)?;
    /// assert!(fifo.is_empty()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_slices(&mut self) -> Result<(&mut [u8], &mut [u8]), FifoError> {
        self.check_writable()?;
        let f = &*self.fifo.inner;
        let free = refresh_head(f, self.tail, &mut self.cached_head)?;
        let idx = f.index(self.tail);
        let first = (free as usize).min(f.size as usize - idx);
        let second = free as usize - first;
        let storage = &f.seg.storage;
        // SAFETY: [tail, tail + free) is free space: the consumer reads only
        // [head, tail), and this `Producer` is the only writer (one per
        // fifo, `&mut self` borrowed for the slices' life). The two ranges
        // are disjoint: `first` ends at the ring's end or before `second`'s
        // start at index 0 plus `second` <= idx.
        let (a, b) = unsafe {
            (
                storage.slice_mut(f.data_off + idx, first),
                storage.slice_mut(f.data_off, second),
            )
        };
        Ok((a, b))
    }

    /// Publishes `n` bytes written through `write_slices`; `OutOfRange`
    /// if `n` exceeds the free space.
    pub fn commit(&mut self, n: u32) -> Result<(), FifoError> {
        self.check_writable()?;
        let f = &*self.fifo.inner;
        let mut free = f.size - self.tail.wrapping_sub(self.cached_head);
        if free < n {
            free = refresh_head(f, self.tail, &mut self.cached_head)?;
        }
        if n > free {
            return Err(FifoError::OutOfRange);
        }
        self.tail = self.tail.wrapping_add(n);
        f.shared().tail.0.store(self.tail, Ordering::Release);
        Ok(())
    }
}

/// The consumer end of a fifo. `Send`, not `Clone`: one reader. Dropping it
/// releases the role.
pub struct Consumer {
    fifo: Fifo,
    /// Our own position: trusted, never re-read from shared memory.
    head: u32,
    /// Last tail seen; re-read only when it says there is too little data.
    cached_tail: u32,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("fifo", &self.fifo)
            .field("head", &self.head)
            .finish()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.fifo
            .inner
            .consumer_taken
            .store(false, StdOrdering::Release);
    }
}

impl Consumer {
    /// The fifo this end reads.
    pub fn fifo(&self) -> &Fifo {
        &self.fifo
    }

    /// Loads tail and returns the readable bytes (validated).
    #[inline]
    fn load_avail(&self) -> Result<(u32, u32), FifoError> {
        let f = &*self.fifo.inner;
        let tail = f.shared().tail.0.load(Ordering::Acquire);
        Ok((tail, f.distance(self.head, tail)?))
    }

    /// Readable bytes, re-reading tail only when the cache has fewer than
    /// `want`.
    #[inline]
    fn avail_for(&mut self, want: u32) -> Result<u32, FifoError> {
        let avail = self.cached_tail.wrapping_sub(self.head);
        if avail >= want {
            return Ok(avail);
        }
        let (tail, avail) = self.load_avail()?;
        self.cached_tail = tail;
        Ok(avail)
    }

    #[inline]
    fn advance(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        self.fifo
            .inner
            .shared()
            .consumer
            .0
            .head
            .store(self.head, Ordering::Release);
    }

    /// Copies out up to `buf.len()` bytes; Ok(0) when empty.
    #[inline]
    pub fn dequeue(&mut self, buf: &mut [u8]) -> Result<usize, FifoError> {
        self.fifo.inner.check_live()?;
        let want = buf.len().min(self.fifo.inner.size as usize) as u32;
        let n = self.avail_for(want)?.min(want);
        if n == 0 {
            return Ok(0);
        }
        self.fifo.inner.read_ring(self.head, &mut buf[..n as usize]);
        self.advance(n);
        Ok(n as usize)
    }

    /// Copies bytes starting `offset` past head without consuming them;
    /// `OutOfRange` when `offset` is beyond the readable bytes.
    pub fn peek(&self, offset: u32, buf: &mut [u8]) -> Result<usize, FifoError> {
        let f = &*self.fifo.inner;
        f.check_live()?;
        let (_, avail) = self.load_avail()?;
        if offset > avail {
            return Err(FifoError::OutOfRange);
        }
        let n = (avail - offset).min(buf.len().min(f.size as usize) as u32);
        f.read_ring(self.head.wrapping_add(offset), &mut buf[..n as usize]);
        Ok(n as usize)
    }

    /// Consumes up to `n` bytes without copying; returns how many.
    pub fn dequeue_drop(&mut self, n: u32) -> Result<u32, FifoError> {
        self.fifo.inner.check_live()?;
        let k = self.avail_for(n)?.min(n);
        if k > 0 {
            self.advance(k);
        }
        Ok(k)
    }

    /// Drops everything readable now.
    pub fn dequeue_drop_all(&mut self) -> Result<u32, FifoError> {
        self.dequeue_drop(u32::MAX)
    }

    /// Bytes ready to dequeue (re-reads tail).
    pub fn max_dequeue(&self) -> Result<u32, FifoError> {
        self.fifo.inner.check_live()?;
        Ok(self.load_avail()?.1)
    }

    /// The end of the stream: the producer shut its direction and every
    /// byte it wrote was read. The flag is loaded before tail (it was stored
    /// after the last tail publish), so data written before the shutdown is
    /// never missed.
    pub fn at_eof(&self) -> Result<bool, FifoError> {
        self.fifo.inner.check_live()?;
        if !self.fifo.is_shut() {
            return Ok(false);
        }
        Ok(self.load_avail()?.1 == 0)
    }

    /// Zero-copy: readable bytes as up to two slices (second is the wrap).
    /// Read them, then [`Consumer::release`] what was consumed.
    pub fn read_slices(&self) -> Result<(&[u8], &[u8]), FifoError> {
        let f = &*self.fifo.inner;
        f.check_live()?;
        let (_, avail) = self.load_avail()?;
        let idx = f.index(self.head);
        let first = (avail as usize).min(f.size as usize - idx);
        let second = avail as usize - first;
        let storage = &f.seg.storage;
        // SAFETY: [head, head + avail) is published data: the producer
        // writes only outside it, and only this `Consumer` moves head, which
        // needs `&mut self` and so cannot happen while the slices live.
        let (a, b) = unsafe {
            (
                storage.slice(f.data_off + idx, first),
                storage.slice(f.data_off, second),
            )
        };
        Ok((a, b))
    }

    /// Releases `n` bytes read through `read_slices` (same as dequeue_drop,
    /// but `n` beyond what is readable is an error).
    pub fn release(&mut self, n: u32) -> Result<(), FifoError> {
        self.fifo.inner.check_live()?;
        if self.avail_for(n)? < n {
            return Err(FifoError::OutOfRange);
        }
        self.advance(n);
        Ok(())
    }
}

#[cfg(all(test, not(loom)))]
#[path = "fifo_tests.rs"]
mod tests;
