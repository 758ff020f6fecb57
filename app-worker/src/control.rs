//! Listen, unlisten, connect, disconnect, reset and the accept reply (VPP
//! `vnet_listen`, `vnet_unlisten`, `vnet_connect`,
//! `vnet_disconnect_session`, `app_listener_alloc_and_init`,
//! `app_worker_start_listen` / `_stop_listen`,
//! `app_worker_connect_session`).
//!
//! These run on a worker and take it: listens on thread 0 (the listener
//! thread), connects on the connect thread, session operations on the
//! session's thread. [`Stack`](crate::Stack) routes calls from app threads
//! there.

use std::sync::Arc;

use ct_fifo_segment::SegmentFlags;
use ct_segment_manager::SegmentManager;
use ct_session::{
    EPHEMERAL_PORTS, ListenerHandle, SessionEndpoint, SessionEndpointCfg, SessionError,
    SessionHandle, SessionType, TableId, TransportConnectionFlags, TransportProto, Worker,
};
use ct_sync::Arc as SmArc;

use crate::app_worker::{AppSegmentHook, AppWorker};
use crate::application::Application;
use crate::apps::Apps;
use crate::handle::{AppListenerHandle, AppWorkerHandle};
use crate::listener::AppListener;

impl Apps {
    /// VPP `session_endpoint_update_for_app`: outside the default namespace
    /// the namespace's fib wins over the one asked for.
    fn endpoint_for_app(app: &Application, mut sep: SessionEndpoint) -> SessionEndpoint {
        if app.ns_index != 0 {
            sep.fib_index = app.fib_index(sep.is_ip4());
        }
        sep
    }

    /// Control calls run on a given thread; anywhere else is a caller bug,
    /// answered with [`SessionError::Invalid`] rather than a panic.
    pub(crate) fn check_thread(wrk: &Worker, thread: u32) -> Result<(), SessionError> {
        if wrk.thread_index() == thread {
            Ok(())
        } else {
            Err(SessionError::Invalid)
        }
    }

    fn endpoint_cfg(
        app: &Application,
        wrk: &AppWorker,
        sep: SessionEndpoint,
    ) -> SessionEndpointCfg {
        let mut cfg = SessionEndpointCfg::new(sep, wrk.wrk_index());
        cfg.ns_index = app.ns_index;
        cfg
    }

    /// Listens on `sep` for `app_wrk` (VPP `vnet_listen`). Runs on thread 0.
    /// With local scope and a local endpoint (zero or loopback address) the
    /// listener goes in the namespace's local table, served by the ct
    /// transport when one is registered for [`TransportProto::Ct`]; with
    /// global scope, a listen session of the endpoint's transport goes in
    /// the fib's global table. A second worker of the same app listening on
    /// the same endpoint shares the listener (accepts round-robin).
    pub fn listen(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        sep: SessionEndpoint,
    ) -> Result<AppListenerHandle, SessionError> {
        Self::check_thread(wrk, ListenerHandle::LISTENER_THREAD)?;
        let _c = self.control.lock();
        let w = self.app_worker(app_wrk)?;
        let app = w.app.clone();
        let mut sep = Self::endpoint_for_app(&app, sep);
        if sep.port == 0 {
            sep.port = self.pick_listen_port(wrk, &app, &sep)?;
        }
        let existing = {
            let st = self.state.read();
            st.listeners
                .iter()
                .find(|(_, _, al)| al.app_index == app.index() && al.endpoint == sep)
                .map(|(i, g, al)| (i, g, al.clone()))
        };
        let (al_index, generation, al) = match existing {
            Some(found) => found,
            None => self.listener_alloc_and_init(wrk, &app, &w, sep)?,
        };
        let alh = AppListenerHandle {
            app: app.handle,
            al_index,
            generation,
        };
        if let Err(e) = self.worker_start_listen(wrk, &w, &al) {
            if al.workers.lock().is_empty() {
                self.listener_cleanup(wrk, alh, &al);
            }
            return Err(e);
        }
        tracing::debug!(listener = %alh, endpoint = %sep, app_wrk = %app_wrk, "listen");
        Ok(alh)
    }

    /// A free port for a listen on port 0 (VPP binds port 0 literally; here,
    /// as a kernel does, the listener gets an ephemeral port): free in the
    /// tables the listener would go in, the namespace's local table and the
    /// fib's global one. Runs under `control`, so no other listen takes it
    /// before this one registers.
    fn pick_listen_port(
        &self,
        wrk: &Worker,
        app: &Application,
        sep: &SessionEndpoint,
    ) -> Result<u16, SessionError> {
        use ct_sync::atomic::Ordering;
        let mut tables = Vec::with_capacity(2);
        if let Some(local) = app.local_session_table().filter(|_| sep.is_local()) {
            tables.push(TableId::Local(local));
        }
        if app.has_global_scope() {
            tables.push(TableId::for_endpoint(sep));
        }
        let start = self.listen_port_cursor.load(Ordering::Relaxed);
        let port = wrk.main().lookup().free_listen_port(&tables, sep, start)?;
        let next = u32::from(port - EPHEMERAL_PORTS.start()) + 1;
        self.listen_port_cursor.store(next, Ordering::Relaxed);
        Ok(port)
    }

