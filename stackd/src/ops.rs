//! The app operations a socket record asks for (attach, add worker, delete
//! worker, detach), run on the caller's thread (a connection thread or the
//! control thread, never a worker): each builds or drops the app worker's
//! queues around the stack's own call, so a failure leaves nothing behind.

use std::sync::Arc;

use ct_app_interface::wire::AttachReq;
use ct_app_worker::{AppHandle, AppKind, AttachOptions, Scope, StackHandle};
use ct_fifo_segment::MsgQueueConfig;
use ct_fifo_segment::eventfd::EventFd;
use ct_session::SessionError;
use ct_sync::Mutex;
use hashbrown::HashMap;

use crate::app_conn::{AppWorkerConn, Queues, queue_config};
use crate::app_state::{AppState, PeerCred};
use crate::control::Strikes;
use crate::counters::SharedCounters;
use crate::error::StackdError;
use crate::registry::Registry;
use crate::sink::StackdSink;

/// Largest segment an app may ask for.
pub const MAX_APP_SEGMENT_SIZE: u64 = 4 << 30;

/// Most workers one app may have (each costs an mq segment, eventfds and a
/// segment manager: a bound on what one socket can make the daemon hold).
pub const MAX_WORKERS_PER_APP: usize = 64;

/// Why an app is detached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DetachReason {
    /// It asked (`DetachReq`).
    Request,
    /// Its socket closed.
    Hangup,
    /// Too many bad messages.
    Strikes,
    /// The daemon stops.
    Stop,
}

impl DetachReason {
    /// The reason as a log line gives it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DetachReason::Request => "request",
            DetachReason::Hangup => "hangup",
            DetachReason::Strikes => "strikes",
            DetachReason::Stop => "stop",
        }
    }
}

/// Longest app-name part of an mq segment's name: a memfd name has at most
/// 249 bytes, and an app name may have 255 on the wire. The name is only a
/// label (it shows in `/proc/PID/fd` and maps), so it is cut, not refused.
const MAX_MQ_NAME_PART: usize = 200;

/// The memfd name of an app's mq segment: `ct-mq-` and the app's name cut
/// to [`MAX_MQ_NAME_PART`] bytes (at a character boundary), NULs dropped.
pub(crate) fn mq_segment_name(app_name: &str) -> String {
    let mut s = String::from("ct-mq-");
    for c in app_name.chars().filter(|&c| c != '\0') {
        if s.len() + c.len_utf8() > MAX_MQ_NAME_PART + 6 {
            break;
        }
        s.push(c);
    }
    s
}

/// What the daemon keeps per attached app besides its [`AppState`].
struct AppEntry {
    sink: Arc<StackdSink>,
    queues: MsgQueueConfig,
    name: String,
    state: Arc<AppState>,
}

/// One attached app, as [`Stackd::apps`](crate::Stackd::apps) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    /// Its name.
    pub name: String,
    /// Its index in the stack.
    pub app_index: u32,
    /// The namespace it attached in.
    pub namespace: String,
    /// The process at the other end of its socket.
    pub peer: PeerCred,
    /// Its app workers.
    pub workers: usize,
    /// Bad messages so far.
    pub strikes: u32,
}

/// The app operations and what they need.
pub(crate) struct AppOps {
    pub(crate) stack: StackHandle,
    pub(crate) registry: Arc<Registry>,
    pub(crate) wrk_evtfds: Arc<[EventFd]>,
    pub(crate) counters: Arc<SharedCounters>,
    pub(crate) strikes: Strikes,
    segment_size: usize,
    fifo_size: u32,
    max_strikes: u32,
    apps: Mutex<HashMap<AppHandle, AppEntry>>,
}

impl AppOps {
    pub(crate) fn new(
        stack: StackHandle,
        wrk_evtfds: Arc<[EventFd]>,
        counters: Arc<SharedCounters>,
        strikes: Strikes,
        cfg: &crate::StackdConfig,
    ) -> Self {
        AppOps {
            stack,
            registry: Arc::new(Registry::default()),
            wrk_evtfds,
            counters,
            strikes,
            segment_size: cfg.segment_size,
            fifo_size: cfg.fifo_size,
            max_strikes: cfg.max_strikes,
            apps: Mutex::new(HashMap::new()),
        }
    }

