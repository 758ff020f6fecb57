//! [`SharedU64`]: one 64-bit atomic in a segment, for two processes that
//! map the same memfd (a start flag, a counter, a token two sides hand back
//! and forth, as the cross-process spin anchor of the benches does).
//!
//! The atomic sits alone on its cache line in a block carved from the
//! segment's fresh memory, after a magic word so that [`SharedU64::attach`]
//! can tell a block made by [`SharedU64::create`] from any other offset a
//! peer might name. The value is plain data: a peer may store anything in
//! it, and nothing here trusts it.
//!
//! ```
//! use ct_sync::unmodeled::atomic::Ordering;
//! use ct_fifo_segment::{FifoSegment, SegmentFlags, shared_u64::SharedU64};
//!
//! # #[cfg(miri)]
//! # let seg = FifoSegment::create_heap(1 << 20, 1, SegmentFlags::empty()).unwrap();
//! # #[cfg(not(miri))]
//! let seg = FifoSegment::create("token", 1 << 20, 1, SegmentFlags::empty()).unwrap();
//! let token = SharedU64::create(&seg).unwrap();
//! # #[cfg(not(miri))]
//! # {
//! // A peer maps the segment from its fd and opens the same word.
//! let fd = seg.fd().unwrap().try_clone_to_owned().unwrap();
//! let peer_seg = FifoSegment::attach(fd).unwrap();
//! let peer = SharedU64::attach(&peer_seg, token.offset()).unwrap();
//! token.store(7, Ordering::Release);
//! assert_eq!(peer.load(Ordering::Acquire), 7);
//! # }
//! ```

use std::fmt;

use crate::error::SegmentError;
use crate::layout::CACHE_LINE;
use crate::segment::FifoSegment;
use ct_sync::atomic::{AtomicU64, Ordering};

/// Marks a block made by [`SharedU64::create`] ("ctSHU64" + version 1).
const SHARED_U64_MAGIC: u64 = 0x6374_5348_5536_3401;

/// The block: magic on the first line, the value alone on the second (so
/// the spinning reader of the value never shares a line with anything).
#[repr(C, align(64))]
struct SharedBlock {
    magic: AtomicU64,
    _pad: [u8; CACHE_LINE - 8],
    value: AtomicU64,
}

/// One atomic `u64` in a [`FifoSegment`], shared with every process that
/// maps it. Cloning shares the word; it keeps the segment mapped.
#[derive(Clone)]
pub struct SharedU64 {
    seg: FifoSegment,
    off: usize,
}

impl fmt::Debug for SharedU64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedU64")
            .field("offset", &self.off)
            .field("value", &self.load(Ordering::Relaxed))
            .finish()
    }
}

impl SharedU64 {
    /// Carves a block from `seg`'s fresh memory (the segment must be the
    /// owner) holding a zero. The block lives as long as the segment.
    /// Errors: `Full`, `NotOwner`.
    pub fn create(seg: &FifoSegment) -> Result<SharedU64, SegmentError> {
        let off = seg.alloc_block(size_of::<SharedBlock>())?;
        // SAFETY: `alloc_block` just carved this cache-line aligned block of
        // at least `size_of::<SharedBlock>()` bytes from memory nothing in
        // this process references, so the in-place write races with nothing.
        unsafe {
            seg.storage().init(
                off,
                SharedBlock {
                    magic: AtomicU64::new(SHARED_U64_MAGIC),
                    _pad: [0; CACHE_LINE - 8],
                    value: AtomicU64::new(0),
                },
            );
        }
        Ok(SharedU64 {
            seg: seg.clone(),
            off,
        })
    }

    /// Opens the word a peer made with [`SharedU64::create`] at `offset` of
    /// `seg`. An offset outside the segment, not cache-line aligned, or at
    /// a block without the magic is `InvalidArgument` / `Corrupted`, never
    /// an access outside the mapping. Not available under `cfg(loom)` (a
    /// loom atomic is not valid for arbitrary bytes).
    pub fn attach(seg: &FifoSegment, offset: u64) -> Result<SharedU64, SegmentError> {
        #[cfg(loom)]
        {
            let _ = (seg, offset);
            Err(SegmentError::InvalidArgument(
                "attach needs a memfd mapping (not under loom)",
            ))
        }
        #[cfg(not(loom))]
        {
            let off = usize::try_from(offset)
                .map_err(|_| SegmentError::InvalidArgument("shared word offset"))?;
            if !off.is_multiple_of(CACHE_LINE) || off < crate::layout::segment_header_len() {
                return Err(SegmentError::InvalidArgument("shared word offset"));
            }
            if off
                .checked_add(size_of::<SharedBlock>())
                .is_none_or(|end| end > seg.size())
            {
                return Err(SegmentError::InvalidArgument(
                    "shared word outside the segment",
                ));
            }
            let word = SharedU64 {
                seg: seg.clone(),
                off,
            };
            if word.block().magic.load(Ordering::Acquire) != SHARED_U64_MAGIC {
                return Err(SegmentError::Corrupted("shared word magic"));
            }
            Ok(word)
        }
    }

