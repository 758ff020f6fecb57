//! ct connection rate and per-session bookkeeping.
//!
//! - `BENCH ct_cps`: ct connect + accept + close cycles per second on a
//!   stack with one worker thread (builtin server and client apps; the
//!   client closes each session as soon as it is connected and starts the
//!   next connect from its callback, 8 cycles in flight). Anchor, same run:
//!   Unix stream socket connect + accept + close cycles per second on one
//!   thread (`BENCH unix_cps`), and `BENCH ct_vs_unix_cps_ratio`. The same
//!   with one cycle in flight: `BENCH ct_cps_serial`,
//!   `BENCH ct_serial_vs_unix_cps_ratio`.
//! - `BENCH ct_session_overhead_bytes`: anonymous (heap) memory the stack
//!   holds per open ct session, measured as the growth of the process's
//!   `RssAnon` over many open sessions; the fifos live in memfd segments
//!   (`RssShmem`) and are not counted. Anchor: the session's fifo pair
//!   bytes (`BENCH ct_session_overhead_vs_fifo_pair_ratio`).

use ct_sync::atomic::{AtomicU64, Ordering};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_worker::{AppCallbacks, AppCtx, AppKind, AttachOptions, Scope, Stack};
use ct_session::{
    SessionCleanupNtf, SessionEndpoint, SessionError, SessionHandle, ThreadedConfig, TransportProto,
};
use ct_transport_ct::{CtConfig, CtMain};
use test_harness::bench::{self, BenchArgs};

const FIFO_SIZE: u32 = 4096;
const IN_FLIGHT: u64 = 8;
const SERIAL: u64 = 1;

fn endpoint() -> SessionEndpoint {
    SessionEndpoint::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7000, TransportProto::Tcp)
}

struct Server;

impl AppCallbacks for Server {}

/// Closes every session once connected and connects again while cycles
/// remain.
#[derive(Default)]
struct Client {
    to_start: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
}

impl AppCallbacks for Client {
    fn connected(
        &self,
        ctx: &mut AppCtx<'_>,
        _opaque: u32,
        result: Result<SessionHandle, SessionError>,
    ) {
        match result {
            Ok(h) => {
                let _ = ctx.disconnect(h);
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.done.fetch_add(1, Ordering::Release);
            }
        }
        self.next(ctx);
    }

