//! tokio over ct between processes: a `ct-stackd` (a child process), a
//! server and a client (each a child process, a current-thread tokio
//! runtime over `ct_app_client::tokio`), every figure beside the same
//! program over tokio's `UnixStream` between two processes, from the same
//! run, subject and anchor interleaved, median of 3.
//!
//! - 1-byte request/response on one connection -> `BENCH tokio_rr_ns`, vs
//!   `BENCH tokio_unix_rr_ns`: `BENCH tokio_rr_vs_unix_ratio` (target
//!   <= 0.2);
//! - 100 connections, each a task doing 1-byte request/response, round
//!   trips per second -> `BENCH tokio_rr100_rtps`, vs
//!   `BENCH tokio_unix_rr100_rtps`: `BENCH tokio_rr100_vs_unix_ratio`
//!   (target >= 3);
//! - 1 GiB (quick: 128 MiB) with `tokio::io::copy` on one connection ->
//!   `BENCH tokio_stream_GBps`, vs `BENCH tokio_unix_stream_GBps`:
//!   `BENCH tokio_stream_vs_unix_ratio` (target >= 3).
//!
//! A ct task that finds nothing to do spins cooperatively for a short
//! adaptive spell before it parks, so beside each latency figure the CPU
//! seconds of the server and client processes (`*_cpu_s`, user + system,
//! median run) say what the spin cost.
//!
//! `--only rr|rr100|stream|unix_rr|unix_rr100|unix_stream` runs one
//! measurement once, without anchors (for `perf` or `strace -c -f`).
//!
//! The program re-executes itself for every process: the role is in
//! `CT_XPROC_ROLE` (`anchors_xproc::ROLE_ENV`).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ct_app_client::{AppClient, AttachConfig};
use ct_stackd::{Stackd, StackdConfig};
use test_harness::anchors_xproc::{self as ax, RoleArgs, RoleChild, TempDir};
use test_harness::bench::{self, BenchArgs};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Fifo size of every ct session (both apps ask for it).
const FIFO: u32 = 4 << 20;
/// Connections of the many-connection request/response run.
const CONNS: usize = 100;

