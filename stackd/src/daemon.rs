//! [`Stackd`]: a running daemon. It builds the threaded stack with ct and
//! eventfd parkers, adds the app namespaces, the control-queue input, the
//! control thread and one socket server per namespace; [`Stackd::stop`]
//! detaches every app, waits for their sessions to go, joins every thread
//! and frees everything.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use ct_app_worker::{NamespaceConfig, Stack};
use ct_fifo_segment::eventfd::EventFd;
use ct_session::{Runtime, SessionConfig, ThreadedConfig, WorkerParker};
use ct_transport_ct::{CtConfig, CtMain};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::StackdConfig;
use crate::control::{self, CtlReq, Strikes};
use crate::counters::{SharedCounters, StackdCounters};
use crate::error::StackdError;
use crate::input::CtrlInput;
use crate::local::StackdLocal;
use crate::ops::{AppInfo, AppOps};
use crate::parker::EventFdParker;
use crate::sapi_server::{self, ServerCtx};

/// How long [`Stackd::stop`] waits for detached apps' sessions to finish
/// closing.
pub const STOP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running daemon.
pub struct Stackd {
    cfg: StackdConfig,
    stack: Option<Stack>,
    ct: Arc<CtMain>,
    ops: Arc<AppOps>,
    counters: Arc<SharedCounters>,
    stop: Arc<EventFd>,
    servers: Vec<JoinHandle<()>>,
    ctl: Option<(Sender<CtlReq>, JoinHandle<()>)>,
}

impl std::fmt::Debug for Stackd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stackd")
            .field("workers", &self.cfg.workers)
            .field("namespaces", &self.cfg.namespaces)
            .field("apps", &self.ops.n_apps())
            .finish()
    }
}

