//! Bulk transfer over one ct session, app thread to app thread.
//!
//! - `BENCH ct_stream_GBps`: 1 GiB (quick: 256 MiB) through one ct session
//!   with 4 MiB fifos in 64 KiB writes: a writer thread and a reader thread
//!   on the apps' API (`AppSession`, TX events to the worker, RX events and
//!   dequeue notifications back, queues drained), one threaded worker.
//! - Anchors, same run, same harness ([`anchors::two_thread_stream`]):
//!   an `rtrb` ring of 4 MiB (`BENCH ct_stream_rtrb_GBps`,
//!   `BENCH ct_stream_vs_rtrb_ratio`, target >= 0.8) and a Unix socketpair
//!   (`BENCH ct_stream_unix_GBps`, `BENCH ct_stream_vs_unix_ratio`, target
//!   >= 4).

use ct_sync::Mutex;
use ct_sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ct_session::ThreadedConfig;
use test_harness::anchors;
use test_harness::bench::{self, BenchArgs};
use test_harness::ct_pair::{CtPair, PairEnd};

const FIFO: u32 = 4 << 20;
const PIECE: usize = 64 << 10;

/// One run over a fresh session (each run starts from empty fifos).
fn ct_stream(total: u64) -> Duration {
    // The worker as a program runs it: spins briefly, then parks.
    let pair = CtPair::new(1, FIFO, ThreadedConfig::default()).expect("ct pair");
    let CtPair {
        stack,
        ct,
        server,
        client,
    } = pair;
    // The closures are FnMut + Send; each side's end lives in a mutex only
    // it locks, so the lock is never contended.
    let writer = Mutex::new(client);
    let reader = Mutex::new(server);
    let failed = AtomicBool::new(false);
    let t = anchors::two_thread_stream(
        total,
        PIECE,
        |d| {
            let mut w = writer.lock();
            match w.io.write(d) {
                Ok(0) => {
                    w.drain_queue();
                    0
                }
                Ok(n) => n,
                Err(_) => {
                    failed.store(true, Ordering::Relaxed);
                    d.len()
                }
            }
        },
        |b| {
            let mut r = reader.lock();
            match r.io.read(b) {
                Ok(0) => {
                    r.drain_queue();
                    0
                }
                Ok(n) => n,
                Err(_) => {
                    failed.store(true, Ordering::Relaxed);
                    b.len()
                }
            }
        },
    );
    assert!(!failed.load(Ordering::Relaxed), "ct stream failed");
    let (client, server): (PairEnd, PairEnd) = (writer.into_inner(), reader.into_inner());
    CtPair {
        stack,
        ct: Arc::clone(&ct),
        server,
        client,
    }
    .close()
    .expect("close");
    t
}

fn main() {
    let args = BenchArgs::from_env();
    let total: u64 = args.pick(1 << 30, 256 << 20);
    // Warm-up: page in the code paths and the allocator.
    ct_stream(64 << 20);
    let _ = anchors::rtrb_stream(64 << 20, PIECE, FIFO as usize);

    let [ct, rtrb, unix] = bench::medians_of_3_interleaved([
        &mut || bench::gbps(total, ct_stream(total)),
        &mut || bench::gbps(total, anchors::rtrb_stream(total, PIECE, FIFO as usize)),
        &mut || {
            let t = anchors::socketpair_stream(total, PIECE).expect("socketpair");
            bench::gbps(total, t)
        },
    ]);
    bench::report_gbps("ct_stream_GBps", ct);
    bench::report_gbps("ct_stream_rtrb_GBps", rtrb);
    bench::report_gbps("ct_stream_unix_GBps", unix);
    bench::report_ratio("ct_stream_vs_rtrb_ratio", ct, rtrb);
    bench::report_ratio("ct_stream_vs_unix_ratio", ct, unix);
}
