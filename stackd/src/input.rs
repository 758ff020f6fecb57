//! [`CtrlInput`]: the workers' input that reads apps' control queues (VPP's
//! session queue node polling app message queues). Worker `t` drains
//! `ctrl_q[t]` of every app worker and runs each request here, on the
//! thread that owns what it touches: IO events and session requests for
//! `t`'s sessions, listen/unlisten/connect on thread 0.
//!
//! Every message is untrusted. One that does not decode, names a session
//! of another app or of another thread, or arrives on the wrong queue is a
//! strike; past the limit the app is detached by the control thread (a
//! worker cannot run a detach: it waits on every worker, itself included).
//! A stale session (closed meanwhile) is no fault: it is only counted.

use std::sync::Arc;

use ct_app_interface::wire::{AppMsg, CTRL_MSG_SIZE, SessionRef};
use ct_app_worker::Apps;
use ct_session::{IoEvent, SessionError, SessionHandle, Worker, WorkerInput};

use crate::app_conn::{AppWorkerConn, ListenerEntry};
use crate::backlog::listen_backlog;
use crate::control::Strikes;
use crate::convert::{session_endpoint, session_handle};
use crate::counters::SharedCounters;
use crate::local::{InputCache, StackdLocal};
use crate::registry::Registry;
use crate::sink::signal_owed;

/// Messages taken from one control queue per poll, so one busy app does not
/// hold a worker from the rest.
pub const CTRL_BATCH: usize = 64;

/// Why a request was refused.
enum Fault {
    /// The app's fault: a strike.
    Strike(&'static str),
    /// The stack's answer was an error (stale handle, refused listen...).
    Failed(SessionError),
}

impl From<SessionError> for Fault {
    fn from(e: SessionError) -> Self {
        match e {
            // Naming another app's session is the app's fault.
            SessionError::Owner => Fault::Strike("session of another app"),
            e => Fault::Failed(e),
        }
    }
}

/// The control-queue input, one for all workers.
pub(crate) struct CtrlInput {
    registry: Arc<Registry>,
    apps: Arc<Apps>,
    counters: Arc<SharedCounters>,
    strikes: Strikes,
}

impl CtrlInput {
    pub(crate) fn new(
        registry: Arc<Registry>,
        apps: Arc<Apps>,
        counters: Arc<SharedCounters>,
        strikes: Strikes,
    ) -> Self {
        CtrlInput {
            registry,
            apps,
            counters,
            strikes,
        }
    }

    /// Takes the worker's list out of its local state, fresh.
    fn take_list(&self, local: &mut StackdLocal) -> InputCache {
        let mut cache = std::mem::take(&mut local.cache);
        if cache.generation != self.registry.generation() {
            (cache.generation, cache.conns) = self.registry.snapshot();
        }
        cache
    }

    fn strike(&self, conn: &AppWorkerConn, what: &'static str) {
        SharedCounters::bump(&self.counters.bad_msgs);
        self.strikes.strike(&conn.app, &what);
    }