    fn n_threads(&self) -> u32 {
        self.stack.main().n_threads()
    }

    /// Wakes every worker: a new app worker's control queues are in their
    /// next poll's list, and a sleeping worker would not see messages on
    /// them until its park times out.
    fn wake_workers(&self) {
        for e in self.wrk_evtfds.iter() {
            let _ = e.signal();
        }
    }

    /// The attach options for `req`, with the daemon's defaults for what it
    /// leaves at 0. Scope 0 is local: ct is the only transport here. The
    /// name belongs to the peer's uid (`owner`): names are unique per
    /// namespace and uid, so one user can neither take nor block another
    /// user's app name (ARCHITECTURE.md, "Operating ct-stackd").
    fn attach_options(
        &self,
        req: &AttachReq,
        namespace: &str,
        owner: u32,
        sink: Arc<StackdSink>,
    ) -> Result<AttachOptions, SessionError> {
        let scope = match req.scope {
            0 => Scope::LOCAL,
            s => Scope::from_bits(s).ok_or(SessionError::Invalid)?,
        };
        let ns = if req.namespace_id.is_empty() {
            namespace
        } else if req.namespace_id == namespace {
            &req.namespace_id
        } else {
            // A namespace is served on its own socket only.
            return Err(SessionError::InvalidNs);
        };
        let or = |v: u64, d: usize| if v == 0 { d as u64 } else { v };
        let segment_size = or(req.segment_size, self.segment_size);
        let add_segment_size = or(req.add_segment_size, segment_size as usize);
        if segment_size > MAX_APP_SEGMENT_SIZE || add_segment_size > MAX_APP_SEGMENT_SIZE {
            return Err(SessionError::Invalid);
        }
        let fifo = |v: u32| if v == 0 { self.fifo_size } else { v };
        let (rx, tx) = (fifo(req.rx_fifo_size), fifo(req.tx_fifo_size));
        if u64::from(rx) + u64::from(tx) > segment_size {
            return Err(SessionError::Invalid);
        }
        let mut o = AttachOptions::new(req.name.clone(), AppKind::OutOfProcess(sink))
            .with_owner(owner)
            .with_scope(scope)
            .with_namespace(ns, req.namespace_secret)
            .with_fifo_sizes(rx, tx);
        o.segment_size = segment_size as usize;
        o.add_segment_size = Some(add_segment_size as usize);
        Ok(o)
    }

    /// Attaches the app at the other end of `st`'s socket with its first
    /// worker (VPP `session_mq_attach_handler` over the app socket).
    pub(crate) fn attach(
        &self,
        st: &Arc<AppState>,
        req: &AttachReq,
    ) -> Result<Arc<AppWorkerConn>, StackdError> {
        let r = self.attach_app(st, req);
        if let Err(e) = &r {
            tracing::info!(name = %req.name, ns = %st.namespace, pid = st.cred.pid, uid = st.cred.uid, error = %e, "attach refused");
        }
        r
    }

    fn attach_app(
        &self,
        st: &Arc<AppState>,
        req: &AttachReq,
    ) -> Result<Arc<AppWorkerConn>, StackdError> {
        if st.app().is_some() || st.is_detaching() {
            return Err(SessionError::Invalid.into());
        }
        let sink = Arc::new(StackdSink::new(
            self.stack.apps().segment_managers().clone(),
            self.counters.clone(),
            self.strikes.clone(),
        ));
        let opts = self.attach_options(req, &st.namespace, st.cred.uid, sink.clone())?;
        let qcfg = queue_config(req.evt_q_size);
        let q = Queues::new(&mq_segment_name(&req.name), self.n_threads(), &qcfg)?;
        let reply = self.stack.attach(opts)?;
        if !st.set_app(reply.app) {
            // Checked above; only a concurrent attach on one socket gets
            // here, and one socket has one reader.
            let _ = self.stack.clone().detach(reply.app);
            return Err(SessionError::Invalid.into());
        }
        let conn = Arc::new(AppWorkerConn::new(st.clone(), reply.app_wrk, 0, q));
        self.apps.lock().insert(
            reply.app,
            AppEntry {
                sink: sink.clone(),
                queues: qcfg,
                name: req.name.clone(),
                state: st.clone(),
            },
        );
        sink.add_worker(conn.clone());
        self.registry.add(conn.clone());
        self.wake_workers();
        tracing::info!(app = %reply.app, name = %req.name, ns = %st.namespace, pid = st.cred.pid, uid = st.cred.uid, "app attached");
        Ok(conn)
    }

