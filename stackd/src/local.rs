//! [`StackdLocal`]: everything stackd keeps in a session worker's local
//! state, in one value. The hot path (each poll of the control queues,
//! each delivery) then finds it with one lookup instead of one per part.

use std::sync::Arc;

use ct_app_interface::wire::MsgBuf;

use crate::app_conn::AppWorkerConn;
use crate::counters::WorkerMqCounters;
use crate::sink::OwedSignals;

/// A worker's copy of the registry's list of app workers (the control
/// queues it polls), refreshed when the registry's generation moves, and
/// the buffer messages are read to.
#[derive(Default)]
pub(crate) struct InputCache {
    pub(crate) generation: u64,
    pub(crate) conns: Vec<Arc<AppWorkerConn>>,
    /// Where a control message is read to (`CTRL_MSG_SIZE` bytes once
    /// used).
    pub(crate) buf: Vec<u8>,
}

/// stackd's per-worker state.
#[derive(Default)]
pub(crate) struct StackdLocal {
    /// The worker's hot-path counters.
    pub(crate) counters: WorkerMqCounters,
    /// App workers owed a wake-up at the end of this poll.
    pub(crate) owed: OwedSignals,
    /// The control queues this worker polls.
    pub(crate) cache: InputCache,
    /// Where an event for an app is encoded.
    pub(crate) msg: MsgBuf,
}
