//! Message queues in a segment: VPP's `svm_msg_q`.
//!
//! In VPP, the session layer and an app in another process trade events
//! (accepted, connected, rx, tx, disconnect, add segment...) through
//! `svm_msg_q`s that live in a shared segment: a queue of fixed-size
//! messages with several rings of slots by message size, one producer, one
//! consumer, and an eventfd the producer signals when the consumer said it is
//! going to sleep. This is that queue.
//!
//! A [`MsgQueue`] is a block in a [`FifoSegment`] ([`MsgQueue::create`]
//! carves it; a peer finds it by offset with [`MsgQueue::attach`]). It has
//! rings ([`RingConfig`]: `nitems` slots of `elsize` bytes each) and a main
//! queue of descriptors (ring, slot, length) that fixes message order.
//! [`MsgProducer::try_send`] copies a message into the smallest ring that
//! fits and has a free slot, writes its descriptor and publishes the main
//! tail (Release); [`MsgConsumer::try_recv`] loads the tail (Acquire), reads
//! the descriptor and the slot, then publishes the ring and main heads
//! (Release). The consumer's sleep protocol is flag-then-recheck with a SeqCst
//! fence on both sides ([`MsgConsumer::prepare_sleep`] against the end of
//! `try_send`), so a message is never left behind a sleeping consumer; the
//! eventfd itself is [`crate::eventfd::EventFd`], kept by the caller.
//!
//! # Where we differ from VPP
//!
//! - VPP serialises producers with a lock (a process-shared pthread mutex
//!   and condvar in the segment when the queue has no eventfd, a
//!   process-local spinlock otherwise), and its main queue and rings each
//!   keep a shared `cursize` that both ends move with atomic adds. Here
//!   nothing in shared memory is locked and every index has one writer:
//!   each ring and the main queue have a head (the consumer's) and a tail
//!   (the producer's). Since the consumer takes messages in main-queue
//!   order, each ring's slots are also freed in order, so a ring is a plain
//!   SPSC ring.
//! - VPP's producer writes the eventfd whenever the queue goes from empty to
//!   not empty, and its consumer signals a producer waiting for space. Here
//!   the producer is told to signal only when the consumer said it sleeps,
//!   and only once per sleep: the consumer numbers its sleeps (an odd
//!   sequence value while sleeping, written only by the consumer) and the
//!   producer remembers the last one it reported (`try_send` returns
//!   `Ok(true)` once per sleep), so a busy consumer costs no syscalls and a
//!   burst of sends one. A full queue is `Full` (congestion: the caller
//!   keeps the message and retries), never a wait.
//! - The peer is untrusted. The geometry (rings, sizes, offsets) is checked
//!   once at [`MsgQueue::attach`] and kept privately; each end keeps its own
//!   index privately and only reads the other end's, validated (`tail - head
//!   <= nitems`); every descriptor must name the ring slot the consumer
//!   expects next and a length that fits it. A violation is
//!   [`MsgQueueError::Corrupted`], never an access outside the block or a
//!   panic. (VPP trusts the header and only asserts message order.)
//! - A message carries its length (VPP's are fixed-size structs); rings are
//!   tried by ascending `elsize` whatever their order in the config; ring
//!   sizes are rounded up to powers of two.
//! - The block is carved from the segment's fresh memory and never freed:
//!   queues live as long as their segment (one segment per app worker).
//!
//! # Example
//!
//! ```
//! use ct_fifo_segment::msg_q::{MsgQueue, MsgQueueConfig, RingConfig};
//! use ct_fifo_segment::{FifoSegment, SegmentFlags};
//!
//! let cfg = MsgQueueConfig {
//!     rings: vec![RingConfig { nitems: 16, elsize: 64 }, RingConfig { nitems: 4, elsize: 256 }],
//! };
//! # #[cfg(miri)]
//! # let seg = FifoSegment::create_heap(1 << 16, 1, SegmentFlags::empty()).unwrap();
//! # #[cfg(not(miri))]
//! let seg = FifoSegment::create("mq", 1 << 16, 1, SegmentFlags::empty()).unwrap();
//! let q = MsgQueue::create(&seg, &cfg).unwrap();
//! let mut tx = q.producer().unwrap();
//! let mut rx = MsgQueue::attach(&seg, q.offset()).unwrap().consumer().unwrap();
//! assert!(!tx.try_send(b"accepted").unwrap()); // the consumer is awake
//! let mut buf = vec![0u8; q.max_msg_size()];
//! assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(8));
//! assert_eq!(&buf[..8], b"accepted");
//! assert!(rx.prepare_sleep().unwrap()); // empty: safe to sleep on the eventfd
//! assert!(tx.try_send(&[7; 100]).unwrap()); // the consumer sleeps: signal it
//! ```

