//! A small test transport and a test app layer, shared by the session
//! crate's integration tests.
#![allow(dead_code)]

use ct_sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Weak};

use ct_session::{
    AppEvent, AppLayer, Congested, QueuedAppEvent, SessionConfig, SessionEndpoint,
    SessionEndpointCfg, SessionError, SessionHandle, SessionMain, SessionState, SessionType,
    Transport, TransportConnId, TransportConnection, TransportConnectionFlags, TransportOptions,
    TransportProto, TransportServiceType, TransportTxType, Verbosity, Worker, format_cli_line,
};
use ct_sync::Mutex;

/// The protocol the test transport registers for.
pub const PROTO: TransportProto = TransportProto::Tcp;

/// A per-worker connection.
#[derive(Debug, Clone, Copy)]
pub struct TestConn {
    pub tc: TransportConnection,
    /// The other end (same thread).
    pub peer: Option<TransportConnId>,
}

/// The transport's state on one worker.
#[derive(Debug, Default)]
pub struct TtWorker {
    pub conns: slab::Slab<TestConn>,
}

/// A transport that pairs a connect with its listener on a chosen thread,
/// as a loopback would, and logs every call the session layer makes.
pub struct TestTransport {
    pub log: Mutex<Vec<String>>,
    pub listeners: Mutex<slab::Slab<TransportConnection>>,
    pub half_opens: Mutex<slab::Slab<(TransportConnection, SessionEndpointCfg)>>,
    /// Thread connects are accepted on.
    pub accept_thread: AtomicUsize,
    /// App worker that accepts.
    pub server_wrk: AtomicUsize,
    /// `worker_poll` calls (counted, not logged: every poll makes one).
    pub polls: AtomicUsize,
    /// The next generation handed out: every allocation gets a fresh one,
    /// so an id naming a freed slab slot misses whatever reused it.
    generations: AtomicU32,
    me: Weak<TestTransport>,
}