    /// VPP `app_listener_alloc_and_init`: the listen sessions and table
    /// entries of a new app listener.
    fn listener_alloc_and_init(
        &self,
        wrk: &mut Worker,
        app: &Arc<Application>,
        w: &Arc<AppWorker>,
        sep: SessionEndpoint,
    ) -> Result<(u32, u32, Arc<AppListener>), SessionError> {
        let main = wrk.main().clone();
        let (al_index, _) = self.state.read().listeners.next_key();
        let cfg = Self::endpoint_cfg(app, w, sep);
        let alloc_ls = |st: SessionType| -> Result<ListenerHandle, SessionError> {
            let lh = main.listen_session_alloc(st)?;
            main.listen_session_update(lh, |s| {
                s.app_index = app.index();
                s.app_wrk_index = w.wrk_index();
                s.al_index = al_index;
            })?;
            Ok(lh)
        };
        if !app.has_global_scope() && !sep.is_local() {
            // Local scope serves only local endpoints and there is no
            // global scope to fall back on (VPP fails this with -1).
            return Err(SessionError::Scope);
        }
        let mut local = None;
        if app.has_local_scope() && sep.is_local() {
            let st = SessionType::new(TransportProto::Ct, sep.is_ip4());
            let lh = alloc_ls(st)?;
            let has_ct = main.transports().get_for(st).is_ok();
            let r = if has_ct {
                wrk.session_listen(lh, &cfg)
            } else {
                Ok(())
            };
            let r = r.and_then(|()| {
                main.lookup()
                    .add_local_listener(app.local_table, &sep, lh)
                    .inspect_err(|_| {
                        if has_ct {
                            let _ = wrk.session_stop_listen(lh);
                        }
                    })
            });
            if let Err(e) = r {
                let _ = main.listen_session_free(lh);
                return Err(e);
            }
            local = Some(lh);
        }
        let mut global = None;
        if app.has_global_scope() {
            let r = alloc_ls(sep.session_type()).and_then(|lh| {
                let r = wrk.session_listen(lh, &cfg).and_then(|()| {
                    let ls = main.listen_session_get(lh)?;
                    let t = wrk.transport_for(ls.session_type)?;
                    let no_lookup = t
                        .get_listener(wrk, ls.connection_id)
                        .is_some_and(|tc| tc.flags.contains(TransportConnectionFlags::NO_LOOKUP));
                    if !no_lookup {
                        main.lookup().add_listener(&sep, lh).inspect_err(|_| {
                            let _ = wrk.session_stop_listen(lh);
                        })?;
                    }
                    Ok(())
                });
                if r.is_err() {
                    let _ = main.listen_session_free(lh);
                }
                r.map(|()| lh)
            });
            match r {
                Ok(lh) => global = Some(lh),
                Err(e) => {
                    if let Some(lh) = local {
                        self.free_local_listen(wrk, app, &sep, lh);
                    }
                    return Err(e);
                }
            }
        }
        let al = Arc::new(AppListener {
            app_index: app.index(),
            endpoint: sep,
            global,
            local,
            workers: Default::default(),
            accept_rotor: Default::default(),
        });
        let (i, g) = self
            .state
            .write()
            .listeners
            .insert(al.clone())
            .ok_or(SessionError::Alloc)?;
        debug_assert_eq!(i, al_index);
        Ok((i, g, al))
    }

    fn free_local_listen(
        &self,
        wrk: &mut Worker,
        app: &Application,
        sep: &SessionEndpoint,
        lh: ListenerHandle,
    ) {
        let main = wrk.main().clone();
        let _ = main.lookup().del_local_listener(app.local_table, sep);
        if let Ok(ls) = main.listen_session_get(lh)
            && main.transports().get_for(ls.session_type).is_ok()
        {
            let _ = wrk.session_stop_listen(lh);
        }
        let _ = main.listen_session_free(lh);
    }

