//! Driving an echo run: a stack with ct, the echo server and client
//! attached, the sessions run to the end in stepping or threaded mode, then
//! everything torn down and checked for leaks.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_worker::{AppKind, AppListenerHandle, AttachOptions, Scope, Stack};
use ct_session::{SessionEndpoint, SessionError, ThreadedConfig, TransportProto, WorkerCounters};
use ct_transport_ct::{CtConfig, CtMain};

use crate::client::EchoClient;
use crate::config::{EchoConfig, EchoMode, RunMode};
use crate::pattern::Pattern;
use crate::report::{EchoReport, Leaks};
use crate::server::EchoServer;
use crate::stats::{EchoCounters, get};

/// Why an echo run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    /// The configuration is inconsistent.
    #[error("bad configuration: {0}")]
    Config(String),
    /// The stack refused a step.
    #[error("{what}: {err}")]
    Stack {
        /// The step.
        what: &'static str,
        /// The stack's error.
        err: SessionError,
    },
    /// Stepping mode: nothing left to do, but the run is not finished (a
    /// lost wake-up or a stuck session).
    #[error("stalled while {phase}: {detail}")]
    Stalled {
        /// What the run was waiting for.
        phase: &'static str,
        /// Counters at the time.
        detail: String,
    },
    /// Threaded mode: the timeout passed.
    #[error("timed out while {phase}: {detail}")]
    TimedOut {
        /// What the run was waiting for.
        phase: &'static str,
        /// Counters at the time.
        detail: String,
    },
}

fn stack_err(what: &'static str) -> impl FnOnce(SessionError) -> EchoError {
    move |err| EchoError::Stack { what, err }
}

/// What a progress callback sees.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Since the first connect.
    pub elapsed: Duration,
    /// Bytes the run moves when done (client tx, plus echoed rx).
    pub total_bytes: u64,
    /// Bytes moved so far.
    pub bytes: u64,
    /// Sessions (throughput, rr) or connects (cps) finished.
    pub sessions_done: u64,
    /// Sessions or connects in the run.
    pub sessions: u64,
}

/// The running pieces of an echo run, for tests that want to look inside
/// between the steps (see [`EchoRun::run`] for the whole thing).
pub struct EchoRun {
    /// The configuration.
    pub cfg: EchoConfig,
    /// The stack.
    pub stack: Stack,
    /// The ct transport.
    pub ct: Arc<CtMain>,
    /// Shared counters.
    pub stats: Arc<EchoCounters>,
    /// The server app.
    pub server: Arc<EchoServer>,
    /// The client app.
    pub client: Arc<EchoClient>,
    server_app: ct_app_worker::AttachReply,
    client_app: ct_app_worker::AttachReply,
    listener: AppListenerHandle,
    elapsed: Duration,
}

impl std::fmt::Debug for EchoRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoRun")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// 127.0.0.1:`port`, the server's endpoint.
pub fn loopback(port: u16) -> SessionEndpoint {
    SessionEndpoint::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port, TransportProto::Tcp)
}

impl EchoRun {
    /// Builds the stack, registers ct, attaches and listens (nothing is
    /// connected yet; threads are not started).
    pub fn setup(cfg: EchoConfig) -> Result<EchoRun, EchoError> {
        cfg.validate().map_err(EchoError::Config)?;
        let stack = Stack::new(cfg.workers).map_err(stack_err("stack"))?;
        let ct = CtMain::new(CtConfig {
            min_segment_size: cfg.segment_size,
            ..Default::default()
        });
        ct.register(stack.main(), stack.apps().clone())
            .map_err(stack_err("register ct"))?;
        let stats = Arc::new(EchoCounters::default());
        let pattern = Arc::new(Pattern::new());
        let expected = (cfg.verify && !cfg.server_echoes()).then(|| {
            let n = cfg.bytes_per_session();
            (n, pattern.checksum(0, n))
        });
        let server = EchoServer::new(cfg.server_echoes(), expected, stats.clone());
        let client = EchoClient::new(&cfg, loopback(cfg.port), pattern, stats.clone());
        let opts = |name: &str, kind: AppKind| {
            let mut o = AttachOptions::new(name, kind)
                .with_scope(Scope::LOCAL)
                .with_fifo_sizes(cfg.fifo_size, cfg.fifo_size);
            o.segment_size = cfg.segment_size;
            o
        };
        let mut stack = stack;
        let server_app = stack
            .attach(opts("echo-server", AppKind::Builtin(server.clone())))
            .map_err(stack_err("attach server"))?;
        let client_app = stack
            .attach(opts("echo-client", AppKind::Builtin(client.clone())))
            .map_err(stack_err("attach client"))?;
        let listener = stack
            .listen(server_app.app_wrk, loopback(cfg.port))
            .map_err(stack_err("listen"))?;
        let mut run = EchoRun {
            cfg,
            stack,
            ct,
            stats,
            server,
            client,
            server_app,
            client_app,
            listener,
            elapsed: Duration::ZERO,
        };
        if run.cfg.run == RunMode::Threaded {
            run.stack
                .start_threads(ThreadedConfig::default())
                .map_err(stack_err("start threads"))?;
        }
        Ok(run)
    }

