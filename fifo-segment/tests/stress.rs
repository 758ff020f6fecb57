//! Two threads stream 1 GiB through one fifo in a memfd segment; an
//! order-sensitive checksum over u64 words is compared end to end.
#![cfg(not(loom))]

mod common;

use common::{BLOCK, Checksum, expected, fill_block};
use ct_fifo_segment::{FifoSegment, SegmentFlags};

const BLOCKS: u64 = (1 << 30) / BLOCK as u64;

/// Waits without starving the other side on a busy 2-core machine.
fn backoff(idle: &mut u32) {
    *idle += 1;
    if *idle < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
#[cfg_attr(
    all(miri, not(debug_assertions)),
    ignore = "1 GiB through a memfd segment: mmap is unsupported and the volume would take days under Miri"
)]
fn stress_two_threads_stream_1gib() {
    let seg = FifoSegment::create("stress", 8 << 20, 1, SegmentFlags::empty()).unwrap();
    let fifo = seg.alloc_fifo_w_slice(0, 4 << 20).unwrap();
    let mut tx = fifo.producer().unwrap();
    let mut rx = fifo.consumer().unwrap();
    let producer = std::thread::spawn(move || {
        let mut block = vec![0u8; BLOCK];
        for k in 0..BLOCKS {
            fill_block(k, &mut block);
            let (mut sent, mut idle) = (0, 0);
            while sent < BLOCK {
                let n = tx.enqueue(&block[sent..]).unwrap();
                if n == 0 {
                    backoff(&mut idle);
                } else {
                    idle = 0;
                }
                sent += n;
            }
        }
    });
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; BLOCK];
    let (mut got, mut idle) = (0u64, 0);
    while got < BLOCKS * BLOCK as u64 {
        let n = rx.dequeue(&mut buf).unwrap();
        if n == 0 {
            backoff(&mut idle);
            continue;
        }
        idle = 0;
        sum.update(&buf[..n]);
        got += n as u64;
    }
    producer.join().unwrap();
    assert_eq!(sum.finish(), expected(BLOCKS));
    assert!(fifo.is_empty().unwrap());
    drop(rx);
    assert!(seg.free_fifo(&fifo).unwrap());
}

#[test]
fn checksum_detects_reordering() {
    let mut a = Checksum::default();
    a.update(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let mut b = Checksum::default();
    b.update(&[1, 2, 3]);
    b.update(&[4, 5, 6, 7, 8]);
    b.update(&[9]);
    assert_eq!(a.finish(), b.finish(), "piece boundaries do not matter");
    let mut c = Checksum::default();
    c.update(&[9, 10, 11, 12, 13, 14, 15, 16, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut d = Checksum::default();
    d.update(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    assert_ne!(c.finish(), d.finish(), "word order matters");
}

/// A third thread asking for the occupancy while both ends race never sees
/// a false `Corrupted` nor a value beyond the size.
#[test]
#[cfg_attr(
    miri,
    ignore = "16 MiB through a 64-byte fifo on three spinning threads: hours under Miri"
)]
fn observer_never_sees_false_corruption() {
    use ct_sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let seg = FifoSegment::create_heap(1 << 20, 1, SegmentFlags::empty()).unwrap();
    // Tiny fifo, pieces near its size: both indices move all the time.
    let fifo = seg.alloc_fifo_w_slice(0, 64).unwrap();
    let mut tx = fifo.producer().unwrap();
    let mut rx = fifo.consumer().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let total: usize = 16 << 20;
    let producer = std::thread::spawn(move || {
        let piece = [0xabu8; 48];
        let (mut sent, mut idle) = (0, 0);
        while sent < total {
            let n = tx.enqueue(&piece[..piece.len().min(total - sent)]).unwrap();
            if n == 0 {
                backoff(&mut idle);
            }
            sent += n;
        }
    });
    let observer = {
        let (fifo, done) = (fifo.clone(), done.clone());
        std::thread::spawn(move || {
            let mut looks = 0u64;
            while !done.load(Ordering::Relaxed) {
                let d = fifo.max_dequeue().expect("occupancy");
                let e = fifo.max_enqueue().expect("free space");
                assert!(d <= 64 && e <= 64);
                looks += 1;
                if looks.is_multiple_of(64) {
                    std::thread::yield_now();
                }
            }
            looks
        })
    };
    let mut buf = [0u8; 40];
    let (mut got, mut idle) = (0, 0);
    while got < total {
        let n = rx.dequeue(&mut buf).unwrap();
        if n == 0 {
            backoff(&mut idle);
        }
        got += n;
    }
    producer.join().unwrap();
    done.store(true, Ordering::Relaxed);
    assert!(observer.join().unwrap() > 0);
}