fn main() {
    if let Some(role) = ax::role() {
        if let Err(e) = run_role(&role) {
            eprintln!("tokio_xproc {role}: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = run_parent() {
        eprintln!("tokio_xproc: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- parent

/// One measured run: the client's figure and the CPU seconds both apps
/// used.
#[derive(Clone, Copy)]
struct Run {
    value: f64,
    cpu_s: f64,
}

struct Ctx {
    exe: PathBuf,
    dir: TempDir,
    socket: PathBuf,
    stackd: ax::StackdChild,
    next_port: u16,
}

impl Ctx {
    fn start() -> io::Result<Ctx> {
        let exe = std::env::current_exe()?;
        let dir = TempDir::new("ct-tokio-bench")?;
        let socket = dir.path().join("stackd.sock");
        let stackd = ax::StackdChild::spawn(
            &exe,
            &[("socket", socket.display().to_string())],
            "tokio_xproc",
        )?;
        Ok(Ctx {
            exe,
            dir,
            socket,
            stackd,
            next_port: 7400,
        })
    }

    /// A server and a client over `transport` (`ct` or `unix`) doing
    /// `mode` (`rr` or `stream`).
    fn pair(&mut self, transport: &str, mode: &str, conns: usize, amount: u64) -> io::Result<Run> {
        self.next_port += 1;
        let unix_path = self
            .dir
            .path()
            .join(format!("unix-{}.sock", self.next_port));
        let args = [
            ("transport", transport.to_string()),
            ("mode", mode.to_string()),
            ("conns", conns.to_string()),
            ("amount", amount.to_string()),
            ("socket", self.socket.display().to_string()),
            ("port", self.next_port.to_string()),
            ("unix", unix_path.display().to_string()),
        ];
        let mut server = RoleChild::spawn(&self.exe, "tokio-server", &args, None)?;
        server.expect("ready")?;
        let mut client = RoleChild::spawn(&self.exe, "tokio-client", &args, None)?;
        let value = client.result()?;
        let cpu_c: f64 = num(&client.expect("cpu")?)?;
        let cpu_s: f64 = num(&server.expect("cpu")?)?;
        client.finish()?;
        server.finish()?;
        let _ = std::fs::remove_file(&unix_path);
        Ok(Run {
            value,
            cpu_s: cpu_c + cpu_s,
        })
    }

    fn stop(&mut self) -> io::Result<()> {
        self.stackd.stop()
    }
}

fn num<T: std::str::FromStr>(s: &str) -> io::Result<T> {
    s.parse()
        .map_err(|_| io::Error::other(format!("not a number: `{s}`")))
}

/// Median of 3 runs of subject and anchor, interleaved; the CPU seconds
/// of the run whose figure is the median.
fn medians(
    mut subject: impl FnMut() -> io::Result<Run>,
    mut anchor: impl FnMut() -> io::Result<Run>,
) -> [Run; 2] {
    let failed = |what: &str, e: io::Error| {
        eprintln!("tokio_xproc: {what}: {e}");
        Run {
            value: f64::NAN,
            cpu_s: f64::NAN,
        }
    };
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        runs[0].push(subject().unwrap_or_else(|e| failed("ct", e)));
        runs[1].push(anchor().unwrap_or_else(|e| failed("unix", e)));
    }
    runs.map(|mut rs| {
        rs.sort_by(|a, b| a.value.total_cmp(&b.value));
        rs[1]
    })
}

fn run_parent() -> io::Result<()> {
    let q = BenchArgs::from_env();
    let rounds: u64 = q.pick(100_000, 20_000);
    let rounds100: u64 = q.pick(5_000, 1_000);
    let total: u64 = q.pick(1 << 30, 128 << 20);
    let mut ctx = Ctx::start()?;
    println!(
        "tokio_xproc: stackd with 1 worker sleeping on its eventfd when idle; apps on \
         current-thread runtimes; ct fifos {} KiB",
        FIFO >> 10
    );

    let argv: Vec<String> = std::env::args().collect();
    if let Some(only) = argv
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| argv.get(i + 1))
    {
        let (transport, what) = only.split_once('_').unwrap_or(("ct", only));
        let transport = if transport == "unix" { "unix" } else { "ct" };
        let what = if transport == "ct" {
            only.as_str()
        } else {
            what
        };
        let r = match what {
            "rr" => ctx.pair(transport, "rr", 1, rounds)?,
            "rr100" => ctx.pair(transport, "rr", CONNS, rounds100)?,
            "stream" => ctx.pair(transport, "stream", 1, total)?,
            other => return Err(io::Error::other(format!("--only {other}: unknown"))),
        };
        println!(
            "tokio_xproc: {only} {} (cpu {} s)",
            bench::format_value(r.value),
            bench::format_value(r.cpu_s)
        );
        return ctx.stop();
    }

    let ctx = &mut ctx;
    let cell = std::cell::RefCell::new(ctx);
    let [ct, unix] = medians(
        || cell.borrow_mut().pair("ct", "rr", 1, rounds),
        || cell.borrow_mut().pair("unix", "rr", 1, rounds),
    );
    bench::report_ns("tokio_rr_ns", ct.value);
    bench::report("tokio_rr_cpu_s", ct.cpu_s, "s");
    bench::report_ns("tokio_unix_rr_ns", unix.value);
    bench::report("tokio_unix_rr_cpu_s", unix.cpu_s, "s");
    bench::report_ratio("tokio_rr_vs_unix_ratio", ct.value, unix.value);

    let [ct, unix] = medians(
        || cell.borrow_mut().pair("ct", "rr", CONNS, rounds100),
        || cell.borrow_mut().pair("unix", "rr", CONNS, rounds100),
    );
    bench::report("tokio_rr100_rtps", ct.value, "rt/s");
    bench::report("tokio_rr100_cpu_s", ct.cpu_s, "s");
    bench::report("tokio_unix_rr100_rtps", unix.value, "rt/s");
    bench::report("tokio_unix_rr100_cpu_s", unix.cpu_s, "s");
    bench::report_ratio("tokio_rr100_vs_unix_ratio", ct.value, unix.value);

    let [ct, unix] = medians(
        || cell.borrow_mut().pair("ct", "stream", 1, total),
        || cell.borrow_mut().pair("unix", "stream", 1, total),
    );
    bench::report_gbps("tokio_stream_GBps", ct.value);
    bench::report("tokio_stream_cpu_s", ct.cpu_s, "s");
    bench::report_gbps("tokio_unix_stream_GBps", unix.value);
    bench::report("tokio_unix_stream_cpu_s", unix.cpu_s, "s");
    bench::report_ratio("tokio_stream_vs_unix_ratio", ct.value, unix.value);

    cell.into_inner().stop()
}

// ---------------------------------------------------------------- roles

fn run_role(role: &str) -> io::Result<()> {
    let a = RoleArgs::from_env();
    match role {
        "stackd" => stackd_role(&a),
        "tokio-server" => on_runtime(server(&a)),
        "tokio-client" => on_runtime(client(&a)),
        other => Err(io::Error::other(format!("unknown role `{other}`"))),
    }
}

/// stackd until its stdin says stop (or closes); then its leftovers.
fn stackd_role(a: &RoleArgs) -> io::Result<()> {
    let d = Stackd::start(StackdConfig::new(a.get("socket")?).with_workers(1))
        .map_err(io::Error::other)?;
    ax::print_line("ready")?;
    let _ = io::stdin().read_line(&mut String::new());
    let left = d.stop();
    ax::print_line(&format!("left {left}"))
}

fn on_runtime(f: impl std::future::Future<Output = io::Result<()>>) -> io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)?;
    ax::print_line(&format!("cpu {}", cpu_seconds()))
}

/// User + system CPU seconds of this process (fields 14 and 15 of
/// `/proc/self/stat`, in clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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
    ticks as f64 / 100.0
}

