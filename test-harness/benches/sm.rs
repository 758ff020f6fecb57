//! Segment-manager fifo-pair cost: `alloc_session_fifos` + `dealloc_fifos`
//! of one rx/tx pair (4 KiB each, memfd segment), ns per cycle, with one
//! thread and with two threads sharing one manager (each on its own slice;
//! the 2-thread figure is ns per cycle per thread, so contention shows as a
//! rise over the 1-thread one). Anchor, same run: the system allocator
//! allocating and freeing two 4 KiB buffers, with the same thread counts.
//!
//! `BENCH sm_fifo_pair_alloc_ns`, `BENCH sm_fifo_pair_alloc_2t_ns`,
//! `BENCH malloc_pair_ns`, `BENCH malloc_pair_2t_ns` and the ratios
//! `BENCH sm_fifo_pair_alloc_vs_malloc_ratio`,
//! `BENCH sm_fifo_pair_alloc_2t_vs_malloc_ratio`. Also the same pair taken
//! straight from the segment (`BENCH segment_fifo_pair_alloc_ns`,
//! `BENCH segment_fifo_pair_alloc_2t_ns`) and
//! `BENCH sm_fifo_pair_alloc_vs_segment_ratio` (and `_2t_`): the manager's
//! own share.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ct_segment_manager::{NoHook, SegmentManager, SegmentManagerProps, SegmentManagers};
use test_harness::bench::{self, BenchArgs};

const FIFO_SIZE: u32 = 4096;

/// A manager with one protected memfd segment, as an app's first manager:
/// the segment stays when its last pair goes, so the loop measures pair
/// allocation, not segment creation.
fn manager(n_threads: u32) -> (Arc<SegmentManagers>, Arc<SegmentManager>) {
    let sms = Arc::new(SegmentManagers::new(n_threads));
    let sm = sms.alloc(
        SegmentManagerProps {
            rx_fifo_size: FIFO_SIZE,
            tx_fifo_size: FIFO_SIZE,
            ..Default::default()
        },
        Arc::new(NoHook),
    );
    sm.init_first().expect("first segment");
    sm.set_first_is_protected(true);
    (sms, sm)
}

fn sm_cycles(sms: &SegmentManagers, sm: &SegmentManager, thread: u32, cycles: u64) {
    for _ in 0..cycles {
        let pair = sm.alloc_session_fifos(thread).expect("alloc pair");
        sms.dealloc_fifos(black_box(&pair.rx), black_box(&pair.tx))
            .expect("dealloc pair");
    }
}

/// The same pair straight from the segment, no manager: what the manager
/// adds on top of the segment allocator.
fn segment_cycles(sm: &SegmentManager, thread: u32, cycles: u64) {
    let guard = sm.get_segment_w_lock(0).expect("first segment");
    let seg = guard.segment();
    for _ in 0..cycles {
        let rx = seg.alloc_fifo_w_slice(thread, FIFO_SIZE).expect("rx");
        let tx = seg.alloc_fifo_w_slice(thread, FIFO_SIZE).expect("tx");
        seg.free_fifo(black_box(&rx)).expect("free rx");
        seg.free_fifo(black_box(&tx)).expect("free tx");
    }
}

fn malloc_cycles(cycles: u64) {
    for _ in 0..cycles {
        let rx: Vec<u8> = black_box(Vec::with_capacity(FIFO_SIZE as usize));
        let tx: Vec<u8> = black_box(Vec::with_capacity(FIFO_SIZE as usize));
        drop(black_box(rx));
        drop(black_box(tx));
    }
}

/// Runs `work(thread)` on `n` threads started together; returns the
/// slowest thread's time.
fn on_threads(n: u32, work: impl Fn(u32) + Send + Sync + 'static) -> Duration {
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(n as usize));
    let threads: Vec<_> = (0..n)
        .map(|t| {
            let (work, start) = (work.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let t0 = Instant::now();
                work(t);
                t0.elapsed()
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

fn main() {
    let args = BenchArgs::from_env();
    let cycles: u64 = args.pick(1_000_000, 100_000);

    let (sms1, sm1) = manager(1);
    let (sms2, sm2) = manager(2);
    // Warm up: touch the segments' pages and fill the free lists once.
    sm_cycles(&sms1, &sm1, 0, 1000);
    sm_cycles(&sms2, &sm2, 1, 1000);
    malloc_cycles(1000);

    let mut sm_1t = || {
        let t0 = Instant::now();
        sm_cycles(&sms1, &sm1, 0, cycles);
        bench::ns_per_op(t0.elapsed(), cycles)
    };
    let mut sm_2t = || {
        let (sms, sm) = (sms2.clone(), sm2.clone());
        let elapsed = on_threads(2, move |t| sm_cycles(&sms, &sm, t, cycles));
        bench::ns_per_op(elapsed, cycles)
    };
    let mut malloc_1t = || {
        let t0 = Instant::now();
        malloc_cycles(cycles);
        bench::ns_per_op(t0.elapsed(), cycles)
    };
    let mut seg_1t = || {
        let t0 = Instant::now();
        segment_cycles(&sm1, 0, cycles);
        bench::ns_per_op(t0.elapsed(), cycles)
    };
    let mut seg_2t = || {
        let sm = sm2.clone();
        let elapsed = on_threads(2, move |t| segment_cycles(&sm, t, cycles));
        bench::ns_per_op(elapsed, cycles)
    };
    let mut malloc_2t = || bench::ns_per_op(on_threads(2, move |_| malloc_cycles(cycles)), cycles);

    let [sm1_ns, sm2_ns, seg_ns, seg2_ns, m1_ns, m2_ns] = bench::medians_of_3_interleaved([
        &mut sm_1t,
        &mut sm_2t,
        &mut seg_1t,
        &mut seg_2t,
        &mut malloc_1t,
        &mut malloc_2t,
    ]);

    assert_eq!(sm1.num_fifos() + sm2.num_fifos(), 0, "bench leaked fifos");
    bench::report_ns("sm_fifo_pair_alloc_ns", sm1_ns);
    bench::report_ns("sm_fifo_pair_alloc_2t_ns", sm2_ns);
    bench::report_ns("segment_fifo_pair_alloc_ns", seg_ns);
    bench::report_ns("segment_fifo_pair_alloc_2t_ns", seg2_ns);
    bench::report_ns("malloc_pair_ns", m1_ns);
    bench::report_ns("malloc_pair_2t_ns", m2_ns);
    bench::report_ratio("sm_fifo_pair_alloc_vs_malloc_ratio", sm1_ns, m1_ns);
    bench::report_ratio("sm_fifo_pair_alloc_2t_vs_malloc_ratio", sm2_ns, m2_ns);
    bench::report_ratio("sm_fifo_pair_alloc_vs_segment_ratio", sm1_ns, seg_ns);
    bench::report_ratio("sm_fifo_pair_alloc_2t_vs_segment_ratio", sm2_ns, seg2_ns);
}
