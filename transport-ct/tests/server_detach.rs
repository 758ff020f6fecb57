//! A server app that detaches with connects in flight: every connect gets
//! exactly one answer (Connected or a connect error) and nothing is left.
//!
//! A connect can be at any of these stages when its server goes: batched
//! on the connect thread, in its accepting worker's pending list, accepted
//! by ct with the accept event still queued for the app (the app's queue is
//! full), accept delivered with no reply yet, or replied to. The named
//! tests put connects at one stage each (and check they are there); the
//! sweep detaches after every possible number of single-worker polls, so
//! one run holds connects at all stages at once.
//!
//! Stepped on the test thread: the detach runs its steps directly on the
//! workers, with no poll in between (everything in flight stays where it
//! is), or through `Stack::detach`, which steps the stack between its
//! steps as a threaded detach lets the workers run.

mod common;

use std::collections::HashMap;

use common::*;
use ct_app_worker::{AppEvent, AppKind, AttachOptions, DetachHow, Scope, SessionFifos};
use ct_session::{SessionError, SessionHandle};

const PORT: u16 = 4300;

/// How the server's detach runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detach {
    /// Every step directly on the workers, nothing polled between them.
    Atomic(DetachHow),
    /// `Stack::detach` / `detach_reset`: the stack is stepped between steps.
    Stepped(DetachHow),
}

const DETACHES: [Detach; 4] = [
    Detach::Atomic(DetachHow::Close),
    Detach::Atomic(DetachHow::Reset),
    Detach::Stepped(DetachHow::Close),
    Detach::Stepped(DetachHow::Reset),
];

/// A stack, a listening server with an event queue of `server_q` messages
/// and a client.
struct Case {
    env: Env,
    server: App,
    client: App,
    /// Every answer the client got, by opaque.
    answers: HashMap<u32, Vec<Result<SessionHandle, SessionError>>>,
    /// The client's connected sessions, to close at the end.
    sessions: Vec<SessionHandle>,
    /// Accepts the server was told of and did not answer yet.
    unanswered_accepts: Vec<SessionFifos>,
}

impl Case {
    fn new(n_workers: u32, server_q: usize) -> Case {
        let mut env = Env::new(n_workers);
        let mut opts = AttachOptions::new("server", AppKind::InProcess)
            .with_scope(Scope::LOCAL)
            .with_fifo_sizes(4096, 4096);
        opts.evt_q_size = server_q;
        let server = env.attach_opts(opts);
        let client = env.attach("client", Scope::LOCAL);
        env.listen(&server, PORT);
        drain(&server.q);
        Case {
            env,
            server,
            client,
            answers: HashMap::new(),
            sessions: Vec::new(),
            unanswered_accepts: Vec::new(),
        }
    }

    fn n_threads(&self) -> u32 {
        self.env.stack.main().n_threads()
    }

    /// Connects `opaques` on the connect thread's worker, without stepping
    /// the stack: they stay batched there.
    fn connect_now(&mut self, opaques: std::ops::Range<u32>) {
        let apps = self.env.stack.apps().clone();
        let cl = self.env.stack.main().transport_cl_thread();
        let w = self.env.stack.runtime_mut().worker_mut(cl).unwrap();
        for o in opaques {
            apps.connect(w, self.client.wrk, lo(PORT), o).unwrap();
        }
    }

    /// One poll of one worker.
    fn poll(&mut self, thread: u32) -> bool {
        self.env
            .stack
            .runtime_mut()
            .worker_mut(thread)
            .unwrap()
            .poll()
    }

    /// The server reads its queue: keeps the accepts it is told of.
    fn server_reads(&mut self) -> usize {
        let mut n = 0;
        for m in drain(&self.server.q) {
            if let AppEvent::Accepted { session: fifos, .. } = m {
                self.unanswered_accepts.push(fifos);
                n += 1;
            }
        }
        n
    }

    /// The server accepts the held accepts `pick` picks (by position) and
    /// keeps the others unanswered; on the session's worker, no stepping.
    fn server_replies(&mut self, pick: impl Fn(usize) -> bool) {
        let apps = self.env.stack.apps().clone();
        let held = std::mem::take(&mut self.unanswered_accepts);
        for (i, f) in held.into_iter().enumerate() {
            if !pick(i) {
                self.unanswered_accepts.push(f);
                continue;
            }
            let t = f.session.thread_index();
            let w = self.env.stack.runtime_mut().worker_mut(t).unwrap();
            apps.accept_reply(w, self.server.wrk, f.session, Ok(()))
                .unwrap();
        }
    }

