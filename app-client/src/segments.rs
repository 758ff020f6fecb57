//! The segments this app mapped, by the stack's segment reference, and
//! opening the fifos the stack names in them.
//!
//! A segment is mapped when its fd arrives on the app socket (a
//! `SegmentFd` record), which the stack sends before any queue message
//! naming it. Everything named here is untrusted: an unknown or stale
//! segment, or a fifo offset the segment does not hold, is an error.

use ct_app_interface::wire::{FifoRef, SegmentRef};
use ct_fifo_segment::{Fifo, FifoSegment};
use hashbrown::HashMap;

use crate::error::ClientError;

/// Mapped segments by handle; the generation tells a reused handle apart.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    map: HashMap<u64, (u32, FifoSegment)>,
}

impl Segments {
    /// Records `seg` under `r` (a newer generation replaces the old one;
    /// fifos still open keep the old mapping alive).
    pub(crate) fn add(&mut self, r: SegmentRef, seg: FifoSegment) {
        self.map.insert(r.handle, (r.generation, seg));
    }

    /// The segment `r` names.
    pub(crate) fn get(&self, r: SegmentRef) -> Result<&FifoSegment, ClientError> {
        match self.map.get(&r.handle) {
            Some((g, seg)) if *g == r.generation => Ok(seg),
            Some(_) => Err(ClientError::protocol(format_args!(
                "stale segment {:#x} generation {}",
                r.handle, r.generation
            ))),
            None => Err(ClientError::protocol(format_args!(
                "unknown segment {:#x}",
                r.handle
            ))),
        }
    }

    /// Whether `r` is mapped.
    pub(crate) fn contains(&self, r: SegmentRef) -> bool {
        self.get(r).is_ok()
    }

    /// Forgets `r`; false if it was not mapped.
    pub(crate) fn del(&mut self, r: SegmentRef) -> bool {
        match self.map.get(&r.handle) {
            Some((g, _)) if *g == r.generation => {
                self.map.remove(&r.handle);
                true
            }
            _ => false,
        }
    }

    /// Opens the fifo `f` names (validated by the segment: in bounds,
    /// aligned, a fifo's magic and a size that fits).
    pub(crate) fn open_fifo(&self, f: FifoRef) -> Result<Fifo, ClientError> {
        self.get(f.segment)?
            .fifo_at(f.offset)
            .map_err(|e| ClientError::protocol(format_args!("fifo at {:#x}: {e}", f.offset)))
    }

    /// Segments mapped.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
