//! A producer thread hands work items to a consumer through a
//! `Mutex<VecDeque>` and a `Condvar`, and both count what they did in
//! atomics: the same locks and atomics loom checks under `--cfg loom`.
//!
//! `cargo run -p ct-sync --example handoff`

use std::collections::VecDeque;
use std::time::Duration;

use ct_sync::atomic::{AtomicU64, Ordering};
use ct_sync::{Arc, Condvar, Mutex, thread};

/// Items the producer hands over.
const ITEMS: u64 = 10_000;

struct Shared {
    queue: Mutex<VecDeque<u64>>,
    ready: Condvar,
    produced: AtomicU64,
    consumed: AtomicU64,
}

fn main() {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        ready: Condvar::new(),
        produced: AtomicU64::new(0),
        consumed: AtomicU64::new(0),
    });

    let producer = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            for item in 1..=ITEMS {
                shared.queue.lock().push_back(item);
                shared.produced.fetch_add(1, Ordering::Relaxed);
                shared.ready.notify_one();
            }
        })
    };

    let mut sum = 0;
    while shared.consumed.load(Ordering::Relaxed) < ITEMS {
        let mut queue = shared.queue.lock();
        if queue.is_empty() {
            // A timeout bounds the wait: a lost notification would cost
            // 10 ms here, never a hang.
            shared.ready.wait_for(&mut queue, Duration::from_millis(10));
        }
        while let Some(item) = queue.pop_front() {
            sum += item;
            shared.consumed.fetch_add(1, Ordering::Relaxed);
        }
    }
    producer.join().expect("producer thread");

    assert_eq!(sum, ITEMS * (ITEMS + 1) / 2);
    println!(
        "handed over {} items (sum {sum}), {} produced",
        shared.consumed.load(Ordering::Relaxed),
        shared.produced.load(Ordering::Relaxed)
    );
}