    /// Files the client's answers.
    fn client_reads(&mut self) {
        for m in drain(&self.client.q) {
            if let AppEvent::Connected { opaque, result } = m {
                let r = result.map(|f| f.session);
                if let Ok(s) = r {
                    self.sessions.push(s);
                }
                self.answers.entry(opaque).or_default().push(r);
            }
        }
    }

    fn detach_server(&mut self, how: Detach) {
        let app = self.server.app;
        match how {
            Detach::Stepped(DetachHow::Close) => self.env.stack.detach(app).unwrap(),
            Detach::Stepped(DetachHow::Reset) => self.env.stack.detach_reset(app).unwrap(),
            Detach::Atomic(how) => {
                let apps = self.env.stack.apps().clone();
                let rt = self.env.stack.runtime_mut();
                apps.detach_listeners(rt.worker_mut(0).unwrap(), app)
                    .unwrap();
                let wrks = apps.detach_invalidate(app).unwrap();
                for t in 0..self.n_threads() {
                    let w = self.env.stack.runtime_mut().worker_mut(t).unwrap();
                    apps.detach_on_thread_with(w, &wrks, how);
                }
                apps.detach_finish(app).unwrap();
            }
        }
    }

    /// After the detach: accepts the server still held are answered with
    /// its stale worker (refused with a typed error, never a panic), the
    /// stack runs dry, and every connect in `0..n` has exactly one answer.
    /// Returns (connected, refused).
    fn answers_after_detach(&mut self, n: u32) -> (usize, usize) {
        let apps = self.env.stack.apps().clone();
        for f in std::mem::take(&mut self.unanswered_accepts) {
            let t = f.session.thread_index();
            let w = self.env.stack.runtime_mut().worker_mut(t).unwrap();
            assert!(
                apps.accept_reply(w, self.server.wrk, f.session, Ok(()))
                    .is_err(),
                "a detached server's accept went through"
            );
        }
        self.env.idle();
        self.client_reads();
        let (mut connected, mut refused) = (0, 0);
        for o in 0..n {
            match self.answers.get(&o).map(Vec::as_slice) {
                Some([Ok(_)]) => connected += 1,
                Some([Err(_)]) => refused += 1,
                other => panic!("connect {o}: answers {other:?} (want exactly one)"),
            }
        }
        assert_eq!(
            self.answers.len(),
            n as usize,
            "answers to unknown connects"
        );
        (connected, refused)
    }

    /// The client closes what it got and detaches: nothing is left.
    fn finish(mut self) {
        for s in std::mem::take(&mut self.sessions) {
            // The server's close may have ended it already.
            let _ = self.env.stack.disconnect(self.client.wrk, s);
        }
        self.env.idle();
        self.env.stack.detach(self.client.app).unwrap();
        self.env.assert_clean();
        assert_eq!(self.env.stack.apps().n_apps(), 0);
        assert!(
            self.env.stack.segment_managers().is_empty(),
            "segment managers left"
        );
        for t in 0..self.n_threads() {
            assert_eq!(self.env.ct.n_pending_connects(t), 0);
        }
    }
}

#[test]
fn connects_batched_on_the_connect_thread_are_refused() {
    for how in DETACHES {
        for n_workers in [0, 2] {
            let mut c = Case::new(n_workers, 1024);
            c.connect_now(0..8);
            // Nothing polled: the connects wait in the connect thread's
            // batch, not yet in any worker's pending list.
            assert_eq!(c.env.ct.n_half_opens(), 8);
            for t in 0..c.n_threads() {
                assert_eq!(c.env.ct.n_pending_connects(t), 0);
            }
            c.detach_server(how);
            assert_eq!(c.answers_after_detach(8), (0, 8), "{how:?} {n_workers}");
            c.finish();
        }
    }
}

