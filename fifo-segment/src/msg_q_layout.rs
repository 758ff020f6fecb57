//! What a message queue puts in its segment block, and where.
//!
//! A block is, in order, each part starting on a cache line:
//! - [`QueueHeader`]: identity (magic, version, ring count, main queue
//!   size, footprint), the consumer's sleep sequence, and the main queue's
//!   head (consumer) and tail (producer), each on its own line;
//! - one [`RingShared`] per ring: its geometry (nitems, elsize, data
//!   offset) and its head (consumer) and tail (producer);
//! - the main queue's descriptors, [`DESC_LEN`] bytes each (ring, slot,
//!   length), copied in and out as bytes and validated by the consumer;
//! - each ring's slots, `nitems * elsize` bytes.
//!
//! The geometry is a pure function of the rings' `(nitems, elsize)`
//! ([`Geometry::new`]): an attaching process recomputes it from what the
//! header claims and requires every stored offset to match, then never reads
//! geometry from shared memory again.

use crate::layout::{CACHE_LINE, Line, align_up};
use ct_sync::atomic::{AtomicU32, AtomicU64};

/// "CTMSGQ01", little endian.
pub(crate) const MSGQ_MAGIC: u64 = u64::from_le_bytes(*b"CTMSGQ01");
/// Layout version of the block.
pub(crate) const MSGQ_VERSION: u32 = 1;
/// Most rings a queue may have.
pub(crate) const MAX_RINGS: usize = 8;
/// Most slots per ring (a power of two).
pub(crate) const MAX_NITEMS: u32 = 1 << 20;
/// Largest message a ring may hold.
pub(crate) const MAX_ELSIZE: u32 = 1 << 20;
/// Bytes of one main-queue descriptor: ring u32, slot u32, length u32, 0 u32.
pub(crate) const DESC_LEN: usize = 16;

/// Identity fields, written once by the creator.
#[repr(C)]
pub(crate) struct QueueCtl {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub n_rings: AtomicU32,
    /// Main queue slots (a power of two, at least the rings' total).
    pub q_nitems: AtomicU32,
    /// Bytes of the whole block.
    pub footprint: AtomicU64,
}

/// The start of a queue block.
#[repr(C, align(64))]
pub(crate) struct QueueHeader {
    pub ctl: Line<QueueCtl>,
    /// The consumer's sleep sequence: odd while it says it sleeps on its
    /// eventfd, a new odd value for each sleep. Only the consumer writes
    /// it, so a producer can report each sleep once without writing back.
    pub sleeping: Line<AtomicU64>,
    /// Main queue consumer position (wrapping; slot = head & (q_nitems - 1)).
    pub head: Line<AtomicU32>,
    /// Main queue producer position (wrapping).
    pub tail: Line<AtomicU32>,
}

/// A ring's geometry, written once by the creator.
#[repr(C)]
pub(crate) struct RingCtl {
    pub nitems: AtomicU32,
    pub elsize: AtomicU32,
    /// From the block start.
    pub data_off: AtomicU64,
}

/// One ring's shared part.
#[repr(C, align(64))]
pub(crate) struct RingShared {
    pub ctl: Line<RingCtl>,
    /// Consumer position in this ring (wrapping; slot = head & (nitems - 1)).
    pub head: Line<AtomicU32>,
    /// Producer position in this ring (wrapping).
    pub tail: Line<AtomicU32>,
}

/// One ring's trusted geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingGeom {
    pub nitems: u32,
    pub elsize: u32,
    /// Offset of the slots from the block start.
    pub data_off: usize,
}

/// A queue's trusted geometry, offsets from the block start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub rings: Vec<RingGeom>,
    pub q_nitems: u32,
    pub desc_off: usize,
    pub footprint: usize,
}

