//! [`AppSink`]: where an app worker's events go when the app lives in
//! another process (stackd: encoded onto the
//! app's shared-memory event queue of the worker's thread).

use ct_session::{AppEvent, Worker};

use crate::handle::AppWorkerHandle;

/// An out-of-process app's event sink
/// ([`AppKind::OutOfProcess`](crate::AppKind::OutOfProcess)), called on
/// the session's worker with each event for app worker `app_wrk`.
///
/// `Err(event)` hands the event back: the app's queue of `wrk`'s thread is
/// full (congestion). The session layer keeps the event, in order, and
/// delivers it again later (resolved again then, so nothing is lost and
/// nothing sent twice). [`AppEvent::AddSegment`] carries the segment
/// itself, so a sink for another process can pass its fd before the
/// message naming it.
pub trait AppSink: Send + Sync {
    /// Delivers `event` or hands it back when congested.
    fn deliver(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        event: AppEvent,
    ) -> Result<(), AppEvent>;

    /// Whether the app's queue of `thread` is full (VPP
    /// `app_worker_mq_is_congested`): accepts and connects are refused then.
    fn is_congested(&self, thread: u32) -> bool {
        let _ = thread;
        false
    }
}
