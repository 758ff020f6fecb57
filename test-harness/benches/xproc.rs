//! ct between processes: a `ct-stackd` (the `stackd` library in a child
//! process), a server app and a client app (each a child process over
//! `app-client`), every figure beside an anchor between two processes from
//! the same run (`test_harness::anchors_xproc`), subject and anchor
//! interleaved, median of 3.
//!
//! - stream: one ct session, 4 MiB fifos, 64 KiB writes, 1 GiB (quick:
//!   128 MiB) -> `BENCH xproc_stream_GBps`, vs a Unix socketpair between two
//!   processes (`BENCH xproc_unix_stream_GBps`):
//!   `BENCH xproc_stream_vs_unix_ratio` (target >= 4);
//! - 1-byte request/response, apps polling their rx fifos (non-blocking
//!   reads in a spin) -> `BENCH xproc_rr_poll_ns`, vs two processes handing
//!   a token back and forth through one shared cache line in a memfd (a
//!   fifo's event flag, `BENCH xproc_spin_rr_ns`):
//!   `BENCH xproc_rr_vs_spin_ratio` (target <= 3);
//! - the same with blocking apps (they sleep on their eventfd) ->
//!   `BENCH xproc_rr_blocking_ns`, vs a 1-byte ping-pong on a Unix
//!   socketpair between two processes (`BENCH xproc_unix_rr_ns`):
//!   `BENCH xproc_rr_blocking_vs_unix_ratio` (target <= 1);
//! - CPU beside the blocking figure: CPU time of client, server and stackd
//!   per round trip -> `BENCH xproc_rr_blocking_cpu_us`, vs both Unix
//!   processes' (`BENCH xproc_unix_rr_cpu_us`);
//! - paced request/response: blocking apps, the client sending 1 byte
//!   every [`PACE`] (absolute deadlines), the server echoing: p50 (and
//!   p99) latency of a round trip -> `BENCH xproc_rr_paced_p50_ns`, vs the
//!   same pacing over a Unix socketpair (`BENCH xproc_unix_rr_paced_p50_ns`):
//!   `BENCH xproc_rr_paced_p50_vs_unix_ratio` (target <= 0.8); and the CPU
//!   of client, server and stackd per round trip
//!   (`BENCH xproc_rr_paced_cpu_us`) vs both Unix processes'
//!   (`BENCH xproc_unix_rr_paced_cpu_us`):
//!   `BENCH xproc_rr_paced_cpu_vs_unix_ratio` (target <= 1);
//! - idle: an attached app holding one session, a thread blocked in a read
//!   on each end, and stackd, with no traffic for [`IDLE`] (quick: a
//!   third): `BENCH idle_cpu_pct`, their CPU in % of one core (target < 1);
//! - connect + accept + close per second, the client keeping 64 connects
//!   in flight from one thread (`CtConnecting`, as vperf does), the server
//!   accepting and closing on one thread -> `BENCH xproc_cps`, vs the same over a Unix stream listener
//!   (`BENCH xproc_unix_cps`): `BENCH xproc_vs_unix_cps_ratio` (target >= 2).
//!
//! stackd runs one worker thread that sleeps on its eventfd when idle (the
//! default mode); `--poll` makes it poll, and the figures are then named
//! `*_poll_mode`. `--ct-segment-linger-us N` sets stackd's ct segment
//! linger (default `ct_stackd::DEFAULT_CT_SEGMENT_LINGER`; 0 deletes an
//! emptied ct segment at once, as VPP does). `--only stream|rr_poll|rr_blocking|rr_paced|idle|cps|unix_stream|unix_rr|unix_rr_paced|spin_rr|unix_cps|unix_cps_1t`
//! runs one measurement once, without anchors (for `strace -c -f` or
//! `perf`); stackd prints its counters when it stops.
//!
//! The program re-executes itself for every process: the role is in
//! `CT_XPROC_ROLE` (`anchors_xproc::ROLE_ENV`).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
use ct_echo::cps_pipeline::{CpsHandler, CpsPipeline, Failure};
use ct_stackd::{Stackd, StackdConfig};
use test_harness::anchors_xproc::{self as ax, RoleArgs, RoleChild, TempDir};
use test_harness::bench::{self, BenchArgs};
use test_harness::rr_paced::{self as rp, PacedRun};

