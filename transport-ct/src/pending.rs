//! Connects on their way to the worker that accepts them (the reference's
//! per-worker `pending_connects` + `have_connects` under
//! `pending_connects_lock`, and the first worker's `fwrk_pending_connects`
//! + `fwrk_have_flush`).

use std::collections::VecDeque;

use ct_sync::Mutex;

use crate::pool::CtConnId;

/// Most connects a worker accepts per run; the rest wait for the RPC it
/// sends itself (the reference's 32).
pub const MAX_CONNECTS_PER_RUN: usize = 32;

#[derive(Debug, Default)]
struct Inner {
    fifo: VecDeque<CtConnId>,
    have_connects: bool,
}

/// One worker's queue of half-opens to accept. Filled by the connect
/// thread, drained by the worker.
#[derive(Debug, Default)]
pub struct PendingConnects {
    inner: Mutex<Inner>,
}

impl PendingConnects {
    /// Appends connects; true when the worker has no accept RPC scheduled
    /// and the caller must send one.
    pub fn push_many(&self, ids: impl IntoIterator<Item = CtConnId>) -> bool {
        let mut q = self.inner.lock();
        q.fifo.extend(ids);
        if q.have_connects || q.fifo.is_empty() {
            return false;
        }
        q.have_connects = true;
        true
    }

    /// Takes up to `max` connects into `out`; true when some remain and the
    /// caller must schedule itself again (the flag stays set for it).
    pub fn take_burst(&self, max: usize, out: &mut Vec<CtConnId>) -> bool {
        let mut q = self.inner.lock();
        let n = q.fifo.len().min(max);
        out.extend(q.fifo.drain(..n));
        if q.fifo.is_empty() {
            q.have_connects = false;
            false
        } else {
            true
        }
    }

    /// Connects waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().fifo.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The connect thread's batch of connects per destination thread, flushed
/// by one RPC once the session layer finished setting the half-opens up.
#[derive(Debug, Default)]
pub struct FwrkPending {
    inner: Mutex<FwrkInner>,
}

#[derive(Debug, Default)]
struct FwrkInner {
    per_thread: Vec<Vec<CtConnId>>,
    have_flush: bool,
}

impl FwrkPending {
    /// Batches a connect for `thread`; true when no flush is scheduled and
    /// the caller must schedule one.
    pub fn add(&self, thread: u32, id: CtConnId) -> bool {
        let mut f = self.inner.lock();
        let t = thread as usize;
        if f.per_thread.len() <= t {
            f.per_thread.resize_with(t + 1, Vec::new);
        }
        f.per_thread[t].push(id);
        !std::mem::replace(&mut f.have_flush, true)
    }

    /// Takes every batch (thread, connects) and clears the flush flag.
    pub fn take_all(&self) -> Vec<(u32, Vec<CtConnId>)> {
        let mut f = self.inner.lock();
        f.have_flush = false;
        f.per_thread
            .iter_mut()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(t, v)| (t as u32, std::mem::take(v)))
            .collect()
    }
}
