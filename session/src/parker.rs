//! How an idle threaded worker sleeps and how a sender wakes it: the
//! [`WorkerParker`] a worker sleeps on, and [`WorkerWake`], the per-thread
//! `sleeping` flag with the flag-then-recheck protocol around it (VPP's
//! message-queue eventfd handshake, applied to the worker's own queue).
//!
//! The protocol, with a `SeqCst` fence on each side (a store-buffering
//! pair: without both fences each side may read the other's old value):
//!
//! - sender: publish the work (channel push, input message), fence, read
//!   `sleeping`; if set, [`WorkerParker::unpark`].
//! - worker: set `sleeping`, fence, re-check every source of work (its
//!   channel, its pending events, each input's `prepare_sleep`); park only
//!   when all are quiet; clear `sleeping` after.
//!
//! Either the worker's re-check sees the work, or the sender sees the flag
//! and unparks: a wake-up is never lost. A busy worker (flag clear) costs a
//! sender the fence and one load, no system call. The loom model of this is
//! `session/tests/loom.rs`.

use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use ct_sync::atomic::{AtomicBool, Ordering, fence};

/// What an idle worker thread sleeps on. `park` may return early
/// (spuriously, or for an `unpark` that raced an earlier wake-up); the
/// worker re-checks its work either way. `unpark` before `park` must make
/// the next `park` return at once (a token, like thread park or an
/// eventfd), or the sleep/wake protocol could lose a wake-up.
pub trait WorkerParker: Send + Sync {
    /// Called once on the worker's thread before its loop starts (a parker
    /// that needs to know its thread learns it here).
    fn bind(&self) {}
    /// Sleeps up to `timeout`, or less.
    fn park(&self, timeout: Duration);
    /// Wakes the worker from its current or next `park`.
    fn unpark(&self);
}

/// The default parker: `std::thread::park_timeout` / `Thread::unpark`
/// (futex based, token semantics).
#[derive(Debug, Default)]
pub struct ThreadParker {
    /// Locked only by `bind` and by an `unpark` of a sleeping worker.
    thread: ct_sync::Mutex<Option<Thread>>,
}

impl ThreadParker {
    /// A parker for the thread that will call [`WorkerParker::bind`].
    pub fn new() -> Self {
        ThreadParker::default()
    }
}

impl WorkerParker for ThreadParker {
    fn bind(&self) {
        // A runtime restarted on the same workers binds its new threads.
        *self.thread.lock() = Some(std::thread::current());
    }

    fn park(&self, timeout: Duration) {
        std::thread::park_timeout(timeout);
    }

    fn unpark(&self) {
        // Not bound yet: the worker has not set its sleeping flag yet
        // either (bind comes first on its thread), so nobody sleeps.
        if let Some(t) = self.thread.lock().as_ref() {
            t.unpark();
        }
    }
}

/// One worker thread's `sleeping` flag and its parker (installed once, by
/// the threaded runtime; a stepping runtime has none and never sleeps).
pub struct WorkerWake {
    sleeping: AtomicBool,
    parker: OnceLock<Arc<dyn WorkerParker>>,
}

impl std::fmt::Debug for WorkerWake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerWake")
            .field("sleeping", &self.is_sleeping())
            .field("parker", &self.parker.get().is_some())
            .finish()
    }
}

impl Default for WorkerWake {
    fn default() -> Self {
        WorkerWake::new()
    }
}

impl WorkerWake {
    /// Awake, no parker yet.
    pub fn new() -> Self {
        WorkerWake {
            sleeping: AtomicBool::new(false),
            parker: OnceLock::new(),
        }
    }

    /// Installs the parker; false if one was installed already.
    pub fn set_parker(&self, parker: Arc<dyn WorkerParker>) -> bool {
        self.parker.set(parker).is_ok()
    }

    /// The installed parker.
    pub fn parker(&self) -> Option<&Arc<dyn WorkerParker>> {
        self.parker.get()
    }

    /// Whether the worker said it is going to sleep.
    pub fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Relaxed)
    }

    /// Sender side, after publishing work: wakes the worker if it said it
    /// sleeps. Returns whether it unparked.
    pub fn notify(&self) -> bool {
        // Orders the publish before the flag read (pairs with the fence in
        // `prepare_sleep`).
        fence(Ordering::SeqCst);
        if !self.sleeping.load(Ordering::Relaxed) {
            return false;
        }
        match self.parker.get() {
            Some(p) => {
                p.unpark();
                true
            }
            None => false,
        }
    }

    /// Worker side, before re-checking its work: says it is going to
    /// sleep. Every check after this call sees work published before a
    /// sender's [`WorkerWake::notify`] that read the flag clear.
    pub fn prepare_sleep(&self) {
        self.sleeping.store(true, Ordering::Relaxed);
        // Orders the flag store before the re-check's loads (pairs with the
        // fence in `notify`).
        fence(Ordering::SeqCst);
    }

    /// Worker side, after the re-check found work or after parking.
    pub fn woke(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Worker side: parks on the installed parker (returns at once without
    /// one). Call between [`WorkerWake::prepare_sleep`] (and a quiet
    /// re-check) and [`WorkerWake::woke`].
    pub fn park(&self, timeout: Duration) {
        if let Some(p) = self.parker.get() {
            p.park(timeout);
        }
    }
}