/// Fifo size of the stream session (both apps ask for it).
const STREAM_FIFO: u32 = 4 << 20;
/// Write (and read) size of the stream.
const PIECE: usize = 64 << 10;
/// Fifo size for request/response sessions.
const SMALL_FIFO: u32 = 64 << 10;
/// Fifo size for cps sessions (as the in-process `ct_cps` bench: no data
/// moves, so the fifos only cost allocation).
const CPS_FIFO: u32 = 4 << 10;
/// Connects in flight in the cps runs.
const IN_FLIGHT: usize = 64;
/// One round trip per slot of this length in the paced runs (10,000/s).
const PACE: Duration = Duration::from_micros(100);
/// How long the idle figure watches an idle app and stackd.
const IDLE: Duration = Duration::from_secs(3);

fn main() {
    match ax::run_role_from_env() {
        Some(Ok(())) => return,
        Some(Err(e)) => fail(&e),
        None => {}
    }
    if let Some(role) = ax::role() {
        if let Err(e) = run_ct_role(&role) {
            fail(&e);
        }
        return;
    }
    if let Err(e) = run_parent() {
        fail(&e);
    }
}

fn fail(e: &io::Error) -> ! {
    eprintln!(
        "xproc {}: {e}",
        ax::role().unwrap_or_else(|| "bench".into())
    );
    std::process::exit(1)
}

// ---------------------------------------------------------------- parent

struct Opts {
    args: BenchArgs,
    poll: bool,
    only: Option<String>,
    /// stackd's ct segment linger in µs (its default unless given).
    linger_us: Option<u64>,
}

impl Opts {
    fn from_env() -> Opts {
        let argv: Vec<String> = std::env::args().collect();
        let only = argv
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| argv.get(i + 1).cloned());
        Opts {
            args: BenchArgs::parse_from(&argv),
            poll: argv.iter().any(|a| a == "--poll"),
            only,
            linger_us: argv
                .iter()
                .position(|a| a == "--ct-segment-linger-us")
                .and_then(|i| argv.get(i + 1)?.parse().ok()),
        }
    }

    /// A figure's name in this mode.
    fn name(&self, base: &str) -> String {
        if self.poll {
            format!("{base}_poll_mode")
        } else {
            base.to_string()
        }
    }
}

/// The running stackd child and what every ct measurement needs.
struct Ctx {
    exe: PathBuf,
    dir: TempDir,
    socket: PathBuf,
    stackd: ax::StackdChild,
    next_port: u16,
}

impl Ctx {
    fn start(poll: bool, linger_us: Option<u64>) -> io::Result<Ctx> {
        let exe = std::env::current_exe()?;
        let dir = TempDir::new("ct-xproc-bench")?;
        let socket = dir.path().join("stackd.sock");
        let stackd = ax::StackdChild::spawn(
            &exe,
            &[
                ("socket", socket.display().to_string()),
                ("poll", u8::from(poll).to_string()),
                (
                    "linger_us",
                    linger_us
                        .unwrap_or(ct_stackd::DEFAULT_CT_SEGMENT_LINGER.as_micros() as u64)
                        .to_string(),
                ),
            ],
            "xproc",
        )?;
        Ok(Ctx {
            exe,
            dir,
            socket,
            stackd,
            next_port: 7000,
        })
    }

    /// A fresh port per measurement: a listener of a server that just
    /// exited may still be on its way out of the stack.
    fn port(&mut self) -> u16 {
        self.next_port += 1;
        self.next_port
    }

    fn common_args(&mut self) -> Vec<(&'static str, String)> {
        let port = self.port();
        vec![
            ("socket", self.socket.display().to_string()),
            ("port", port.to_string()),
        ]
    }