    /// Adds a worker to `st`'s app.
    pub(crate) fn add_worker(&self, st: &Arc<AppState>) -> Result<Arc<AppWorkerConn>, StackdError> {
        let app = st.app().ok_or(SessionError::NoApp)?;
        if st.is_detaching() {
            return Err(SessionError::NoApp.into());
        }
        let (sink, qcfg, name) = {
            let apps = self.apps.lock();
            let e = apps.get(&app).ok_or(SessionError::NoApp)?;
            (e.sink.clone(), e.queues.clone(), e.name.clone())
        };
        if sink.n_workers() >= MAX_WORKERS_PER_APP {
            tracing::warn!(app = %app, name = %name, pid = st.cred.pid, uid = st.cred.uid, limit = MAX_WORKERS_PER_APP, "add worker refused: worker limit reached");
            return Err(SessionError::Alloc.into());
        }
        let q = Queues::new(&mq_segment_name(&name), self.n_threads(), &qcfg)?;
        let reply = self.stack.apps().add_worker(app)?;
        let map_index = self
            .stack
            .apps()
            .app_worker(reply.app_wrk)
            .map(|w| w.wrk_map_index())?;
        let conn = Arc::new(AppWorkerConn::new(st.clone(), reply.app_wrk, map_index, q));
        sink.add_worker(conn.clone());
        self.registry.add(conn.clone());
        self.wake_workers();
        tracing::debug!(app = %app, app_wrk = %reply.app_wrk, map_index, "app worker added");
        Ok(conn)
    }

    /// Deletes worker `wrk_map_index` of `st`'s app (VPP
    /// `vnet_app_worker_add_del` with `is_add = 0`): its listens end, its
    /// sessions close, its queues go. The first worker goes only with the
    /// app (detach).
    pub(crate) fn del_worker(
        &self,
        st: &Arc<AppState>,
        wrk_map_index: u32,
    ) -> Result<(), StackdError> {
        let app = st.app().ok_or(SessionError::NoApp)?;
        if st.is_detaching() {
            return Err(SessionError::NoApp.into());
        }
        if wrk_map_index == 0 {
            return Err(SessionError::Invalid.into());
        }
        let sink = self
            .apps
            .lock()
            .get(&app)
            .map(|e| e.sink.clone())
            .ok_or(SessionError::NoApp)?;
        let conn = sink
            .worker_by_map_index(wrk_map_index)
            .ok_or(SessionError::InvalidAppWrk)?;
        let h = conn.handle;
        self.reset_unaccepted(std::slice::from_ref(&conn));
        let mut stack = self.stack.clone();
        for l in conn.take_listeners() {
            if let Err(e) = stack.unlisten(h, l.alh) {
                tracing::debug!(app_wrk = %h, error = %e, "del worker: unlisten");
            }
        }
        let apps = stack.apps().clone();
        apps.worker_del_invalidate(h)?;
        sink.remove_worker(h);
        self.registry.remove_worker(h);
        for t in 0..self.n_threads() {
            let a = apps.clone();
            stack
                .main()
                .call_blocking(t, move |w| a.detach_on_thread(w, &[h.index()]))?;
        }
        apps.worker_del_finish(h)?;
        tracing::debug!(app = %app, app_wrk = %h, "app worker deleted");
        Ok(())
    }

