//! The three processes of a multi-process echo run, as `ct-echo`
//! subcommands: `stackd` (the daemon, through the stackd library),
//! `server` and `client` (the echo apps over app-client). Each writes
//! `TAG key=value` lines ([`KvLine`]) on stdout for a parent to read:
//! `READY` once it serves, then its figures (`STACKD`, `SERVER`,
//! `CLIENT`) when it is done.

use ct_sync::atomic::{AtomicBool, Ordering};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ct_app_client::{AppClient, AttachConfig, CtListener};
use ct_session::WorkerCounters;
use ct_stackd::{Stackd, StackdConfig, StackdCounters};

use crate::app_client::run_client;
use crate::app_opts::AppOptions;
use crate::app_server::{ServeOptions, serve};
use crate::config::{EchoConfig, parse_size};
use crate::kv::{KvLine, KvRecord};
use crate::options::RunOptions;
use crate::pattern::Pattern;
use crate::report::{EchoReport, Layout, Leaks};
use crate::stats::{EchoCounters, RoundTrips};

fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s)
}

/// A process of a multi-process run.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Role {
    /// An echo server over app-client against a running ct-stackd.
    Server(ServerRole),
    /// An echo client over app-client against a running ct-stackd; prints
    /// the report (the stack's counters are not seen from here).
    Client(ClientRole),
    /// A stack daemon (the stackd library) until stdin closes; prints its
    /// counters (what `--processes` runs; `ct-stackd` is the daemon
    /// proper).
    #[command(hide = true)]
    Stackd(StackdRole),
}

/// `ct-echo stackd`.
#[derive(Debug, Clone, clap::Args)]
pub struct StackdRole {
    /// Socket of the default app namespace.
    #[arg(long)]
    pub socket: PathBuf,
    /// Workers besides main.
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    /// Size of app and ct segments.
    #[arg(long, value_parser = size_arg, default_value = "128m")]
    pub segment_size: u64,
    /// Fifo size for apps that ask for none.
    #[arg(long, value_parser = size_arg, default_value = "64k")]
    pub fifo_size: u64,
    /// Workers poll instead of sleeping when idle.
    #[arg(long)]
    pub poll: bool,
}

/// The daemon's view as a leak check: what it still holds.
pub fn leaks_of(c: &StackdCounters) -> Leaks {
    Leaks {
        sessions: c.sessions,
        connections: c.ct_connections,
        ct_segments: c.ct_segments + c.ct_segment_contexts,
        half_opens: 0,
        segment_managers: c.segment_managers,
        pending_events: 0,
        apps: c.apps.max(c.stack_apps),
        listeners: c.listeners,
        segments: c.segments,
        fifos: c.fifos,
    }
}

