//! Builtin apps: the callbacks a builtin app implements (VPP
//! `session_cb_vft_t`) and the context each callback gets.
//!
//! Callbacks run on the worker that owns the session, inside its
//! session-input step. They get an [`AppCtx`] with that worker, so they can
//! read and write the session, close it or connect again without going
//! through a queue; they must not block on other workers (no
//! `Runtime::call`, no `SessionMain::call_blocking`).

use std::sync::Arc;

use ct_segment_manager::SegmentHandle;
use ct_session::{
    Session, SessionCleanupNtf, SessionEndpoint, SessionError, SessionHandle, SessionMain, Worker,
};

use crate::app_worker::AppWorker;
use crate::apps::Apps;
use crate::handle::AppWorkerHandle;
use crate::io::AppSession;

/// What a builtin app is told (VPP `session_cb_vft_t`). Every method has a
/// default, so an app implements what it uses.
pub trait AppCallbacks: Send + Sync {
    /// A new session to accept. `Ok` accepts it (the session becomes Ready
    /// and, for ct, the client learns it is connected); an error refuses it
    /// and the session is closed.
    fn accept(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) -> Result<(), SessionError> {
        let _ = (ctx, session);
        Ok(())
    }

    /// A connect finished: the new session (Ready), or why it failed;
    /// `opaque` is the connect's.
    fn connected(
        &self,
        ctx: &mut AppCtx<'_>,
        opaque: u32,
        result: Result<SessionHandle, SessionError>,
    ) {
        let _ = (ctx, opaque, result);
    }

    /// The peer closed. The default closes this side too, as VPP's builtin
    /// apps do.
    fn disconnect(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        let _ = ctx.disconnect(session);
    }

    /// The peer reset. The default closes this side.
    fn reset(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        let _ = ctx.disconnect(session);
    }

    /// Data to read in the session's rx fifo.
    fn rx(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        let _ = (ctx, session);
    }

    /// Space to write in the session's tx fifo (a dequeue notification).
    fn tx(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        let _ = (ctx, session);
    }

    /// A new segment the app's fifos may live in.
    fn add_segment(&self, ctx: &mut AppCtx<'_>, segment: SegmentHandle) {
        let _ = (ctx, segment);
    }

    /// A segment that is going away.
    fn del_segment(&self, ctx: &mut AppCtx<'_>, segment: SegmentHandle) {
        let _ = (ctx, segment);
    }

    /// The session (or its transport) is being cleaned up; after a session
    /// cleanup the handle is stale.
    fn cleanup(&self, ctx: &mut AppCtx<'_>, session: SessionHandle, ntf: SessionCleanupNtf) {
        let _ = (ctx, session, ntf);
    }

    /// The transport closed: no more data will arrive.
    fn transport_closed(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        let _ = (ctx, session);
    }
}

/// What a builtin callback gets: the worker it runs on, the app layer and
/// the app worker the event is for.
pub struct AppCtx<'a> {
    pub(crate) wrk: &'a mut Worker,
    pub(crate) apps: &'a Apps,
    pub(crate) app_wrk: &'a Arc<AppWorker>,
}

impl std::fmt::Debug for AppCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCtx")
            .field("thread", &self.wrk.thread_index())
            .field("app_wrk", &self.app_wrk.handle())
            .finish()
    }
}

impl<'a> AppCtx<'a> {
    /// A context for `app_wrk` on `wrk` (for app code that runs on a worker
    /// outside a callback, e.g. an RPC).
    pub fn new(wrk: &'a mut Worker, apps: &'a Apps, app_wrk: &'a Arc<AppWorker>) -> Self {
        AppCtx { wrk, apps, app_wrk }
    }

    /// The worker the callback runs on.
    pub fn worker(&mut self) -> &mut Worker {
        self.wrk
    }

    /// This worker's thread index.
    pub fn thread_index(&self) -> u32 {
        self.wrk.thread_index()
    }

    /// The shared session-layer state.
    pub fn main(&self) -> &Arc<SessionMain> {
        self.wrk.main()
    }

    /// The app layer.
    pub fn apps(&self) -> &Apps {
        self.apps
    }

    /// The app worker the event is for.
    pub fn app_worker(&self) -> AppWorkerHandle {
        self.app_wrk.handle()
    }

    /// The session, if it lives on this worker.
    pub fn session(&self, h: SessionHandle) -> Result<&Session, SessionError> {
        self.wrk.session_get(h)
    }

    /// The app's I/O end of a session of this worker: takes the consumer
    /// role of its rx fifo and the producer role of its tx fifo (keep it for
    /// the session's life).
    pub fn session_io(&self, h: SessionHandle) -> Result<AppSession, SessionError> {
        let s = self.wrk.session_get(h)?;
        AppSession::from_session(self.wrk.main().clone(), s)
    }

    /// Closes the session (VPP `vnet_disconnect_session`).
    pub fn disconnect(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        self.apps
            .disconnect_session(self.wrk, self.app_wrk.handle(), h)
    }

    /// Resets the session.
    pub fn reset(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        self.apps.reset_session(self.wrk, self.app_wrk.handle(), h)
    }

    /// Connects to `rmt` for this app worker: now when this is the connect
    /// thread, else through an RPC to it; the result arrives as
    /// [`AppCallbacks::connected`]. Errors found before the RPC (zero
    /// address, detached app) are returned here.
    pub fn connect(&mut self, rmt: SessionEndpoint, opaque: u32) -> Result<(), SessionError> {
        self.apps
            .connect_from_worker(self.wrk, self.app_wrk.handle(), rmt, opaque)
    }
}
