//! loom models of the worker sleep/wake protocol ([`WorkerWake`], the
//! real code): a sender publishing work and notifying, against a worker
//! that says it sleeps, re-checks and parks. The parker has token semantics
//! (a loom mutex + condvar) and parks without a timeout, so a lost wake-up
//! leaves the worker parked forever, which loom reports as a deadlock.
//!
//! The queue stands in for the worker's channel or an input's queue: a
//! count of published messages, stored with Release and loaded with Acquire
//! (weaker than the channel, so the protocol's fences are what the model
//! relies on). Removing the `SeqCst` fence from either
//! `WorkerWake::notify` or `WorkerWake::prepare_sleep` makes
//! `one_send_never_lost` fail (the store-buffering outcome: the sender
//! reads the flag clear and the worker reads the queue empty).
//!
//! Run: `cargo xtask loom -p ct-session` (or `RUSTFLAGS="--cfg loom"
//! LOOM_MAX_PREEMPTIONS=3 cargo test -p ct-session --release --test loom`).
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::time::Duration;

use ct_session::{WorkerParker, WorkerWake};
use ct_sync::atomic::{AtomicUsize, Ordering};
use ct_sync::{Arc, thread};
use loom::sync::{Condvar, Mutex};

/// A parker loom can see: a wake-up token under a mutex, a condvar to
/// wait on. `park` ignores the timeout (waits for the token), so only an
/// `unpark` ends it.
struct LoomParker {
    token: Mutex<bool>,
    cv: Condvar,
}

impl LoomParker {
    fn new() -> Self {
        LoomParker {
            token: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
}

impl WorkerParker for LoomParker {
    fn park(&self, _timeout: Duration) {
        let mut t = self.token.lock().unwrap();
        while !*t {
            t = self.cv.wait(t).unwrap();
        }
        *t = false;
    }

    fn unpark(&self) {
        *self.token.lock().unwrap() = true;
        self.cv.notify_one();
    }
}

fn wake_with_parker() -> Arc<WorkerWake> {
    let wake = Arc::new(WorkerWake::new());
    assert!(wake.set_parker(StdArc::new(LoomParker::new())));
    wake
}

/// The worker loop's shape: poll (take what is published), else say it
/// sleeps, re-check, park if still nothing, wake. Returns once `want`
/// messages were taken.
fn worker(wake: &WorkerWake, q: &AtomicUsize, want: usize) {
    let mut taken = 0;
    while taken < want {
        let published = q.load(Ordering::Acquire);
        if published > taken {
            taken = published;
            continue;
        }
        wake.prepare_sleep();
        if q.load(Ordering::Acquire) == taken {
            wake.park(Duration::from_secs(3600));
        }
        wake.woke();
    }
}

/// One message to a worker that is going to sleep: it is never lost.
#[test]
fn one_send_never_lost() {
    loom::model(|| {
        let wake = wake_with_parker();
        let q = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (wake, q) = (wake.clone(), q.clone());
            thread::spawn(move || {
                q.store(1, Ordering::Release);
                wake.notify();
            })
        };
        worker(&wake, &q, 1);
        sender.join().unwrap();
        assert!(!wake.is_sleeping());
    });
}

/// Two messages, so the second send can meet the worker anywhere in its
/// loop (awake after the first, re-checking, parked, or waking with a
/// stale token from a racing unpark): neither is lost.
#[test]
fn two_sends_never_lost() {
    loom::model(|| {
        let wake = wake_with_parker();
        let q = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (wake, q) = (wake.clone(), q.clone());
            thread::spawn(move || {
                for n in 1..=2 {
                    q.store(n, Ordering::Release);
                    wake.notify();
                }
            })
        };
        worker(&wake, &q, 2);
        sender.join().unwrap();
    });
}

/// Two senders (two threads sending to one worker, as every thread may):
/// each publishes on a queue of its own; the worker re-checks both.
#[test]
fn two_senders_never_lost() {
    loom::model(|| {
        let wake = wake_with_parker();
        let qa = Arc::new(AtomicUsize::new(0));
        let qb = Arc::new(AtomicUsize::new(0));
        let spawn = |q: &Arc<AtomicUsize>| {
            let (wake, q) = (wake.clone(), q.clone());
            thread::spawn(move || {
                q.store(1, Ordering::Release);
                wake.notify();
            })
        };
        let (a, b) = (spawn(&qa), spawn(&qb));
        let mut got = (false, false);
        while !(got.0 && got.1) {
            let (ra, rb) = (qa.load(Ordering::Acquire), qb.load(Ordering::Acquire));
            if (ra == 1 && !got.0) || (rb == 1 && !got.1) {
                got = (got.0 || ra == 1, got.1 || rb == 1);
                continue;
            }
            wake.prepare_sleep();
            let quiet = (got.0 || qa.load(Ordering::Acquire) == 0)
                && (got.1 || qb.load(Ordering::Acquire) == 0);
            if quiet {
                wake.park(Duration::from_secs(3600));
            }
            wake.woke();
        }
        a.join().unwrap();
        b.join().unwrap();
    });
}
