//! fifo_stream: an SVM fifo between two threads, against rtrb and a Unix
//! socketpair in the same run.
//!
//! Stream: 4 MiB fifo, 64 KiB pieces, 1 GiB (256 MiB with `--quick`),
//! app buffer -> fifo -> app buffer, through the copying API
//! (`enqueue`/`dequeue`) and the zero-copy one (`write_slices`+`commit`,
//! `read_slices`+`release`, each still copying from/to the app buffer so all
//! subjects move the same bytes). `fifo_stream_GBps` is the faster of the
//! two. Messages: one thread enqueues then dequeues 64 bytes, ns per pair,
//! next to rtrb doing the same.
//!
//! Run with `cargo xtask bench fifo_stream [--quick]`.

use std::time::Duration;

use ct_fifo_segment::{Consumer, FifoSegment, Producer, SegmentFlags};
use test_harness::anchors;
use test_harness::bench::{self, BenchArgs};

const FIFO_SIZE: u32 = 4 << 20;
const PIECE: usize = 64 << 10;
const MSG: usize = 64;

fn main() {
    let args = BenchArgs::from_env();
    let total: u64 = args.pick(1 << 30, 256 << 20);
    let msgs: u64 = args.pick(10_000_000, 2_000_000);

    // Two stream fifos (copying and zero-copy) and one for messages.
    let seg_size = 3 * FifoSegment::fifo_footprint(FIFO_SIZE) + (1 << 20);
    let seg = FifoSegment::create("fifo_stream", seg_size, 1, SegmentFlags::empty())
        .expect("create the bench segment");
    let pair = || {
        let f = seg
            .alloc_fifo_w_slice(0, FIFO_SIZE)
            .expect("alloc a bench fifo");
        let ends = (
            f.producer().expect("producer"),
            f.consumer().expect("consumer"),
        );
        (f, ends)
    };
    let (copy_fifo, (mut copy_tx, mut copy_rx)) = pair();
    let (zc_fifo, (mut zc_tx, mut zc_rx)) = pair();
    let (msg_fifo, (mut msg_tx, mut msg_rx)) = pair();

    println!(
        "fifo_stream: {} MiB in {} KiB pieces through a {} MiB fifo; {} x {}-byte messages",
        total >> 20,
        PIECE >> 10,
        FIFO_SIZE >> 20,
        msgs,
        MSG
    );
    let [copy, zc, rtrb, unix, memcpy] = bench::medians_of_3_interleaved([
        &mut || bench::gbps(total, fifo_copy_stream(total, &mut copy_tx, &mut copy_rx)),
        &mut || bench::gbps(total, fifo_zero_copy_stream(total, &mut zc_tx, &mut zc_rx)),
        &mut || {
            bench::gbps(
                total,
                anchors::rtrb_stream(total, PIECE, FIFO_SIZE as usize),
            )
        },
        &mut || {
            let t = anchors::socketpair_stream(total, PIECE).expect("socketpair stream");
            bench::gbps(total, t)
        },
        &mut || {
            bench::gbps(
                total,
                anchors::memcpy_stream(total, PIECE, FIFO_SIZE as usize),
            )
        },
    ]);
    let best = copy.max(zc);
    bench::report_gbps("fifo_stream_copy_GBps", copy);
    bench::report_gbps("fifo_stream_zc_GBps", zc);
    bench::report_gbps("fifo_stream_GBps", best);
    bench::report_gbps("rtrb_stream_GBps", rtrb);
    bench::report_gbps("unix_stream_GBps", unix);
    bench::report_gbps("memcpy_GBps", memcpy);
    bench::report_ratio("fifo_vs_rtrb_ratio", best, rtrb);
    bench::report_ratio("fifo_vs_unix_ratio", best, unix);

    let [fifo_msg, rtrb_msg] = bench::medians_of_3_interleaved([
        &mut || fifo_msg_pair_ns(msgs, &mut msg_tx, &mut msg_rx),
        &mut || anchors::rtrb_msg_pair_ns(MSG, msgs, FIFO_SIZE as usize),
    ]);
    bench::report_ns("fifo_msg64_ns", fifo_msg);
    bench::report_ns("rtrb_msg64_ns", rtrb_msg);
    bench::report_ratio("fifo_msg64_vs_rtrb_ratio", fifo_msg, rtrb_msg);

    drop((copy_tx, copy_rx, zc_tx, zc_rx, msg_tx, msg_rx));
    for f in [copy_fifo, zc_fifo, msg_fifo] {
        seg.free_fifo(&f).expect("free a bench fifo");
    }
    assert_eq!(seg.num_fifos(), 0, "bench leaked fifos");
}

/// `enqueue` / `dequeue`.
fn fifo_copy_stream(total: u64, tx: &mut Producer, rx: &mut Consumer) -> Duration {
    anchors::two_thread_stream(
        total,
        PIECE,
        |d| tx.enqueue(d).expect("enqueue"),
        |b| rx.dequeue(b).expect("dequeue"),
    )
}

/// `write_slices` + `commit` / `read_slices` + `release`.
fn fifo_zero_copy_stream(total: u64, tx: &mut Producer, rx: &mut Consumer) -> Duration {
    anchors::two_thread_stream(
        total,
        PIECE,
        |d| {
            let (a, b) = tx.write_slices().expect("write_slices");
            let n1 = a.len().min(d.len());
            a[..n1].copy_from_slice(&d[..n1]);
            let n2 = b.len().min(d.len() - n1);
            b[..n2].copy_from_slice(&d[n1..n1 + n2]);
            let n = n1 + n2;
            if n > 0 {
                tx.commit(n as u32).expect("commit");
            }
            n
        },
        |buf| {
            let (a, b) = rx.read_slices().expect("read_slices");
            let n1 = a.len().min(buf.len());
            buf[..n1].copy_from_slice(&a[..n1]);
            let n2 = b.len().min(buf.len() - n1);
            buf[n1..n1 + n2].copy_from_slice(&b[..n2]);
            let n = n1 + n2;
            if n > 0 {
                rx.release(n as u32).expect("release");
            }
            n
        },
    )
}

/// One thread: enqueue a 64-byte message, dequeue it; ns per pair.
fn fifo_msg_pair_ns(count: u64, tx: &mut Producer, rx: &mut Consumer) -> f64 {
    let out = [0x5au8; MSG];
    let mut back = [0u8; MSG];
    let t = std::time::Instant::now();
    for _ in 0..count {
        let pushed = tx.enqueue(std::hint::black_box(&out)).expect("enqueue");
        let popped = rx.dequeue(&mut back).expect("dequeue");
        assert_eq!(
            (pushed, popped),
            (MSG, MSG),
            "fifo too small for one message"
        );
        std::hint::black_box(&mut back);
    }
    bench::ns_per_op(t.elapsed(), count)
}
