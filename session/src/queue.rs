//! What travels on a worker's queue (VPP's per-worker `vpp_event_queue`):
//! RPCs, IO events from apps and session control events.

use crate::SessionHandle;
use crate::worker::Worker;

/// A closure to run on a worker (VPP `SESSION_CTRL_EVT_RPC`).
pub type Rpc = Box<dyn FnOnce(&mut Worker) + Send>;

/// IO events an app sends to a session's worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoEvent {
    /// The app wrote to the tx fifo: run the transport's `custom_tx`.
    Tx,
    /// The app dequeued from an rx fifo whose producer wants a dequeue
    /// notification: run the transport's `app_rx_evt`.
    RxDequeue,
}

/// One event on a worker's queue.
pub(crate) enum WorkerEvent {
    Rpc(Rpc),
    Tx(SessionHandle),
    RxDequeue(SessionHandle),
    /// App close reached the session's thread (VPP `SESSION_CTRL_EVT_CLOSE`).
    Close(SessionHandle),
    /// App reset (VPP `SESSION_CTRL_EVT_RESET`).
    Reset(SessionHandle),
    /// Stop a threaded worker's loop.
    Shutdown,
}

impl std::fmt::Debug for WorkerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerEvent::Rpc(_) => f.write_str("rpc"),
            WorkerEvent::Tx(h) => write!(f, "tx {h:?}"),
            WorkerEvent::RxDequeue(h) => write!(f, "rx-dequeue {h:?}"),
            WorkerEvent::Close(h) => write!(f, "close {h:?}"),
            WorkerEvent::Reset(h) => write!(f, "reset {h:?}"),
            WorkerEvent::Shutdown => f.write_str("shutdown"),
        }
    }
}
