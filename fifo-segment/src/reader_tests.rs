use std::time::{Duration, Instant};

use crate::{FifoSegment, ReaderState, ReaderWake, SegmentFlags};

fn seg() -> (FifoSegment, crate::Fifo) {
    let seg = FifoSegment::create_heap(64 << 10, 1, SegmentFlags::empty()).unwrap();
    let fifo = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    (seg, fifo)
}

#[test]
#[cfg_attr(miri, ignore = "futex system calls")]
fn producer_sees_each_state() {
    let (_seg, f) = seg();
    assert_eq!(f.reader_state(), ReaderState::Idle);
    assert_eq!(f.notify_reader(), ReaderWake::Idle);
    f.set_reader_state(ReaderState::Spinning);
    assert_eq!(f.notify_reader(), ReaderWake::Watching);
    f.set_reader_state(ReaderState::Sleeping);
    assert_eq!(f.notify_reader(), ReaderWake::Woken);
    // The wake moved it on: a second write sends nothing more.
    assert_eq!(f.reader_state(), ReaderState::Spinning);
    assert_eq!(f.notify_reader(), ReaderWake::Watching);
    f.set_reader_state(ReaderState::Idle);
    assert!(!f.wake_reader(), "nobody sleeps");
}

#[test]
fn hostile_word_reads_as_idle() {
    let (_seg, f) = seg();
    f.inner()
        .shared()
        .ctl
        .0
        .reader
        .store(77, ct_sync::atomic::Ordering::SeqCst);
    assert_eq!(f.reader_state(), ReaderState::Idle);
    assert_eq!(f.notify_reader(), ReaderWake::Idle);
    assert!(!f.wake_reader());
}

#[test]
fn a_new_fifo_starts_idle_after_reuse() {
    let seg = FifoSegment::create_heap(64 << 10, 1, SegmentFlags::empty()).unwrap();
    let f = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    f.set_reader_state(ReaderState::Sleeping);
    assert!(seg.free_fifo(&f).unwrap());
    let g = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    assert_eq!(g.reader_state(), ReaderState::Idle);
}

#[test]
#[cfg_attr(miri, ignore = "futex system calls")]
fn sleep_times_out_without_a_wake() {
    let (_seg, f) = seg();
    f.set_reader_state(ReaderState::Sleeping);
    let t = Instant::now();
    f.reader_sleep(Duration::from_millis(20));
    assert!(t.elapsed() >= Duration::from_millis(15));
    assert_eq!(f.reader_state(), ReaderState::Sleeping);
}

#[test]
#[cfg_attr(miri, ignore = "futex system calls")]
fn sleep_returns_at_once_when_already_woken() {
    let (_seg, f) = seg();
    f.set_reader_state(ReaderState::Sleeping);
    assert!(f.wake_reader());
    // The word says spinning: the wait does not sleep (a 10 s timeout
    // would hang the test if it did).
    f.reader_sleep(Duration::from_secs(10));
}

#[test]
#[cfg_attr(miri, ignore = "futex system calls")]
fn a_write_wakes_a_sleeping_reader_in_another_thread() {
    let (_seg, f) = seg();
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        loop {
            let f = rx.fifo().clone();
            f.set_reader_state(ReaderState::Sleeping);
            let n = rx.dequeue(&mut buf).unwrap();
            if n > 0 {
                f.set_reader_state(ReaderState::Idle);
                return buf[..n].to_vec();
            }
            // A long bound: the write must end the sleep, not the timeout.
            f.reader_sleep(Duration::from_secs(30));
        }
    });
    let t = Instant::now();
    while f.reader_state() != ReaderState::Sleeping {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(5));
    tx.enqueue(b"hi").unwrap();
    assert_ne!(f.notify_reader(), ReaderWake::Idle);
    assert_eq!(reader.join().unwrap(), b"hi");
    assert!(t.elapsed() < Duration::from_secs(30));
}