    /// Runs one message of `conn` on `wrk` (its caller counts it).
    fn handle(&self, wrk: &mut Worker, conn: &AppWorkerConn, bytes: &[u8]) {
        let msg = match AppMsg::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(app_wrk = %conn.handle, error = %e, "bad control message");
                return self.strike(conn, "undecodable message");
            }
        };
        let r = match msg {
            AppMsg::Listen {
                opaque,
                ep,
                backlog,
            } => self.on_main(wrk, |me, wrk| {
                me.listen(wrk, conn, opaque, session_endpoint(&ep), backlog);
                Ok(())
            }),
            AppMsg::Unlisten { opaque, listener } => self.on_main(wrk, |me, wrk| {
                me.unlisten(wrk, conn, opaque, session_handle(listener));
                Ok(())
            }),
            AppMsg::Connect { opaque, ep } => self.on_main(wrk, |me, wrk| {
                me.connect(wrk, conn, opaque, session_endpoint(&ep));
                Ok(())
            }),
            AppMsg::Disconnect(s) => self
                .local(wrk, s)
                .and_then(|h| Ok(self.apps.disconnect_session(wrk, conn.handle, h)?)),
            AppMsg::Reset(s) => self
                .local(wrk, s)
                .and_then(|h| Ok(self.apps.reset_session(wrk, conn.handle, h)?)),
            AppMsg::AcceptReply { session, error } => self
                .local(wrk, session)
                .and_then(|h| self.accept_reply(wrk, conn, h, error)),
            AppMsg::IoTx(s) => self.io(wrk, conn, s, IoEvent::Tx),
            AppMsg::IoRxDequeue(s) => self.io(wrk, conn, s, IoEvent::RxDequeue),
        };
        match r {
            Ok(()) => {}
            Err(Fault::Strike(what)) => self.strike(conn, what),
            Err(Fault::Failed(e)) => {
                tracing::trace!(app_wrk = %conn.handle, ?msg, error = %e, "control request failed");
                SharedCounters::bump(&self.counters.failed_requests);
            }
        }
    }

    /// Listen, unlisten and connect go on `ctrl_q[0]`.
    fn on_main(
        &self,
        wrk: &mut Worker,
        f: impl FnOnce(&Self, &mut Worker) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        if wrk.thread_index() != 0 {
            return Err(Fault::Strike("listen/connect off ctrl_q[0]"));
        }
        f(self, wrk)
    }

    /// The session `s` names, which must be on this worker's thread (its
    /// own queue pair carries its requests).
    fn local(&self, wrk: &Worker, s: SessionRef) -> Result<SessionHandle, Fault> {
        let h = session_handle(s);
        if h.thread_index() != wrk.thread_index() {
            return Err(Fault::Strike("session of another thread"));
        }
        Ok(h)
    }

    /// An IO event for one of the app's sessions of this thread.
    fn io(
        &self,
        wrk: &mut Worker,
        conn: &AppWorkerConn,
        s: SessionRef,
        ev: IoEvent,
    ) -> Result<(), Fault> {
        let h = self.local(wrk, s)?;
        let owner = wrk.session_get(h).map_err(Fault::Failed)?.app_wrk_index;
        if owner != conn.handle.index() {
            let same_app = self
                .apps
                .app_worker_get_if_valid(owner)
                .zip(conn.app.app())
                .is_some_and(|(w, a)| w.app_index() == a.index());
            if !same_app {
                return Err(Fault::Strike("io event for a session of another app"));
            }
        }
        wrk.io_event(h, ev).map_err(Fault::Failed)
    }

    /// The app took (0) or rejects an accepted session. The stack accepted
    /// it already (ARCHITECTURE.md, "Accepts without the app"): taking it
    /// frees its backlog slot, rejecting it resets it. A session not in
    /// the backlog goes to the app layer as VPP's reply would (another
    /// app's is a strike, one taken already a failed request).
    fn accept_reply(
        &self,
        wrk: &mut Worker,
        conn: &AppWorkerConn,
        h: SessionHandle,
        error: i32,
    ) -> Result<(), Fault> {
        if conn.is_refused(h) {
            // The app was never told of it: a guess, answered as stale.
            return Err(Fault::Failed(SessionError::NoSession));
        }
        if conn.take_accepted(h).is_some() {
            if error != 0 {
                self.apps.reset_session(wrk, conn.handle, h)?;
            }
            return Ok(());
        }
        let result = match error {
            0 => Ok(()),
            e => Err(SessionError::from_code(e).unwrap_or(SessionError::Refused)),
        };
        Ok(self.apps.accept_reply(wrk, conn.handle, h, result)?)
    }

    fn listen(
        &self,
        wrk: &mut Worker,
        conn: &AppWorkerConn,
        opaque: u32,
        sep: Result<ct_session::SessionEndpoint, SessionError>,
        backlog: u32,
    ) {
        let idx = conn.handle.index();
        let r = sep.and_then(|sep| {
            let alh = self.apps.listen(wrk, conn.handle, sep)?;
            let al = self.apps.app_listener(alh)?;
            let ls = al
                .local_session()
                .or(al.global_session())
                .ok_or(SessionError::NoListen)?;
            // The endpoint as listened on: a port 0 became the port picked.
            conn.add_listener(
                ls,
                ListenerEntry {
                    alh,
                    endpoint: *al.endpoint(),
                    backlog: listen_backlog(backlog),
                },
            );
            Ok(ls)
        });
        match r {
            Ok(ls) => wrk.app_worker_listened_notify(idx, ls, opaque, None),
            Err(e) => {
                SharedCounters::bump(&self.counters.failed_requests);
                wrk.app_worker_listened_notify(idx, SessionHandle::new(0, 0, 0), opaque, Some(e));
            }
        }
    }

    fn unlisten(&self, wrk: &mut Worker, conn: &AppWorkerConn, opaque: u32, ls: SessionHandle) {
        let r = conn
            .listener(ls)
            .ok_or(SessionError::NoListen)
            .and_then(|l| self.apps.unlisten(wrk, conn.handle, l.alh));
        if r.is_ok() {
            conn.remove_listener(ls);
        } else {
            SharedCounters::bump(&self.counters.failed_requests);
        }
        wrk.app_worker_unlisten_reply(conn.handle.index(), ls, opaque, r.err());
    }

    fn connect(
        &self,
        wrk: &mut Worker,
        conn: &AppWorkerConn,
        opaque: u32,
        sep: Result<ct_session::SessionEndpoint, SessionError>,
    ) {
        let r = sep.and_then(|sep| self.apps.connect_from_worker(wrk, conn.handle, sep, opaque));
        if let Err(e) = r {
            SharedCounters::bump(&self.counters.failed_requests);
            let _ = wrk.app_worker_connect_notify(conn.handle.index(), None, Some(e), opaque);
        }
    }
}

