//! 1-byte request/response round trips over one ct session.
//!
//! - Busy-polling apps: the client writes one byte and polls its rx fifo
//!   until the answer is there; the server polls, answers. Events still go
//!   to the (threaded, sleeping when idle) worker. `BENCH ct_rr_poll_ns`
//!   against two threads handing a token through one atomic
//!   (`BENCH ct_rr_spin_ns`): `BENCH ct_rr_vs_spin_ratio` (target <= 2).
//! - Blocking apps: each side waits as a blocking read does
//!   ([`PairEnd::read_blocking`]): the waker's adaptive spin on the rx fifo
//!   first, then sleep until the worker delivers the event (peer write ->
//!   TX event -> worker -> RX event -> app). `BENCH ct_rr_blocking_ns`
//!   against a 1-byte ping-pong on a Unix socketpair
//!   (`BENCH ct_rr_unix_ns`): `BENCH ct_rr_blocking_vs_unix_ratio` (target
//!   <= 0.5).
//!
//! Each end lives on its own cache lines, as ends in two processes do. A
//! polling end drains its message queue while it waits (every 64 empty
//! polls), not between a read and its answer, and looks at the clock only
//! every 1024 polls: the spin anchor's loop has neither.
//!
//! Diagnostics (no BENCH lines): `--explain poll|blocking` runs one mode
//! once and prints what a round trip costs besides time (events each way,
//! worker dispatches, context switches of the three threads from Linux
//! `/proc`; run it under `perf stat -e 'syscalls:sys_enter_futex'` for
//! system calls). `--explain parts` splits the poll round trip into parts
//! (bare fifo ping-pong, + `set_event`, + `needs_deq_ntf`, the apps' API)
//! by timing single round trips: percentiles, which a descheduled thread
//! does not move the way it moves a mean. `--explain ops` runs both ends'
//! calls on one thread, for `valgrind --tool=callgrind`.
//!
//! [`PairEnd::read_blocking`]: test_harness::ct_pair::PairEnd::read_blocking

use ct_sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ct_fifo_segment::{Consumer, FifoSegment, Producer, SegmentFlags};
use ct_session::{ThreadedConfig, WorkerCounters};
use test_harness::anchors;
use test_harness::bench::{self, BenchArgs};
use test_harness::ct_pair::{CtPair, PairEnd};

const FIFO: u32 = 64 << 10;

/// Polls between two looks at the deadline: the clock costs as much as a
/// poll, and the spin anchor has none in its loop.
const POLLS_PER_CLOCK: u32 = 1024;

/// Polls between two drains of the app's message queue while waiting.
const POLLS_PER_IDLE: u32 = 64;

/// One thread's state on cache lines of its own (128: the adjacent-line
/// prefetcher pairs lines).
#[repr(align(128))]
struct Own<T>(T);

