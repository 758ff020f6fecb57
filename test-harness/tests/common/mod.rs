//! A stack with ct registered and in-process (queue) apps, stepped on the
//! test thread or threaded, plus the leak checks scenarios end with.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_worker::{
    AppEvent, AppHandle, AppKind, AppListenerHandle, AppQueue, AppSession, AppWorkerHandle,
    AttachOptions, Scope, SessionFifos, Stack,
};
use ct_echo::loopback;
use ct_session::{SessionError, SessionHandle, ThreadedConfig};
use ct_transport_ct::{CtConfig, CtMain};

/// ct's segment size in scenarios (the 128 MiB default is for real runs).
pub const SEGMENT: usize = 1 << 20;

pub struct Env {
    pub stack: Stack,
    pub ct: Arc<CtMain>,
}

#[derive(Clone)]
pub struct App {
    pub app: AppHandle,
    pub wrk: AppWorkerHandle,
    pub q: AppQueue,
}

impl Env {
    pub fn new(n_workers: u32) -> Env {
        let stack = Stack::new(n_workers).unwrap();
        let ct = CtMain::new(CtConfig {
            min_segment_size: SEGMENT,
            ..Default::default()
        });
        ct.register(stack.main(), stack.apps().clone()).unwrap();
        Env { stack, ct }
    }

    pub fn threaded(n_workers: u32) -> Env {
        let mut env = Env::new(n_workers);
        env.stack.start_threads(ThreadedConfig::default()).unwrap();
        env
    }

    pub fn attach_opts(&self, opts: AttachOptions) -> App {
        let r = self.stack.attach(opts).unwrap();
        App {
            app: r.app,
            wrk: r.app_wrk,
            q: r.queue.unwrap(),
        }
    }

    pub fn opts(name: &str, scope: Scope, fifo: u32) -> AttachOptions {
        let mut o = AttachOptions::new(name, AppKind::InProcess)
            .with_scope(scope)
            .with_fifo_sizes(fifo, fifo);
        o.segment_size = SEGMENT;
        o
    }

    pub fn attach(&self, name: &str, scope: Scope) -> App {
        self.attach_opts(Self::opts(name, scope, 4096))
    }

    pub fn listen(&mut self, app: &App, port: u16) -> AppListenerHandle {
        let l = self.stack.listen(app.wrk, loopback(port)).unwrap();
        self.idle();
        l
    }

    /// Stepping: runs until idle. Threaded: lets the workers run a moment.
    pub fn idle(&mut self) {
        if self.stack.is_threaded() {
            std::thread::sleep(Duration::from_millis(5));
        } else {
            self.stack.run_until_idle().unwrap();
        }
    }

    /// Waits for the first message `pick` accepts, dropping the others.
    pub fn wait_for<T>(
        &mut self,
        q: &AppQueue,
        mut pick: impl FnMut(AppEvent) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.stack.is_threaded() {
                self.stack.run_until_idle().unwrap();
            }
            match q.recv_timeout(Duration::from_millis(1)) {
                Ok(m) => {
                    if let Some(t) = pick(m) {
                        return Some(t);
                    }
                }
                Err(SessionError::TimedOut) => {
                    if !self.stack.is_threaded() && q.is_empty() {
                        // Stepping and nothing queued after running idle.
                        self.stack.run_until_idle().unwrap();
                        if q.is_empty() {
                            return None;
                        }
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Connects, accepts and returns (server, client) fifos.
    pub fn establish(
        &mut self,
        server: &App,
        client: &App,
        port: u16,
    ) -> (SessionFifos, SessionFifos) {
        self.stack.connect(client.wrk, loopback(port), 7).unwrap();
        let sf = self
            .wait_for(&server.q, accepted)
            .expect("server got no accept");
        self.stack
            .accept_reply(server.wrk, sf.session, Ok(()))
            .unwrap();
        let cf = self
            .wait_for(&client.q, connected)
            .expect("client got no connect reply")
            .expect("connect failed");
        (sf, cf)
    }

    pub fn io(&self, f: &SessionFifos) -> AppSession {
        AppSession::from_fifos(self.stack.main().clone(), f).unwrap()
    }

    /// Sessions, ct connections and queued events on every thread.
    pub fn counts(&mut self) -> (usize, usize, usize) {
        let ct = self.ct.clone();
        let (mut s, mut c, mut e) = (0, 0, 0);
        for t in 0..self.stack.main().n_threads() {
            let ct = ct.clone();
            let (a, b, d) = self
                .stack
                .call(t, move |w| {
                    (
                        w.sessions().len(),
                        ct.worker_state(w).map_or(0, |s| s.n_connections()),
                        w.queued_events() + usize::from(w.has_pending_work()),
                    )
                })
                .unwrap();
            s += a;
            c += b;
            e += d;
        }
        (s, c, e)
    }

    /// Nothing of ct left and, once every app detached, no segment manager:
    /// retried for a while when threaded (frees finish on the workers).
    pub fn assert_clean(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.idle();
            let counts = self.counts();
            let clean = self.ct.segments().is_empty()
                && self.ct.n_segment_contexts() == 0
                && self.ct.n_half_opens() == 0
                && counts == (0, 0, 0)
                && (self.stack.apps().n_apps() > 0 || self.stack.segment_managers().is_empty());
            if clean {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "leak: segments {:?} contexts {} half-opens {} (sessions, conns, events) {:?} sms {}",
                    self.ct.segments(),
                    self.ct.n_segment_contexts(),
                    self.ct.n_half_opens(),
                    counts,
                    self.stack.segment_managers().len()
                );
            }
        }
    }
}

pub fn accepted(m: AppEvent) -> Option<SessionFifos> {
    match m {
        AppEvent::Accepted { session: fifos, .. } => Some(fifos),
        _ => None,
    }
}

pub fn connected(m: AppEvent) -> Option<Result<SessionFifos, SessionError>> {
    match m {
        AppEvent::Connected { result, .. } => Some(result),
        _ => None,
    }
}

/// A short name per message: the event's name, a failed connect told
/// apart, segment events without VPP's `app-` prefix.
pub fn name(m: &AppEvent) -> &'static str {
    match m {
        AppEvent::Connected { result: Err(_), .. } => "connect-failed",
        m => m.name().trim_start_matches("app-"),
    }
}

pub fn names(q: &AppQueue) -> Vec<&'static str> {
    q.drain().iter().map(name).collect()
}

/// Handle of a session for messages about it.
pub fn about(m: &AppEvent, h: SessionHandle) -> bool {
    m.session() == Some(h)
}
