//! Connects per second from one thread: keep up to `in_flight`
//! [`CtConnecting`] going at once against a `ct-stackd`, file the stack's
//! answers as they come and hand each one to a [`CpsHandler`] (as VPP's
//! vperf keeps its connects in flight). The `ct-echo` client's cps mode and
//! the `xproc` bench's cps client are this loop with different handlers.
//!
//! One thread, not one per connect: a connect costs the app a message on
//! its control queue and an answer on its event queue, so threads waiting
//! on answers only contend on the app's lock. When no answer came, the
//! loop sleeps on the app's event fd (armed by `prepare_sleep`) or, with
//! `busy_poll`, spins on the queues.
//!
//! ```no_run
//! use std::io;
//! use ct_app_client::{AppClient, AttachConfig, CtStream};
//! use ct_echo::cps_pipeline::{CpsHandler, CpsPipeline, Failure};
//!
//! struct CloseAll;
//! impl CpsHandler for CloseAll {
//!     fn connected(&mut self, _attempt: u64, s: CtStream) -> io::Result<()> {
//!         drop(s);
//!         Ok(())
//!     }
//!     fn failed(&mut self, _attempt: u64, _e: io::Error) -> io::Result<Failure> {
//!         Ok(Failure::Counted)
//!     }
//! }
//!
//! # fn main() -> io::Result<()> {
//! let app = AppClient::attach("/run/ct-stack/stackd.sock", AttachConfig::new("cps"))?;
//! let to = "127.0.0.1:7000".parse().unwrap();
//! let tally = CpsPipeline::new(64).run(&app, to, 10_000, &mut CloseAll)?;
//! println!("{} connected, {} failed", tally.connected, tally.failed);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ct_app_client::{AppClient, CtConnecting, CtStream};

use crate::app_wait::wait_events;

/// What became of a connect the stack (or the app side) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It counts as one of the run's connects, answered.
    Counted,
    /// Start another connect in its place (it does not count).
    Retry,
}

/// What the run does with each answer.
pub trait CpsHandler {
    /// A connect is about to be sent; `attempt` numbers every connect the
    /// run starts, retries included, from 0.
    fn started(&mut self, attempt: u64) {
        let _ = attempt;
    }

    /// The stack connected `attempt`. An error ends the run.
    fn connected(&mut self, attempt: u64, s: CtStream) -> io::Result<()>;

    /// `attempt` failed: could not be sent, or the stack answered with an
    /// error (`ConnectionRefused` when nothing listens there). An error
    /// ends the run.
    fn failed(&mut self, attempt: u64, e: io::Error) -> io::Result<Failure>;
}

/// How a run went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CpsTally {
    /// Connects answered with a session.
    pub connected: u64,
    /// Failed connects that counted ([`Failure::Counted`]).
    pub failed: u64,
    /// Failed connects started again ([`Failure::Retry`]).
    pub retried: u64,
    /// Most connects in flight at once.
    pub peak_in_flight: usize,
}

impl CpsTally {
    /// Connects that count as answered.
    pub fn done(&self) -> u64 {
        self.connected + self.failed
    }
}

/// The loop's settings.
#[derive(Debug, Clone)]
pub struct CpsPipeline {
    /// Connects in flight at once (at least 1).
    pub in_flight: usize,
    /// Spin on the queues instead of sleeping on the event fd.
    pub busy_poll: bool,
    /// The run fails (`TimedOut`) when it is not over by then.
    pub deadline: Option<Instant>,
    /// The run fails (`TimedOut`) when no connect counted for this long.
    pub stall_timeout: Option<Duration>,
}

impl CpsPipeline {
    /// `in_flight` connects at once, sleeping when idle, no time limit.
    pub fn new(in_flight: usize) -> CpsPipeline {
        CpsPipeline {
            in_flight: in_flight.max(1),
            busy_poll: false,
            deadline: None,
            stall_timeout: None,
        }
    }

