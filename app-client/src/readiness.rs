//! Readiness for tasks that do not block (an async runtime's): one
//! [`WakerSlot`] per thing a task can wait for (a session's reads, its
//! writes, a listener's accept queue, a connect's answer), woken by the
//! filer (`events.rs`) when the stack sends news of it, and all of them
//! when the worker can no longer be used (the daemon went).
//!
//! The hand-off rule that makes a wake-up impossible to lose: a waiting
//! task registers its waker, then looks at its condition again (the fifo,
//! the session's status, the worker's health), and only then returns
//! `Pending`; the filer first makes the condition true (status bits set,
//! data in the fifo before its event), then wakes. Whichever comes second
//! sees the other's work: the slot's lock orders the registration and the
//! wake, the condition's own atomics order the rest. `tests/loom.rs`
//! model-checks it.

use ct_sync::Mutex;
use std::task::Waker;

/// The waker of the task waiting for one thing (the last to register, as
/// for a tokio socket's read or write direction).
#[derive(Debug)]
pub struct WakerSlot {
    waker: Mutex<Option<Waker>>,
}

impl Default for WakerSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl WakerSlot {
    /// An empty slot.
    pub fn new() -> Self {
        WakerSlot {
            waker: Mutex::new(None),
        }
    }

    /// Registers `w`; the caller looks at its condition again afterwards
    /// and returns `Pending` only if it still does not hold.
    #[cfg_attr(not(any(feature = "tokio", loom)), allow(dead_code))]
    pub fn register(&self, w: &Waker) {
        let mut g = self.waker.lock();
        match &mut *g {
            Some(old) if old.will_wake(w) => {}
            slot => *slot = Some(w.clone()),
        }
    }

    /// Wakes the registered task, if any (after the condition was made
    /// true). The waker is called outside the lock.
    pub fn wake(&self) {
        let w = self.waker.lock().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// A session's two directions.
#[derive(Debug, Default)]
pub(crate) struct SessionReadiness {
    /// Data (or the end of it) to read: RX events, closes.
    pub(crate) read: WakerSlot,
    /// Room to write: TX events (the dequeue notification), closes.
    pub(crate) write: WakerSlot,
}

impl SessionReadiness {
    /// Both directions (a close, a reset, the worker gone).
    pub(crate) fn wake_both(&self) {
        self.read.wake();
        self.write.wake();
    }
}
