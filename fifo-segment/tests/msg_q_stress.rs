//! Two threads trade millions of messages of every size through a queue in
//! a memfd segment, the consumer on a second mapping. The consumer sleeps
//! on an eventfd whenever it finds the queue empty (flag-then-recheck), so
//! a lost wake-up shows as a wait that times out with messages queued.
#![cfg(not(loom))]

use std::time::Duration;

use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::msg_q::{MsgQueue, MsgQueueConfig, MsgQueueError, RingConfig};
use ct_fifo_segment::{FifoSegment, SegmentFlags};

const MESSAGES: u64 = 4_000_000;
/// Far longer than any scheduling delay: a wait this long is a lost wake-up.
const LOST: Duration = Duration::from_secs(20);

/// Message `i`: its length and bytes are a function of `i`.
fn fill(i: u64, buf: &mut Vec<u8>) {
    let len = 8 + (i.wrapping_mul(0x9e37_79b9) >> 7) as usize % 249;
    buf.clear();
    buf.extend_from_slice(&i.to_le_bytes());
    buf.extend((8..len).map(|k| (i as u8).wrapping_add(k as u8)));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
#[cfg_attr(
    all(miri, not(debug_assertions)),
    ignore = "memfd/mmap and eventfd: Miri supports neither"
)]
fn stress_two_threads_trade_messages_with_eventfd_sleeps() {
    let cfg = MsgQueueConfig {
        rings: vec![
            RingConfig {
                nitems: 64,
                elsize: 64,
            },
            RingConfig {
                nitems: 16,
                elsize: 256,
            },
        ],
    };
    let seg = FifoSegment::create("msgq-stress", 1 << 20, 1, SegmentFlags::empty()).unwrap();
    let q = MsgQueue::create(&seg, &cfg).unwrap();
    let peer_seg = FifoSegment::attach(seg.fd().unwrap().try_clone_to_owned().unwrap()).unwrap();
    let peer_q = MsgQueue::attach(&peer_seg, q.offset()).unwrap();
    let efd = EventFd::new().unwrap();
    let producer_efd = efd.try_clone().unwrap();

    let producer = std::thread::spawn(move || {
        let mut tx = q.producer().unwrap();
        let mut m = Vec::new();
        let (mut signals, mut full) = (0u64, 0u64);
        for i in 0..MESSAGES {
            fill(i, &mut m);
            loop {
                match tx.try_send(&m) {
                    Ok(sleeping) => {
                        if sleeping {
                            producer_efd.signal().unwrap();
                            signals += 1;
                        }
                        break;
                    }
                    Err(MsgQueueError::Full) => {
                        full += 1;
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("send {i}: {e}"),
                }
            }
        }
        (signals, full)
    });

    let mut rx = peer_q.consumer().unwrap();
    let mut buf = vec![0u8; peer_q.max_msg_size()];
    let mut want = Vec::new();
    let (mut sleeps, mut spurious) = (0u64, 0u64);
    let mut next = 0u64;
    while next < MESSAGES {
        match rx.try_recv(&mut buf).unwrap() {
            Some(n) => {
                fill(next, &mut want);
                assert_eq!(&buf[..n], &want[..], "message {next}");
                next += 1;
            }
            None => {
                if rx.prepare_sleep().unwrap() {
                    sleeps += 1;
                    if !efd.wait(Some(LOST)).unwrap() {
                        panic!(
                            "lost wake-up at message {next}: {} queued after {LOST:?}",
                            rx.len()
                        );
                    }
                    if efd.drain() == 0 {
                        spurious += 1;
                    }
                }
                rx.woke();
            }
        }
    }
    let (signals, full) = producer.join().unwrap();
    assert!(rx.is_empty());
    eprintln!(
        "{MESSAGES} messages: {sleeps} sleeps, {signals} signals, {spurious} empty drains, {full} full retries"
    );
    // A signal can come without a sleep (the producer saw the flag between
    // `prepare_sleep` setting it and clearing it after its re-check found a
    // message); the stale count only shortens a later wait.
    assert!(sleeps > 0 && signals > 0, "the sleep path ran");
}