    /// Runs until `total` connects counted (connected or
    /// [`Failure::Counted`]). Connects still in flight when it fails are
    /// given up (a late success is closed by app-client).
    pub fn run(
        &self,
        app: &AppClient,
        to: SocketAddr,
        total: u64,
        h: &mut impl CpsHandler,
    ) -> io::Result<CpsTally> {
        let in_flight = self.in_flight.max(1);
        let mut pending: Vec<(u64, CtConnecting)> = Vec::with_capacity(in_flight);
        let mut tally = CpsTally::default();
        // Connects started that still count: a retry gives its place back.
        let mut started = 0u64;
        let mut attempt = 0u64;
        let mut last_progress = Instant::now();
        while tally.done() < total {
            let before = tally.done();
            let mut moved = false;
            while pending.len() < in_flight && started < total {
                started += 1;
                h.started(attempt);
                match CtConnecting::start(app, to) {
                    Ok(c) => pending.push((attempt, c)),
                    Err(e) => {
                        moved = true;
                        file_failure(h, attempt, e, &mut tally, &mut started)?;
                    }
                }
                attempt += 1;
            }
            tally.peak_in_flight = tally.peak_in_flight.max(pending.len());
            app.poll_events()?;
            let mut i = 0;
            while i < pending.len() {
                let answer = match pending[i].1.try_finish() {
                    Ok(None) => {
                        i += 1;
                        continue;
                    }
                    Ok(Some(s)) => Ok(s),
                    Err(e) => Err(e),
                };
                let (id, _) = pending.swap_remove(i);
                moved = true;
                match answer {
                    Ok(s) => {
                        tally.connected += 1;
                        h.connected(id, s)?;
                    }
                    Err(e) => file_failure(h, id, e, &mut tally, &mut started)?,
                }
            }
            let now = Instant::now();
            if tally.done() > before {
                last_progress = now;
            }
            if tally.done() >= total {
                break;
            }
            if self.deadline.is_some_and(|d| now >= d) {
                return Err(timed_out(app, "deadline reached", &tally, pending.len()));
            }
            if self
                .stall_timeout
                .is_some_and(|t| now.duration_since(last_progress) > t)
            {
                return Err(timed_out(app, "no connect answered", &tally, pending.len()));
            }
            if !moved {
                wait_events(app, self.busy_poll)?;
            }
        }
        Ok(tally)
    }
}

fn file_failure(
    h: &mut impl CpsHandler,
    attempt: u64,
    e: io::Error,
    tally: &mut CpsTally,
    started: &mut u64,
) -> io::Result<()> {
    match h.failed(attempt, e)? {
        Failure::Counted => tally.failed += 1,
        Failure::Retry => {
            tally.retried += 1;
            *started -= 1;
        }
    }
    Ok(())
}

fn timed_out(app: &AppClient, what: &str, t: &CpsTally, pending: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "{what}: {} connected, {} failed, {} retried, {pending} in flight, {:?}",
            t.connected,
            t.failed,
            t.retried,
            app.counters()
        ),
    )
}

#[cfg(test)]
mod tests {
    use ct_sync::atomic::{AtomicU32, Ordering};
    use std::path::{Path, PathBuf};

    use ct_app_client::{AttachConfig, CtListener};
    use ct_stackd::{Stackd, StackdConfig};

    use super::*;

    fn daemon() -> (Stackd, PathBuf) {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "cps-pipeline-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut cfg = StackdConfig::new(&path).with_workers(1);
        cfg.segment_size = 16 << 20;
        (Stackd::start(cfg).unwrap(), path)
    }