    fn cleanup(&self, _ctx: &mut AppCtx<'_>, _s: SessionHandle, ntf: SessionCleanupNtf) {
        if ntf == SessionCleanupNtf::Session {
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

impl Client {
    fn next(&self, ctx: &mut AppCtx<'_>) {
        let left = self
            .to_start
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if left.is_ok() && ctx.connect(endpoint(), 0).is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn attach(stack: &Stack, name: &str, cb: Arc<dyn AppCallbacks>) -> ct_app_worker::AttachReply {
    stack
        .attach(
            AttachOptions::new(name, AppKind::Builtin(cb))
                .with_scope(Scope::LOCAL)
                .with_fifo_sizes(FIFO_SIZE, FIFO_SIZE),
        )
        .expect("attach")
}

fn ct_stack(n_workers: u32) -> (Stack, Arc<CtMain>) {
    let stack = Stack::new(n_workers).expect("stack");
    let ct = CtMain::new(CtConfig::default());
    ct.register(stack.main(), stack.apps().clone())
        .expect("register ct");
    (stack, ct)
}

/// ct cycles per second: `cycles` connect/accept/close cycles, `in_flight`
/// at a time.
fn ct_cps(
    stack: &mut Stack,
    client_wrk: ct_app_worker::AppWorkerHandle,
    client: &Client,
    cycles: u64,
    in_flight: u64,
) -> f64 {
    client.done.store(0, Ordering::Release);
    client.to_start.store(cycles - in_flight, Ordering::Release);
    let t0 = Instant::now();
    for _ in 0..in_flight {
        stack.connect(client_wrk, endpoint(), 0).expect("connect");
    }
    while client.done.load(Ordering::Acquire) < cycles {
        std::thread::sleep(Duration::from_micros(200));
    }
    cycles as f64 / t0.elapsed().as_secs_f64()
}

/// The anchor: Unix stream connect + accept + close, one thread.
fn unix_cps(cycles: u64) -> f64 {
    let dir = std::env::temp_dir().join(format!("ct-cps-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("anchor.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind unix anchor");
    let t0 = Instant::now();
    for _ in 0..cycles {
        let c = UnixStream::connect(&path).expect("connect");
        let (s, _) = listener.accept().expect("accept");
        drop(c);
        drop(s);
    }
    let cps = cycles as f64 / t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
    cps
}

fn rss_anon_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Heap bytes per open ct session: opens `n` sessions on a stepped stack
/// and keeps them open.
fn session_overhead(n: u64) -> f64 {
    struct Keep;
    impl AppCallbacks for Keep {}
    let (mut stack, ct) = ct_stack(0);
    let server = attach(&stack, "server", Arc::new(Keep));
    let client = attach(&stack, "client", Arc::new(Keep));
    stack.listen(server.app_wrk, endpoint()).expect("listen");
    // Warm up the pools so their growth is not charged to the sample.
    let open = |stack: &mut Stack, k: u64| {
        for _ in 0..k {
            stack
                .connect(client.app_wrk, endpoint(), 0)
                .expect("connect");
        }
        stack.run_until_idle().expect("idle");
    };
    open(&mut stack, 256);
    let before = rss_anon_bytes().unwrap_or(0);
    open(&mut stack, n);
    let after = rss_anon_bytes().unwrap_or(0);
    let total: u32 = ct.segments().iter().map(|s| s.client_n_sessions).sum();
    assert_eq!(u64::from(total), n + 256, "sessions did not open");
    after.saturating_sub(before) as f64 / n as f64
}

fn main() {
    let args = BenchArgs::from_env();
    let cycles: u64 = args.pick(200_000, 20_000);

    let (mut stack, ct) = ct_stack(1);
    let client_cb = Arc::new(Client::default());
    let server = attach(&stack, "server", Arc::new(Server));
    let client = attach(&stack, "client", client_cb.clone());
    stack
        .start_threads(ThreadedConfig::default())
        .expect("threads");
    stack.listen(server.app_wrk, endpoint()).expect("listen");
    // Warm up: segments created, pools grown.
    ct_cps(&mut stack, client.app_wrk, &client_cb, 2_000, IN_FLIGHT);
    unix_cps(2_000);

    // Interleaved rounds, as bench::medians_of_3_interleaved does (the two
    // ct runs share the stack, so they cannot be two closures there).
    let (mut ct_s, mut serial_s, mut unix_s) = ([0.0; 3], [0.0; 3], [0.0; 3]);
    for round in 0..3 {
        ct_s[round] = ct_cps(&mut stack, client.app_wrk, &client_cb, cycles, IN_FLIGHT);
        serial_s[round] = ct_cps(&mut stack, client.app_wrk, &client_cb, cycles / 4, SERIAL);
        unix_s[round] = unix_cps(cycles);
    }
    let (ct_rate, serial_rate, unix_rate) = (
        bench::median(&mut ct_s),
        bench::median(&mut serial_s),
        bench::median(&mut unix_s),
    );
    assert_eq!(
        client_cb.errors.load(Ordering::Relaxed),
        0,
        "ct connects failed"
    );

    bench::report("ct_cps", ct_rate, "conn/s");
    bench::report("unix_cps", unix_rate, "conn/s");
    bench::report_ratio("ct_vs_unix_cps_ratio", ct_rate, unix_rate);
    bench::report("ct_cps_serial", serial_rate, "conn/s");
    bench::report_ratio("ct_serial_vs_unix_cps_ratio", serial_rate, unix_rate);
    drop(ct);
    let _ = stack.shutdown();

    let n = args.pick(20_000, 4_000);
    let overhead = bench::median_of_3(|| session_overhead(n));
    bench::report("ct_session_overhead_bytes", overhead, "bytes");
    bench::report_ratio(
        "ct_session_overhead_vs_fifo_pair_ratio",
        overhead,
        f64::from(2 * FIFO_SIZE),
    );
}