    /// Detaches `st`'s app, once, whoever asks first.
    pub(crate) fn detach(&self, st: &Arc<AppState>, why: DetachReason) -> Result<(), SessionError> {
        if !st.claim_detach() {
            return Ok(());
        }
        let Some(app) = st.app() else {
            return Ok(());
        };
        // An app that died or misbehaved did not end its streams: its
        // peers get a reset, never what looks like an orderly close.
        let r = match why {
            DetachReason::Hangup | DetachReason::Strikes => self.stack.clone().detach_reset(app),
            DetachReason::Request | DetachReason::Stop => {
                let sink = self.apps.lock().get(&app).map(|e| e.sink.clone());
                if let Some(sink) = sink {
                    self.reset_unaccepted(&sink.workers());
                }
                self.stack.clone().detach(app)
            }
        };
        self.registry.remove_app(app);
        let name = self.apps.lock().remove(&app).map(|e| {
            e.sink.clear();
            e.name
        });
        if why == DetachReason::Hangup {
            SharedCounters::bump(&self.counters.hangup_detaches);
        }
        let name = name.unwrap_or_default();
        let (pid, uid, ns) = (st.cred.pid, st.cred.uid, &st.namespace);
        let reason = why.as_str();
        match &r {
            Ok(()) => tracing::info!(app = %app, %name, %ns, pid, uid, reason, "app detached"),
            Err(e) => {
                tracing::warn!(app = %app, %name, %ns, pid, uid, reason, error = %e, "app detach failed");
            }
        }
        r
    }

    /// Resets the sessions the stack accepted for `conns` that their app
    /// never took (ARCHITECTURE.md, "Accepts without the app"), each on
    /// its thread: an app going away closes the rest of its sessions in
    /// order, but the peers of these never had a server, as a TCP client
    /// whose connection sat in a closed listener's queue gets a reset.
    fn reset_unaccepted(&self, conns: &[Arc<AppWorkerConn>]) {
        let apps = self.stack.apps().clone();
        for conn in conns {
            let mut by_thread: HashMap<u32, Vec<_>> = HashMap::new();
            for h in conn.unaccepted_sessions() {
                by_thread.entry(h.thread_index()).or_default().push(h);
            }
            for (t, hs) in by_thread {
                let (apps, app_wrk) = (apps.clone(), conn.handle);
                let r = self.stack.main().call_blocking(t, move |w| {
                    for h in hs {
                        if let Err(e) = apps.reset_session(w, app_wrk, h) {
                            tracing::debug!(session = %h, error = %e, "reset unaccepted");
                        }
                    }
                });
                if let Err(e) = r {
                    tracing::debug!(thread = t, error = %e, "reset unaccepted");
                }
            }
        }
    }

    /// Apps attached.
    pub(crate) fn n_apps(&self) -> usize {
        self.apps.lock().len()
    }

    /// Every attached app.
    pub(crate) fn app_infos(&self) -> Vec<AppInfo> {
        let mut v: Vec<_> = self
            .apps
            .lock()
            .iter()
            .map(|(h, e)| AppInfo {
                name: e.name.clone(),
                app_index: h.index(),
                namespace: e.state.namespace.clone(),
                peer: e.state.cred,
                workers: e.sink.n_workers(),
                strikes: e.state.strikes(),
            })
            .collect();
        v.sort_by_key(|a| a.app_index);
        v
    }

    /// The strike limit.
    pub(crate) fn max_strikes(&self) -> u32 {
        self.max_strikes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mq_segment_names_fit_a_memfd_name() {
        assert_eq!(mq_segment_name("echo"), "ct-mq-echo");
        let long = "é".repeat(127) + "x";
        let n = mq_segment_name(&long);
        assert!(n.len() <= 249 && n.len() > 200, "{}", n.len());
        assert!(n.starts_with("ct-mq-é"));
        assert_eq!(mq_segment_name("a\0b"), "ct-mq-ab");
        // A real memfd takes the longest name a wire name can make.
        let q = Queues::new(
            &mq_segment_name(&"n".repeat(255)),
            1,
            &crate::app_conn::queue_config(0),
        );
        assert!(q.is_ok());
    }
}