    /// A server and a client app over ct; the client's result.
    fn ct_pair(&mut self, kind: &str, extra: &[(&'static str, String)]) -> io::Result<f64> {
        let mut args = self.common_args();
        args.extend_from_slice(extra);
        let mut server = RoleChild::spawn(&self.exe, &format!("ct-{kind}-server"), &args, None)?;
        server.expect("ready")?;
        let mut client = RoleChild::spawn(&self.exe, &format!("ct-{kind}-client"), &args, None)?;
        let r = client.result()?;
        client.finish()?;
        server.finish()?;
        Ok(r)
    }

    fn stream(&mut self, total: u64) -> io::Result<f64> {
        self.ct_pair(
            "stream",
            &[("total", total.to_string()), ("piece", PIECE.to_string())],
        )
    }

    fn rr(&mut self, rounds: u64, poll: bool) -> io::Result<f64> {
        self.rr_cpu(rounds, poll).map(|(ns, _)| ns)
    }

    /// stackd's CPU time so far (ns).
    fn daemon_cpu(&self) -> io::Result<u64> {
        let d = self
            .stackd
            .child()
            .ok_or_else(|| io::Error::other("stackd stopped"))?;
        rp::process_cpu_ns(d.id())
    }

    /// The request/response run: ns per round trip, and the CPU of client,
    /// server and stackd per round trip (ns; the client's over the timed
    /// rounds, the server's and stackd's over every round they served).
    fn rr_cpu(&mut self, rounds: u64, poll: bool) -> io::Result<(f64, f64)> {
        let mut args = self.common_args();
        args.push(("rounds", rounds.to_string()));
        args.push(("poll", u8::from(poll).to_string()));
        let mut server = RoleChild::spawn(&self.exe, "ct-rr-server", &args, None)?;
        server.expect("ready")?;
        let mut client = RoleChild::spawn(&self.exe, "ct-rr-client", &args, None)?;
        client.expect("ready")?;
        let d0 = self.daemon_cpu()?;
        let ns = client.result()?;
        let d = self.daemon_cpu()?.saturating_sub(d0) as f64;
        let cpu_c = rp::num(&mut client, "cpu")?;
        client.finish()?;
        let cpu_s = rp::num(&mut server, "cpu")?;
        server.finish()?;
        let served = (rounds + rp::warm_rounds(rounds)) as f64;
        Ok((ns, cpu_c / rounds.max(1) as f64 + (cpu_s + d) / served))
    }

    /// The paced run between blocking apps.
    fn rr_paced(&mut self, rounds: u64) -> io::Result<PacedRun> {
        let mut args = self.common_args();
        args.push(("rounds", rounds.to_string()));
        args.push(("poll", "0".into()));
        args.push(("pace_ns", PACE.as_nanos().to_string()));
        let mut server = RoleChild::spawn(&self.exe, "ct-rr-server", &args, None)?;
        server.expect("ready")?;
        let mut client = RoleChild::spawn(&self.exe, "ct-rr-paced-client", &args, None)?;
        client.expect("ready")?;
        let d0 = self.daemon_cpu()?;
        let (p50, p99, cpu_c) = rp::read_driver_report(&mut client)?;
        let d = self.daemon_cpu()?.saturating_sub(d0) as f64;
        client.finish()?;
        let cpu_s = rp::num(&mut server, "cpu")?;
        server.finish()?;
        let served = (rounds + rp::warm_rounds(rounds)) as f64;
        Ok(PacedRun {
            p50_ns: p50,
            p99_ns: p99,
            cpu_ns_per_rr: (cpu_c + cpu_s + d) / served,
        })
    }

    /// CPU of an idle attached app and stackd over `span`, in % of one
    /// core (after a settling pause: spin spells run out).
    fn idle_cpu_pct(&mut self, span: Duration) -> io::Result<f64> {
        let args = self.common_args();
        let mut app = RoleChild::spawn(&self.exe, "ct-idle-app", &args, None)?;
        app.expect("ready")?;
        std::thread::sleep(Duration::from_millis(300));
        let (a0, d0) = (rp::process_cpu_ns(app.id())?, self.daemon_cpu()?);
        let t = Instant::now();
        std::thread::sleep(span);
        let (a1, d1) = (rp::process_cpu_ns(app.id())?, self.daemon_cpu()?);
        let secs = t.elapsed().as_secs_f64();
        app.finish()?;
        let (app_ns, d_ns) = (a1.saturating_sub(a0), d1.saturating_sub(d0));
        println!(
            "xproc: idle over {secs:.2} s: app {:.3} ms, stackd {:.3} ms of CPU",
            app_ns as f64 / 1e6,
            d_ns as f64 / 1e6
        );
        Ok((app_ns + d_ns) as f64 / (secs * 1e9) * 100.0)
    }

    fn cps(&mut self, cycles: u64) -> io::Result<f64> {
        let mut args = self.common_args();
        args.push(("cycles", cycles.to_string()));
        args.push(("in_flight", IN_FLIGHT.to_string()));
        let mut server = RoleChild::spawn(&self.exe, "ct-cps-server", &args, None)?;
        server.expect("ready")?;
        let mut client = RoleChild::spawn(&self.exe, "ct-cps-client", &args, None)?;
        client.expect("ready")?;
        let r = ax::go_and_time(&mut client, &mut server, cycles)?;
        client.finish()?;
        server.finish()?;
        Ok(r)
    }

    /// Stops stackd and prints what it still held (all zero unless
    /// something leaked).
    fn stop(&mut self) -> io::Result<()> {
        self.stackd.stop()
    }
}

/// Runs `f`, turning an error into a panic-free NaN sample (the line still
/// prints; the error goes to stderr).
fn sample(what: &str, f: impl FnOnce() -> io::Result<f64>) -> f64 {
    f().unwrap_or_else(|e| {
        eprintln!("xproc: {what}: {e}");
        f64::NAN
    })
}

/// [`sample`] for a measurement with two figures.
fn pair(what: &str, f: impl FnOnce() -> io::Result<(f64, f64)>) -> (f64, f64) {
    f().unwrap_or_else(|e| {
        eprintln!("xproc: {what}: {e}");
        (f64::NAN, f64::NAN)
    })
}

/// [`sample`] for a paced run.
fn paced(what: &str, f: impl FnOnce() -> io::Result<PacedRun>) -> PacedRun {
    f().unwrap_or_else(|e| {
        eprintln!("xproc: {what}: {e}");
        PacedRun {
            p50_ns: f64::NAN,
            p99_ns: f64::NAN,
            cpu_ns_per_rr: f64::NAN,
        }
    })
}

/// The median of `v` (NaN for none; NaNs sort last).
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The paced medians side by side, for the log.
fn runs_line(ct: &(f64, f64, f64), unix: &(f64, f64, f64)) -> [(&'static str, String); 2] {
    let f = |r: &(f64, f64, f64)| {
        format!(
            "p50 {} ns, p99 {} ns, cpu {} ns/rr",
            bench::format_value(r.0),
            bench::format_value(r.1),
            bench::format_value(r.2)
        )
    };
    [("ct", f(ct)), ("unix", f(unix))]
}

fn run_parent() -> io::Result<()> {
    let o = Opts::from_env();
    let q = o.args;
    let total: u64 = q.pick(1 << 30, 128 << 20);
    let poll_rounds: u64 = q.pick(200_000, 50_000);
    let blocking_rounds: u64 = q.pick(50_000, 10_000);
    let cycles: u64 = q.pick(20_000, 4_000);
    let paced_rounds: u64 = q.pick(20_000, 5_000);
    let idle = if q.quick { IDLE / 3 } else { IDLE };
    let mut ctx = Ctx::start(o.poll, o.linger_us)?;
    println!(
        "xproc: stackd with 1 worker, {} when idle",
        if o.poll {
            "polling (--poll)"
        } else {
            "sleeping on its eventfd (default mode)"
        }
    );
    let exe = ctx.exe.clone();
    let dir = ctx.dir.path().to_path_buf();

    if let Some(only) = o.only.as_deref() {
        let v = match only {
            "stream" => ctx.stream(total)?,
            "rr_poll" => ctx.rr(poll_rounds, true)?,
            "rr_blocking" => ctx.rr(blocking_rounds, false)?,
            "rr_paced" => {
                let r = ctx.rr_paced(paced_rounds)?;
                println!(
                    "xproc: rr_paced p99 {} ns, cpu {} ns/rr",
                    r.p99_ns, r.cpu_ns_per_rr
                );
                r.p50_ns
            }
            "unix_rr_paced" => {
                let r = rp::unix_rr_paced(&exe, paced_rounds, PACE)?;
                println!(
                    "xproc: unix_rr_paced p99 {} ns, cpu {} ns/rr",
                    r.p99_ns, r.cpu_ns_per_rr
                );
                r.p50_ns
            }
            "idle" => ctx.idle_cpu_pct(idle)?,
            "cps" => ctx.cps(cycles)?,
            "unix_stream" => ax::unix_stream(&exe, total, PIECE)?,
            "unix_rr" => ax::unix_rr_ns(&exe, blocking_rounds)?,
            "spin_rr" => ax::spin_rr_ns(&exe, poll_rounds)?,
            "unix_cps" => ax::unix_cps(&exe, &dir, cycles, IN_FLIGHT)?,
            // One connecting thread: a Unix connect completes without the
            // server's accept, so one thread still keeps a backlog going.
            "unix_cps_1t" => ax::unix_cps(&exe, &dir, cycles, 1)?,
            other => return Err(io::Error::other(format!("--only {other}: unknown"))),
        };
        println!("xproc: {only} {}", bench::format_value(v));
        return ctx.stop();
    }

    let [ct, unix] = bench::medians_of_3_interleaved([
        &mut || sample("ct stream", || ctx.stream(total)),
        &mut || sample("unix stream", || ax::unix_stream(&exe, total, PIECE)),
    ]);
    bench::report_gbps(&o.name("xproc_stream_GBps"), ct);
    bench::report_gbps(&o.name("xproc_unix_stream_GBps"), unix);
    bench::report_ratio(&o.name("xproc_stream_vs_unix_ratio"), ct, unix);

    let [ct, spin] = bench::medians_of_3_interleaved([
        &mut || sample("ct rr poll", || ctx.rr(poll_rounds, true)),
        &mut || sample("spin rr", || ax::spin_rr_ns(&exe, poll_rounds)),
    ]);
    bench::report_ns(&o.name("xproc_rr_poll_ns"), ct);
    bench::report_ns(&o.name("xproc_spin_rr_ns"), spin);
    bench::report_ratio(&o.name("xproc_rr_vs_spin_ratio"), ct, spin);

    let (mut ct_cpu, mut unix_cpu) = (Vec::new(), Vec::new());
    let [ct, unix] = bench::medians_of_3_interleaved([
        &mut || {
            let (ns, cpu) = pair("ct rr blocking", || ctx.rr_cpu(blocking_rounds, false));
            ct_cpu.push(cpu);
            ns
        },
        &mut || {
            let (ns, cpu) = pair("unix rr", || ax::unix_rr(&exe, blocking_rounds));
            unix_cpu.push(cpu);
            ns
        },
    ]);
    bench::report_ns(&o.name("xproc_rr_blocking_ns"), ct);
    bench::report_ns(&o.name("xproc_unix_rr_ns"), unix);
    bench::report_ratio(&o.name("xproc_rr_blocking_vs_unix_ratio"), ct, unix);
    bench::report(
        &o.name("xproc_rr_blocking_cpu_us"),
        median(&mut ct_cpu) / 1e3,
        "us",
    );
    bench::report(
        &o.name("xproc_unix_rr_cpu_us"),
        median(&mut unix_cpu) / 1e3,
        "us",
    );

    let mut runs: [Vec<PacedRun>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        runs[0].push(paced("ct rr paced", || ctx.rr_paced(paced_rounds)));
        runs[1].push(paced("unix rr paced", || {
            rp::unix_rr_paced(&exe, paced_rounds, PACE)
        }));
    }
    let [ct, unix] = runs.map(|r| {
        let field = |f: fn(&PacedRun) -> f64| median(&mut r.iter().map(f).collect::<Vec<_>>());
        (
            field(|r| r.p50_ns),
            field(|r| r.p99_ns),
            field(|r| r.cpu_ns_per_rr),
        )
    });
    for (i, r) in runs_line(&ct, &unix) {
        println!("xproc: paced {i}: {r}");
    }
    bench::report_ns(&o.name("xproc_rr_paced_p50_ns"), ct.0);
    bench::report_ns(&o.name("xproc_unix_rr_paced_p50_ns"), unix.0);
    bench::report_ratio(&o.name("xproc_rr_paced_p50_vs_unix_ratio"), ct.0, unix.0);
    bench::report_ns(&o.name("xproc_rr_paced_p99_ns"), ct.1);
    bench::report_ns(&o.name("xproc_unix_rr_paced_p99_ns"), unix.1);
    bench::report(&o.name("xproc_rr_paced_cpu_us"), ct.2 / 1e3, "us");
    bench::report(&o.name("xproc_unix_rr_paced_cpu_us"), unix.2 / 1e3, "us");
    bench::report_ratio(&o.name("xproc_rr_paced_cpu_vs_unix_ratio"), ct.2, unix.2);

    let mut idle_pct = [0.0f64; 3].map(|_| sample("idle", || ctx.idle_cpu_pct(idle)));
    bench::report(&o.name("idle_cpu_pct"), median(&mut idle_pct), "%");

    let [ct, unix] = bench::medians_of_3_interleaved([
        &mut || sample("ct cps", || ctx.cps(cycles)),
        &mut || sample("unix cps", || ax::unix_cps(&exe, &dir, cycles, IN_FLIGHT)),
    ]);
    bench::report(&o.name("xproc_cps"), ct, "cps");
    bench::report(&o.name("xproc_unix_cps"), unix, "cps");
    bench::report_ratio(&o.name("xproc_vs_unix_cps_ratio"), ct, unix);

    ctx.stop()
}

// ------------------------------------------------------------ ct roles

fn run_ct_role(role: &str) -> io::Result<()> {
    let a = RoleArgs::from_env();
    match role {
        "stackd" => stackd_role(&a),
        "ct-stream-server" => stream_server(&a),
        "ct-stream-client" => stream_client(&a),
        "ct-rr-server" => rr_server(&a),
        "ct-rr-client" => rr_client(&a),
        "ct-rr-paced-client" => rr_paced_client(&a),
        "ct-idle-app" => idle_app(&a),
        "ct-cps-server" => cps_server(&a),
        "ct-cps-client" => cps_client(&a),
        other => Err(io::Error::other(format!("unknown role `{other}`"))),
    }
}

/// stackd until its stdin says stop (or closes); then its leftovers.
fn stackd_role(a: &RoleArgs) -> io::Result<()> {
    let mut cfg = StackdConfig::new(a.get("socket")?).with_workers(1);
    cfg.poll = a.num::<u8>("poll")? != 0;
    cfg.ct_segment_linger = std::time::Duration::from_micros(a.num("linger_us")?);
    let d = Stackd::start(cfg).map_err(io::Error::other)?;
    ax::print_line("ready")?;
    let mut line = String::new();
    let _ = io::stdin().read_line(&mut line);
    let c = d.counters();
    let ctx = thread_ctx_switches();
    // Minor page faults of the whole daemon (field 10 of `stat`): fresh
    // segment memory touched.
    let minflt = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            rest.split_whitespace().nth(7)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    let left = d.stop();
    ax::print_line(&format!(
        "left apps={} sessions={} listeners={} segments={} fifos={} ct_connections={} \
         (served: ctrl_msgs={} evt_msgs={} congested={} bad_msgs={} app_signals={} \
         segment_fds={} minor_faults={minflt}; context switches, voluntary/involuntary: {ctx})",
        left.apps,
        left.sessions,
        left.listeners,
        left.segments,
        left.fifos,
        left.ct_connections,
        c.ctrl_msgs,
        c.evt_msgs,
        c.congested,
        c.bad_msgs,
        c.app_signals,
        c.segment_fds
    ))
}

/// Voluntary (slept) and involuntary (preempted) context switches of each
/// stack thread of this process (`ct-wrk-*`), from `/proc`: how often the
/// workers went to sleep and were woken.
fn thread_ctx_switches() -> String {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return "n/a".into();
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if !comm.starts_with("ct-wrk") {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map_or("?", str::trim)
                .to_string()
        };
        // utime and stime (fields 14 and 15 of `stat`, in clock ticks of
        // 10 ms), after the `(comm)` field that may hold spaces.
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let ticks: u64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        out.push(format!(
            "{comm} {}/{} cpu {} ms",
            field("voluntary_ctxt_switches:"),
            field("nonvoluntary_ctxt_switches:"),
            ticks * 10
        ));
    }
    out.sort();
    out.join(", ")
}

fn addr(a: &RoleArgs) -> io::Result<SocketAddr> {
    Ok(SocketAddr::from(([127, 0, 0, 1], a.num::<u16>("port")?)))
}

fn attach(a: &RoleArgs, name: &str, fifo: u32) -> io::Result<AppClient> {
    let mut cfg = AttachConfig::new(name).with_fifo_size(fifo);
    // Room for the fifos of every session the app holds at once.
    cfg.segment_size = 64 << 20;
    AppClient::attach(a.get("socket")?, cfg)
}

/// A listener bound on the role's port, announced to the parent.
fn listen(a: &RoleArgs, client: &AppClient) -> io::Result<CtListener> {
    let l = CtListener::bind(client, addr(a)?)?;
    ax::print_line("ready")?;
    Ok(l)
}

fn stream_server(a: &RoleArgs) -> io::Result<()> {
    let app = attach(a, "stream-server", STREAM_FIFO)?;
    let l = listen(a, &app)?;
    let (mut s, _) = l.accept()?;
    ax::read_stream(&mut s, a.num("total")?, a.num("piece")?)?;
    // The client closes first (after the ack): wait for it.
    let _ = s.read(&mut [0u8; 1])?;
    Ok(())
}

fn stream_client(a: &RoleArgs) -> io::Result<()> {
    let app = attach(a, "stream-client", STREAM_FIFO)?;
    let mut s = CtStream::connect(&app, addr(a)?)?;
    let gbps = ax::write_stream(&mut s, a.num("total")?, a.num("piece")?)?;
    drop(s);
    ax::print_result(gbps)
}

/// Empty polls of the rx fifo between two looks at the event queues.
const POLLS_PER_DRAIN: u32 = 64;

/// One byte in: a polling app spins on its rx fifo (one load of the
/// fifo's tail per poll; every [`POLLS_PER_DRAIN`] empty polls a
/// non-blocking read also drains the event queues, so the stack's events
/// never pile up and the end of the session is seen), waiting between
/// polls as the spin anchor does ([`ax::PollWait`]); a blocking app sleeps
/// in a blocking read.
fn read_byte(s: &mut CtStream, b: &mut [u8; 1], poll: bool) -> io::Result<usize> {
    if !poll {
        return s.read(b);
    }
    let mut wait = ax::PollWait::new();
    let mut n = 0u32;
    loop {
        if s.max_dequeue()? > 0 {
            return s.read(b);
        }
        n = n.wrapping_add(1);
        if n.is_multiple_of(POLLS_PER_DRAIN) {
            match s.read(b) {
                Ok(k) => return Ok(k),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        wait.idle()?;
    }
}

fn rr_server(a: &RoleArgs) -> io::Result<()> {
    let poll = a.num::<u8>("poll")? != 0;
    let app = attach(a, "rr-server", SMALL_FIFO)?;
    let l = listen(a, &app)?;
    let (mut s, _) = l.accept()?;
    s.set_nonblocking(poll)?;
    let c0 = rp::self_cpu_ns()?;
    let mut b = [0u8; 1];
    loop {
        match read_byte(&mut s, &mut b, poll)? {
            0 => break,
            _ => s.write_all(&b)?,
        }
    }
    // Every round served, the warm-up included.
    ax::print_line(&format!("cpu {}", rp::self_cpu_ns()?.saturating_sub(c0)))
}

fn rr_paced_client(a: &RoleArgs) -> io::Result<()> {
    let app = attach(a, "rr-paced-client", SMALL_FIFO)?;
    let mut s = CtStream::connect(&app, addr(a)?)?;
    ax::print_line("ready")?;
    let pace = Duration::from_nanos(a.num("pace_ns")?);
    rp::paced_driver_report(&mut s, a.num("rounds")?, pace)
}

/// An attached app with one session to itself and a thread blocked in a
/// read on each end, idle until stdin closes.
fn idle_app(a: &RoleArgs) -> io::Result<()> {
    // A name of its own: the previous sample's app may still be detaching
    // (its hang-up reaches the daemon after the process is gone).
    let app = attach(a, &format!("idle-app-{}", std::process::id()), SMALL_FIFO)?;
    let l = CtListener::bind(&app, addr(a)?)?;
    let c = CtStream::connect(&app, addr(a)?)?;
    let (s, _) = l.accept()?;
    for mut st in [c, s] {
        std::thread::spawn(move || {
            let _ = st.read(&mut [0u8; 1]);
        });
    }
    ax::print_line("ready")?;
    let mut line = String::new();
    let _ = io::stdin().read_line(&mut line);
    Ok(())
}

fn rr_client(a: &RoleArgs) -> io::Result<()> {
    let rounds: u64 = a.num("rounds")?;
    let poll = a.num::<u8>("poll")? != 0;
    let app = attach(a, "rr-client", SMALL_FIFO)?;
    let mut s = CtStream::connect(&app, addr(a)?)?;
    s.set_nonblocking(poll)?;
    ax::print_line("ready")?;
    let mut b = [7u8; 1];
    let warm = rp::warm_rounds(rounds);
    let mut t = Instant::now();
    let mut c0 = 0;
    for i in 0..warm + rounds {
        if i == warm {
            c0 = rp::self_cpu_ns()?;
            t = Instant::now();
        }
        s.write_all(&b)?;
        if read_byte(&mut s, &mut b, poll)? != 1 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    let ns = bench::ns_per_op(t.elapsed(), rounds);
    let cpu = rp::self_cpu_ns()?.saturating_sub(c0);
    drop(s);
    ax::print_result(ns)?;
    ax::print_line(&format!("cpu {cpu}"))
}

fn cps_server(a: &RoleArgs) -> io::Result<()> {
    let cycles: u64 = a.num("cycles")?;
    let app = attach(a, "cps-server", CPS_FIFO)?;
    let l = listen(a, &app)?;
    for _ in 0..cycles {
        let (s, _) = l.accept()?;
        drop(s);
    }
    ax::print_line("done")?;
    // The listener stays until the parent says stop: the client may still
    // be filing the answers to its last connects.
    let _ = ax::wait_go();
    Ok(())
}

/// The bench's answers: close every session as soon as it is connected;
/// the server accepts a fixed count, so a refused connect goes back.
#[derive(Default)]
struct CloseEach {
    done: u64,
    refused: u64,
}

impl CpsHandler for CloseEach {
    fn connected(&mut self, _attempt: u64, s: CtStream) -> io::Result<()> {
        drop(s);
        self.done += 1;
        Ok(())
    }

    fn failed(&mut self, _attempt: u64, e: io::Error) -> io::Result<Failure> {
        if e.kind() != io::ErrorKind::ConnectionRefused {
            return Err(e);
        }
        if self.refused == 0 {
            eprintln!(
                "ct cps client: first refusal after {} cycles: {e:?}",
                self.done
            );
        }
        self.refused += 1;
        Ok(Failure::Retry)
    }
}

/// One thread keeps `in_flight` connects going (vperf's way, see
/// `ct_echo::cps_pipeline`), closing each session once connected.
fn cps_client(a: &RoleArgs) -> io::Result<()> {
    let cycles: u64 = a.num("cycles")?;
    let in_flight: usize = a.num("in_flight")?;
    let app = attach(a, "cps-client", CPS_FIFO)?;
    let to = addr(a)?;
    ax::print_line("ready")?;
    ax::wait_go()?;
    let mut pipeline = CpsPipeline::new(in_flight);
    pipeline.stall_timeout = Some(ax::PEER_TIMEOUT);
    let mut h = CloseEach::default();
    pipeline.run(&app, to, cycles, &mut h)?;
    if h.refused > 0 {
        eprintln!("ct cps client: {} connects refused and retried", h.refused);
    }
    ax::print_line("done")
}