impl WorkerInput for CtrlInput {
    fn poll(&self, wrk: &mut Worker) -> bool {
        let t = wrk.thread_index();
        let mut cache = self.take_list(wrk.local_state_mut::<StackdLocal>());
        // The cache's buffer, zeroed once: most polls find every queue
        // empty and would otherwise clear a fresh one each time.
        let InputCache { conns, buf, .. } = &mut cache;
        if buf.len() < CTRL_MSG_SIZE {
            buf.resize(CTRL_MSG_SIZE, 0);
        }
        let mut work = false;
        // Counted here and added once: the local state is one lookup away.
        let mut msgs = 0;
        for conn in conns.iter() {
            if conn.app.is_detaching() {
                continue;
            }
            let Some(q) = conn.ctrl_q(t) else { continue };
            // Most polls find most queues empty: no lock for those. (A
            // tail the app moved is never "empty": the consumer judges it.)
            if conn.ctrl_looks_empty(t) {
                continue;
            }
            for _ in 0..CTRL_BATCH {
                // The lock is released before the request runs: nothing
                // else on this thread takes it, but a request may be long.
                let r = q.lock().try_recv(buf);
                match r {
                    Ok(Some(n)) => {
                        work = true;
                        msgs += 1;
                        self.handle(wrk, conn, &buf[..n]);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(app_wrk = %conn.handle, thread = t, error = %e, "control queue");
                        self.strike(conn, "control queue unusable");
                        break;
                    }
                }
                if conn.app.is_detaching() {
                    break;
                }
            }
        }
        let local = wrk.local_state_mut::<StackdLocal>();
        // Swapped back, not assigned: nothing to drop but the empty
        // default `take_list` left.
        std::mem::swap(&mut local.cache, &mut cache);
        local.counters.ctrl_msgs += msgs;
        work
    }

    fn prepare_sleep(&self, wrk: &Worker) -> bool {
        // Never sleep owing an app its wake-up (each poll pays its debts,
        // so this only guards a delivery made outside a poll).
        let Some(local) = wrk.local_state::<StackdLocal>() else {
            return self.registry.len() == 0;
        };
        if !local.owed.is_empty() {
            return false;
        }
        let cache = &local.cache;
        if cache.generation != self.registry.generation() {
            // Poll once more with the new list first.
            return false;
        }
        let t = wrk.thread_index();
        cache
            .conns
            .iter()
            .filter(|c| !c.app.is_detaching())
            .filter_map(|c| c.ctrl_q(t))
            .all(|q| matches!(q.lock().prepare_sleep(), Ok(true)))
    }

    /// The app workers this poll's deliveries found asleep get their
    /// wake-up now, once each, after every event of the poll is queued.
    fn poll_end(&self, wrk: &mut Worker) {
        signal_owed(wrk);
    }

    fn woke(&self, wrk: &Worker) {
        let Some(local) = wrk.local_state::<StackdLocal>() else {
            return;
        };
        let t = wrk.thread_index();
        for q in local.cache.conns.iter().filter_map(|c| c.ctrl_q(t)) {
            q.lock().woke();
        }
    }
}
