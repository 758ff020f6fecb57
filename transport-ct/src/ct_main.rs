//! `CtMain`: the ct transport's shared state (the reference's `ct_main`),
//! owned by a stack and registered in its transport registry, never a
//! static.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use ct_session::{SessionError, SessionHandle, SessionMain, TransportProto, Worker};
use ct_sync::RwLock;
use ct_sync::atomic::{AtomicU32, Ordering};

use crate::app_layer::CtAppLayer;
use crate::client_ports::ClientPorts;
use crate::connection::CtConnection;
use crate::half_open::HalfOpens;
use crate::pending::{FwrkPending, PendingConnects};
use crate::pool::{CtConnId, Pool};
use crate::segments::{CtSegmentInfo, CtSegments, DEFAULT_MIN_SEGMENT_SIZE};
use crate::worker::CtWorkerState;

/// ct's tunables.
#[derive(Debug, Clone)]
pub struct CtConfig {
    /// Smallest segment ct adds for a server's ct sessions (the reference's
    /// 128 MiB; the server's `segment_size` wins when larger). Tests and
    /// models use small ones.
    pub min_segment_size: usize,
    /// How long a ct segment whose last session went stays for the next
    /// accepts between the same two app workers before it is removed (zero,
    /// the default: removed at once, as in the reference). Workers remove
    /// lingering segments from their poll once this has passed.
    pub segment_linger: Duration,
}

impl Default for CtConfig {
    fn default() -> Self {
        Self {
            min_segment_size: DEFAULT_MIN_SEGMENT_SIZE,
            segment_linger: Duration::ZERO,
        }
    }
}

/// Thread layout, fixed when the transport is enabled.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) n_workers: u32,
    pub(crate) fwrk_thread: u32,
    pub(crate) pending: Vec<PendingConnects>,
}

/// The ct transport of one stack.
pub struct CtMain {
    pub(crate) me: Weak<CtMain>,
    pub(crate) cfg: CtConfig,
    pub(crate) apps: OnceLock<Arc<dyn CtAppLayer>>,
    pub(crate) layout: OnceLock<Layout>,
    /// Cumulative connects, for the round-robin.
    pub(crate) n_sessions: AtomicU32,
    pub(crate) half_opens: HalfOpens,
    pub(crate) listeners: RwLock<Pool<CtConnection>>,
    pub(crate) segments: CtSegments,
    pub(crate) fwrk_pending: FwrkPending,
    /// Local ports of ct clients.
    pub(crate) client_ports: ClientPorts,
}

impl std::fmt::Debug for CtMain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtMain")
            .field("layout", &self.layout.get())
            .field("half_opens", &self.half_opens.len())
            .field("listeners", &self.listeners.read().len())
            .field("segment_contexts", &self.segments.n_contexts())
            .finish_non_exhaustive()
    }
}

impl CtMain {
    /// A ct transport with `cfg`; register it with [`CtMain::register`].
    pub fn new(cfg: CtConfig) -> Arc<CtMain> {
        Arc::new_cyclic(|me| CtMain {
            me: me.clone(),
            segments: CtSegments::with_linger(cfg.min_segment_size, cfg.segment_linger),
            cfg,
            apps: OnceLock::new(),
            layout: OnceLock::new(),
            n_sessions: AtomicU32::new(0),
            half_opens: HalfOpens::default(),
            listeners: RwLock::new(Pool::default()),
            fwrk_pending: FwrkPending::default(),
            client_ports: ClientPorts::default(),
        })
    }

    /// Registers the transport for (Ct, ip4) and (Ct, ip6) in `main`'s
    /// registry, enables it, and installs the app layer it works with
    /// (VPP `ct_transport_init` + `ct_enable_disable`).
    pub fn register(
        self: &Arc<Self>,
        main: &SessionMain,
        apps: Arc<dyn CtAppLayer>,
    ) -> Result<(), SessionError> {
        self.apps.set(apps).map_err(|_| SessionError::Invalid)?;
        let t: Arc<dyn ct_session::Transport> = self.clone();
        main.transports()
            .register(TransportProto::Ct, true, t.clone())?;
        main.transports().register(TransportProto::Ct, false, t)?;
        self.init_layout(main);
        Ok(())
    }

    pub(crate) fn init_layout(&self, main: &SessionMain) {
        self.layout.get_or_init(|| Layout {
            n_workers: main.n_workers(),
            fwrk_thread: main.transport_cl_thread(),
            pending: (0..main.n_threads())
                .map(|_| PendingConnects::default())
                .collect(),
        });
    }

    pub(crate) fn me(&self) -> Arc<CtMain> {
        self.me
            .upgrade()
            .expect("CtMain is only reachable through its Arc")
    }

    pub(crate) fn apps(&self) -> Result<&Arc<dyn CtAppLayer>, SessionError> {
        self.apps.get().ok_or(SessionError::NoApp)
    }

    pub(crate) fn layout(&self) -> Result<&Layout, SessionError> {
        self.layout.get().ok_or(SessionError::TransportNoReg)
    }

    /// The configuration.
    pub fn config(&self) -> &CtConfig {
        &self.cfg
    }