use ct_sync::unmodeled::atomic::{AtomicBool, AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::fmt;
use std::sync::Arc;

use thiserror::Error;

use crate::error::SegmentError;
use crate::layout::Line;
use crate::segment::FifoSegment;
use ct_sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[path = "msg_q_layout.rs"]
mod layout;
use layout::{
    DESC_LEN, Desc, Geometry, MSGQ_MAGIC, MSGQ_VERSION, QueueCtl, QueueHeader, RingCtl, RingShared,
};

#[path = "msg_q_ends.rs"]
mod ends;
pub use ends::{MsgConsumer, MsgProducer};

/// One ring: `nitems` slots (1..=2^20, rounded up to a power of two) of
/// `elsize` bytes (1..=2^20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingConfig {
    /// Slots in the ring.
    pub nitems: u32,
    /// Bytes per slot: the largest message this ring takes.
    pub elsize: u32,
}

/// A queue's rings (1..=8). Order does not matter: a message goes to the
/// smallest ring that fits it and has a free slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsgQueueConfig {
    /// The rings, e.g. `[{1024, 64}, {256, 256}]`.
    pub rings: Vec<RingConfig>,
}

/// Errors of message queue operations.
#[derive(Debug, Error)]
pub enum MsgQueueError {
    /// No ring that fits the message has a free slot (congestion: nothing
    /// was written; retry later).
    #[error("message queue full")]
    Full,
    /// The message is larger than every ring's `elsize` (send), or than the
    /// caller's buffer (receive; nothing was taken).
    #[error("message too large")]
    TooLarge,
    /// This queue's producer (or consumer) role is already held.
    #[error("message queue role already taken")]
    RoleTaken,
    /// A value read from the queue's shared memory is impossible (a peer
    /// corrupted it): the queue is unusable.
    #[error("corrupted message queue: {0}")]
    Corrupted(&'static str),
    /// Allocating the block, or a bad config or offset.
    #[error(transparent)]
    Segment(#[from] SegmentError),
}

/// What the clones of one [`MsgQueue`] share.
pub(crate) struct QueueInner {
    seg: FifoSegment,
    /// Block offset in the segment (cache-line aligned, block in bounds).
    off: usize,
    geo: Geometry,
    /// Ring indices by `elsize`, ascending: the order `try_send` tries them.
    by_size: Vec<usize>,
    producer_taken: AtomicBool,
    consumer_taken: AtomicBool,
    /// This process's consumer's head while it knows of no message past it
    /// (it read the tail there), else [`NO_CONSUMER_POS`]: private memory,
    /// so [`MsgQueue::looks_empty`] compares the peer's tail with a
    /// position the peer cannot move.
    consumer_pos: StdAtomicU64,
}

/// [`QueueInner::consumer_pos`] when no consumer of this tree is caught up.
const NO_CONSUMER_POS: u64 = u64::MAX;

impl QueueInner {
    fn header(&self) -> &QueueHeader {
        // SAFETY: `off` is cache-line aligned and the whole block lies in the
        // segment (checked by `create`/`attach`); the creator built a
        // `QueueHeader` there, and a peer's header is std atomics (valid for
        // any bytes; `attach` is not available under loom). The segment,
        // and so the mapping, lives as long as `self.seg`.
        unsafe { self.seg.storage().get::<QueueHeader>(self.off) }
    }

    fn ring(&self, i: usize) -> &RingShared {
        debug_assert!(i < self.geo.rings.len());
        // SAFETY: as for `header`: ring headers lie inside the validated
        // block at offsets fixed by the trusted geometry (`i` is below its
        // ring count), aligned to the cache line.
        unsafe {
            self.seg
                .storage()
                .get::<RingShared>(self.off + Geometry::ring_hdr_off(i))
        }
    }

    fn read_desc(&self, pos: u32) -> Desc {
        let slot = (pos & (self.geo.q_nitems - 1)) as usize;
        let mut b = [0u8; DESC_LEN];
        self.seg
            .storage()
            .copy_out(self.off + self.geo.desc_off + slot * DESC_LEN, &mut b);
        Desc::decode(&b)
    }

    fn write_desc(&self, pos: u32, d: Desc) {
        let slot = (pos & (self.geo.q_nitems - 1)) as usize;
        self.seg
            .storage()
            .copy_in(self.off + self.geo.desc_off + slot * DESC_LEN, &d.encode());
    }

    /// Offset in the segment of `slot` (already masked) of ring `r`.
    fn slot_off(&self, r: usize, slot: u32) -> usize {
        let g = &self.geo.rings[r];
        self.off + g.data_off + slot as usize * g.elsize as usize
    }
}

/// A message queue in a segment. Cloning shares the queue (and its roles);
/// it keeps the segment mapped.
#[derive(Clone)]
pub struct MsgQueue {
    inner: Arc<QueueInner>,
}

impl fmt::Debug for MsgQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgQueue")
            .field("offset", &self.inner.off)
            .field("config", &self.config())
            .finish()
    }
}