impl Geometry {
    /// The layout of a queue with these `(nitems, elsize)` rings, or what is
    /// wrong with them: 1..=[`MAX_RINGS`] rings, `nitems` a power of two in
    /// 1..=[`MAX_NITEMS`], `elsize` in 1..=[`MAX_ELSIZE`].
    pub(crate) fn new(rings: &[(u32, u32)]) -> Result<Self, &'static str> {
        if rings.is_empty() || rings.len() > MAX_RINGS {
            return Err("ring count");
        }
        let mut total: u32 = 0;
        for &(nitems, elsize) in rings {
            if nitems == 0 || nitems > MAX_NITEMS || !nitems.is_power_of_two() {
                return Err("ring nitems (a power of two up to 2^20)");
            }
            if elsize == 0 || elsize > MAX_ELSIZE {
                return Err("ring elsize");
            }
            // At most 8 * 2^20 in all: no overflow.
            total += nitems;
        }
        let q_nitems = total.next_power_of_two();
        let desc_off = Self::ring_hdr_off(rings.len());
        let mut off = align_up(desc_off + q_nitems as usize * DESC_LEN, CACHE_LINE);
        let mut geoms = Vec::with_capacity(rings.len());
        for &(nitems, elsize) in rings {
            geoms.push(RingGeom {
                nitems,
                elsize,
                data_off: off,
            });
            // At most 2^40 per ring on 64-bit targets; checked for 32-bit ones.
            let bytes = (nitems as usize)
                .checked_mul(elsize as usize)
                .ok_or("ring too large")?;
            off = off
                .checked_add(bytes)
                .map(|end| align_up(end, CACHE_LINE))
                .ok_or("ring too large")?;
        }
        Ok(Self {
            rings: geoms,
            q_nitems,
            desc_off,
            footprint: off,
        })
    }

    /// Offset of ring `i`'s header from the block start (with `i` = the ring
    /// count: where the descriptors start).
    pub(crate) const fn ring_hdr_off(i: usize) -> usize {
        align_up(size_of::<QueueHeader>(), CACHE_LINE) + i * size_of::<RingShared>()
    }

    /// Largest message any ring holds.
    pub(crate) fn max_elsize(&self) -> u32 {
        self.rings.iter().map(|r| r.elsize).max().unwrap_or(0)
    }
}

/// A main-queue descriptor: which ring slot holds the message, its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Desc {
    pub ring: u32,
    pub slot: u32,
    pub len: u32,
}

impl Desc {
    pub(crate) fn encode(self) -> [u8; DESC_LEN] {
        let mut b = [0u8; DESC_LEN];
        b[0..4].copy_from_slice(&self.ring.to_le_bytes());
        b[4..8].copy_from_slice(&self.slot.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8; DESC_LEN]) -> Self {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            ring: word(0),
            slot: word(4),
            len: word(8),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn geometry_places_every_part_on_its_own_lines() {
        let g = Geometry::new(&[(4, 64), (2, 200)]).unwrap();
        assert_eq!(g.q_nitems, 8);
        assert_eq!(g.desc_off, Geometry::ring_hdr_off(2));
        let r0 = g.rings[0];
        let r1 = g.rings[1];
        assert_eq!(r0.data_off, align_up(g.desc_off + 8 * DESC_LEN, CACHE_LINE));
        assert_eq!(r1.data_off, align_up(r0.data_off + 4 * 64, CACHE_LINE));
        assert_eq!(g.footprint, align_up(r1.data_off + 2 * 200, CACHE_LINE));
        assert_eq!(g.max_elsize(), 200);
        for off in [g.desc_off, r0.data_off, r1.data_off, g.footprint] {
            assert!(off.is_multiple_of(CACHE_LINE));
        }
    }

    #[test]
    fn geometry_rejects_bad_rings() {
        assert!(Geometry::new(&[]).is_err());
        assert!(Geometry::new(&[(3, 64)]).is_err());
        assert!(Geometry::new(&[(0, 64)]).is_err());
        assert!(Geometry::new(&[(4, 0)]).is_err());
        assert!(Geometry::new(&[(MAX_NITEMS * 2, 8)]).is_err());
        assert!(Geometry::new(&[(4, MAX_ELSIZE + 1)]).is_err());
        assert!(Geometry::new(&[(1, 8); MAX_RINGS + 1]).is_err());
        assert!(Geometry::new(&[(1, 8); MAX_RINGS]).is_ok());
    }

    #[test]
    fn descriptors_round_trip() {
        let d = Desc {
            ring: 1,
            slot: 77,
            len: 250,
        };
        assert_eq!(Desc::decode(&d.encode()), d);
    }
}