    /// VPP `app_worker_start_listen`: the worker joins the listener and gets
    /// a segment manager per listen session (its first segment announced
    /// to the app).
    fn worker_start_listen(
        &self,
        wrk: &mut Worker,
        w: &Arc<AppWorker>,
        al: &Arc<AppListener>,
    ) -> Result<(), SessionError> {
        if !al.workers.lock().insert(w.wrk_map_index) {
            return Err(SessionError::AlreadyListening);
        }
        for ls in al.sessions().collect::<Vec<_>>() {
            let sm = self.alloc_listen_sm(w)?;
            let props = w.app.props.clone();
            if sm
                .add_segment_notify(props.segment_size, SegmentFlags::empty())
                .is_err()
            {
                sm.app_detach();
                let _ = self.sms.free_safe(sm.handle());
                self.worker_stop_listen(wrk, w, al);
                return Err(SessionError::SegCreate);
            }
            sm.set_first_is_protected(true);
            w.listen_sms.lock().insert(ls, sm);
        }
        self.flush_segment_notes(wrk);
        Ok(())
    }

    fn alloc_listen_sm(&self, w: &AppWorker) -> Result<SmArc<SegmentManager>, SessionError> {
        let hook = Arc::new(AppSegmentHook {
            app_wrk: w.wrk_index(),
            notes: self.notes.clone(),
        });
        Ok(self.sms.alloc(w.app.props.clone(), hook))
    }

    /// VPP `app_worker_stop_listen_session`: the worker's manager for `ls`
    /// is detached; freed now if empty, else kept until its sessions'
    /// fifos are gone.
    pub(crate) fn worker_stop_listen_session(&self, w: &AppWorker, ls: ListenerHandle) {
        let Some(sm) = w.listen_sms.lock().remove(&ls) else {
            return;
        };
        sm.set_first_is_protected(false);
        sm.app_detach();
        if !sm.has_fifos() {
            let _ = self.sms.free_safe(sm.handle());
        } else {
            sm.set_detached_listener();
            w.detached_sms.lock().push(sm);
        }
    }

    /// VPP `app_worker_stop_listen`; returns whether the listener lost its
    /// last worker.
    fn worker_stop_listen(&self, _wrk: &mut Worker, w: &AppWorker, al: &AppListener) -> bool {
        if !al.workers.lock().contains(&w.wrk_map_index) {
            return false;
        }
        for ls in al.sessions() {
            self.worker_stop_listen_session(w, ls);
        }
        let mut workers = al.workers.lock();
        workers.remove(&w.wrk_map_index);
        workers.is_empty()
    }

    /// VPP `app_listener_cleanup`: out of the tables, transports stopped,
    /// listen sessions freed.
    pub(crate) fn listener_cleanup(
        &self,
        wrk: &mut Worker,
        alh: AppListenerHandle,
        al: &AppListener,
    ) {
        let main = wrk.main().clone();
        if let Some(lh) = al.global {
            if main.lookup().lookup_listener(&al.endpoint) == Some(lh) {
                let _ = main.lookup().del_listener(&al.endpoint);
            }
            let _ = wrk.session_stop_listen(lh);
            let _ = main.listen_session_free(lh);
        }
        if let Some(lh) = al.local
            && let Some(app) = self.application_get(al.app_index)
        {
            self.free_local_listen(wrk, &app, &al.endpoint, lh);
        }
        self.state
            .write()
            .listeners
            .remove(alh.al_index, alh.generation);
        tracing::debug!(listener = %alh, "app listener cleanup");
    }

    /// Stops `app_wrk` listening on `alh` (VPP `vnet_unlisten`); the last
    /// worker out removes the listener. Runs on thread 0. Another app's
    /// listener is [`SessionError::Owner`].
    pub fn unlisten(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        alh: AppListenerHandle,
    ) -> Result<(), SessionError> {
        Self::check_thread(wrk, ListenerHandle::LISTENER_THREAD)?;
        let _c = self.control.lock();
        let w = self.app_worker(app_wrk)?;
        let al = self.app_listener(alh)?;
        if al.app_index != w.app_index() || alh.app != w.app.handle {
            return Err(SessionError::Owner);
        }
        if self.worker_stop_listen(wrk, &w, &al) {
            self.listener_cleanup(wrk, alh, &al);
        }
        tracing::debug!(listener = %alh, app_wrk = %app_wrk, "unlisten");
        Ok(())
    }

