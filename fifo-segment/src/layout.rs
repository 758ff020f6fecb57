//! What lives in shared memory: the segment header and the fifo header,
//! `#[repr(C)]` structs of [`crate::sync`] atomics built in place at an
//! offset from the segment base, and the arithmetic of where things go.
//!
//! Every field a peer can write is an atomic, so a concurrent (or hostile)
//! write from another process is never a data race on a plain field; every
//! value read back is validated by its user before it steers an access.

use ct_sync::atomic::{AtomicU8, AtomicU32, AtomicU64};

/// Cache line size the headers are laid out for.
pub(crate) const CACHE_LINE: usize = 64;
/// "CTSEGMT1", little endian.
pub(crate) const SEGMENT_MAGIC: u64 = u64::from_le_bytes(*b"CTSEGMT1");
/// Layout version of [`SegmentHeader`] and [`FifoShared`] (2: the
/// dequeue-notification flags moved to the consumer's line; 3: the
/// producer's shutdown flag in the control line; 4: the reader-state word
/// in the control line).
pub(crate) const SEGMENT_VERSION: u32 = 4;
/// Marks a live fifo header ("FIFO").
pub(crate) const FIFO_MAGIC: u32 = u32::from_le_bytes(*b"FIFO");
/// Largest fifo: positions are wrapping u32, so distances up to 2^31 stay
/// unambiguous.
pub(crate) const MAX_FIFO_SIZE: u32 = 1 << 31;
/// Upper bound on slices a header may claim (a peer's header is untrusted).
pub(crate) const MAX_SLICES: u32 = 4096;
/// `master_session_index` / thread of a fifo no session owns yet.
pub(crate) const INVALID_INDEX: u32 = u32::MAX;

/// The segment header at offset 0.
#[repr(C, align(64))]
pub(crate) struct SegmentHeader {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    /// Bytes before the first fifo (this header, padded).
    pub header_len: AtomicU32,
    /// Segment size in bytes; must match the file.
    pub size: AtomicU64,
    pub n_slices: AtomicU32,
    /// A mirror of the owner's flags for peers; the owner never reads it.
    pub flags: AtomicU32,
}

impl SegmentHeader {
    pub(crate) fn new(size: usize, n_slices: u32, flags: u32) -> Self {
        Self {
            magic: AtomicU64::new(SEGMENT_MAGIC),
            version: AtomicU32::new(SEGMENT_VERSION),
            header_len: AtomicU32::new(segment_header_len() as u32),
            size: AtomicU64::new(size as u64),
            n_slices: AtomicU32::new(n_slices),
            flags: AtomicU32::new(flags),
        }
    }
}

/// One cache line holding `T`, so fields written by different parties
/// never share a line.
#[repr(C, align(64))]
pub(crate) struct Line<T>(pub T);

/// Fields both ends touch rarely, and the event flag: identity, size,
/// master session, `has_event`, the producer's shutdown flag. The event flag is written by the producer
/// (`set_event`, after every write) and by the worker (`unset_event`);
/// the consumer's per-dequeue path never reads this line.
#[repr(C)]
pub(crate) struct FifoCtl {
    pub magic: AtomicU32,
    /// Data bytes (a power of two). Read once, at `fifo_at`, and validated.
    pub size: AtomicU32,
    pub master_session_index: AtomicU32,
    pub master_thread: AtomicU32,
    /// Non-zero while an event for this fifo is pending (VPP `has_event`).
    pub has_event: AtomicU32,
    /// Non-zero once the producer shut its direction: no data will follow
    /// what the fifo holds (a half-close). Written once, by the producer,
    /// after its last tail publish; any non-zero value counts.
    pub shut: AtomicU32,
    /// Whether the consumer waits on the fifo itself (`fifo::ReaderState`:
    /// idle, spinning, sleeping) and the futex word a sleeping consumer
    /// waits on. Written by the consumer when it starts or stops waiting,
    /// and by whoever wakes it (sleeping -> spinning); the producer reads
    /// it after every enqueue. Any value but spinning or sleeping reads as
    /// idle (the event path), so a hostile value costs only events.
    pub reader: AtomicU32,
}

/// The consumer's line (VPP's layout): head, which only the consumer
/// writes, and the dequeue-notification flags, which the consumer reads
/// after every dequeue (`needs_deq_ntf`). The producer writes them only to
/// arm a notification (rare: a full fifo), so the consumer's hot path stays
/// in its own cache instead of pulling in the line the producer writes on
/// every `set_event`.
#[repr(C)]
pub(crate) struct ConsumerShared {
    /// Consumer position (wrapping; index = head & (size - 1)).
    pub head: AtomicU32,
    /// `DeqNtf` bits the producer armed.
    pub want_deq_ntf: AtomicU8,
    /// An IF_FULL / IF_EMPTY notification was sent and not yet re-armed.
    pub has_deq_ntf: AtomicU8,
}

/// The shared part of a fifo; data follows it. Three lines, by writer:
/// `ctl` (owner at setup; producer and worker for the event flag),
/// `consumer` (the consumer), `tail` (the producer).
#[repr(C, align(64))]
pub(crate) struct FifoShared {
    pub ctl: Line<FifoCtl>,
    pub consumer: Line<ConsumerShared>,
    /// Producer position (wrapping).
    pub tail: Line<AtomicU32>,
}

impl FifoShared {
    pub(crate) fn new(size: u32, start: u32) -> Self {
        Self {
            ctl: Line(FifoCtl {
                magic: AtomicU32::new(FIFO_MAGIC),
                size: AtomicU32::new(size),
                master_session_index: AtomicU32::new(INVALID_INDEX),
                master_thread: AtomicU32::new(INVALID_INDEX),
                has_event: AtomicU32::new(0),
                shut: AtomicU32::new(0),
                reader: AtomicU32::new(0),
            }),
            consumer: Line(ConsumerShared {
                head: AtomicU32::new(start),
                want_deq_ntf: AtomicU8::new(0),
                has_deq_ntf: AtomicU8::new(0),
            }),
            tail: Line(AtomicU32::new(start)),
        }
    }
}

pub(crate) const fn align_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

/// Bytes before the first fifo.
pub(crate) const fn segment_header_len() -> usize {
    align_up(size_of::<SegmentHeader>(), CACHE_LINE)
}

/// Bytes of a fifo header; the data starts this far past it.
pub(crate) const fn fifo_header_len() -> usize {
    align_up(size_of::<FifoShared>(), CACHE_LINE)
}

/// Size class (log2 of the data size) of a fifo asked to hold `size` bytes,
/// or None when no fifo can.
pub(crate) fn size_class(size: u32) -> Option<u8> {
    if size == 0 || size > MAX_FIFO_SIZE {
        return None;
    }
    Some(size.next_power_of_two().trailing_zeros() as u8)
}

/// Bytes a fifo of size class `class` takes, header included.
pub(crate) const fn class_footprint(class: u8) -> usize {
    fifo_header_len() + align_up(1usize << class, CACHE_LINE)
}
