//! Removing the ct segments that lingered ([`crate::CtConfig::segment_linger`]):
//! every worker looks on each poll (one atomic load while nothing is due)
//! and removes the due ones as a last release would have: the client app
//! is told, the server's segment manager deletes the segment and is freed
//! if its app went meanwhile.

use ct_session::{StackTime, Worker};

use crate::accept::{AppSegmentEvents, tell_client_removed};
use crate::connection::{INVALID_GENERATION, INVALID_WRK};
use crate::ct_main::CtMain;
use crate::server_fifos::CtSegmentEvents;

impl CtMain {
    /// Removes the lingering segments whose linger passed by `now` (the
    /// worker's clock, [`Worker::now`]) and that
    /// no accept revived (every lingering one with `all`, e.g. before a
    /// stack stops); returns how many went.
    pub fn reap_segments(&self, wrk: &mut Worker, now: StackTime, all: bool) -> usize {
        if !all && !self.segments.reap_due(now) {
            return 0;
        }
        let Ok(apps) = self.apps().cloned() else {
            return 0;
        };
        self.segments.reap(now, all, |removed| {
            let sm = removed.sm.and_then(|h| apps.segment_managers().get(h).ok());
            match sm {
                Some(sm) => AppSegmentEvents {
                    wrk: &mut *wrk,
                    apps: &apps,
                    sm: &sm,
                    // A removal adds no segment.
                    server_wrk: INVALID_WRK,
                    client_wrk: INVALID_WRK,
                    client_generation: INVALID_GENERATION,
                }
                .segment_removed(removed),
                None => {
                    // The server's manager went meanwhile (its listener
                    // stopped), deleting the segment with it: only the
                    // client is left to tell.
                    tell_client_removed(wrk, apps.as_ref(), removed);
                    apps.flush_segment_notifications(wrk);
                }
            }
        })
    }

    /// Lingering segments (see [`crate::CtConfig::segment_linger`]),
    /// revived ones included until a worker's next look.
    pub fn n_lingering_segments(&self) -> usize {
        self.segments.n_retiring()
    }
}
