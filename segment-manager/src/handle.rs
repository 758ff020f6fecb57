//! Segment and segment-manager handles.
//!
//! VPP names a segment with a `u64`, `segment_manager_index << 32 |
//! segment_index` (`segment_manager_make_segment_handle`). [`SegmentHandle`]
//! keeps that value and its meaning ([`SegmentHandle::as_u64`],
//! [`segment_handle`], [`parse_segment_handle`]) and carries a generation
//! beside it. The generation travels as a separate `u32` field, never packed
//! into the `u64`: messages that carry a segment handle carry both
//! (`as_u64()` and `generation()`), and [`SegmentHandle::from_u64`] needs both
//! back. Generations come from one counter per [`SegmentManagers`] value and
//! every segment and every segment manager gets a fresh one, so a handle whose
//! segment was deleted (or whose segment manager was freed) never matches the
//! segment that later reuses the slot: lookups return a stale-handle error.
//!
//! [`SegmentManagers`]: crate::SegmentManagers

use std::fmt;

/// VPP's segment handle value: `sm_index << 32 | segment_index`
/// (`segment_manager_make_segment_handle`).
///
/// ```
/// use ct_segment_manager::{parse_segment_handle, segment_handle};
///
/// assert_eq!(segment_handle(3, 5), 3 << 32 | 5);
/// assert_eq!(parse_segment_handle(3 << 32 | 5), (3, 5));
/// ```
pub const fn segment_handle(sm_index: u32, segment_index: u32) -> u64 {
    (sm_index as u64) << 32 | segment_index as u64
}

/// Splits a VPP segment handle value into `(sm_index, segment_index)`
/// (`segment_manager_parse_segment_handle`).
pub const fn parse_segment_handle(value: u64) -> (u32, u32) {
    ((value >> 32) as u32, value as u32)
}

/// Names one segment: its segment manager's index, its index in that
/// manager's segment pool, and the generation it got when it was created.
///
/// `Display` prints the VPP value in hex; `Debug` adds the generation.
///
/// ```
/// use ct_segment_manager::SegmentHandle;
///
/// let h = SegmentHandle::new(2, 7, 40);
/// assert_eq!(h.as_u64(), 2 << 32 | 7);
/// assert_eq!(SegmentHandle::from_u64(h.as_u64(), h.generation()), h);
/// assert_eq!(h.to_string(), "0x200000007");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentHandle {
    sm_index: u32,
    segment_index: u32,
    generation: u32,
}

impl SegmentHandle {
    /// A handle to segment `segment_index` of segment manager `sm_index`,
    /// created with `generation`.
    pub const fn new(sm_index: u32, segment_index: u32, generation: u32) -> Self {
        Self {
            sm_index,
            segment_index,
            generation,
        }
    }

    /// Rebuilds a handle from VPP's `u64` value and the generation that
    /// travelled beside it.
    pub const fn from_u64(value: u64, generation: u32) -> Self {
        let (sm_index, segment_index) = parse_segment_handle(value);
        Self::new(sm_index, segment_index, generation)
    }

    /// VPP's `u64` value, `sm_index << 32 | segment_index` (no generation).
    pub const fn as_u64(self) -> u64 {
        segment_handle(self.sm_index, self.segment_index)
    }

    /// Index of the owning segment manager in the [`SegmentManagers`] pool.
    ///
    /// [`SegmentManagers`]: crate::SegmentManagers
    pub const fn sm_index(self) -> u32 {
        self.sm_index
    }

    /// Index of the segment in its manager's segment pool.
    pub const fn segment_index(self) -> u32 {
        self.segment_index
    }

    /// The generation the segment got when it was created.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for SegmentHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.as_u64())
    }
}

impl fmt::Debug for SegmentHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SegmentHandle({:#x} gen {})",
            self.as_u64(),
            self.generation
        )
    }
}

/// Names one segment manager: its index in the [`SegmentManagers`] pool
/// (VPP's `segment_manager_index`) and the generation it got when allocated.
///
/// [`SegmentManagers`]: crate::SegmentManagers
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SegmentManagerHandle {
    index: u32,
    generation: u32,
}

impl SegmentManagerHandle {
    /// A handle to the segment manager at `index`, allocated with
    /// `generation`.
    pub const fn new(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }

    /// VPP's `segment_manager_index`: the pool index, what fifos record.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation the segment manager got when it was allocated.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for SegmentManagerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sm {}", self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_keeps_vpp_shape() {
        let h = SegmentHandle::new(u32::MAX, 1, 9);
        assert_eq!(h.as_u64(), 0xffff_ffff_0000_0001);
        assert_eq!(parse_segment_handle(h.as_u64()), (u32::MAX, 1));
        assert_eq!(SegmentHandle::from_u64(h.as_u64(), 9), h);
        assert_ne!(SegmentHandle::from_u64(h.as_u64(), 10), h);
        assert_eq!(h.sm_index(), u32::MAX);
        assert_eq!(h.segment_index(), 1);
        assert_eq!(h.generation(), 9);
        assert_eq!(format!("{h:?}"), "SegmentHandle(0xffffffff00000001 gen 9)");
    }

    #[test]
    fn make_and_parse_round_trip() {
        for (sm, seg) in [(0, 0), (1, 0), (0, 1), (0x1234, 0xffff_fffe)] {
            assert_eq!(parse_segment_handle(segment_handle(sm, seg)), (sm, seg));
        }
    }
}