impl StackdRole {
    /// The daemon's configuration.
    pub fn config(&self) -> Result<StackdConfig, String> {
        let mut cfg = StackdConfig::new(&self.socket).with_workers(self.workers);
        cfg.segment_size =
            usize::try_from(self.segment_size).map_err(|_| "--segment-size too large")?;
        cfg.fifo_size = u32::try_from(self.fifo_size).map_err(|_| "--fifo-size too large")?;
        cfg.poll = self.poll;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Starts the daemon, prints `READY`, serves until stdin closes, stops
    /// (detaching whoever is left) and prints `STACKD` with the workers'
    /// counters and what was left. Ok(true) when nothing was left.
    pub fn run(&self) -> io::Result<bool> {
        let cfg = self.config().map_err(io::Error::other)?;
        let d = Stackd::start(cfg).map_err(io::Error::other)?;
        println!("READY");
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let w = worker_counters(&d);
        let c = d.stop();
        let mut l = KvLine::new("STACKD");
        l.put("app_events_delivered", w.app_events_delivered)
            .put("tx_events", w.tx_events)
            .put("rx_dequeue_events", w.rx_dequeue_events)
            .put("congested", w.congested)
            .put("sessions_allocated", w.sessions_allocated)
            .put("sessions_freed", w.sessions_freed)
            .put("evt_msgs", c.evt_msgs)
            .put("ctrl_msgs", c.ctrl_msgs)
            .put("bad_msgs", c.bad_msgs);
        let k = leaks_of(&c);
        for (name, v) in [
            ("left_sessions", k.sessions),
            ("left_connections", k.connections),
            ("left_ct_segments", k.ct_segments),
            ("left_segment_managers", k.segment_managers),
            ("left_apps", k.apps),
            ("left_listeners", k.listeners),
            ("left_segments", k.segments),
            ("left_fifos", k.fifos),
        ] {
            l.put(name, v);
        }
        println!("{}", l.as_str());
        Ok(c.is_empty())
    }
}

/// The workers' counters, summed (asked from this thread, not a worker).
fn worker_counters(d: &Stackd) -> WorkerCounters {
    let mut sum = WorkerCounters::default();
    let Some(stack) = d.stack() else {
        return sum;
    };
    let main = stack.main();
    for t in 0..main.n_threads() {
        if let Ok(c) = main.call_blocking(t, |w| *w.counters()) {
            sum.sessions_allocated += c.sessions_allocated;
            sum.sessions_freed += c.sessions_freed;
            sum.tx_events += c.tx_events;
            sum.rx_dequeue_events += c.rx_dequeue_events;
            sum.app_events_delivered += c.app_events_delivered;
            sum.congested += c.congested;
        }
    }
    sum
}

/// Reads back what [`StackdRole::run`] printed: the workers' counters and
/// the leak check.
pub fn stackd_figures(r: &KvRecord) -> (WorkerCounters, Leaks) {
    let w = WorkerCounters {
        app_events_delivered: r.num("app_events_delivered"),
        tx_events: r.num("tx_events"),
        rx_dequeue_events: r.num("rx_dequeue_events"),
        congested: r.num("congested"),
        sessions_allocated: r.num("sessions_allocated"),
        sessions_freed: r.num("sessions_freed"),
        ..WorkerCounters::default()
    };
    let n = |k| r.num(k) as usize;
    let l = Leaks {
        sessions: n("left_sessions"),
        connections: n("left_connections"),
        ct_segments: n("left_ct_segments"),
        segment_managers: n("left_segment_managers"),
        apps: n("left_apps"),
        listeners: n("left_listeners"),
        segments: n("left_segments"),
        fifos: n("left_fifos"),
        ..Leaks::default()
    };
    (w, l)
}

/// 127.0.0.1:`port`.
fn addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn attach(socket: &PathBuf, cfg: AttachConfig, fifo: u64, segment: u64) -> io::Result<AppClient> {
    let fifo = u32::try_from(fifo).map_err(|_| io::Error::other("fifo size too large"))?;
    let mut cfg = cfg.with_fifo_size(fifo);
    cfg.segment_size = segment;
    cfg.add_segment_size = segment;
    AppClient::attach(socket, cfg)
}

/// `ct-echo server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerRole {
    /// Socket of the daemon's app namespace (the default one unless
    /// --namespace).
    #[arg(long)]
    pub socket: PathBuf,
    /// Name, namespace and secret.
    #[command(flatten)]
    pub app: AppOptions,
    /// Listen port (127.0.0.1).
    #[arg(long, default_value_t = 1234)]
    pub port: u16,
    /// Write back what arrives (else discard it).
    #[arg(long)]
    pub echo: bool,
    /// Every session must bring exactly this many pattern bytes (the
    /// client's discard stream): checked at close.
    #[arg(long, value_parser = size_arg)]
    pub expect_bytes: Option<u64>,
    /// Fifo size of each session, each way.
    #[arg(long, value_parser = size_arg, default_value = "4m")]
    pub fifo_size: u64,
    /// Size of the app's segments.
    #[arg(long, value_parser = size_arg, default_value = "128m")]
    pub segment_size: u64,
    /// Exit once this many sessions have ended (default: serve until
    /// killed, or until stdin closes with --stop-on-stdin-eof).
    #[arg(long)]
    pub sessions: Option<u64>,
    /// Spin on the queues instead of sleeping on the event fd.
    #[arg(long)]
    pub busy_poll: bool,
    /// Stop when stdin closes and every open session has ended (how a
    /// parent process stops it once its client is done).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}

impl ServerRole {
    /// Attaches, listens, prints `READY`, serves, prints `SERVER` with its
    /// counters. Ok(true) when no session failed verification and nothing
    /// unexpected happened.
    pub fn run(&self) -> io::Result<bool> {
        let client = attach(
            &self.socket,
            self.app.attach_config("server")?,
            self.fifo_size,
            self.segment_size,
        )?;
        let listener = CtListener::bind(&client, addr(self.port))?;
        println!("READY port={}", self.port);
        eprintln!(
            "ct-echo server: {} on {}",
            if self.echo { "echoing" } else { "discarding" },
            listener.local_addr()?
        );
        let stop = Arc::new(AtomicBool::new(false));
        if self.stop_on_stdin_eof {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let _ = io::stdin().lock().read_to_end(&mut Vec::new());
                stop.store(true, Ordering::Relaxed);
            });
        }
        let opts = ServeOptions {
            echo: self.echo,
            expected: self
                .expect_bytes
                .map(|n| (n, Pattern::new().checksum(0, n))),
            busy_poll: self.busy_poll,
            max_sessions: self.sessions,
        };
        let stats = EchoCounters::default();
        let r = serve(&client, &listener, &opts, &stats, &stop);
        if let Err(e) = &r {
            stats.error(format!("server: {e}"));
        }
        drop(listener);
        let _ = client.detach();
        println!("{}", stats.to_kv("SERVER").as_str());
        r.map(|()| {
            crate::stats::get(&stats.verify_failed) == 0 && crate::stats::get(&stats.errors) == 0
        })
    }
}

