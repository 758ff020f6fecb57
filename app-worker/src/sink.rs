//! [`AppSink`]: where an app worker's messages go when the app lives
//! outside the stack's threads and its own queue (stackd: encoded onto the
//! app's shared-memory event queue of the worker's thread).

use ct_session::Worker;

use crate::handle::AppWorkerHandle;
use crate::queue::AppMessage;

/// An out-of-process app's event sink
/// ([`AppKind::OutOfProcess`](crate::AppKind::OutOfProcess)), called on
/// the session's worker with each message for app worker `app_wrk`.
///
/// `Err(msg)` hands the message back: the app's queue of `wrk`'s thread is
/// full (congestion). The session layer keeps the event, in order, and
/// delivers it again later (the message is rebuilt then, so nothing is
/// lost and nothing sent twice). [`AppMessage::AddSegment`] carries the
/// segment itself, so a sink for another process can pass its fd before
/// the message naming it.
pub trait AppSink: Send + Sync {
    /// Delivers `msg` or hands it back when congested.
    fn deliver(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        msg: AppMessage,
    ) -> Result<(), AppMessage>;

    /// Whether the app's queue of `thread` is full (VPP
    /// `app_worker_mq_is_congested`): accepts and connects are refused then.
    fn is_congested(&self, thread: u32) -> bool {
        let _ = thread;
        false
    }
}
