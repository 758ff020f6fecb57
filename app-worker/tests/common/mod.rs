//! A small loopback test transport (not ct) for app-worker's tests.
//!
//! Registered twice: for TCP (global lookups: a wildcard or exact global
//! listener, else `NoIntf`; loopback addresses have no interface, as in
//! VPP without a loopback interface) and for the local protocol ([`TransportProto::Ct`],
//! doing ct's lookup decisions through the app layer's API: local table,
//! rules, `NoRoute` / `Scope` / `LocalConnect`). Either way the server side
//! is accepted on the accept thread, and the client is connected once the
//! server app accepts (the `app_accepted` hook). Unlike ct it copies: each
//! session has its own fifos and `custom_tx` moves bytes from a session's tx
//! fifo into its peer's rx fifo, arming a dequeue notification on the peer's
//! rx fifo when it is full; `app_rx_evt` resumes the copy.
#![allow(dead_code)]

use ct_sync::atomic::{AtomicU32, Ordering};
use std::net::IpAddr;
use std::sync::{Arc, Weak};

use ct_app_worker::Apps;
use ct_fifo_segment::DeqNtf;
use ct_session::{
    ListenerHandle, LocalLookup, SessionEndpoint, SessionEndpointCfg, SessionError, SessionHandle,
    SessionState, SessionType, Transport, TransportConnId, TransportConnection,
    TransportConnectionFlags, TransportOptions, TransportProto, TransportServiceType,
    TransportTxType, Verbosity, Worker, format_cli_line,
};
use ct_sync::Mutex;
use std::fmt;

/// A per-worker connection.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub tc: TransportConnection,
    pub peer: Option<TransportConnId>,
    /// Server side waiting for its app's accept: the client to create.
    pub pending_client: Option<(SessionEndpointCfg, TransportConnection)>,
}

/// Connections of one worker, per transport instance (keyed by proto).
#[derive(Debug, Default)]
pub struct LoopWorker {
    pub conns: [slab::Slab<Conn>; 5],
}

pub struct LoopTransport {
    pub proto: TransportProto,
    apps: Weak<Apps>,
    pub listeners: Mutex<slab::Slab<TransportConnection>>,
    pub half_opens: Mutex<slab::Slab<(TransportConnection, SessionEndpointCfg, ListenerHandle)>>,
    /// Thread accepts run on (u32::MAX: the connect thread).
    pub accept_thread: AtomicU32,
    pub copied: AtomicU32,
    /// The next generation handed out: every allocation gets a fresh one,
    /// so an id naming a freed slab slot misses whatever reused it.
    generations: AtomicU32,
    me: Weak<LoopTransport>,
}

impl LoopTransport {
    pub fn new(proto: TransportProto, apps: &Arc<Apps>) -> Arc<Self> {
        Arc::new_cyclic(|me| LoopTransport {
            proto,
            apps: Arc::downgrade(apps),
            listeners: Mutex::new(slab::Slab::new()),
            half_opens: Mutex::new(slab::Slab::new()),
            accept_thread: AtomicU32::new(u32::MAX),
            copied: AtomicU32::new(0),
            generations: AtomicU32::new(0),
            me: me.clone(),
        })
    }

    fn slot(&self) -> usize {
        self.proto.as_u8() as usize
    }

