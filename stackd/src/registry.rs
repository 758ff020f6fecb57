//! Every app worker with queues, for the workers' control-queue input: a
//! list under a lock with a generation beside it, so a worker re-reads the
//! list only when it changed (one atomic load per poll otherwise).

use ct_sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ct_app_worker::{AppHandle, AppWorkerHandle};
use ct_sync::RwLock;

use crate::app_conn::AppWorkerConn;

/// The app workers the daemon serves.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    list: RwLock<Vec<Arc<AppWorkerConn>>>,
    generation: AtomicU64,
}

impl Registry {
    /// Adds an app worker.
    pub(crate) fn add(&self, w: Arc<AppWorkerConn>) {
        let mut l = self.list.write();
        l.push(w);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Removes the worker `h`; returns it.
    pub(crate) fn remove_worker(&self, h: AppWorkerHandle) -> Option<Arc<AppWorkerConn>> {
        let mut l = self.list.write();
        let i = l.iter().position(|w| w.handle == h)?;
        let w = l.swap_remove(i);
        self.generation.fetch_add(1, Ordering::Release);
        Some(w)
    }

    /// Removes every worker of `app`; returns them.
    pub(crate) fn remove_app(&self, app: AppHandle) -> Vec<Arc<AppWorkerConn>> {
        let mut l = self.list.write();
        let (gone, kept): (Vec<_>, Vec<_>) = l.drain(..).partition(|w| w.app.app() == Some(app));
        *l = kept;
        if !gone.is_empty() {
            self.generation.fetch_add(1, Ordering::Release);
        }
        gone
    }

    /// The list's generation (moves on every change).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The list and its generation, read together.
    pub(crate) fn snapshot(&self) -> (u64, Vec<Arc<AppWorkerConn>>) {
        let l = self.list.read();
        (self.generation.load(Ordering::Acquire), l.clone())
    }

    /// App workers served.
    pub(crate) fn len(&self) -> usize {
        self.list.read().len()
    }

    /// Segments held for app workers (one mq segment each).
    pub(crate) fn n_mq_segments(&self) -> usize {
        self.len()
    }

    /// Sessions accepted for app workers and not taken yet.
    pub(crate) fn n_unaccepted(&self) -> usize {
        self.list.read().iter().map(|w| w.n_unaccepted()).sum()
    }
}