    fn block(&self) -> &SharedBlock {
        // SAFETY: `off` is cache-line aligned and the whole block lies in the
        // segment (`create` carved it; `attach` checked bounds and
        // alignment). A block of std atomics is valid for any bytes a peer
        // wrote; under loom only `create` makes one, with `init`. The
        // mapping lives as long as `self.seg`.
        unsafe { self.seg.storage().get::<SharedBlock>(self.off) }
    }

    /// The block's offset in the segment, for a peer's [`SharedU64::attach`].
    pub fn offset(&self) -> u64 {
        self.off as u64
    }

    /// The segment holding the word.
    pub fn segment(&self) -> &FifoSegment {
        &self.seg
    }

    /// Loads the value.
    #[inline]
    pub fn load(&self, order: Ordering) -> u64 {
        self.block().value.load(order)
    }

    /// Stores `v`.
    #[inline]
    pub fn store(&self, v: u64, order: Ordering) {
        self.block().value.store(v, order);
    }

    /// Adds `v` (wrapping), returns the previous value.
    #[inline]
    pub fn fetch_add(&self, v: u64, order: Ordering) -> u64 {
        self.block().value.fetch_add(v, order)
    }

    /// Stores `v`, returns the previous value.
    #[inline]
    pub fn swap(&self, v: u64, order: Ordering) -> u64 {
        self.block().value.swap(v, order)
    }

    /// Stores `new` if the value is `current`; the previous value either way.
    #[inline]
    pub fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.block()
            .value
            .compare_exchange(current, new, success, failure)
    }
}

#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;
    use crate::SegmentFlags;

    fn seg() -> FifoSegment {
        FifoSegment::create("shared-u64-test", 1 << 20, 1, SegmentFlags::empty()).unwrap()
    }

    fn peer(seg: &FifoSegment) -> FifoSegment {
        FifoSegment::attach(seg.fd().unwrap().try_clone_to_owned().unwrap()).unwrap()
    }

    #[test]
    fn a_peer_mapping_sees_the_same_word() {
        let s = seg();
        let a = SharedU64::create(&s).unwrap();
        let b = SharedU64::attach(&peer(&s), a.offset()).unwrap();
        assert_eq!(b.load(Ordering::Acquire), 0);
        a.store(41, Ordering::Release);
        assert_eq!(b.fetch_add(1, Ordering::AcqRel), 41);
        assert_eq!(a.load(Ordering::Acquire), 42);
        assert_eq!(
            b.compare_exchange(42, 7, Ordering::AcqRel, Ordering::Acquire),
            Ok(42)
        );
        assert_eq!(
            a.compare_exchange(42, 9, Ordering::AcqRel, Ordering::Acquire),
            Err(7)
        );
        assert_eq!(a.swap(3, Ordering::AcqRel), 7);
        // Two words are two blocks.
        let c = SharedU64::create(&s).unwrap();
        assert_ne!(c.offset(), a.offset());
        assert_eq!(c.load(Ordering::Acquire), 0);
    }

    #[test]
    fn bad_offsets_are_errors() {
        let s = seg();
        let a = SharedU64::create(&s).unwrap();
        let p = peer(&s);
        for off in [0, 8, a.offset() + 8, a.offset() + 64, 1 << 20, u64::MAX] {
            assert!(SharedU64::attach(&p, off).is_err(), "offset {off}");
        }
        // The last line of the segment: bounds checked, not an access past it.
        assert!(SharedU64::attach(&p, (1 << 20) - 64).is_err());
    }

    #[test]
    fn attach_needs_no_ownership_but_create_does() {
        let s = seg();
        let p = peer(&s);
        assert!(matches!(SharedU64::create(&p), Err(SegmentError::NotOwner)));
    }

    #[test]
    fn spins_between_two_threads_on_two_mappings() {
        let s = seg();
        let a = SharedU64::create(&s).unwrap();
        let b = SharedU64::attach(&peer(&s), a.offset()).unwrap();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                for i in 0..1000u64 {
                    while b.load(Ordering::Acquire) != 2 * i + 1 {
                        std::hint::spin_loop();
                    }
                    b.store(2 * i + 2, Ordering::Release);
                }
            });
            for i in 0..1000u64 {
                a.store(2 * i + 1, Ordering::Release);
                while a.load(Ordering::Acquire) != 2 * i + 2 {
                    std::hint::spin_loop();
                }
            }
        });
        assert_eq!(a.load(Ordering::Acquire), 2000);
    }
}
