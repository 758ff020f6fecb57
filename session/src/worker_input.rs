//! Worker inputs: sources of work a worker polls besides its own queue
//! (VPP's session queue node polling the app message queues). stackd adds
//! one that drains the control queues apps write in shared memory.
//!
//! Inputs are registered on [`SessionMain`](crate::SessionMain), at any
//! time; each worker keeps a snapshot, refreshed when the registry's
//! generation moves, so a poll with no change costs one atomic load.

use ct_sync::unmodeled::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ct_sync::RwLock;

use crate::worker::Worker;

/// A source of work polled by every worker on each [`Worker::poll`].
///
/// An input that can wake a sleeping worker (a shared-memory queue whose
/// producer signals the worker's parker) implements the sleep hand-off:
/// `prepare_sleep` sets its consumer-sleeping flag and re-checks (false:
/// work arrived, stay awake); `woke` clears the flag.
pub trait WorkerInput: Send + Sync {
    /// Handles what is pending for `wrk`'s thread; returns whether it did
    /// work.
    fn poll(&self, wrk: &mut Worker) -> bool;
    /// The worker is about to sleep: true if this input is quiet and its
    /// producers will wake the worker's parker for new work.
    fn prepare_sleep(&self, wrk: &Worker) -> bool {
        let _ = wrk;
        true
    }
    /// The worker is awake again (after a sleep, or after a re-check that
    /// found work).
    fn woke(&self, wrk: &Worker) {
        let _ = wrk;
    }
    /// The end of a [`Worker::poll`], after session-input delivered this
    /// poll's app events: the place to do once per poll what each delivery
    /// would otherwise do on its own (stackd wakes each app it owes a
    /// wake-up here, so the app does not take the worker's core mid-batch).
    /// Runs on every poll, also before the worker goes to sleep.
    fn poll_end(&self, wrk: &mut Worker) {
        let _ = wrk;
    }
}

/// The registry of inputs shared by all workers.
#[derive(Default)]
pub(crate) struct WorkerInputs {
    list: RwLock<Vec<Arc<dyn WorkerInput>>>,
    /// Bumped on every change (Release); workers compare it (Acquire) with
    /// their snapshot's.
    generation: AtomicU64,
}

impl WorkerInputs {
    pub(crate) fn add(&self, input: Arc<dyn WorkerInput>) {
        let mut l = self.list.write();
        l.push(input);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn remove(&self, input: &Arc<dyn WorkerInput>) -> bool {
        let mut l = self.list.write();
        let before = l.len();
        l.retain(|i| !Arc::ptr_eq(i, input));
        let removed = l.len() != before;
        if removed {
            self.generation.fetch_add(1, Ordering::Release);
        }
        removed
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.read().len()
    }

    /// The current list and its generation (read under the lock, so they
    /// match).
    pub(crate) fn snapshot(&self) -> (u64, Vec<Arc<dyn WorkerInput>>) {
        let l = self.list.read();
        (self.generation.load(Ordering::Acquire), l.clone())
    }
}

/// One worker's copy of the inputs.
#[derive(Default)]
pub(crate) struct InputSnapshot {
    pub(crate) generation: u64,
    pub(crate) inputs: Vec<Arc<dyn WorkerInput>>,
}
