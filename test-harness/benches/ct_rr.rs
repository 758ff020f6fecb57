//! 1-byte request/response round trips over one ct session.
//!
//! - Busy-polling apps: the client writes one byte and polls its rx fifo
//!   until the answer is there; the server polls, answers. Events still go
//!   to the (threaded, parking) worker. `BENCH ct_rr_poll_ns` against two
//!   threads handing a token through one atomic (`BENCH ct_rr_spin_ns`):
//!   `BENCH ct_rr_vs_spin_ratio` (target <= 2).
//! - Blocking apps: each side waits on its session waker for the event the
//!   worker delivers (peer write -> TX event -> worker -> RX event -> app).
//!   `BENCH ct_rr_blocking_ns` against a 1-byte ping-pong on a Unix
//!   socketpair (`BENCH ct_rr_unix_ns`): `BENCH ct_rr_blocking_vs_unix_ratio`
//!   (target <= 0.5).

use std::time::{Duration, Instant};

use session::ThreadedConfig;
use test_harness::anchors;
use test_harness::bench::{self, BenchArgs};
use test_harness::ct_pair::CtPair;

const FIFO: u32 = 64 << 10;

/// Nanoseconds per round trip over a fresh ct session; `blocking` picks
/// how the apps wait.
fn ct_rr(rounds: u64, blocking: bool) -> f64 {
    let CtPair {
        stack,
        ct,
        mut server,
        mut client,
    } = CtPair::new(1, FIFO, ThreadedConfig::default()).expect("ct pair");
    let deadline = Instant::now() + Duration::from_secs(60);
    let elapsed = std::thread::scope(|s| {
        let srv = s.spawn(|| {
            let mut b = [0u8; 1];
            for _ in 0..rounds {
                let n = if blocking {
                    server.read_blocking(&mut b, deadline).expect("server read")
                } else {
                    let mut n = 0;
                    while n == 0 && Instant::now() < deadline {
                        n = server.io.read(&mut b).expect("server read");
                        if n == 0 {
                            std::hint::spin_loop();
                        }
                    }
                    n
                };
                assert_eq!(n, 1, "server timed out");
                assert_eq!(server.io.write(&b).expect("server write"), 1);
                if !blocking {
                    server.drain_queue();
                }
            }
        });
        let t = Instant::now();
        let mut b = [7u8; 1];
        for _ in 0..rounds {
            assert_eq!(client.io.write(&b).expect("client write"), 1);
            let n = if blocking {
                client.read_blocking(&mut b, deadline).expect("client read")
            } else {
                let mut n = 0;
                while n == 0 && Instant::now() < deadline {
                    n = client.io.read(&mut b).expect("client read");
                    if n == 0 {
                        std::hint::spin_loop();
                    }
                }
                client.drain_queue();
                n
            };
            assert_eq!(n, 1, "client timed out");
        }
        let e = t.elapsed();
        srv.join().expect("server thread");
        e
    });
    CtPair {
        stack,
        ct,
        server,
        client,
    }
    .close()
    .expect("close");
    bench::ns_per_op(elapsed, rounds)
}

fn main() {
    let args = BenchArgs::from_env();
    let poll_rounds: u64 = args.pick(200_000, 20_000);
    let block_rounds: u64 = args.pick(50_000, 5_000);
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