    fn conns<'a>(&self, wrk: &'a mut Worker) -> &'a mut slab::Slab<Conn> {
        &mut wrk.local_state_mut::<LoopWorker>().conns[self.slot()]
    }

    /// An id for slab slot `index` with a fresh generation.
    fn new_id(&self, index: usize) -> TransportConnId {
        TransportConnId::new(
            index as u32,
            self.generations.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// The connection `c` names, if it is live with that generation.
    fn conn(&self, wrk: &Worker, c: TransportConnId) -> Option<Conn> {
        wrk.local_state::<LoopWorker>()?.conns[self.slot()]
            .get(c.index as usize)
            .filter(|x| x.tc.conn_id == c)
            .copied()
    }

    /// The live connection `c`, mutably.
    fn conn_mut<'a>(&self, wrk: &'a mut Worker, c: TransportConnId) -> Option<&'a mut Conn> {
        self.conns(wrk)
            .get_mut(c.index as usize)
            .filter(|x| x.tc.conn_id == c)
    }

    /// Takes the half-open `ho` out of its slab, if it is live.
    fn take_half_open(
        &self,
        ho: TransportConnId,
    ) -> Option<(TransportConnection, SessionEndpointCfg, ListenerHandle)> {
        let mut hos = self.half_opens.lock();
        let live = hos
            .get(ho.index as usize)
            .is_some_and(|(tc, _, _)| tc.conn_id == ho);
        live.then(|| hos.remove(ho.index as usize))
    }

    fn peer_session(&self, wrk: &Worker, c: TransportConnId) -> Option<SessionHandle> {
        let me = self.conn(wrk, c)?;
        self.conn(wrk, me.peer?)?.tc.session
    }

    fn apps(&self) -> Result<Arc<Apps>, SessionError> {
        self.apps.upgrade().ok_or(SessionError::NoApp)
    }

    /// ct's connect decisions (ct_session_connect), on the app layer's API.
    fn local_lookup(
        &self,
        main: &ct_session::SessionMain,
        sep: &SessionEndpointCfg,
    ) -> Result<ListenerHandle, SessionError> {
        let apps = self.apps()?;
        let w = apps
            .app_worker_get_if_valid(sep.app_wrk_index)
            .ok_or(SessionError::InvalidAppWrk)?;
        let app = w.application().clone();
        let lep = sep.lookup_endpoint();
        let lookup_main = main;
        if let Some(table) = app.local_session_table() {
            match lookup_main.lookup().lookup_local_endpoint(table, &lep)? {
                LocalLookup::Drop => return Err(SessionError::Filtered),
                LocalLookup::Listener(lh) if apps.listener_app_index(lh)? != app.index() => {
                    return Ok(lh);
                }
                LocalLookup::App(i) if i != app.index() => {
                    if let Some(lh) = apps
                        .app_first_listener(i, SessionType::new(TransportProto::Ct, lep.is_ip4()))
                    {
                        return Ok(lh);
                    }
                }
                _ => {}
            }
        }
        if lep.is_local() {
            return Err(SessionError::NoRoute);
        }
        if !app.has_global_scope() {
            return Err(SessionError::Scope);
        }
        match lookup_main.lookup().lookup_listener_wildcard(&lep) {
            Some(lh) if apps.listener_app_index(lh)? != app.index() => Ok(lh),
            _ => Err(SessionError::LocalConnect),
        }
    }

    fn accept_one(&self, wrk: &mut Worker, ho: TransportConnId) {
        let Some((ho_tc, sep, lh)) = self.take_half_open(ho) else {
            return;
        };
        let thread = wrk.thread_index();
        let st = SessionType::new(self.proto, sep.is_ip4());
        let mut tc = TransportConnection::new(self.proto, thread, TransportConnId::INVALID);
        tc.lcl_ip = sep.endpoint.ip;
        tc.lcl_port = sep.endpoint.port;
        tc.rmt_ip = sep.endpoint.ip;
        let e = self.conns(wrk).vacant_entry();
        tc.conn_id = self.new_id(e.key());
        let sc = tc.conn_id;
        e.insert(Conn {
            tc,
            peer: None,
            pending_client: Some((sep, ho_tc)),
        });
        let ss = wrk.session_alloc(st).expect("session alloc");
        {
            let s = wrk.session_get_mut(ss).unwrap();
            s.connection_id = sc;
            s.listener_handle = Some(lh);
        }
        self.conns(wrk)[sc.index as usize].tc.session = Some(ss);
        if let Err(e) = wrk.app_worker_init_accepted(ss) {
            self.fail_client(wrk, sc, e);
            self.conns(wrk).remove(sc.index as usize);
            let _ = wrk.session_cleanup(ss);
            return;
        }
        let tc = self.conns(wrk)[sc.index as usize].tc;
        if let Err(e) = wrk.session_stream_accept_notify(&tc) {
            self.fail_client(wrk, sc, e);
        }
    }

    /// The client of server conn `sc` never connects: tell it.
    fn fail_client(&self, wrk: &mut Worker, sc: TransportConnId, e: SessionError) {
        let Some((sep, ho_tc)) = self.conn_mut(wrk, sc).and_then(|c| c.pending_client.take())
        else {
            return;
        };
        let _ = wrk.app_worker_connect_notify(sep.app_wrk_index, None, Some(e), sep.opaque);
        let _ = wrk.session_half_open_delete_notify(&ho_tc);
    }

    /// Moves bytes from `from`'s tx fifo to its peer's rx fifo.
    pub fn pump(&self, wrk: &mut Worker, from: SessionHandle) -> Result<u32, SessionError> {
        let s = wrk.session_get(from)?;
        let conn = s.connection_id;
        let Some(tx) = s.tx_fifo.clone() else {
            return Ok(0);
        };
        tx.unset_event();
        let Some(peer) = self.peer_session(wrk, conn) else {
            return Ok(0);
        };
        let Some(prx) = wrk.session_get(peer)?.rx_fifo.clone() else {
            return Ok(0);
        };
        let mut total = 0u32;
        for _round in 0..2 {
            let mut c = tx.consumer().map_err(|_| SessionError::Invalid)?;
            let mut p = prx.producer().map_err(|_| SessionError::Invalid)?;
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let space = p.max_enqueue().map_err(|_| SessionError::Invalid)? as usize;
                if space == 0 {
                    break;
                }
                let n = c
                    .dequeue(&mut buf[..space.min(16 << 10)])
                    .map_err(|_| SessionError::Invalid)?;
                if n == 0 {
                    break;
                }
                p.enqueue(&buf[..n]).map_err(|_| SessionError::Invalid)?;
                total += n as u32;
            }
            if tx.is_empty().unwrap_or(true) {
                break;
            }
            // Peer full: ask its reader to tell us, then look once more.
            prx.add_want_deq_ntf(DeqNtf::NOTIF);
        }
        self.copied.fetch_add(total, Ordering::Relaxed);
        if total > 0 {
            match wrk.session_enqueue_notify(peer) {
                Ok(()) | Err(SessionError::InvalidAppWrk) => {}
                Err(e) => return Err(e),
            }
            if tx.needs_deq_ntf(total) {
                let _ = wrk.session_dequeue_notify(from);
            }
        }
        Ok(total)
    }

    fn close_or_reset(&self, wrk: &mut Worker, conn: TransportConnId, reset: bool) {
        let Some(me) = self.conn(wrk, conn) else {
            return;
        };
        if me.pending_client.is_some() {
            self.fail_client(wrk, conn, SessionError::Refused);
        }
        if let Some(p) = me.peer
            && let Some(peer) = self.conn(wrk, p)
        {
            let unread = me
                .tc
                .session
                .and_then(|h| wrk.session_get(h).ok())
                .and_then(|s| s.rx_fifo.as_ref().map(|f| f.max_dequeue().unwrap_or(0)))
                .unwrap_or(0)
                > 0;
            let r = if reset || unread {
                wrk.session_transport_reset_notify(&peer.tc)
            } else {
                wrk.session_transport_closing_notify(&peer.tc)
            };
            let _ = r;
        }
        let _ = wrk.session_transport_closed_notify(&me.tc);
        let _ = wrk.session_transport_delete_notify(&me.tc);
        self.cleanup_conn(wrk, conn);
    }

    fn cleanup_conn(&self, wrk: &mut Worker, conn: TransportConnId) {
        if self.conn(wrk, conn).is_none() {
            return;
        }
        let conns = self.conns(wrk);
        if let Some(c) = conns.try_remove(conn.index as usize)
            && let Some(p) = c.peer
            && let Some(pc) = conns.get_mut(p.index as usize)
            && pc.tc.conn_id == p
        {
            pc.peer = None;
        }
    }
}