impl TestTransport {
    pub fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| TestTransport {
            log: Mutex::new(Vec::new()),
            listeners: Mutex::new(slab::Slab::new()),
            half_opens: Mutex::new(slab::Slab::new()),
            accept_thread: AtomicUsize::new(0),
            server_wrk: AtomicUsize::new(0),
            polls: AtomicUsize::new(0),
            generations: AtomicU32::new(0),
            me: me.clone(),
        })
    }

    fn note(&self, s: String) {
        self.log.lock().push(s);
    }

    pub fn calls(&self) -> Vec<String> {
        self.log.lock().clone()
    }

    /// An id for slab slot `index` with a fresh generation.
    fn new_id(&self, index: usize) -> TransportConnId {
        TransportConnId::new(
            index as u32,
            self.generations.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// The connection `c` names, if it is live with that generation.
    fn conn(wrk: &Worker, c: TransportConnId) -> Option<TestConn> {
        wrk.local_state::<TtWorker>()?
            .conns
            .get(c.index as usize)
            .filter(|x| x.tc.conn_id == c)
            .copied()
    }

    /// Takes the half-open `ho` out of its slab, if it is live.
    fn take_half_open(
        &self,
        ho: TransportConnId,
    ) -> Option<(TransportConnection, SessionEndpointCfg)> {
        let mut hos = self.half_opens.lock();
        let live = hos
            .get(ho.index as usize)
            .is_some_and(|(tc, _)| tc.conn_id == ho);
        live.then(|| hos.remove(ho.index as usize))
    }

    /// Accepts half-open `ho` on `wrk`: a server session to accept and
    /// a client session connected to it (both on `wrk`).
    fn accept_one(&self, wrk: &mut Worker, ho: TransportConnId) {
        let Some((ho_tc, sep)) = self.take_half_open(ho) else {
            return;
        };
        let thread = wrk.thread_index();
        let st = SessionType::new(PROTO, sep.is_ip4());
        let state = wrk.local_state_mut::<TtWorker>();
        let mk = |c: TransportConnId| {
            let mut tc = TransportConnection::new(PROTO, thread, c);
            tc.lcl_ip = sep.endpoint.ip;
            tc.rmt_ip = sep.endpoint.ip;
            tc.flags = TransportConnectionFlags::NO_LOOKUP;
            tc
        };
        let se = state.conns.vacant_entry();
        let sc = self.new_id(se.key());
        se.insert(TestConn {
            tc: mk(sc),
            peer: None,
        });
        let ce = state.conns.vacant_entry();
        let cc = self.new_id(ce.key());
        ce.insert(TestConn {
            tc: mk(cc),
            peer: Some(sc),
        });
        let (si, ci) = (sc.index as usize, cc.index as usize);
        state.conns[si].peer = Some(cc);
        state.conns[si].tc.lcl_port = sep.endpoint.port;
        state.conns[ci].tc.rmt_port = sep.endpoint.port;

        // The half-open is done, wherever it lives.
        let mut moved = ho_tc;
        moved.thread_index = thread;
        moved.conn_id = cc;
        wrk.session_half_open_delete_notify(&moved).unwrap();

        let server_wrk = self.server_wrk.load(Ordering::Relaxed) as u32;
        let ss = wrk.session_alloc(st).unwrap();
        {
            let s = wrk.session_get_mut(ss).unwrap();
            s.connection_id = sc;
            s.app_wrk_index = server_wrk;
            s.set_state(SessionState::Accepting).unwrap();
        }
        wrk.local_state_mut::<TtWorker>().conns[si].tc.session = Some(ss);
        wrk.app_worker_accept_notify(server_wrk, ss).unwrap();

        let cs = wrk.session_alloc(st).unwrap();
        {
            let s = wrk.session_get_mut(cs).unwrap();
            s.connection_id = cc;
            s.app_wrk_index = sep.app_wrk_index;
            s.set_state(SessionState::Connecting).unwrap();
            s.set_state(SessionState::Ready).unwrap();
        }
        wrk.local_state_mut::<TtWorker>().conns[ci].tc.session = Some(cs);
        wrk.app_worker_connect_notify(sep.app_wrk_index, Some(cs), None, sep.opaque)
            .unwrap();
    }

    /// Tells the peer, closes and deletes this side, frees the connection.
    fn close_or_reset(&self, wrk: &mut Worker, conn: TransportConnId, reset: bool) {
        let Some(me) = Self::conn(wrk, conn) else {
            return;
        };
        if let Some((peer_tc, _)) = Self::peer_session(wrk, conn) {
            let r = if reset {
                wrk.session_transport_reset_notify(&peer_tc)
            } else {
                wrk.session_transport_closing_notify(&peer_tc)
            };
            r.unwrap();
        }
        wrk.session_transport_closed_notify(&me.tc).unwrap();
        wrk.session_transport_delete_notify(&me.tc).unwrap();
        self.cleanup_conn(wrk, conn);
    }

    fn cleanup_conn(&self, wrk: &mut Worker, conn: TransportConnId) {
        if Self::conn(wrk, conn).is_none() {
            return;
        }
        let st = wrk.local_state_mut::<TtWorker>();
        if let Some(c) = st.conns.try_remove(conn.index as usize)
            && let Some(p) = c.peer
            && let Some(pc) = st.conns.get_mut(p.index as usize)
            && pc.tc.conn_id == p
        {
            pc.peer = None;
        }
    }

    fn peer_session(
        wrk: &Worker,
        conn: TransportConnId,
    ) -> Option<(TransportConnection, SessionHandle)> {
        let me = Self::conn(wrk, conn)?;
        let peer = Self::conn(wrk, me.peer?)?;
        Some((peer.tc, peer.tc.session?))
    }
}

impl Transport for TestTransport {
    fn worker_poll(&self, _: &mut Worker) -> bool {
        self.polls.fetch_add(1, Ordering::Relaxed);
        false
    }

    fn options(&self) -> TransportOptions {
        TransportOptions {
            name: "test",
            short_name: "X",
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
        let mut tc = TransportConnection::new(PROTO, wrk.thread_index(), TransportConnId::INVALID);
        tc.lcl_ip = sep.endpoint.ip;
        tc.lcl_port = sep.endpoint.port;
        tc.session = Some(listener);
        let mut l = self.listeners.lock();
        let e = l.vacant_entry();
        tc.conn_id = self.new_id(e.key());
        e.insert(tc);
        self.note(format!("start_listen {}", tc.conn_id.index));
        Ok(tc.conn_id)
    }

    fn stop_listen(
        &self,
        _wrk: &mut Worker,
        listener: TransportConnId,
    ) -> Result<(), SessionError> {
        self.note(format!("stop_listen {}", listener.index));
        let mut l = self.listeners.lock();
        if l.get(listener.index as usize)
            .is_none_or(|tc| tc.conn_id != listener)
        {
            return Err(SessionError::NoListen);
        }
        l.remove(listener.index as usize);
        Ok(())
    }

    fn connect(
        &self,
        wrk: &mut Worker,
        sep: &SessionEndpointCfg,
        ho: SessionHandle,
    ) -> Result<TransportConnId, SessionError> {
        sep.check_connect()?;
        let mut tc = TransportConnection::new(PROTO, wrk.thread_index(), TransportConnId::INVALID);
        tc.rmt_ip = sep.endpoint.ip;
        tc.rmt_port = sep.endpoint.port;
        tc.session = Some(ho);
        tc.flags = TransportConnectionFlags::NO_LOOKUP;
        let id = {
            let mut hos = self.half_opens.lock();
            let e = hos.vacant_entry();
            tc.conn_id = self.new_id(e.key());
            e.insert((tc, *sep));
            tc.conn_id
        };
        self.note(format!("connect {}", id.index));
        let target = self.accept_thread.load(Ordering::Relaxed) as u32;
        let me = self.me.upgrade().ok_or(SessionError::TransportNoReg)?;
        // Accept on the target thread through an RPC, as a loopback would.
        wrk.send_rpc_evt_to_thread_force(target, move |w| me.accept_one(w, id))?;
        Ok(id)
    }

    fn close(&self, wrk: &mut Worker, conn: TransportConnId) {
        self.note(format!("close {}:{}", wrk.thread_index(), conn.index));
        self.close_or_reset(wrk, conn, false);
    }

    fn reset(&self, wrk: &mut Worker, conn: TransportConnId) {
        self.note(format!("reset {}:{}", wrk.thread_index(), conn.index));
        self.close_or_reset(wrk, conn, true);
    }

    fn cleanup(&self, wrk: &mut Worker, conn: TransportConnId) {
        self.note(format!("cleanup {}:{}", wrk.thread_index(), conn.index));
        self.cleanup_conn(wrk, conn);
    }

    fn cleanup_ho(&self, _wrk: &mut Worker, ho: TransportConnId) {
        self.note(format!("cleanup_ho {}", ho.index));
        self.take_half_open(ho);
    }

    fn get_connection(&self, wrk: &Worker, conn: TransportConnId) -> Option<TransportConnection> {
        Self::conn(wrk, conn).map(|c| c.tc)
    }

    fn get_listener(&self, _wrk: &Worker, l: TransportConnId) -> Option<TransportConnection> {
        let ls = self.listeners.lock();
        ls.get(l.index as usize)
            .filter(|tc| tc.conn_id == l)
            .copied()
    }

    fn get_half_open(&self, _wrk: &Worker, ho: TransportConnId) -> Option<TransportConnection> {
        let hos = self.half_opens.lock();
        hos.get(ho.index as usize)
            .map(|(tc, _)| *tc)
            .filter(|tc| tc.conn_id == ho)
    }

    fn custom_tx(&self, wrk: &mut Worker, session: SessionHandle) -> Result<u32, SessionError> {
        self.note(format!("custom_tx {session}"));
        let conn = wrk.session_get(session)?.connection_id;
        let (_, peer) = Self::peer_session(wrk, conn).ok_or(SessionError::NoSession)?;
        wrk.session_enqueue_notify(peer)?;
        Ok(1)
    }

    fn app_rx_evt(&self, wrk: &mut Worker, conn: &TransportConnection) -> Result<(), SessionError> {
        self.note(format!("app_rx_evt {}", conn.conn_id.index));
        let (_, peer) = Self::peer_session(wrk, conn.conn_id).ok_or(SessionError::NoSession)?;
        wrk.session_dequeue_notify(peer)
    }

    fn format_connection(
        &self,
        wrk: &Worker,
        conn: TransportConnId,
        v: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        match Self::conn(wrk, conn) {
            Some(c) => f.write_str(&format_cli_line(
                &c.tc.format_id("X", PROTO),
                v.shows_state().then_some("ESTABLISHED"),
            )),
            None => f.write_str("empty\n"),
        }
    }

    fn format_listener(
        &self,
        wrk: &Worker,
        l: TransportConnId,
        v: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        match self.get_listener(wrk, l) {
            Some(tc) => f.write_str(&format_cli_line(
                &tc.format_id("X", PROTO),
                v.shows_state().then_some("LISTEN"),
            )),
            None => Ok(()),
        }
    }

    fn format_half_open(
        &self,
        wrk: &Worker,
        ho: TransportConnId,
        v: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        match self.get_half_open(wrk, ho) {
            Some(tc) => f.write_str(&format_cli_line(
                &tc.format_id("X", PROTO),
                v.shows_state().then_some("HALF-OPEN"),
            )),
            None => Ok(()),
        }
    }
}

/// One delivered event, as the test app saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub thread: u32,
    pub app_wrk: u32,
    pub event: String,
    pub session: Option<SessionHandle>,
}

/// A builtin-style app layer: accepts every session, logs every event,
/// can be told to be congested.
pub struct TestApp {
    pub valid: Mutex<HashSet<u32>>,
    pub seen: Mutex<Vec<Seen>>,
    pub congested: AtomicBool,
    pub deallocs: AtomicUsize,
    pub accept_on_notify: AtomicBool,
}

impl TestApp {
    pub fn new(app_wrks: &[u32]) -> Arc<Self> {
        Arc::new(TestApp {
            valid: Mutex::new(app_wrks.iter().copied().collect()),
            seen: Mutex::new(Vec::new()),
            congested: AtomicBool::new(false),
            deallocs: AtomicUsize::new(0),
            accept_on_notify: AtomicBool::new(true),
        })
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.seen.lock().iter().map(|s| s.event.clone()).collect()
    }

    pub fn count(&self, name: &str) -> usize {
        self.seen.lock().iter().filter(|s| s.event == name).count()
    }
}

impl AppLayer for TestApp {
    fn app_worker_is_valid(&self, app_wrk: u32) -> bool {
        self.valid.lock().contains(&app_wrk)
    }

    fn init_accepted(&self, _wrk: &mut Worker, _s: SessionHandle) -> Result<(), SessionError> {
        Ok(())
    }

    fn init_connected(
        &self,
        _wrk: &mut Worker,
        _a: u32,
        _s: SessionHandle,
    ) -> Result<(), SessionError> {
        Ok(())
    }

    fn deliver(
        &self,
        wrk: &mut Worker,
        app_wrk: u32,
        event: &QueuedAppEvent,
    ) -> Result<(), Congested> {
        if self.congested.load(Ordering::Relaxed) {
            return Err(Congested);
        }
        if let AppEvent::Accepted { session: h, .. } = event
            && self.accept_on_notify.load(Ordering::Relaxed)
            && let Ok(s) = wrk.session_get_mut(*h)
            && s.state() == SessionState::Accepting
        {
            // A builtin app's accept callback returning 0.
            s.set_state(SessionState::Ready).unwrap();
        }
        self.seen.lock().push(Seen {
            thread: wrk.thread_index(),
            app_wrk,
            event: event.name().to_string(),
            session: event.session(),
        });
        Ok(())
    }

    fn dealloc_fifos(
        &self,
        _wrk: &mut Worker,
        rx: Option<ct_fifo_segment::Fifo>,
        tx: Option<ct_fifo_segment::Fifo>,
    ) {
        self.deallocs.fetch_add(
            usize::from(rx.is_some()) + usize::from(tx.is_some()),
            Ordering::Relaxed,
        );
    }
}

/// A stack with `n_workers`, the test transport registered for ip4 and ip6
/// and the test app installed with app workers `app_wrks`.
pub fn stack(
    n_workers: u32,
    app_wrks: &[u32],
) -> (
    Arc<SessionMain>,
    Vec<Worker>,
    Arc<TestTransport>,
    Arc<TestApp>,
) {
    let (main, workers) = SessionMain::new(SessionConfig::new(n_workers));
    let t = TestTransport::new();
    main.transports().register(PROTO, true, t.clone()).unwrap();
    main.transports().register(PROTO, false, t.clone()).unwrap();
    let app = TestApp::new(app_wrks);
    main.set_app_layer(app.clone()).unwrap();
    (main, workers, t, app)
}

pub fn ep(ip: &str, port: u16) -> SessionEndpoint {
    SessionEndpoint::new(ip.parse::<IpAddr>().unwrap(), port, PROTO)
}

/// Allocates a Ready session on `wrk` for `app_wrk`, attached to nothing.
pub fn ready_session(wrk: &mut Worker, app_wrk: u32) -> SessionHandle {
    let h = wrk.session_alloc(SessionType::new(PROTO, true)).unwrap();
    let s = wrk.session_get_mut(h).unwrap();
    s.app_wrk_index = app_wrk;
    s.set_state(SessionState::Ready).unwrap();
    h
}