    // ---- inspection ----

    /// Every ct segment with its counters and flags.
    pub fn segments(&self) -> Vec<CtSegmentInfo> {
        self.segments.snapshot()
    }

    /// Live segment contexts.
    pub fn n_segment_contexts(&self) -> usize {
        self.segments.n_contexts()
    }

    /// Half-open slots in use (live ones plus migrated ones awaiting reuse).
    pub fn n_half_open_slots(&self) -> usize {
        self.half_opens.len()
    }

    /// Live half-opens (connects not yet taken by a worker).
    pub fn n_half_opens(&self) -> usize {
        self.half_opens.n_live()
    }

    /// Live listeners.
    pub fn n_listeners(&self) -> usize {
        self.listeners.read().len()
    }

    /// Connects queued for `thread`'s accept RPC.
    pub fn n_pending_connects(&self, thread: u32) -> usize {
        self.layout
            .get()
            .and_then(|l| l.pending.get(thread as usize))
            .map_or(0, PendingConnects::len)
    }

    /// Cumulative connects programmed (the round-robin counter).
    pub fn n_connects_programmed(&self) -> u32 {
        self.n_sessions.load(Ordering::Relaxed)
    }

    /// `wrk`'s ct state (connections, pending cleanups).
    pub fn worker_state<'a>(&self, wrk: &'a Worker) -> Option<&'a CtWorkerState> {
        wrk.local_state::<CtWorkerState>()
    }

    /// Bytes of ct bookkeeping: shared state plus `wrk`'s pools.
    pub fn footprint(&self, wrk: &Worker) -> usize {
        std::mem::size_of::<CtMain>()
            + self.segments.footprint()
            + self.listeners.read().footprint()
            + wrk
                .local_state::<CtWorkerState>()
                .map_or(0, CtWorkerState::footprint)
    }

    // ---- connection helpers ----

    /// The connection a session of this worker names, checked against the
    /// session (a stale index reused by another connection is `NoSession`).
    pub(crate) fn conn_of_session(
        &self,
        wrk: &Worker,
        h: SessionHandle,
    ) -> Result<(CtConnId, CtConnection), SessionError> {
        let s = wrk.session_get(h)?;
        let ctw = wrk
            .local_state::<CtWorkerState>()
            .ok_or(SessionError::NoSession)?;
        let id = s.connection_id;
        let ct = ctw.conns.get(id).ok_or(SessionError::NoSession)?;
        if ct.tc.session != Some(h) {
            return Err(SessionError::NoSession);
        }
        Ok((id, ct.clone()))
    }

    pub(crate) fn conn(wrk: &Worker, id: CtConnId) -> Option<&CtConnection> {
        wrk.local_state::<CtWorkerState>()?.conns.get(id)
    }

    pub(crate) fn conn_mut(wrk: &mut Worker, id: CtConnId) -> Option<&mut CtConnection> {
        wrk.local_state_mut::<CtWorkerState>().conns.get_mut(id)
    }

    /// Frees a connection; a client's gives its local port back.
    pub(crate) fn conn_free(&self, wrk: &mut Worker, id: CtConnId) -> Option<CtConnection> {
        let ct = wrk.local_state_mut::<CtWorkerState>().conns.remove(id);
        if let Some(c) = &ct {
            tracing::trace!(thread = wrk.thread_index(), conn = %id, "ct connection free");
            self.release_client_port(c);
        }
        ct
    }

    /// Gives a client connection's local port back (nothing for a server's).
    pub(crate) fn release_client_port(&self, c: &CtConnection) {
        if c.is_client() && c.tc.lcl_port != 0 {
            self.client_ports.release(&c.client_ends());
        }
    }

    /// Local ports ct clients hold now (zero once every client connection
    /// and half-open is gone).
    pub fn n_client_ports(&self) -> usize {
        self.client_ports.len()
    }

    /// The session on the other side of `s` (VPP `ct_session_get_peer`):
    /// [`SessionError::NoSession`] when the peer is gone (the reference
    /// read the freed peer; VPP fixed that later).
    pub fn get_peer(&self, wrk: &Worker, s: SessionHandle) -> Result<SessionHandle, SessionError> {
        let (_, ct) = self.conn_of_session(wrk, s)?;
        let peer = ct
            .peer
            .and_then(|p| Self::conn(wrk, p))
            .ok_or(SessionError::NoSession)?;
        let ps = peer.tc.session.ok_or(SessionError::NoSession)?;
        if wrk.session_is_valid(ps) {
            Ok(ps)
        } else {
            Err(SessionError::NoSession)
        }
    }

    /// The endpoint a ct listener listens on, with the protocol the app
    /// asked for (VPP `ct_session_endpoint`).
    pub fn endpoint(
        &self,
        listener: CtConnId,
    ) -> Result<ct_session::SessionEndpoint, SessionError> {
        let pool = self.listeners.read();
        let ct = pool.get(listener).ok_or(SessionError::NoListen)?;
        Ok(ct_session::SessionEndpoint::new(
            ct.tc.lcl_ip,
            ct.tc.lcl_port,
            ct.actual_tp,
        ))
    }
}