impl MsgQueue {
    /// Bytes a queue with `cfg` takes in a segment (`usize::MAX` for a
    /// config that [`MsgQueue::create`] rejects).
    pub fn footprint(cfg: &MsgQueueConfig) -> usize {
        Geometry::new(&pairs(cfg)).map_or(usize::MAX, |g| g.footprint)
    }

    /// Carves a queue block from `seg`'s fresh memory (the segment must be
    /// the owner) and initializes it empty. The block lives as long as the
    /// segment. Errors: `Segment(InvalidArgument)` for a bad config,
    /// `Segment(Full)`, `Segment(NotOwner)`.
    pub fn create(seg: &FifoSegment, cfg: &MsgQueueConfig) -> Result<MsgQueue, MsgQueueError> {
        let geo = Geometry::new(&pairs(cfg)).map_err(SegmentError::InvalidArgument)?;
        let off = seg.alloc_block(geo.footprint)?;
        let storage = seg.storage();
        // SAFETY: `alloc_block` just carved this cache-line aligned block,
        // `footprint` bytes in bounds, from memory nothing referenced.
        unsafe {
            storage.init(
                off,
                QueueHeader {
                    ctl: Line(QueueCtl {
                        magic: AtomicU64::new(MSGQ_MAGIC),
                        version: AtomicU32::new(MSGQ_VERSION),
                        n_rings: AtomicU32::new(geo.rings.len() as u32),
                        q_nitems: AtomicU32::new(geo.q_nitems),
                        footprint: AtomicU64::new(geo.footprint as u64),
                    }),
                    sleeping: Line(AtomicU64::new(0)),
                    head: Line(AtomicU32::new(0)),
                    tail: Line(AtomicU32::new(0)),
                },
            );
        }
        for (i, r) in geo.rings.iter().enumerate() {
            // SAFETY: as above; ring headers are inside the fresh block at
            // cache-line aligned offsets (`RingShared` is 64-aligned).
            unsafe {
                storage.init(
                    off + Geometry::ring_hdr_off(i),
                    RingShared {
                        ctl: Line(RingCtl {
                            nitems: AtomicU32::new(r.nitems),
                            elsize: AtomicU32::new(r.elsize),
                            data_off: AtomicU64::new(r.data_off as u64),
                        }),
                        head: Line(AtomicU32::new(0)),
                        tail: Line(AtomicU32::new(0)),
                    },
                );
            }
        }
        Ok(Self::from_geometry(seg, off, geo))
    }

    /// Opens the queue whose block is at `offset` in `seg` (usually a
    /// segment attached from a peer's fd), validated: aligned, in bounds,
    /// magic, version, and a geometry that is exactly what its rings imply
    /// and fits the segment. Each `attach` makes a new object tree with its
    /// own roles. Not available under `cfg(loom)` (loom's atomics cannot be
    /// read from bytes).
    pub fn attach(seg: &FifoSegment, offset: u64) -> Result<MsgQueue, MsgQueueError> {
        #[cfg(loom)]
        {
            let _ = (seg, offset);
            Err(
                SegmentError::InvalidArgument("msg queue attach is not available under loom")
                    .into(),
            )
        }
        #[cfg(not(loom))]
        {
            let off = validate_attach(seg, offset)?;
            let geo = read_geometry(seg, off)?;
            Ok(Self::from_geometry(seg, off, geo))
        }
    }