/// Round trips driven by `client` (one call = one round trip, timed
/// singly when `samples` is given) against `server` (one call = one
/// answer) on a second thread. Returns the mean ns per round trip.
fn ping_pong(
    rounds: u64,
    mut client: impl FnMut(),
    mut server: impl FnMut() + Send,
    mut samples: Option<&mut Vec<u32>>,
) -> f64 {
    std::thread::scope(|s| {
        s.spawn(move || {
            for _ in 0..rounds {
                server();
            }
        });
        let t = Instant::now();
        for _ in 0..rounds {
            match samples.as_deref_mut() {
                Some(v) => {
                    let t1 = Instant::now();
                    client();
                    v.push(t1.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                }
                None => client(),
            }
        }
        bench::ns_per_op(t.elapsed(), rounds)
    })
}

/// Polls `read` until it returns bytes; 0 at `deadline`. While nothing
/// came, `idle` runs every [`POLLS_PER_IDLE`] polls (an app's event loop
/// drains its message queue while it waits, not between a read and the
/// answer).
fn poll_read(mut read: impl FnMut() -> usize, mut idle: impl FnMut(), deadline: Instant) -> usize {
    let mut polls = 0u32;
    loop {
        let n = read();
        if n > 0 {
            return n;
        }
        polls += 1;
        if polls.is_multiple_of(POLLS_PER_IDLE) {
            idle();
        }
        if polls.is_multiple_of(POLLS_PER_CLOCK) && Instant::now() >= deadline {
            return 0;
        }
        std::hint::spin_loop();
    }
}

/// One side's turn: wait for a byte (polling or blocking), answer it.
fn answer(end: &mut PairEnd, blocking: bool, deadline: Instant) {
    let mut b = [0u8; 1];
    let n = if blocking {
        end.read_blocking(&mut b, deadline).expect("server read")
    } else {
        let PairEnd { io, q, .. } = end;
        poll_read(
            || io.read(&mut b).expect("server read"),
            || while let Ok(Some(_)) = q.try_recv() {},
            deadline,
        )
    };
    assert_eq!(n, 1, "server timed out");
    assert_eq!(end.io.write(&b).expect("server write"), 1);
}

/// The client's round trip: write a byte, wait for the answer.
fn ask(end: &mut PairEnd, blocking: bool, deadline: Instant) {
    let mut b = [7u8; 1];
    assert_eq!(end.io.write(&b).expect("client write"), 1);
    let n = if blocking {
        end.read_blocking(&mut b, deadline).expect("client read")
    } else {
        let PairEnd { io, q, .. } = end;
        poll_read(
            || io.read(&mut b).expect("client read"),
            || while let Ok(Some(_)) = q.try_recv() {},
            deadline,
        )
    };
    assert_eq!(n, 1, "client timed out");
}

/// What one run cost besides time.
#[derive(Default)]
struct Counts {
    client_tx_events: u64,
    server_tx_events: u64,
    workers: Vec<WorkerCounters>,
    /// (voluntary, involuntary) context switches: client, server, worker.
    ctx: [(u64, u64); 3],
}

/// Nanoseconds per round trip over a fresh ct session; `blocking` picks
/// how the apps wait.
fn ct_rr(rounds: u64, blocking: bool) -> f64 {
    ct_rr_with(rounds, blocking, None).0
}

fn ct_rr_with(rounds: u64, blocking: bool, samples: Option<&mut Vec<u32>>) -> (f64, Counts) {
    let CtPair {
        stack,
        ct,
        server,
        client,
    } = CtPair::new(1, FIFO, ThreadedConfig::default()).expect("ct pair");
    let (mut server, mut client) = (Own(server), Own(client));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut counts = Counts::default();
    let wrk_task = task_named("ct-wrk-1");
    let wrk0 = wrk_task.as_deref().map(|t| ctx_switches(Some(t)));
    let mut srv_ctx = (0, 0);
    let cli0 = ctx_switches(None);
    let ns = {
        let srv = &mut server.0;
        let srv_ctx = &mut srv_ctx;
        let mut srv_rounds = 0;
        let mut srv0 = (0, 0);
        ping_pong(
            rounds,
            || ask(&mut client.0, blocking, deadline),
            move || {
                if srv_rounds == 0 {
                    srv0 = ctx_switches(None);
                }
                answer(srv, blocking, deadline);
                srv_rounds += 1;
                if srv_rounds == rounds {
                    *srv_ctx = delta(srv0, ctx_switches(None));
                }
            },
            samples,
        )
    };
    counts.ctx = [delta(cli0, ctx_switches(None)), srv_ctx, (0, 0)];
    if let (Some(t), Some(w0)) = (wrk_task.as_deref(), wrk0) {
        counts.ctx[2] = delta(w0, ctx_switches(Some(t)));
    }
    counts.client_tx_events = client.0.io.tx_events_sent();
    counts.server_tx_events = server.0.io.tx_events_sent();
    counts.workers = CtPair {
        stack,
        ct,
        server: server.0,
        client: client.0,
    }
    .close_with_counters()
    .expect("close");
    (ns, counts)
}

fn main() {
    let args = BenchArgs::from_env();
    let poll_rounds: u64 = args.pick(200_000, 20_000);
    let block_rounds: u64 = args.pick(50_000, 5_000);
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--explain") {
        match argv.get(i + 1).map(String::as_str) {
            Some("parts") => explain_parts(poll_rounds),
            Some("poll") => explain_counts(false, poll_rounds),
            Some("blocking") => explain_counts(true, block_rounds),
            Some("ops") => explain_ops(poll_rounds),
            _ => {
                eprintln!("--explain takes parts, poll, blocking or ops");
                std::process::exit(2);
            }
        }
        return;
    }
    ct_rr(1_000, false);
    ct_rr(1_000, true);

    let [poll, spin, blocking, unix] = bench::medians_of_3_interleaved([
        &mut || ct_rr(poll_rounds, false),
        &mut || anchors::spin_round_trip_ns(poll_rounds),
        &mut || ct_rr(block_rounds, true),
        &mut || anchors::socketpair_round_trip_ns(block_rounds).expect("socketpair"),
    ]);
    bench::report_ns("ct_rr_poll_ns", poll);
    bench::report_ns("ct_rr_spin_ns", spin);
    bench::report_ratio("ct_rr_vs_spin_ratio", poll, spin);
    bench::report_ns("ct_rr_blocking_ns", blocking);
    bench::report_ns("ct_rr_unix_ns", unix);
    bench::report_ratio("ct_rr_blocking_vs_unix_ratio", blocking, unix);
}