    /// Connects `app_wrk` to `rmt` (VPP `vnet_connect`). Runs on the connect
    /// thread ([`ct_session::SessionMain::transport_cl_thread`]); returns the
    /// half-open session, the result comes as a connected event with
    /// `opaque`.
    ///
    /// The zero address is [`SessionError::InvalidRmtIp`]. An app with local
    /// scope tries the ct transport first (its protocol is
    /// [`TransportProto::Ct`], the endpoint's protocol travels as
    /// `original_tp`); ct answering [`SessionError::LocalConnect`] (nothing
    /// local), or no ct registered, sends the connect to the endpoint's own
    /// transport.
    pub fn connect(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        rmt: SessionEndpoint,
        opaque: u32,
    ) -> Result<SessionHandle, SessionError> {
        if rmt.is_zero() {
            return Err(SessionError::InvalidRmtIp);
        }
        Self::check_thread(wrk, wrk.main().transport_cl_thread())?;
        let w = self.app_worker(app_wrk)?;
        let app = w.app.clone();
        let sep = Self::endpoint_for_app(&app, rmt);
        let mut cfg = Self::endpoint_cfg(&app, &w, sep);
        cfg.opaque = opaque;
        if app.has_local_scope() {
            let mut local = cfg;
            local.endpoint.transport_proto = TransportProto::Ct;
            match self.worker_connect_session(wrk, &w, &local) {
                Ok(ho) => return Ok(ho),
                Err(SessionError::LocalConnect | SessionError::TransportNoReg) => {}
                Err(e) => return Err(e),
            }
        }
        self.worker_connect_session(wrk, &w, &cfg)
    }

    /// VPP `app_worker_connect_session`.
    fn worker_connect_session(
        &self,
        wrk: &mut Worker,
        w: &AppWorker,
        cfg: &SessionEndpointCfg,
    ) -> Result<SessionHandle, SessionError> {
        if w.is_congested(wrk.thread_index()) {
            return Err(SessionError::Refused);
        }
        let ho = wrk.session_open(cfg)?;
        // A transport that finished the connect at once freed the half-open
        // already; its half-cleanup event needs no entry.
        if wrk.session_is_valid(ho) {
            w.half_opens.lock().insert(ho);
        }
        Ok(ho)
    }

    /// [`Apps::connect`] from any worker (a builtin app's callback): runs
    /// now on the connect thread, else in an RPC there whose failure is
    /// reported as a connected event with the error.
    pub fn connect_from_worker(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        rmt: SessionEndpoint,
        opaque: u32,
    ) -> Result<(), SessionError> {
        if rmt.is_zero() {
            return Err(SessionError::InvalidRmtIp);
        }
        self.app_worker(app_wrk)?;
        let cl = wrk.main().transport_cl_thread();
        if wrk.thread_index() == cl {
            return self.connect(wrk, app_wrk, rmt, opaque).map(drop);
        }
        let me = self.me.upgrade().ok_or(SessionError::NoApp)?;
        wrk.send_rpc_evt_to_thread_force(cl, move |wrk| {
            if let Err(e) = me.connect(wrk, app_wrk, rmt, opaque) {
                let _ = wrk.app_worker_connect_notify(app_wrk.index(), None, Some(e), opaque);
            }
        })
    }

    /// The app worker owning `h` must belong to `app_wrk`'s app (VPP checks
    /// `app_wrk->app_index`).
    fn check_owner(
        &self,
        wrk: &Worker,
        app_wrk: AppWorkerHandle,
        h: SessionHandle,
    ) -> Result<(), SessionError> {
        // Both workers under one read lock, neither cloned: this runs for
        // every disconnect, reset and accept reply an app sends.
        let st = self.state.read();
        let w = st
            .wrks
            .get_checked(app_wrk.index, app_wrk.generation)
            .filter(|w| !w.is_detached())
            .ok_or(SessionError::InvalidAppWrk)?;
        let s = wrk.session_get(h)?;
        match st.wrks.get(s.app_wrk_index).filter(|o| !o.is_detached()) {
            Some(owner) if owner.app_index() == w.app_index() => Ok(()),
            _ => Err(SessionError::Owner),
        }
    }

    /// Closes session `h` (VPP `vnet_disconnect_session`); runs on the
    /// session's thread. A session with unread data in its rx fifo is reset
    /// instead: the peer must not take a graceful close for delivery.
    pub fn disconnect_session(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        h: SessionHandle,
    ) -> Result<(), SessionError> {
        self.check_owner(wrk, app_wrk, h)?;
        let unread = wrk
            .session_get(h)?
            .rx_fifo
            .as_ref()
            .is_some_and(|f| f.max_dequeue().is_ok_and(|n| n > 0));
        if unread {
            wrk.session_reset(h)
        } else {
            wrk.session_close(h)
        }
    }

    /// Resets session `h`; runs on the session's thread.
    pub fn reset_session(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        h: SessionHandle,
    ) -> Result<(), SessionError> {
        self.check_owner(wrk, app_wrk, h)?;
        wrk.session_reset(h)
    }

    /// A queue or out-of-process app's answer to an accepted message (VPP
    /// `session_mq_accepted_reply_handler`); runs on the session's thread.
    /// `Ok` makes the session Ready (and lets ct connect the client); an
    /// error closes it.
    pub fn accept_reply(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        h: SessionHandle,
        result: Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        self.check_owner(wrk, app_wrk, h)?;
        wrk.session_accepted_reply(h, result.is_ok())
    }
}
