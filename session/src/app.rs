//! [`AppLayer`]: the calls the session layer and transports make into
//! the app layer (VPP's `app_worker_*` calls and `session_cb_vft_t`). The
//! session crate defines it; app-worker implements it and installs it once
//! with [`SessionMain::set_app_layer`](crate::SessionMain::set_app_layer).

use ct_fifo_segment::Fifo;

use crate::events::QueuedAppEvent;
use crate::worker::Worker;
use crate::{SessionError, SessionHandle};

/// Returned by [`AppLayer::deliver`] when the app's event queue is full
/// or cannot be locked: the session layer keeps the event (and all after
/// it) and retries on its next session-input run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Congested;

/// The app layer, as the session layer sees it.
///
/// Every call runs on a worker and gets it, so the app layer can use the
/// worker's sessions; it must not go through
/// [`Runtime::call`](crate::Runtime::call) from inside these calls.
pub trait AppLayer: Send + Sync {
    /// Whether `app_wrk` names a live app worker (VPP
    /// `app_worker_get_if_valid`).
    fn app_worker_is_valid(&self, app_wrk: u32) -> bool;

    /// Allocates the fifos of an accepted session through its listener's
    /// segment manager (VPP `app_worker_init_accepted`).
    fn init_accepted(&self, wrk: &mut Worker, session: SessionHandle) -> Result<(), SessionError>;

    /// Allocates the fifos of a connected session through `app_wrk`'s
    /// connects segment manager (VPP `app_worker_init_connected`).
    fn init_connected(
        &self,
        wrk: &mut Worker,
        app_wrk: u32,
        session: SessionHandle,
    ) -> Result<(), SessionError>;

    /// Delivers one event to `app_wrk`: a builtin app's callback, or the
    /// event, resolved ([`AppEvent`](crate::AppEvent)), for an in-process
    /// or out-of-process app. The session layer runs what the event entails
    /// afterwards (cleanup actions, half-open frees), so this only informs
    /// the app.
    fn deliver(
        &self,
        wrk: &mut Worker,
        app_wrk: u32,
        event: &QueuedAppEvent,
    ) -> Result<(), Congested>;

    /// Returns a session's fifos to their segment manager (VPP
    /// `segment_manager_dealloc_fifos`), when the session layer frees a
    /// session itself ([`Worker::session_cleanup`]).
    fn dealloc_fifos(&self, wrk: &mut Worker, rx: Option<Fifo>, tx: Option<Fifo>);
}