// ---- diagnostics (`--explain`) ----

fn delta(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1))
}

/// Voluntary and involuntary context switches of a task of this process
/// (`/proc/self/task/TID/status`), or of the calling thread (`None`);
/// zeros where `/proc` is missing.
fn ctx_switches(task: Option<&str>) -> (u64, u64) {
    let path = match task {
        Some(t) => format!("/proc/self/task/{t}/status"),
        None => "/proc/thread-self/status".to_string(),
    };
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// The task id of this process's thread named `name` (the worker).
fn task_named(name: &str) -> Option<String> {
    std::fs::read_dir("/proc/self/task").ok()?.find_map(|e| {
        let e = e.ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == name).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// `--explain poll|blocking`: one run, its costs per round trip.
fn explain_counts(blocking: bool, rounds: u64) {
    let (ns, c) = ct_rr_with(rounds, blocking, None);
    let per = |v: u64| v as f64 / rounds as f64;
    let mut w = WorkerCounters::default();
    for x in &c.workers {
        w.tx_events += x.tx_events;
        w.rx_dequeue_events += x.rx_dequeue_events;
        w.app_events_delivered += x.app_events_delivered;
        w.rx_coalesced += x.rx_coalesced;
        w.input_runs += x.input_runs;
    }
    let mode = if blocking { "blocking" } else { "poll" };
    println!("ct_rr {mode}: {rounds} round trips, {ns:.0} ns each; per round trip:");
    println!(
        "  TX events sent by the apps   client {:.3}, server {:.3}",
        per(c.client_tx_events),
        per(c.server_tx_events)
    );
    println!(
        "  worker                       TX events {:.3}, RX-dequeue events {:.3}, app events delivered {:.3} (coalesced {:.3}), session-input runs {:.3}",
        per(w.tx_events),
        per(w.rx_dequeue_events),
        per(w.app_events_delivered),
        per(w.rx_coalesced),
        per(w.input_runs)
    );
    for (name, (v, i)) in ["client", "server", "worker"].iter().zip(c.ctx) {
        println!(
            "  {name:<6} context switches     voluntary {:.3}, involuntary {:.3}",
            per(v),
            per(i)
        );
    }
}

/// What a bare fifo ping-pong does besides the data.
#[derive(Clone, Copy, PartialEq)]
enum FifoExtras {
    /// enqueue / dequeue only.
    Bare,
    /// + `set_event` after each write.
    SetEvent,
    /// + `needs_deq_ntf` after each read (what the apps' API adds).
    SetEventDeqNtf,
}

/// A fifo round trip's turn: wait for the byte on `rx`, answer on `tx`.
fn fifo_turn(tx: &mut Producer, rx: &mut Consumer, extras: FifoExtras) {
    let mut b = [0u8; 1];
    let deadline = Instant::now() + Duration::from_secs(60);
    assert_eq!(
        poll_read(|| rx.dequeue(&mut b).expect("dequeue"), || {}, deadline),
        1
    );
    if extras == FifoExtras::SetEventDeqNtf {
        std::hint::black_box(rx.fifo().needs_deq_ntf(1));
    }
    assert_eq!(tx.enqueue(&b).expect("enqueue"), 1);
    if extras != FifoExtras::Bare {
        std::hint::black_box(tx.fifo().set_event());
    }
}

/// One byte each way over two fifos of one segment, two polling threads,
/// no stack.
fn fifo_rr(rounds: u64, extras: FifoExtras, samples: Option<&mut Vec<u32>>) -> f64 {
    let seg = FifoSegment::create("ct_rr", 1 << 20, 1, SegmentFlags::empty()).expect("segment");
    let (a, b) = (
        seg.alloc_fifo_w_slice(0, FIFO).expect("fifo"),
        seg.alloc_fifo_w_slice(0, FIFO).expect("fifo"),
    );
    let mut cli = Own((a.producer().expect("p"), b.consumer().expect("c")));
    let mut srv = Own((b.producer().expect("p"), a.consumer().expect("c")));
    let ns = ping_pong(
        rounds,
        || {
            let (tx, rx) = &mut cli.0;
            let mut b = [7u8; 1];
            assert_eq!(tx.enqueue(&b).expect("enqueue"), 1);
            if extras != FifoExtras::Bare {
                std::hint::black_box(tx.fifo().set_event());
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            assert_eq!(
                poll_read(|| rx.dequeue(&mut b).expect("dequeue"), || {}, deadline),
                1
            );
            if extras == FifoExtras::SetEventDeqNtf {
                std::hint::black_box(rx.fifo().needs_deq_ntf(1));
            }
        },
        || fifo_turn(&mut srv.0.0, &mut srv.0.1, extras),
        samples,
    );
    drop((cli, srv));
    seg.free_fifo(&a).expect("free");
    seg.free_fifo(&b).expect("free");
    ns
}

/// The spin anchor's token hand-off, one round trip per client call.
fn spin_rr(rounds: u64, samples: Option<&mut Vec<u32>>) -> f64 {
    let turn = Own(AtomicU64::new(0));
    let (mut c, mut s) = (0u64, 0u64);
    ping_pong(
        rounds,
        || {
            c += 2;
            turn.0.store(c - 1, Ordering::Release);
            while turn.0.load(Ordering::Acquire) != c {
                std::hint::spin_loop();
            }
        },
        || {
            s += 2;
            while turn.0.load(Ordering::Acquire) != s - 1 {
                std::hint::spin_loop();
            }
            turn.0.store(s, Ordering::Release);
        },
        samples,
    )
}

/// `--explain parts`: single round trips of each part timed, 5
/// interleaved runs; percentiles and mean, each the median over the runs.
fn explain_parts(rounds: u64) {
    type Part<'a> = (&'a str, Box<dyn Fn(&mut Vec<u32>) + 'a>);
    let parts: [Part; 5] = [
        (
            "spin (the anchor's hand-off)",
            Box::new(|v| {
                spin_rr(rounds, Some(v));
            }),
        ),
        (
            "fifo enqueue/dequeue",
            Box::new(|v| {
                fifo_rr(rounds, FifoExtras::Bare, Some(v));
            }),
        ),
        (
            "  + set_event",
            Box::new(|v| {
                fifo_rr(rounds, FifoExtras::SetEvent, Some(v));
            }),
        ),
        (
            "  + needs_deq_ntf",
            Box::new(|v| {
                fifo_rr(rounds, FifoExtras::SetEventDeqNtf, Some(v));
            }),
        ),
        (
            "ct session, apps' API",
            Box::new(|v| {
                ct_rr_with(rounds, false, Some(v));
            }),
        ),
    ];
    // Per part: the median over runs of each run's p50, p90, p99 and mean.
    let mut stats: [[Vec<f64>; 4]; 5] = Default::default();
    for _ in 0..5 {
        for (i, (_, run)) in parts.iter().enumerate() {
            let mut v = Vec::with_capacity(rounds as usize);
            run(&mut v);
            v.sort_unstable();
            let at = |q: f64| f64::from(v[((v.len() - 1) as f64 * q) as usize]);
            let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
            for (k, x) in [at(0.5), at(0.9), at(0.99), mean].into_iter().enumerate() {
                stats[i][k].push(x);
            }
        }
    }
    println!(
        "poll round trip, single round trips timed (ns, timer included), {rounds} rounds x 5 runs, median over runs:"
    );
    println!(
        "  {:<30} {:>7} {:>7} {:>7} {:>7}",
        "", "p50", "p90", "p99", "mean"
    );
    for ((name, _), mut st) in parts.iter().zip(stats) {
        let [a, b, c, d] = [0, 1, 2, 3].map(|k| bench::median(&mut st[k]));
        println!("  {name:<30} {a:>7.0} {b:>7.0} {c:>7.0} {d:>7.0}");
    }
}

/// `--explain ops`: both ends' calls of a poll round trip on one thread,
/// no waiting, for instruction counts (`valgrind --tool=callgrind`).
fn explain_ops(rounds: u64) {
    let mut p = CtPair::new(1, FIFO, ThreadedConfig::default()).expect("ct pair");
    let mut b = [7u8; 1];
    let t = Instant::now();
    for _ in 0..rounds {
        assert_eq!(p.client.io.write(&b).expect("write"), 1);
        assert_eq!(p.server.io.read(&mut b).expect("read"), 1);
        assert_eq!(p.server.io.write(&b).expect("write"), 1);
        p.server.drain_queue();
        assert_eq!(p.client.io.read(&mut b).expect("read"), 1);
        p.client.drain_queue();
    }
    let ns = bench::ns_per_op(t.elapsed(), rounds);
    println!("ct_rr ops: {rounds} round trips' calls on one thread, {ns:.0} ns each");
    p.close().expect("close");
}