    fn from_geometry(seg: &FifoSegment, off: usize, geo: Geometry) -> Self {
        let mut by_size: Vec<usize> = (0..geo.rings.len()).collect();
        by_size.sort_by_key(|&i| geo.rings[i].elsize);
        Self {
            inner: Arc::new(QueueInner {
                seg: seg.clone(),
                off,
                geo,
                by_size,
                producer_taken: AtomicBool::new(false),
                consumer_pos: StdAtomicU64::new(NO_CONSUMER_POS),
                consumer_taken: AtomicBool::new(false),
            }),
        }
    }

    /// The block's offset in its segment (what a peer passes to `attach`).
    pub fn offset(&self) -> u64 {
        self.inner.off as u64
    }

    /// The largest message the queue takes (its largest ring's `elsize`).
    pub fn max_msg_size(&self) -> usize {
        self.inner.geo.max_elsize() as usize
    }

    /// The rings, as created (or as validated at attach).
    pub fn config(&self) -> MsgQueueConfig {
        MsgQueueConfig {
            rings: self
                .inner
                .geo
                .rings
                .iter()
                .map(|r| RingConfig {
                    nitems: r.nitems,
                    elsize: r.elsize,
                })
                .collect(),
        }
    }

    /// The segment holding the queue.
    pub fn segment(&self) -> &FifoSegment {
        &self.inner.seg
    }

    /// Whether [`MsgConsumer::try_recv`] would find nothing now: this
    /// tree's consumer knows of no message past its head and the
    /// producer's tail is still there. Read without the consumer (a
    /// consumer polling many queues skips taking its end of one that looks
    /// empty); the consumer's position is private, so a peer that moves
    /// the tail anywhere else makes this false and `try_recv` then judges
    /// the tail as before. False while no consumer of this tree is caught
    /// up (none taken yet, or one with messages still to read).
    pub fn looks_empty(&self) -> bool {
        let pos = self.inner.consumer_pos.load(StdOrdering::Relaxed);
        pos != NO_CONSUMER_POS
            && u64::from(self.inner.header().tail.0.load(Ordering::Acquire)) == pos
    }

    /// Takes the producer role; `RoleTaken` while another [`MsgProducer`]
    /// of this object tree lives. `Corrupted` if the shared indices are
    /// already impossible.
    pub fn producer(&self) -> Result<MsgProducer, MsgQueueError> {
        if self.inner.producer_taken.swap(true, StdOrdering::Acquire) {
            return Err(MsgQueueError::RoleTaken);
        }
        MsgProducer::new(self.inner.clone()).inspect_err(|_| {
            self.inner.producer_taken.store(false, StdOrdering::Release);
        })
    }

    /// Takes the consumer role; `RoleTaken` while another [`MsgConsumer`]
    /// of this object tree lives.
    pub fn consumer(&self) -> Result<MsgConsumer, MsgQueueError> {
        if self.inner.consumer_taken.swap(true, StdOrdering::Acquire) {
            return Err(MsgQueueError::RoleTaken);
        }
        MsgConsumer::new(self.inner.clone()).inspect_err(|_| {
            self.inner.consumer_taken.store(false, StdOrdering::Release);
        })
    }
}

impl MsgQueue {
    /// Moves every position (main queue and rings) to `position`, emptying
    /// the queue (as [`crate::Fifo::init_pointers`] does for a fifo). Needs
    /// both roles free in this tree (`RoleTaken` otherwise) and no end
    /// in use anywhere else. Tests use it to start near `u32::MAX` and
    /// cross the wrap.
    pub fn init_positions(&self, position: u32) -> Result<(), MsgQueueError> {
        let q = &*self.inner;
        if q.producer_taken.swap(true, StdOrdering::Acquire) {
            return Err(MsgQueueError::RoleTaken);
        }
        if q.consumer_taken.swap(true, StdOrdering::Acquire) {
            q.producer_taken.store(false, StdOrdering::Release);
            return Err(MsgQueueError::RoleTaken);
        }
        let hdr = q.header();
        hdr.head.0.store(position, Ordering::Release);
        hdr.tail.0.store(position, Ordering::Release);
        for i in 0..q.geo.rings.len() {
            let r = q.ring(i);
            r.head.0.store(position, Ordering::Release);
            r.tail.0.store(position, Ordering::Release);
        }
        q.consumer_taken.store(false, StdOrdering::Release);
        q.producer_taken.store(false, StdOrdering::Release);
        Ok(())
    }
}