impl Stackd {
    /// Starts a daemon: the stack's threads, then the control thread, then
    /// the sockets (apps can attach once this returns). On an error
    /// everything started so far is stopped again.
    pub fn start(cfg: StackdConfig) -> Result<Stackd, StackdError> {
        cfg.validate().map_err(StackdError::Config)?;
        let mut stack = Stack::with_config(SessionConfig::new(cfg.workers))?;
        let ct = CtMain::new(CtConfig {
            min_segment_size: cfg.segment_size,
            segment_linger: cfg.ct_segment_linger,
        });
        ct.register(stack.main(), stack.apps().clone())?;
        for ns in cfg.namespaces.iter().filter(|n| !n.is_default()) {
            stack
                .apps()
                .namespace_add(NamespaceConfig::new(ns.id.clone(), ns.secret))?;
        }
        let n_threads = stack.main().n_threads();
        let wrk_evtfds: Vec<EventFd> = (0..n_threads)
            .map(|_| EventFd::new())
            .collect::<std::io::Result<_>>()?;
        let parkers = wrk_evtfds
            .iter()
            .map(|e| Ok(Arc::new(EventFdParker::new(e.try_clone()?)) as Arc<dyn WorkerParker>))
            .collect::<std::io::Result<Vec<_>>>()?;
        let counters = Arc::new(SharedCounters::default());
        let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
        let strikes = Strikes::new(ctl_tx.clone(), cfg.max_strikes, counters.clone());
        let ops = Arc::new(AppOps::new(
            stack.handle(),
            wrk_evtfds.into(),
            counters.clone(),
            strikes.clone(),
            &cfg,
        ));
        let input = CtrlInput::new(
            ops.registry.clone(),
            stack.apps().clone(),
            counters.clone(),
            strikes,
        );
        stack.main().add_worker_input(Arc::new(input));
        let threads = ThreadedConfig {
            poll: cfg.poll,
            park_timeout: cfg.park_timeout,
            ..ThreadedConfig::default()
        };
        // Stack::start_threads with parkers: the same swap of runtimes.
        let main = stack.main().clone();
        let stepping = std::mem::replace(
            stack.runtime_mut(),
            Runtime::stepping(main.clone(), Vec::new()),
        );
        *stack.runtime_mut() =
            Runtime::threaded_with_parkers(main, stepping.shutdown(), threads, parkers)?;
        let mut d = Stackd {
            stack: Some(stack),
            ct,
            ops: ops.clone(),
            counters: counters.clone(),
            stop: Arc::new(EventFd::new()?),
            servers: Vec::new(),
            ctl: None,
            cfg,
        };
        match control::spawn(ops.clone(), ctl_rx) {
            Ok(h) => d.ctl = Some((ctl_tx, h)),
            Err(e) => {
                d.stop();
                return Err(e.into());
            }
        }
        let ctx = Arc::new(ServerCtx {
            ops,
            counters,
            stop: d.stop.clone(),
            access: d.cfg.access.clone(),
        });
        for ns in d.cfg.namespaces.clone() {
            match sapi_server::spawn(ns, ctx.clone()) {
                Ok(h) => d.servers.push(h),
                Err(e) => {
                    d.stop();
                    return Err(e);
                }
            }
        }
        tracing::info!(
            workers = d.cfg.workers,
            namespaces = d.cfg.namespaces.len(),
            "stackd started"
        );
        Ok(d)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &StackdConfig {
        &self.cfg
    }

    /// The ct transport.
    pub fn ct(&self) -> &Arc<CtMain> {
        &self.ct
    }

    /// The stack (until stopped).
    pub fn stack(&self) -> Option<&Stack> {
        self.stack.as_ref()
    }

    /// The apps attached now.
    pub fn apps(&self) -> Vec<AppInfo> {
        self.ops.app_infos()
    }

    /// What the daemon holds and counted. Asks every worker (from the
    /// calling thread, which must not be one of them).
    pub fn counters(&self) -> StackdCounters {
        let mut c = StackdCounters {
            apps: self.ops.n_apps(),
            app_workers: self.ops.registry.len(),
            unaccepted: self.ops.registry.n_unaccepted(),
            segments: self.ops.registry.n_mq_segments(),
            ct_segments: self.ct.segments().len(),
            ct_segment_contexts: self.ct.n_segment_contexts(),
            ct_connections: self.ct.n_half_opens(),
            ..StackdCounters::default()
        };
        if let Some(stack) = &self.stack {
            let main = stack.main();
            c.stack_apps = stack.apps().n_apps();
            c.listeners = main.n_listeners();
            let sms = stack.segment_managers();
            for h in sms.handles() {
                if let Ok(sm) = sms.get(h) {
                    c.segment_managers += 1;
                    c.segments += sm.num_segments();
                    c.fifos += sm.num_fifos();
                }
            }
            for t in 0..main.n_threads() {
                let ct = self.ct.clone();
                let r = main.call_blocking(t, move |w| {
                    (
                        w.sessions().len(),
                        ct.worker_state(w).map_or(0, |s| s.n_connections()),
                        w.local_state::<StackdLocal>()
                            .map(|l| l.counters)
                            .unwrap_or_default(),
                    )
                });
                if let Ok((s, conns, ws)) = r {
                    c.sessions += s;
                    c.ct_connections += conns;
                    ws.add_to(&mut c);
                }
            }
        }
        c.with_shared(&self.counters)
    }

    /// Stops: every app is detached (its sessions reset or closed, peers
    /// told), their sessions are given [`STOP_DRAIN_TIMEOUT`] to finish,
    /// then every thread is joined and the sockets removed. Returns the
    /// counters taken just before the stack's workers stopped (all zero
    /// unless something leaked).
    pub fn stop(mut self) -> StackdCounters {
        self.shutdown()
    }

    /// Reads the counters until `f` holds or `timeout` passed; returns the
    /// last reading (check it with `f` again to tell which). What the stack
    /// holds changes as workers finish closes, cleanups and lingering
    /// segments.
    pub fn wait_counters(
        &self,
        timeout: Duration,
        f: impl Fn(&StackdCounters) -> bool,
    ) -> StackdCounters {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.counters();
            if f(&c) || Instant::now() >= deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn shutdown(&mut self) -> StackdCounters {
        let _ = self.stop.signal();
        // Socket threads detach their apps on their way out.
        for h in self.servers.drain(..) {
            let _ = h.join();
        }
        if let Some((tx, h)) = self.ctl.take() {
            let _ = tx.send(CtlReq::Stop);
            let _ = h.join();
        }
        let c = self.drain();
        if !c.is_empty() {
            tracing::warn!(counters = %c, "stackd stopped with state left");
        }
        if let Some(stack) = self.stack.take() {
            drop(stack.shutdown());
        }
        tracing::info!("stackd stopped");
        c
    }

    /// Waits up to [`STOP_DRAIN_TIMEOUT`] for what the detached apps held
    /// to go. ct segments that linger for a next connect are removed at
    /// once: none comes now, and a linger longer than the wait would
    /// otherwise read as a leak.
    fn drain(&self) -> StackdCounters {
        let deadline = Instant::now() + STOP_DRAIN_TIMEOUT;
        loop {
            if self.ct.n_lingering_segments() > 0 {
                self.reap_lingering();
            }
            let c = self.counters();
            if c.is_empty() || Instant::now() >= deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Removes every lingering ct segment (on thread 0: a removal tells
    /// the apps, from a worker).
    fn reap_lingering(&self) {
        let Some(stack) = &self.stack else {
            return;
        };
        let ct = self.ct.clone();
        let r = stack.main().call_blocking(0, move |w| {
            let now = w.now();
            ct.reap_segments(w, now, true)
        });
        if let Err(e) = r {
            tracing::debug!(error = %e, "reap lingering ct segments");
        }
    }

    /// Runs until SIGINT or SIGTERM, then stops (see [`Stackd::stop`]).
    /// [`run_until_signal`] also catches a signal that comes while the
    /// daemon starts.
    pub fn run_until_signal(self) -> Result<StackdCounters, StackdError> {
        let signals = Signals::new([SIGINT, SIGTERM])?;
        Ok(self.wait_for_signal(signals))
    }

    fn wait_for_signal(self, mut signals: Signals) -> StackdCounters {
        if let Some(sig) = signals.forever().next() {
            tracing::info!(signal = sig, "stopping");
        }
        signals.handle().close();
        self.stop()
    }
}

/// Starts a daemon with `cfg` (then calls `started` with it), runs it until
/// SIGINT or SIGTERM, stops it and returns what was left (see
/// [`Stackd::stop`]). The signals are caught from before the start: one
/// that comes while the daemon starts stops it right after.
pub fn run_until_signal(
    cfg: StackdConfig,
    started: impl FnOnce(&Stackd),
) -> Result<StackdCounters, StackdError> {
    let signals = Signals::new([SIGINT, SIGTERM])?;
    let d = Stackd::start(cfg)?;
    started(&d);
    Ok(d.wait_for_signal(signals))
}

impl Drop for Stackd {
    /// A daemon dropped without [`Stackd::stop`] stops the same way.
    fn drop(&mut self) {
        if self.stack.is_some() {
            self.shutdown();
        }
    }
}