impl Transport for LoopTransport {
    fn options(&self) -> TransportOptions {
        TransportOptions {
            name: "loop",
            short_name: "L",
            tx_type: TransportTxType::Internal,
            service_type: TransportServiceType::Vc,
        }
    }

    fn start_listen(
        &self,
        wrk: &mut Worker,
        listener: SessionHandle,
        sep: &SessionEndpointCfg,
    ) -> Result<TransportConnId, SessionError> {
        let mut tc =
            TransportConnection::new(self.proto, wrk.thread_index(), TransportConnId::INVALID);
        tc.lcl_ip = sep.endpoint.ip;
        tc.lcl_port = sep.endpoint.port;
        tc.session = Some(listener);
        if self.proto == TransportProto::Ct {
            tc.flags = TransportConnectionFlags::NO_LOOKUP;
        }
        let mut l = self.listeners.lock();
        let e = l.vacant_entry();
        tc.conn_id = self.new_id(e.key());
        e.insert(tc);
        Ok(tc.conn_id)
    }

    fn stop_listen(&self, _wrk: &mut Worker, id: TransportConnId) -> Result<(), SessionError> {
        let mut l = self.listeners.lock();
        if l.get(id.index as usize).is_none_or(|tc| tc.conn_id != id) {
            return Err(SessionError::NoListen);
        }
        l.remove(id.index as usize);
        Ok(())
    }