/// The rings as laid out: `nitems` rounded up to a power of two (0 and
/// counts past the limit stay invalid).
fn pairs(cfg: &MsgQueueConfig) -> Vec<(u32, u32)> {
    cfg.rings
        .iter()
        .map(|r| {
            // 0 would round to 1.
            let nitems = match r.nitems {
                0 => 0,
                n => n.checked_next_power_of_two().unwrap_or(0),
            };
            (nitems, r.elsize)
        })
        .collect()
}

/// The block offset, if a header fits there.
#[cfg(not(loom))]
fn validate_attach(seg: &FifoSegment, offset: u64) -> Result<usize, MsgQueueError> {
    use crate::layout::CACHE_LINE;
    let off = usize::try_from(offset).map_err(|_| MsgQueueError::Corrupted("queue offset"))?;
    let hdr_end = off.checked_add(Geometry::ring_hdr_off(0));
    if off < crate::layout::segment_header_len()
        || !off.is_multiple_of(CACHE_LINE)
        || hdr_end.is_none_or(|end| end > seg.size())
    {
        return Err(MsgQueueError::Corrupted(
            "queue offset out of bounds or misaligned",
        ));
    }
    Ok(off)
}

/// Reads the header at `off` (in bounds) and the ring headers it claims,
/// and returns the geometry if every stored value is what it must be.
#[cfg(not(loom))]
fn read_geometry(seg: &FifoSegment, off: usize) -> Result<Geometry, MsgQueueError> {
    use ct_sync::atomic::Ordering;
    let storage = seg.storage();
    // SAFETY: `validate_attach` checked that a header fits at this aligned
    // offset; a header of std atomics is valid for any bytes.
    let hdr = unsafe { storage.get::<QueueHeader>(off) };
    let ctl = &hdr.ctl.0;
    if ctl.magic.load(Ordering::Acquire) != MSGQ_MAGIC {
        return Err(MsgQueueError::Corrupted("queue magic"));
    }
    if ctl.version.load(Ordering::Relaxed) != MSGQ_VERSION {
        return Err(MsgQueueError::Corrupted("queue version"));
    }
    let n_rings = ctl.n_rings.load(Ordering::Relaxed) as usize;
    if n_rings == 0 || n_rings > layout::MAX_RINGS {
        return Err(MsgQueueError::Corrupted("queue ring count"));
    }
    if off
        .checked_add(Geometry::ring_hdr_off(n_rings))
        .is_none_or(|end| end > seg.size())
    {
        return Err(MsgQueueError::Corrupted("queue ring headers out of bounds"));
    }
    let rings: Vec<&RingShared> = (0..n_rings)
        // SAFETY: the ring headers lie in the mapping (checked above) at
        // cache-line aligned offsets; std atomics are valid for any bytes.
        .map(|i| unsafe { storage.get::<RingShared>(off + Geometry::ring_hdr_off(i)) })
        .collect();
    let claimed: Vec<(u32, u32)> = rings
        .iter()
        .map(|r| {
            (
                r.ctl.0.nitems.load(Ordering::Relaxed),
                r.ctl.0.elsize.load(Ordering::Relaxed),
            )
        })
        .collect();
    let geo =
        Geometry::new(&claimed).map_err(|_| MsgQueueError::Corrupted("queue ring geometry"))?;
    if ctl.q_nitems.load(Ordering::Relaxed) != geo.q_nitems {
        return Err(MsgQueueError::Corrupted("queue main queue size"));
    }
    if ctl.footprint.load(Ordering::Relaxed) != geo.footprint as u64 {
        return Err(MsgQueueError::Corrupted("queue footprint"));
    }
    for (r, g) in rings.iter().zip(&geo.rings) {
        if r.ctl.0.data_off.load(Ordering::Relaxed) != g.data_off as u64 {
            return Err(MsgQueueError::Corrupted("queue ring data offset"));
        }
    }
    if off
        .checked_add(geo.footprint)
        .is_none_or(|end| end > seg.size())
    {
        return Err(MsgQueueError::Corrupted("queue block outside the segment"));
    }
    Ok(geo)
}

#[cfg(all(test, not(loom)))]
#[path = "msg_q_tests.rs"]
mod tests;