    fn attach(socket: &Path, name: &str) -> AppClient {
        let mut cfg = AttachConfig::new(name).with_fifo_size(4 << 10);
        cfg.segment_size = 4 << 20;
        AppClient::attach(socket, cfg).unwrap()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Detaches, then waits for the daemon to hold nothing; stops it.
    fn stop_clean(d: Stackd, apps: Vec<AppClient>) {
        for a in apps {
            a.detach().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d.counters().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let c = d.counters();
        assert!(c.is_empty(), "left after detach: {c}");
        let left = d.stop();
        assert!(left.is_empty(), "{left}");
    }

    /// Records every call.
    #[derive(Default)]
    struct Log {
        started: Vec<u64>,
        connected: Vec<u64>,
        failed: Vec<(u64, io::ErrorKind)>,
        retry: bool,
    }

    impl CpsHandler for Log {
        fn started(&mut self, attempt: u64) {
            self.started.push(attempt);
        }
        fn connected(&mut self, attempt: u64, s: CtStream) -> io::Result<()> {
            self.connected.push(attempt);
            drop(s);
            Ok(())
        }
        fn failed(&mut self, attempt: u64, e: io::Error) -> io::Result<Failure> {
            self.failed.push((attempt, e.kind()));
            Ok(if self.retry {
                Failure::Retry
            } else {
                Failure::Counted
            })
        }
    }

    #[test]
    fn keeps_in_flight_connects_going_until_total_and_leaves_nothing() {
        let (d, sock) = daemon();
        let server = attach(&sock, "cps-server");
        let l = CtListener::bind(&server, addr(7100)).unwrap();
        let total = 300u64;
        let acceptor = std::thread::spawn(move || {
            for _ in 0..total {
                let (s, _) = l.accept().unwrap();
                drop(s);
            }
            l
        });
        let client = attach(&sock, "cps-client");
        let mut log = Log::default();
        let mut p = CpsPipeline::new(16);
        p.stall_timeout = Some(Duration::from_secs(30));
        let tally = p.run(&client, addr(7100), total, &mut log).unwrap();
        let l = acceptor.join().unwrap();
        assert_eq!(tally.connected, total);
        assert_eq!((tally.failed, tally.retried), (0, 0));
        // The first round starts the whole window before any answer.
        assert_eq!(tally.peak_in_flight, 16);
        assert_eq!(log.started, (0..total).collect::<Vec<_>>());
        let mut done = log.connected.clone();
        done.sort_unstable();
        assert_eq!(done, log.started);
        assert!(log.failed.is_empty());
        drop(l);
        stop_clean(d, vec![client, server]);
    }

    #[test]
    fn refused_connects_count_as_failures_when_the_handler_says_so() {
        let (d, sock) = daemon();
        let client = attach(&sock, "cps-client");
        let mut log = Log::default();
        let tally = CpsPipeline::new(8)
            .run(&client, addr(7101), 40, &mut log)
            .unwrap();
        assert_eq!((tally.connected, tally.failed, tally.retried), (0, 40, 0));
        assert_eq!(log.failed.len(), 40);
        assert!(
            log.failed
                .iter()
                .all(|&(_, k)| k == io::ErrorKind::ConnectionRefused),
            "{:?}",
            log.failed
        );
        stop_clean(d, vec![client]);
    }

    #[test]
    fn retried_refusals_end_in_the_stall_timeout_with_nothing_left() {
        let (d, sock) = daemon();
        let client = attach(&sock, "cps-client");
        let mut log = Log {
            retry: true,
            ..Log::default()
        };
        let mut p = CpsPipeline::new(4);
        p.stall_timeout = Some(Duration::from_millis(200));
        let e = p.run(&client, addr(7102), 10, &mut log).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(e.to_string().contains("no connect answered"), "{e}");
        assert!(!log.failed.is_empty());
        // Each retry is a new attempt number.
        assert_eq!(
            log.started,
            (0..log.started.len() as u64).collect::<Vec<_>>()
        );
        stop_clean(d, vec![client]);
    }

    #[test]
    fn a_deadline_gives_up_connects_nobody_answers() {
        let (d, sock) = daemon();
        // A server that never reads its events, with the smallest event
        // queue: the daemon accepts for it only as it delivers the
        // accepts (ARCHITECTURE.md, "Accepts without the app"), so once
        // that queue is full the connects wait.
        let mut cfg = AttachConfig::new("cps-server").with_fifo_size(4 << 10);
        cfg.segment_size = 4 << 20;
        cfg.evt_q_size = 16;
        let server = AppClient::attach(&sock, cfg).unwrap();
        let l = CtListener::bind(&server, addr(7103)).unwrap();
        let client = attach(&sock, "cps-client");
        let mut p = CpsPipeline::new(4);
        p.deadline = Some(Instant::now() + Duration::from_millis(200));
        // More connects than the server's queue holds accepts.
        let e = p
            .run(&client, addr(7103), 100, &mut Log::default())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(e.to_string().contains("deadline reached"), "{e}");
        drop(l);
        stop_clean(d, vec![client, server]);
    }

    #[test]
    fn a_handler_error_ends_the_run() {
        struct Fails;
        impl CpsHandler for Fails {
            fn connected(&mut self, _: u64, _: CtStream) -> io::Result<()> {
                Ok(())
            }
            fn failed(&mut self, _: u64, e: io::Error) -> io::Result<Failure> {
                Err(e)
            }
        }
        let (d, sock) = daemon();
        let client = attach(&sock, "cps-client");
        let e = CpsPipeline::new(2)
            .run(&client, addr(7104), 5, &mut Fails)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        stop_clean(d, vec![client]);
    }
}