    fn connect(
        &self,
        wrk: &mut Worker,
        sep: &SessionEndpointCfg,
        ho: SessionHandle,
    ) -> Result<TransportConnId, SessionError> {
        sep.check_connect()?;
        let lh = if self.proto == TransportProto::Ct {
            self.local_lookup(wrk.main(), sep)?
        } else if sep.endpoint.is_local() {
            // Like VPP's TCP without a loopback interface in the fib.
            return Err(SessionError::NoIntf);
        } else {
            wrk.main()
                .lookup()
                .lookup_listener_wildcard(&sep.endpoint)
                .ok_or(SessionError::NoIntf)?
        };
        let mut tc =
            TransportConnection::new(self.proto, wrk.thread_index(), TransportConnId::INVALID);
        tc.rmt_ip = sep.endpoint.ip;
        tc.rmt_port = sep.endpoint.port;
        tc.session = Some(ho);
        tc.flags = TransportConnectionFlags::NO_LOOKUP;
        let idx = {
            let mut hos = self.half_opens.lock();
            let e = hos.vacant_entry();
            tc.conn_id = self.new_id(e.key());
            e.insert((tc, *sep, lh));
            tc.conn_id
        };
        let target = match self.accept_thread.load(Ordering::Relaxed) {
            u32::MAX => wrk.thread_index(),
            t => t,
        };
        let me = self.me.upgrade().ok_or(SessionError::TransportNoReg)?;
        wrk.send_rpc_evt_to_thread_force(target, move |w| me.accept_one(w, idx))?;
        Ok(idx)
    }

    fn app_accepted(&self, wrk: &mut Worker, ss: SessionHandle) -> Result<(), SessionError> {
        let sc = wrk.session_get(ss)?.connection_id;
        let Some((sep, ho_tc)) = self.conn_mut(wrk, sc).and_then(|c| c.pending_client.take())
        else {
            return Ok(());
        };
        let thread = wrk.thread_index();
        let st = SessionType::new(self.proto, sep.is_ip4());
        let mut tc = TransportConnection::new(self.proto, thread, TransportConnId::INVALID);
        tc.rmt_ip = sep.endpoint.ip;
        tc.rmt_port = sep.endpoint.port;
        let e = self.conns(wrk).vacant_entry();
        tc.conn_id = self.new_id(e.key());
        let cc = tc.conn_id;
        e.insert(Conn {
            tc,
            peer: Some(sc),
            pending_client: None,
        });
        self.conns(wrk)[sc.index as usize].peer = Some(cc);
        let cs = wrk.session_alloc(st)?;
        {
            let s = wrk.session_get_mut(cs)?;
            s.connection_id = cc;
            s.app_wrk_index = sep.app_wrk_index;
            s.set_state(SessionState::Connecting)?;
        }
        self.conns(wrk)[cc.index as usize].tc.session = Some(cs);
        let _ = wrk.session_half_open_delete_notify(&ho_tc);
        if let Err(e) = wrk.app_worker_init_connected(sep.app_wrk_index, cs) {
            let _ = wrk.app_worker_connect_notify(sep.app_wrk_index, None, Some(e), sep.opaque);
            self.cleanup_conn(wrk, cc);
            let _ = wrk.session_free(cs);
            return Ok(());
        }
        wrk.app_worker_connect_notify(sep.app_wrk_index, Some(cs), None, sep.opaque)?;
        wrk.session_get_mut(cs)?.set_state(SessionState::Ready)?;
        Ok(())
    }

