//! What ct needs from the app layer, as a trait the stack's app layer
//! implements (app-worker's types, or a test's): VPP's `app_worker_get`,
//! `application_get`, `application_has_global_scope`,
//! `application_local_session_table`, `application_listener_select_worker`,
//! `app_worker_get_listen_segment_manager`,
//! `app_worker_get_connect_segment_manager` and the segment notifications.
//!
//! Everything else ct tells apps (accept, connect, cleanup, disconnect,
//! reset) goes through the session layer's [`Worker`] calls.

use ct_segment_manager::{SegmentHandle, SegmentManager, SegmentManagers};
use ct_session::{LocalTableId, Session, SessionEndpoint, SessionError, Worker};
use ct_sync::Arc;

/// The app layer, as ct sees it. Called on workers; implementations must
/// not call back into ct or block on a worker.
pub trait CtAppLayer: Send + Sync {
    /// The app an app worker belongs to, if the app worker is live (VPP
    /// `app_worker_get_if_valid` + `app_wrk->app_index`).
    fn app_index(&self, app_wrk: u32) -> Option<u32>;

    /// The generation of a live app worker (beside its index in its
    /// handle): tells a worker apart from an earlier one with its index.
    fn app_worker_generation(&self, app_wrk: u32) -> Option<u32>;

    /// Whether the app may use the global scope (VPP
    /// `application_has_global_scope`).
    fn has_global_scope(&self, app_index: u32) -> bool;

    /// The app's namespace local table, if the app has local scope (VPP
    /// `application_local_session_table`).
    fn local_table(&self, app_index: u32) -> Option<LocalTableId>;

    /// The listener of `app_index` a local session rule points at for
    /// `sep` (VPP `session_lookup_action_to_session`): `None` if the app
    /// has no listener that fits.
    fn app_listener(
        &self,
        app_index: u32,
        sep: &SessionEndpoint,
    ) -> Option<ct_session::ListenerHandle>;

    /// The app worker of the listener's app that takes the next accept
    /// (VPP `application_listener_select_worker`).
    fn listener_select_worker(&self, listener: &Session) -> Option<u32>;

    /// The segment manager of `app_wrk`'s listener (VPP
    /// `app_worker_get_listen_segment_manager`): ct's segments for sessions
    /// accepted on it are added there.
    fn listen_segment_manager(
        &self,
        app_wrk: u32,
        listener: &Session,
    ) -> Option<Arc<SegmentManager>>;

    /// `app_wrk`'s connects segment manager (VPP
    /// `app_worker_get_connect_segment_manager`): ct only asks whether it
    /// is detached.
    fn connect_segment_manager(&self, app_wrk: u32) -> Option<Arc<SegmentManager>>;

    /// The stack's segment managers (to find a fifo's manager and free a
    /// detached one).
    fn segment_managers(&self) -> &SegmentManagers;

    /// Tells `app_wrk` to map a new segment (VPP
    /// `app_worker_add_segment_notify`). An error makes ct undo the
    /// segment.
    fn add_segment_notify(
        &self,
        wrk: &mut Worker,
        app_wrk: u32,
        segment: SegmentHandle,
    ) -> Result<(), SessionError> {
        wrk.app_worker_add_segment_notify(app_wrk, segment);
        Ok(())
    }

    /// Tells `app_wrk` to unmap a segment (VPP
    /// `app_worker_del_segment_notify`).
    fn del_segment_notify(&self, wrk: &mut Worker, app_wrk: u32, segment: SegmentHandle) {
        wrk.app_worker_del_segment_notify(app_wrk, segment);
    }

    /// Queues, on `wrk`, notifications the app layer's segment-manager
    /// hooks recorded during ct's segment-manager calls (the server hears
    /// of a ct segment's deletion through its listen manager's hook).
    fn flush_segment_notifications(&self, wrk: &mut Worker) {
        let _ = wrk;
    }
}