    /// Runs setup, transfer, close and teardown; `on_progress` is called
    /// now and then (threaded) or once per step batch (stepping).
    pub fn run(
        cfg: EchoConfig,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<EchoReport, EchoError> {
        let mut run = EchoRun::setup(cfg)?;
        run.transfer(on_progress)?;
        run.finish()
    }

    fn expected_sessions(&self) -> u64 {
        u64::from(self.cfg.sessions)
    }

    fn progress(&self, start: Instant) -> Progress {
        let per = self.cfg.bytes_per_session();
        let echo = u64::from(self.cfg.server_echoes());
        let s = &self.stats;
        Progress {
            elapsed: start.elapsed(),
            total_bytes: per * (1 + echo) * self.expected_sessions(),
            bytes: get(&s.client_tx_bytes) + get(&s.client_rx_bytes),
            sessions_done: match self.cfg.mode {
                EchoMode::Cps => get(&s.sessions_closed),
                _ => get(&s.sessions_done) + get(&s.connect_failed),
            },
            sessions: self.expected_sessions(),
        }
    }

    fn detail(&self) -> String {
        let s = &self.stats;
        format!(
            "connected {} failed {} done {} closed {} server closed {} tx {} rx {} errors {}{}",
            get(&s.connected),
            get(&s.connect_failed),
            get(&s.sessions_done),
            get(&s.sessions_closed),
            get(&s.server_closed),
            get(&s.client_tx_bytes),
            get(&s.client_rx_bytes),
            get(&s.errors),
            s.first_error()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        )
    }

    /// Runs the stack until `cond` holds: stepping until idle (a stall is an
    /// error), or waiting on the threads up to the timeout.
    fn wait(
        &mut self,
        phase: &'static str,
        start: Instant,
        cond: &dyn Fn(&EchoRun) -> bool,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), EchoError> {
        let deadline = Instant::now() + self.cfg.timeout;
        let mut last_report = Instant::now();
        loop {
            if cond(self) {
                on_progress(&self.progress(start));
                return Ok(());
            }
            match self.cfg.run {
                RunMode::Stepping => {
                    // Bounded bursts, so progress shows and a livelock ends.
                    let mut worked = false;
                    for _ in 0..256 {
                        if !self.stack.step() {
                            break;
                        }
                        worked = true;
                    }
                    if !worked && !cond(self) {
                        return Err(EchoError::Stalled {
                            phase,
                            detail: self.detail(),
                        });
                    }
                }
                RunMode::Threaded => std::thread::sleep(Duration::from_millis(1)),
            }
            if last_report.elapsed() >= Duration::from_millis(100) {
                on_progress(&self.progress(start));
                last_report = Instant::now();
            }
            if Instant::now() >= deadline {
                return Err(EchoError::TimedOut {
                    phase,
                    detail: self.detail(),
                });
            }
        }
    }

    /// Connects and runs until every session's data is done (cps: every
    /// connect closed). Returns the time taken.
    pub fn transfer(
        &mut self,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<Duration, EchoError> {
        let start = Instant::now();
        let client = self.client.clone();
        client.start(&mut self.stack, self.client_app.app_wrk);
        let n = self.expected_sessions();
        let cps = self.cfg.mode == EchoMode::Cps;
        let done = move |r: &EchoRun| {
            let s = &r.stats;
            if cps {
                get(&s.sessions_closed) >= n
            } else {
                get(&s.sessions_done) + get(&s.connect_failed) >= n
            }
        };
        self.wait("transferring", start, &done, on_progress)?;
        self.elapsed = start.elapsed();
        Ok(self.elapsed)
    }

    /// The `show session` view: the listener, then every session of every
    /// thread (VPP `show session verbose`).
    pub fn show_sessions(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let listeners: Vec<_> = self
            .stack
            .apps()
            .app_listener(self.listener)
            .map(|al| {
                al.local_session()
                    .into_iter()
                    .chain(al.global_session())
                    .collect()
            })
            .unwrap_or_default();
        for lh in listeners {
            if let Ok(Ok(l)) = self.stack.call(0, move |w| w.format_listener(lh, 1)) {
                lines.push(l.trim_end().to_string());
            }
        }
        for t in 0..self.stack.main().n_threads() {
            let per = self.stack.call(t, |w| {
                w.sessions()
                    .handles()
                    .into_iter()
                    .filter_map(|h| w.format_session(h, 1).ok())
                    .map(|l| l.trim_end().to_string())
                    .collect::<Vec<_>>()
            });
            lines.extend(per.unwrap_or_default());
        }
        lines
    }

    /// Closes the client sessions still open (those kept by `hold_open`).
    pub fn close_all(&mut self) -> Result<(), EchoError> {
        for h in self.client.session_handles() {
            match self.stack.disconnect(self.client_app.app_wrk, h) {
                Ok(()) | Err(SessionError::NoSession) => {}
                Err(err) => return Err(EchoError::Stack { what: "close", err }),
            }
        }
        Ok(())
    }

    /// The server app's attach reply.
    pub fn server_app(&self) -> &ct_app_worker::AttachReply {
        &self.server_app
    }

    /// The client app's attach reply.
    pub fn client_app(&self) -> &ct_app_worker::AttachReply {
        &self.client_app
    }

    /// Issues the client's first connects without waiting for anything
    /// (for tests that step the run themselves).
    pub fn start(&mut self) {
        let client = self.client.clone();
        client.start(&mut self.stack, self.client_app.app_wrk);
    }

    /// Per-worker counters summed.
    pub fn counters(&mut self) -> WorkerCounters {
        let mut sum = WorkerCounters::default();
        for t in 0..self.stack.main().n_threads() {
            if let Ok(c) = self.stack.call(t, |w| *w.counters()) {
                sum.sessions_allocated += c.sessions_allocated;
                sum.sessions_freed += c.sessions_freed;
                sum.rpcs += c.rpcs;
                sum.tx_events += c.tx_events;
                sum.rx_dequeue_events += c.rx_dequeue_events;
                sum.ctrl_events += c.ctrl_events;
                sum.stale_events += c.stale_events;
                sum.app_events_queued += c.app_events_queued;
                sum.app_events_delivered += c.app_events_delivered;
                sum.rx_coalesced += c.rx_coalesced;
                sum.rx_skipped += c.rx_skipped;
                sum.congested += c.congested;
                sum.input_runs += c.input_runs;
            }
        }
        sum
    }

    /// What is left in the stack: sessions, ct connections, segments.
    pub fn leaks(&mut self) -> Leaks {
        let ct = self.ct.clone();
        let mut l = Leaks {
            segment_managers: self.stack.segment_managers().len(),
            ct_segments: ct.segments().len() + ct.n_segment_contexts(),
            half_opens: ct.n_half_opens(),
            ..Leaks::default()
        };
        for t in 0..self.stack.main().n_threads() {
            let ct = ct.clone();
            if let Ok((s, c, p)) = self.stack.call(t, move |w| {
                (
                    w.sessions().len(),
                    ct.worker_state(w).map_or(0, |s| s.n_connections()),
                    w.queued_events() + usize::from(w.has_pending_work()),
                )
            }) {
                l.sessions += s;
                l.connections += c;
                l.pending_events += p;
            }
        }
        l
    }

    /// Closes what is still open, waits for every session to be cleaned
    /// up, detaches both apps, checks for leaks and stops the stack.
    pub fn finish(mut self) -> Result<EchoReport, EchoError> {
        let mut show = Vec::new();
        if self.cfg.hold_open {
            show = self.show_sessions();
            self.close_all()?;
        }
        let start = Instant::now();
        let n = self.expected_sessions();
        let closed = move |r: &EchoRun| {
            get(&r.stats.sessions_closed) >= n
                && get(&r.stats.server_closed) >= get(&r.stats.accepted)
        };
        self.wait("closing", start, &closed, &mut |_| {})?;
        let counters = self.counters();
        self.stack
            .detach(self.client_app.app)
            .map_err(stack_err("detach client"))?;
        self.stack
            .detach(self.server_app.app)
            .map_err(stack_err("detach server"))?;
        // Deferred frees finish on the workers; give them a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut leaks = self.leaks();
        while !leaks.is_clean() && Instant::now() < deadline {
            match self.cfg.run {
                RunMode::Stepping => {
                    let _ = self.stack.run_until_idle();
                }
                RunMode::Threaded => std::thread::sleep(Duration::from_millis(2)),
            }
            leaks = self.leaks();
        }
        let report = EchoReport::new(&self.cfg, &self.stats, self.elapsed, counters, leaks, show);
        drop(self.stack.shutdown());
        Ok(report)
    }
}
