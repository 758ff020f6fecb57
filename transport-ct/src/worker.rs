//! A worker's ct state (the reference's `ct_worker_t`): its connection
//! pool and its postponed cleanups. It lives in the session layer's
//! [`Worker`](ct_session::Worker) as local state, so only that worker's thread
//! touches it.

use std::collections::VecDeque;

use crate::connection::CtConnection;
use crate::pool::{CtConnId, Pool};

/// Most postponed cleanups handled per run (the reference's 100).
pub const MAX_CLEANUPS_PER_RUN: usize = 100;

/// One worker's ct state.
#[derive(Debug, Default)]
pub struct CtWorkerState {
    pub(crate) conns: Pool<CtConnection>,
    pub(crate) pending_cleanups: VecDeque<CtConnId>,
    pub(crate) have_cleanups: bool,
    /// Burst buffer of connects being accepted (kept to reuse its memory).
    pub(crate) new_connects: Vec<CtConnId>,
}

impl CtWorkerState {
    /// Live connections on this worker.
    pub fn n_connections(&self) -> usize {
        self.conns.len()
    }

    /// Cleanups waiting.
    pub fn n_pending_cleanups(&self) -> usize {
        self.pending_cleanups.len()
    }

    /// The connection with this id.
    pub fn connection(&self, id: CtConnId) -> Option<&CtConnection> {
        self.conns.get(id)
    }

    /// Every live connection.
    pub fn connections(&self) -> impl Iterator<Item = (CtConnId, &CtConnection)> {
        self.conns.iter()
    }

    /// Bytes of bookkeeping.
    pub fn footprint(&self) -> usize {
        self.conns.footprint()
            + self.pending_cleanups.capacity() * std::mem::size_of::<CtConnId>()
            + self.new_connects.capacity() * std::mem::size_of::<CtConnId>()
    }
}