    fn close(&self, wrk: &mut Worker, conn: TransportConnId) {
        self.close_or_reset(wrk, conn, false);
    }

    fn reset(&self, wrk: &mut Worker, conn: TransportConnId) {
        self.close_or_reset(wrk, conn, true);
    }

    fn cleanup(&self, wrk: &mut Worker, conn: TransportConnId) {
        self.cleanup_conn(wrk, conn);
    }

    fn cleanup_ho(&self, _wrk: &mut Worker, ho: TransportConnId) {
        self.take_half_open(ho);
    }

    fn get_connection(&self, wrk: &Worker, conn: TransportConnId) -> Option<TransportConnection> {
        self.conn(wrk, conn).map(|c| c.tc)
    }

    fn get_listener(&self, _wrk: &Worker, id: TransportConnId) -> Option<TransportConnection> {
        let l = self.listeners.lock();
        l.get(id.index as usize)
            .filter(|tc| tc.conn_id == id)
            .copied()
    }

    fn get_half_open(&self, _wrk: &Worker, ho: TransportConnId) -> Option<TransportConnection> {
        let hos = self.half_opens.lock();
        hos.get(ho.index as usize)
            .map(|(tc, _, _)| *tc)
            .filter(|tc| tc.conn_id == ho)
    }

    fn custom_tx(&self, wrk: &mut Worker, session: SessionHandle) -> Result<u32, SessionError> {
        self.pump(wrk, session).map(|n| n.min(1))
    }

    fn app_rx_evt(&self, wrk: &mut Worker, conn: &TransportConnection) -> Result<(), SessionError> {
        let Some(peer) = self.peer_session(wrk, conn.conn_id) else {
            return Ok(());
        };
        self.pump(wrk, peer).map(drop)
    }

    fn format_connection(
        &self,
        wrk: &Worker,
        conn: TransportConnId,
        v: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        let tc = self.conn(wrk, conn).map(|c| c.tc);
        self.write_line(f, tc, v, "ESTABLISHED")
    }

    fn format_listener(
        &self,
        wrk: &Worker,
        id: TransportConnId,
        v: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        self.write_line(f, self.get_listener(wrk, id), v, "LISTEN")
    }

    fn format_half_open(
        &self,
        wrk: &Worker,
        ho: TransportConnId,
        v: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        self.write_line(f, self.get_half_open(wrk, ho), v, "HALF-OPEN")
    }
}

impl LoopTransport {
    /// The object's `show session` line; nothing for a stale id.
    fn write_line(
        &self,
        f: &mut fmt::Formatter<'_>,
        tc: Option<TransportConnection>,
        v: Verbosity,
        state: &str,
    ) -> fmt::Result {
        match tc {
            Some(tc) => f.write_str(&format_cli_line(
                &tc.format_id("L", self.proto),
                v.shows_state().then_some(state),
            )),
            None => Ok(()),
        }
    }
}

pub fn ep(ip: &str, port: u16) -> SessionEndpoint {
    SessionEndpoint::new(ip.parse::<IpAddr>().unwrap(), port, TransportProto::Tcp)
}

