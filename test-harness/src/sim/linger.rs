//! Following ct's lingering segments (`CtConfig::segment_linger`) from
//! outside: after every step the simulator notes which segments are empty
//! (no client and no server session counted) and since when on the
//! workers' clock, so a settle can tell a segment waiting out its linger
//! from one kept past it, and the counters show that schedules make
//! segments linger, revive and go.

use std::collections::BTreeMap;
use std::time::Duration;

use ct_session::{SegmentHandle, StackTime};
use ct_transport_ct::CtSegmentInfo;

/// What the watch saw happen to emptied segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LingerCounts {
    /// Segments seen empty (lingering) after a step.
    pub lingered: u64,
    /// Lingering segments seen counting sessions again (an accept between
    /// the same two app workers revived them).
    pub revived: u64,
    /// Lingering segments seen gone (reaped, or removed with their
    /// listener or app).
    pub removed: u64,
}

/// The empty segments and when each was first seen empty.
#[derive(Debug, Default)]
pub(crate) struct LingerWatch {
    empty_since: BTreeMap<SegmentHandle, StackTime>,
    pub(crate) counts: LingerCounts,
}

impl LingerWatch {
    /// Notes `segs` as they are at `now`.
    ///
    /// The clock moves only in [`crate::sim::Op::Advance`], which runs
    /// nothing, and reviving then emptying a segment again takes at least
    /// two steps (an accept, then a close or refusal), so the first time a
    /// step leaves a segment empty is the time it retired: its linger ends
    /// a linger later.
    pub(crate) fn observe(&mut self, segs: &[CtSegmentInfo], now: StackTime) {
        let mut empty = BTreeMap::new();
        for s in segs {
            if s.client_n_sessions == 0 && s.server_n_sessions == 0 {
                let since = self.empty_since.get(&s.segment).copied();
                if since.is_none() {
                    self.counts.lingered += 1;
                }
                empty.insert(s.segment, since.unwrap_or(now));
            }
        }
        for h in self.empty_since.keys() {
            if !empty.contains_key(h) {
                if segs.iter().any(|s| s.segment == *h) {
                    self.counts.revived += 1;
                } else {
                    self.counts.removed += 1;
                }
            }
        }
        self.empty_since = empty;
    }

    /// After the workers polled at `now`: no empty segment may be older
    /// than `linger` (a worker's poll removes it once the linger passed).
    pub(crate) fn check_none_overdue(
        &self,
        now: StackTime,
        linger: Duration,
    ) -> Result<(), String> {
        match self
            .empty_since
            .iter()
            .find(|(_, since)| **since + linger <= now)
        {
            Some((h, since)) => Err(format!(
                "ct segment {h} empty since {:?}, still there at {:?}: kept past its linger of {linger:?}",
                since.since_origin(),
                now.since_origin()
            )),
            None => Ok(()),
        }
    }

    /// Empty segments seen at the last look.
    pub(crate) fn n_empty(&self) -> usize {
        self.empty_since.len()
    }
}
