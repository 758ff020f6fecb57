//! A stack with ct registered and in-process (queue) apps, stepped on the
//! test thread, plus the checks every test ends with.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ct_app_worker::{
    AppEvent, AppHandle, AppKind, AppListenerHandle, AppQueue, AppSession, AppWorkerHandle,
    AttachOptions, Scope, SessionFifos, Stack,
};
use ct_session::{SessionEndpoint, SessionError, SessionHandle, TransportProto};
use ct_transport_ct::{CtConfig, CtMain};

/// Segment size ct uses in tests (the 128 MiB default is for real runs).
pub const TEST_SEGMENT: usize = 1 << 20;

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

pub fn lo(port: u16) -> SessionEndpoint {
    SessionEndpoint::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port, TransportProto::Tcp)
}

impl Env {
    pub fn new(n_workers: u32) -> Env {
        Self::with_config(
            n_workers,
            CtConfig {
                min_segment_size: TEST_SEGMENT,
                ..Default::default()
            },
        )
    }

    pub fn with_config(n_workers: u32, cfg: CtConfig) -> Env {
        let stack = Stack::new(n_workers).unwrap();
        let ct = CtMain::new(cfg);
        ct.register(stack.main(), stack.apps().clone()).unwrap();
        Env { stack, ct }
    }

    pub fn attach_opts(&self, opts: AttachOptions) -> App {
        let r = self.stack.attach(opts).unwrap();
        App {
            app: r.app,
            wrk: r.app_wrk,
            q: r.queue.unwrap(),
        }
    }

    pub fn attach(&self, name: &str, scope: Scope) -> App {
        self.attach_opts(
            AttachOptions::new(name, AppKind::InProcess)
                .with_scope(scope)
                .with_fifo_sizes(4096, 4096),
        )
    }

    pub fn listen(&mut self, app: &App, port: u16) -> AppListenerHandle {
        let l = self.stack.listen(app.wrk, lo(port)).unwrap();
        self.idle();
        l
    }

    pub fn idle(&mut self) {
        self.stack.run_until_idle().unwrap();
    }

    pub fn connect(&mut self, app: &App, port: u16, opaque: u32) -> SessionHandle {
        self.stack.connect(app.wrk, lo(port), opaque).unwrap()
    }

    /// Connects, lets the server accept and returns (server, client) fifos.
    pub fn establish(
        &mut self,
        server: &App,
        client: &App,
        port: u16,
    ) -> (SessionFifos, SessionFifos) {
        self.connect(client, port, 7);
        self.idle();
        let sf = accepted(&server.q).expect("server got no accept");
        self.stack
            .accept_reply(server.wrk, sf.session, Ok(()))
            .unwrap();
        self.idle();
        // A small queue may hold the reply back behind other messages.
        for _ in 0..16 {
            if let Some(r) = connected(&client.q) {
                return (sf, r.expect("connect failed"));
            }
            self.idle();
        }
        panic!("client got no connect reply")
    }

    pub fn io(&self, f: &SessionFifos) -> AppSession {
        AppSession::from_fifos(self.stack.main().clone(), f).unwrap()
    }

    /// ct connections and sessions on every thread.
    pub fn counts(&mut self) -> (usize, usize) {
        let ct = self.ct.clone();
        let n = self.stack.main().n_threads();
        let (mut conns, mut sessions) = (0, 0);
        for t in 0..n {
            let w = self.stack.runtime_mut().worker_mut(t).unwrap();
            conns += ct.worker_state(w).map_or(0, |s| s.n_connections());
            sessions += w.sessions().len();
        }
        (conns, sessions)
    }

    /// Nothing of ct left: no segments, contexts, half-opens, connections,
    /// sessions.
    pub fn assert_clean(&mut self) {
        self.idle();
        assert!(
            self.ct.segments().is_empty(),
            "segments: {:?}",
            self.ct.segments()
        );
        assert_eq!(self.ct.n_segment_contexts(), 0);
        assert_eq!(self.ct.n_half_opens(), 0);
        assert_eq!(self.ct.n_client_ports(), 0, "client ports held");
        assert_eq!(self.counts(), (0, 0), "(connections, sessions) left");
    }
}

pub fn drain(q: &AppQueue) -> Vec<AppEvent> {
    q.drain()
}

/// Drains the queue and returns the first accept.
pub fn accepted(q: &AppQueue) -> Option<SessionFifos> {
    drain(q).into_iter().find_map(|m| match m {
        AppEvent::Accepted { session: fifos, .. } => Some(fifos),
        _ => None,
    })
}

/// Drains the queue and returns the first connect reply.
pub fn connected(q: &AppQueue) -> Option<Result<SessionFifos, SessionError>> {
    drain(q).into_iter().find_map(|m| match m {
        AppEvent::Connected { result, .. } => Some(result),
        _ => None,
    })
}

/// A short name per message, for order checks.
pub fn names(msgs: &[AppEvent]) -> Vec<&'static str> {
    msgs.iter()
        .map(|m| match m {
            AppEvent::Connected { result: Err(_), .. } => "connect-failed",
            m => m.name().trim_start_matches("app-"),
        })
        .collect()
}