/// A stack with the loop transport registered for TCP (global) and for the
/// local protocol (what ct serves in a real stack).
pub struct Env {
    pub stack: ct_app_worker::Stack,
    pub tcp: Arc<LoopTransport>,
    pub local: Arc<LoopTransport>,
}

pub fn env(n_workers: u32) -> Env {
    let stack = ct_app_worker::Stack::new(n_workers).unwrap();
    let tcp = LoopTransport::new(TransportProto::Tcp, stack.apps());
    let local = LoopTransport::new(TransportProto::Ct, stack.apps());
    stack
        .register_transport(TransportProto::Tcp, tcp.clone())
        .unwrap();
    stack
        .register_transport(TransportProto::Ct, local.clone())
        .unwrap();
    Env { stack, tcp, local }
}

/// A builtin app that records what it is told and can refuse accepts.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<(String, Option<SessionHandle>)>>,
    pub refuse: ct_sync::atomic::AtomicBool,
    pub connected: Mutex<Vec<(u32, Result<SessionHandle, SessionError>)>>,
    pub accepted: Mutex<Vec<SessionHandle>>,
    pub segments: Mutex<Vec<ct_segment_manager::SegmentHandle>>,
    /// Close on disconnect (VPP's builtin default).
    pub keep_on_disconnect: ct_sync::atomic::AtomicBool,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn note(&self, e: &str, h: Option<SessionHandle>) {
        self.events.lock().push((e.to_string(), h));
    }

    pub fn count(&self, e: &str) -> usize {
        self.events.lock().iter().filter(|(n, _)| n == e).count()
    }

    pub fn names(&self) -> Vec<String> {
        self.events.lock().iter().map(|(n, _)| n.clone()).collect()
    }
}

impl ct_app_worker::AppCallbacks for Recorder {
    fn accept(
        &self,
        _ctx: &mut ct_app_worker::AppCtx<'_>,
        session: SessionHandle,
    ) -> Result<(), SessionError> {
        self.note("accept", Some(session));
        if self.refuse.load(Ordering::Relaxed) {
            return Err(SessionError::Refused);
        }
        self.accepted.lock().push(session);
        Ok(())
    }

    fn connected(
        &self,
        _ctx: &mut ct_app_worker::AppCtx<'_>,
        opaque: u32,
        result: Result<SessionHandle, SessionError>,
    ) {
        self.note("connected", result.ok());
        self.connected.lock().push((opaque, result));
    }

    fn disconnect(&self, ctx: &mut ct_app_worker::AppCtx<'_>, session: SessionHandle) {
        self.note("disconnect", Some(session));
        if !self.keep_on_disconnect.load(Ordering::Relaxed) {
            let _ = ctx.disconnect(session);
        }
    }

    fn reset(&self, ctx: &mut ct_app_worker::AppCtx<'_>, session: SessionHandle) {
        self.note("reset", Some(session));
        let _ = ctx.disconnect(session);
    }

    fn rx(&self, _ctx: &mut ct_app_worker::AppCtx<'_>, session: SessionHandle) {
        self.note("rx", Some(session));
    }

    fn tx(&self, _ctx: &mut ct_app_worker::AppCtx<'_>, session: SessionHandle) {
        self.note("tx", Some(session));
    }

    fn add_segment(
        &self,
        _ctx: &mut ct_app_worker::AppCtx<'_>,
        seg: ct_segment_manager::SegmentHandle,
    ) {
        self.note("add-segment", None);
        self.segments.lock().push(seg);
    }

    fn del_segment(
        &self,
        _ctx: &mut ct_app_worker::AppCtx<'_>,
        _seg: ct_segment_manager::SegmentHandle,
    ) {
        self.note("del-segment", None);
    }

    fn cleanup(
        &self,
        _ctx: &mut ct_app_worker::AppCtx<'_>,
        session: SessionHandle,
        ntf: ct_session::SessionCleanupNtf,
    ) {
        let n = match ntf {
            ct_session::SessionCleanupNtf::Transport => "cleanup-transport",
            ct_session::SessionCleanupNtf::Session => "cleanup-session",
        };
        self.note(n, Some(session));
    }