#[test]
fn connects_in_the_workers_pending_lists_are_refused() {
    for how in DETACHES {
        let mut c = Case::new(2, 1024);
        c.connect_now(0..8);
        // The connect thread flushes its batch into the accepting workers'
        // lists; their accept RPCs have not run.
        let cl = c.env.stack.main().transport_cl_thread();
        assert!(c.poll(cl));
        let pending: usize = (0..c.n_threads())
            .map(|t| c.env.ct.n_pending_connects(t))
            .sum();
        assert_eq!(pending, 8, "{how:?}");
        c.detach_server(how);
        assert_eq!(c.answers_after_detach(8), (0, 8), "{how:?}");
        c.finish();
    }
}

#[test]
fn connects_accepted_by_ct_with_the_accept_event_queued_are_refused() {
    for how in DETACHES {
        for n_workers in [0, 2] {
            // The server's queue takes two messages: the other accepts wait
            // in the workers' event queues, the app congested.
            let mut c = Case::new(n_workers, 2);
            c.connect_now(0..8);
            c.env.idle();
            let queued: usize = (0..c.n_threads())
                .map(|t| {
                    let w = c.env.stack.runtime_mut().worker_mut(t).unwrap();
                    w.app_worker_pending_events(c.server.wrk.index())
                })
                .sum();
            assert!(queued >= 6, "{how:?}: {queued} accept events queued");
            // Nothing is read, nothing answered: the two delivered accepts
            // stay in the server's queue.
            c.detach_server(how);
            assert_eq!(c.answers_after_detach(8), (0, 8), "{how:?} {n_workers}");
            c.finish();
        }
    }
}

#[test]
fn connects_whose_accept_was_delivered_but_not_answered_are_refused() {
    for how in DETACHES {
        for n_workers in [0, 2] {
            let mut c = Case::new(n_workers, 1024);
            c.connect_now(0..8);
            c.env.idle();
            assert_eq!(c.server_reads(), 8);
            c.detach_server(how);
            assert_eq!(c.answers_after_detach(8), (0, 8), "{how:?} {n_workers}");
            c.finish();
        }
    }
}

#[test]
fn connects_answered_before_the_detach_are_connected_the_rest_refused() {
    for how in DETACHES {
        for n_workers in [0, 2] {
            let mut c = Case::new(n_workers, 1024);
            c.connect_now(0..8);
            c.env.idle();
            assert_eq!(c.server_reads(), 8);
            // Half answered and processed; the client's Connected may still
            // be queued for it when the server goes.
            c.server_replies(|i| i % 2 == 0);
            c.detach_server(how);
            assert_eq!(c.answers_after_detach(8), (4, 4), "{how:?} {n_workers}");
            c.finish();
        }
    }
}

/// One sweep run: 40 connects in two waves, the server reading its small
/// queue and accepting two of every three accepts after each of its polls,
/// one worker polled per tick; the server detaches after `ticks` ticks.
/// Returns (connected, refused, whether the stack went idle by itself
/// before the detach).
fn sweep_run(n_workers: u32, how: Detach, ticks: usize) -> (usize, usize, bool) {
    const N: u32 = 40;
    let mut c = Case::new(n_workers, 6);
    c.connect_now(0..N / 2);
    let n = c.n_threads() as usize;
    let mut idle_run = 0;
    for tick in 0..ticks {
        if tick == 3 {
            c.connect_now(N / 2..N);
        }
        let worked = c.poll((tick % n) as u32);
        idle_run = if worked { 0 } else { idle_run + 1 };
        c.server_reads();
        c.server_replies(|i| i % 3 != 2);
        c.client_reads();
    }
    let quiet = idle_run >= n;
    if ticks <= 3 {
        // The second wave goes out just before the detach.
        c.connect_now(N / 2..N);
    }
    c.detach_server(how);
    let (connected, refused) = c.answers_after_detach(N);
    c.finish();
    (connected, refused, quiet)
}

#[test]
fn every_detach_point_answers_every_connect_once() {
    for n_workers in [0, 1, 2] {
        for how in DETACHES {
            let mut ticks = 0;
            let mut seen = (false, false);
            loop {
                let (connected, refused, quiet) = sweep_run(n_workers, how, ticks);
                seen.0 |= connected > 0 && refused > 0;
                seen.1 |= connected == 0;
                if quiet {
                    break;
                }
                ticks += 1;
                assert!(ticks < 10_000, "the stack never went quiet");
            }
            // The sweep went from nothing accepted to everything settled,
            // through runs with both outcomes.
            assert!(seen.0 && seen.1, "{n_workers} {how:?}: {seen:?}");
        }
    }
}