/// `ct-echo client`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientRole {
    /// Socket of the daemon's app namespace (the default one unless
    /// --namespace).
    #[arg(long)]
    pub socket: PathBuf,
    /// Name, namespace and secret.
    #[command(flatten)]
    pub app: AppOptions,
    /// What to run.
    #[command(flatten)]
    pub run: RunOptions,
    /// Spin on the queues instead of sleeping on the event fd.
    #[arg(long)]
    pub busy_poll: bool,
    /// Print a `CLIENT` record instead of the report (for a parent).
    #[arg(long, hide = true)]
    pub report_line: bool,
}

impl ClientRole {
    /// The run's configuration.
    pub fn config(&self) -> Result<EchoConfig, String> {
        self.run.config(0)
    }

    /// Attaches, runs, detaches; prints the report (or the `CLIENT`
    /// record). Ok(true) when the run went as it should.
    pub fn run(&self) -> io::Result<bool> {
        let cfg = self.config().map_err(io::Error::other)?;
        let client = attach(
            &self.socket,
            self.app.attach_config("client")?,
            u64::from(cfg.fifo_size),
            cfg.segment_size as u64,
        )?;
        let stats = EchoCounters::default();
        let r = run_client(&client, addr(cfg.port), &cfg, self.busy_poll, &stats);
        let _ = client.detach();
        let elapsed = match r {
            Ok(d) => d,
            Err(e) => {
                stats.error(format!("client: {e}"));
                Duration::ZERO
            }
        };
        if self.report_line {
            let mut l = stats.to_kv("CLIENT");
            l.put("seconds", elapsed.as_secs_f64());
            println!("{}", l.as_str());
            return Ok(crate::stats::get(&stats.errors) == 0);
        }
        let mut report = EchoReport::new(
            &cfg,
            &stats,
            elapsed,
            WorkerCounters::default(),
            Leaks::default(),
            Vec::new(),
        );
        report.layout = Layout::ClientOnly;
        if self.run.json {
            println!("{}", report.json());
        } else {
            print!("{}", report.table());
        }
        Ok(report.is_ok())
    }
}

/// Round trips of a `CLIENT` record.
pub(crate) fn client_round_trips(r: &KvRecord) -> RoundTrips {
    RoundTrips::from_kv(r)
}
