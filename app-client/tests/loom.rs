//! loom model of the async readiness hand-off (`src/readiness.rs`), on the
//! real [`WakerSlot`]: a task that registers its waker, then looks at its
//! condition again, then parks; and a filer (the driver filing an event,
//! a close, the worker's failure) that makes the condition true, then
//! wakes. In every interleaving the task either saw the condition or was
//! woken: no lost wake-up.
//!
//! Run: `cargo xtask loom -p ct-app-client` (or `RUSTFLAGS="--cfg loom"
//! LOOM_MAX_PREEMPTIONS=3 cargo test -p ct-app-client --release --test loom`).
#![cfg(loom)]

use std::task::{Wake, Waker};

use ct_app_client::readiness::WakerSlot;
use ct_sync::atomic::{AtomicBool, AtomicU32, Ordering};
use ct_sync::{Arc, thread};

/// A task's waker: counts its wake-ups.
struct Task {
    woken: AtomicU32,
}

impl Wake for Task {
    fn wake(self: std::sync::Arc<Self>) {
        self.woken.fetch_add(1, Ordering::AcqRel);
    }
}

/// The task's poll: look, register, look again, park. True if it saw the
/// condition (it would return `Ready`).
fn poll(ready: &AtomicBool, slot: &WakerSlot, waker: &Waker) -> bool {
    if ready.load(Ordering::Acquire) {
        return true;
    }
    slot.register(waker);
    ready.load(Ordering::Acquire)
}

#[test]
fn register_then_recheck_never_loses_a_wake() {
    loom::model(|| {
        let ready = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(WakerSlot::new());
        let filer = {
            let (ready, slot) = (ready.clone(), slot.clone());
            thread::spawn(move || {
                // The filer's order: the condition, then the wake.
                ready.store(true, Ordering::Release);
                slot.wake();
            })
        };
        let task = std::sync::Arc::new(Task {
            woken: AtomicU32::new(0),
        });
        let waker = Waker::from(task.clone());
        let saw = poll(&ready, &slot, &waker);
        filer.join().unwrap();
        assert!(
            saw || task.woken.load(Ordering::Acquire) == 1,
            "parked, never woken"
        );
    });
}

#[test]
fn a_second_poll_after_a_wake_registers_again() {
    // Woken once, the task polls again and parks again: the next event
    // (a second filing) wakes it again.
    loom::model(|| {
        let events = Arc::new(AtomicU32::new(0));
        let slot = Arc::new(WakerSlot::new());
        let filer = {
            let (events, slot) = (events.clone(), slot.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    events.fetch_add(1, Ordering::AcqRel);
                    slot.wake();
                }
            })
        };
        let task = std::sync::Arc::new(Task {
            woken: AtomicU32::new(0),
        });
        let waker = Waker::from(task.clone());
        let mut seen = 0;
        for _ in 0..2 {
            // Consume what was filed, register, look again.
            seen = events.load(Ordering::Acquire);
            slot.register(&waker);
            if events.load(Ordering::Acquire) != seen {
                seen = events.load(Ordering::Acquire);
            }
        }
        filer.join().unwrap();
        let woken = task.woken.load(Ordering::Acquire);
        // Whatever came after the task's last look woke it.
        assert!(seen == 2 || woken >= 1, "seen {seen}, woken {woken}");
    });
}

#[test]
#[should_panic(expected = "parked, never woken")]
fn waking_before_the_condition_holds_loses_the_wake() {
    // The model has teeth: a filer that wakes first and makes the
    // condition true after leaves a task parked with nobody to wake it.
    loom::model(|| {
        let ready = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(WakerSlot::new());
        let filer = {
            let (ready, slot) = (ready.clone(), slot.clone());
            thread::spawn(move || {
                slot.wake();
                ready.store(true, Ordering::Release);
            })
        };
        let task = std::sync::Arc::new(Task {
            woken: AtomicU32::new(0),
        });
        let waker = Waker::from(task.clone());
        let saw = poll(&ready, &slot, &waker);
        filer.join().unwrap();
        assert!(
            saw || task.woken.load(Ordering::Acquire) == 1,
            "parked, never woken"
        );
    });
}