    fn transport_closed(&self, _ctx: &mut ct_app_worker::AppCtx<'_>, session: SessionHandle) {
        self.note("transport-closed", Some(session));
    }
}

/// Everything a stack could leak, all zero once every app detached and the
/// workers went idle.
pub fn assert_nothing_left(stack: &mut ct_app_worker::Stack) {
    stack.run_until_idle().unwrap();
    let main = stack.main().clone();
    assert_eq!(main.n_listeners(), 0, "listen sessions");
    assert_eq!(main.lookup().listener_count(), 0, "table entries");
    assert!(
        stack.segment_managers().is_empty(),
        "segment managers: {}",
        stack.segment_managers().len()
    );
    assert_eq!(stack.apps().n_app_workers(), 0, "app workers");
    assert_eq!(stack.apps().n_listeners(), 0, "app listeners");
    for wrk in stack.runtime_mut().workers_mut().unwrap().iter() {
        assert_eq!(
            wrk.sessions().len(),
            0,
            "sessions on {}",
            wrk.thread_index()
        );
        assert!(
            wrk.pending_app_workers().is_empty(),
            "pending events on {}",
            wrk.thread_index()
        );
    }
}

/// Messages of an in-process app until `pred` matches one (drives the stack
/// between tries).
pub fn wait_msg(
    stack: &mut ct_app_worker::Stack,
    q: &ct_app_worker::AppQueue,
    mut pred: impl FnMut(&ct_app_worker::AppEvent) -> bool,
) -> ct_app_worker::AppEvent {
    for _ in 0..1000 {
        while let Some(m) = q.try_recv().unwrap() {
            if pred(&m) {
                return m;
            }
        }
        stack.run_until_idle().unwrap();
    }
    panic!("message never came");
}

/// An in-process server listening on 0.0.0.0:`port` and an in-process client
/// connected to it on 10.0.0.1 (global scope, the TCP loop transport), with
/// their session ends.
pub struct Pair {
    pub server: ct_app_worker::AttachReply,
    pub client: ct_app_worker::AttachReply,
    pub ss: ct_app_worker::AppSession,
    pub cs: ct_app_worker::AppSession,
}

pub fn ext_pair(stack: &mut ct_app_worker::Stack, port: u16, fifo: u32, evt_q: usize) -> Pair {
    use ct_app_worker::{AppEvent, AppKind, AttachOptions};
    let mk = |name: &str| {
        let mut o = AttachOptions::new(format!("{name}-{port}"), AppKind::InProcess)
            .with_fifo_sizes(fifo, fifo);
        o.evt_q_size = evt_q;
        o
    };
    let server = stack.attach(mk("server")).unwrap();
    let client = stack.attach(mk("client")).unwrap();
    stack.listen(server.app_wrk, ep("0.0.0.0", port)).unwrap();
    stack
        .connect(client.app_wrk, ep("10.0.0.1", port), 99)
        .unwrap();
    let sq = server.queue.clone().unwrap();
    let m = wait_msg(stack, &sq, |m| matches!(m, AppEvent::Accepted { .. }));
    let AppEvent::Accepted { session: fifos, .. } = m else {
        unreachable!()
    };
    let ss = ct_app_worker::AppSession::from_fifos(stack.main().clone(), &fifos).unwrap();
    stack
        .accept_reply(server.app_wrk, fifos.session, Ok(()))
        .unwrap();
    let cq = client.queue.clone().unwrap();
    let m = wait_msg(stack, &cq, |m| matches!(m, AppEvent::Connected { .. }));
    let AppEvent::Connected { opaque, result } = m else {
        unreachable!()
    };
    assert_eq!(opaque, 99);
    let cs = ct_app_worker::AppSession::from_fifos(stack.main().clone(), &result.unwrap()).unwrap();
    Pair {
        server,
        client,
        ss,
        cs,
    }
}