fn addr(a: &RoleArgs) -> io::Result<SocketAddr> {
    Ok(SocketAddr::from(([127, 0, 0, 1], a.num::<u16>("port")?)))
}

fn attach(a: &RoleArgs, name: &str) -> io::Result<AppClient> {
    let mut cfg = AttachConfig::new(name).with_fifo_size(FIFO);
    // Room for the fifos of every session the app holds at once.
    cfg.segment_size = 1 << 30;
    AppClient::attach(a.get("socket")?, cfg)
}

/// Boxed halves of one connection, whatever its transport.
type Conn = (
    Box<dyn AsyncRead + Unpin + Send>,
    Box<dyn AsyncWrite + Unpin + Send>,
);

async fn server(a: &RoleArgs) -> io::Result<()> {
    let conns: usize = a.num("conns")?;
    let stream = a.get("mode")? == "stream";
    let mut accepted: Vec<Conn> = Vec::new();
    // The app stays attached until every session ended.
    let mut _app = None;
    if a.get("transport")? == "ct" {
        let app = attach(a, "tokio-bench-server")?;
        let l = ct_app_client::tokio::CtListener::bind(&app, addr(a)?)?;
        ax::print_line("ready")?;
        for _ in 0..conns {
            let (s, _) = l.accept().await?;
            let (r, w) = s.into_split();
            accepted.push((Box::new(r), Box::new(w)));
        }
        _app = Some(app);
    } else {
        let l = tokio::net::UnixListener::bind(a.get("unix")?)?;
        ax::print_line("ready")?;
        for _ in 0..conns {
            let (s, _) = l.accept().await?;
            let (r, w) = s.into_split();
            accepted.push((Box::new(r), Box::new(w)));
        }
    }
    let mut tasks = Vec::new();
    for (mut r, mut w) in accepted {
        tasks.push(tokio::spawn(async move {
            if stream {
                // Everything into the sink, then a 1-byte ack.
                tokio::io::copy(&mut r, &mut tokio::io::sink()).await?;
                w.write_all(&[1]).await?;
                return w.shutdown().await;
            }
            let mut b = [0u8; 1];
            loop {
                if r.read(&mut b).await? == 0 {
                    return w.shutdown().await;
                }
                w.write_all(&b).await?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(io::Error::other)??;
    }
    Ok(())
}

async fn client(a: &RoleArgs) -> io::Result<()> {
    let conns: usize = a.num("conns")?;
    let amount: u64 = a.num("amount")?;
    let mut connected: Vec<Conn> = Vec::new();
    let mut _app = None;
    if a.get("transport")? == "ct" {
        let app = attach(a, "tokio-bench-client")?;
        for _ in 0..conns {
            let s = ct_app_client::tokio::CtStream::connect(&app, addr(a)?).await?;
            let (r, w) = s.into_split();
            connected.push((Box::new(r), Box::new(w)));
        }
        _app = Some(app);
    } else {
        let path: &Path = a.get("unix")?.as_ref();
        for _ in 0..conns {
            let s = tokio::net::UnixStream::connect(path).await?;
            let (r, w) = s.into_split();
            connected.push((Box::new(r), Box::new(w)));
        }
    }
    let v = if a.get("mode")? == "stream" {
        let (mut r, mut w) = connected.pop().ok_or(io::ErrorKind::InvalidInput)?;
        let t = Instant::now();
        let mut src = tokio::io::repeat(0x5a).take(amount);
        let n = tokio::io::copy(&mut src, &mut w).await?;
        w.shutdown().await?;
        let mut ack = [0u8; 1];
        r.read_exact(&mut ack).await?;
        bench::gbps(n, t.elapsed())
    } else {
        rr(connected, amount).await?
    };
    ax::print_result(v)
}

/// Every connection a task doing `rounds` 1-byte round trips (after a
/// warm-up): ns per round trip with one connection, round trips per
/// second of all of them with more.
async fn rr(connected: Vec<Conn>, rounds: u64) -> io::Result<f64> {
    let conns = connected.len();
    let warm = rounds.min(1000);
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(conns + 1));
    let mut tasks = Vec::new();
    for (mut r, mut w) in connected {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let mut b = [7u8; 1];
            for i in 0..warm + rounds {
                if i == warm {
                    start.wait().await;
                }
                w.write_all(&b).await?;
                r.read_exact(&mut b).await?;
            }
            w.shutdown().await?;
            io::Result::Ok(())
        }));
    }
    start.wait().await;
    let t = Instant::now();
    for task in tasks {
        task.await.map_err(io::Error::other)??;
    }
    let elapsed = t.elapsed();
    Ok(if conns == 1 {
        bench::ns_per_op(elapsed, rounds)
    } else {
        (conns as u64 * rounds) as f64 / elapsed.as_secs_f64()
    })
}
