//! External-style apps: the bounded message queue of an app worker (VPP's
//! app event message queue) and the messages on it.
//!
//! The stack sends without blocking: a full queue makes the delivery fail
//! with `Congested` and the session layer keeps the event for its next
//! run. The app receives blocking, with a timeout, or polling.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use ct_fifo_segment::{Fifo, FifoSegment};
use ct_segment_manager::SegmentHandle;
use ct_session::{ListenerHandle, SessionCleanupNtf, SessionError, SessionHandle};

/// A session's fifos, as an app receives them with an accept or a connect
/// (VPP puts their segment offsets in the message).
#[derive(Debug, Clone)]
pub struct SessionFifos {
    /// The session.
    pub session: SessionHandle,
    /// Receive fifo (the app is its consumer).
    pub rx_fifo: Fifo,
    /// Transmit fifo (the app is its producer).
    pub tx_fifo: Fifo,
}

/// One message to an external app worker.
#[derive(Debug, Clone)]
pub enum AppMessage {
    /// A new session to accept; reply with `accept_reply`.
    Accepted {
        /// The session and its fifos.
        fifos: SessionFifos,
        /// The listener it came from.
        listener: Option<ListenerHandle>,
    },
    /// A connect finished.
    Connected {
        /// The connect's opaque.
        opaque: u32,
        /// The session and its fifos, or why the connect failed.
        result: Result<SessionFifos, SessionError>,
    },
    /// The peer closed.
    Disconnected(SessionHandle),
    /// The peer reset.
    Reset(SessionHandle),
    /// The transport closed.
    TransportClosed(SessionHandle),
    /// The session (or its transport) is cleaned up.
    Cleanup {
        /// The session.
        session: SessionHandle,
        /// What is cleaned up.
        ntf: SessionCleanupNtf,
    },
    /// Data to read.
    Rx(SessionHandle),
    /// Space to write.
    Tx(SessionHandle),
    /// A segment to map; `segment` is `None` when it was deleted before the
    /// message went out.
    AddSegment {
        /// The segment's handle.
        handle: SegmentHandle,
        /// The segment (its fd, for another process).
        segment: Option<FifoSegment>,
    },
    /// A segment to unmap.
    DelSegment(SegmentHandle),
    /// Reply to an asynchronous listen.
    Bound {
        /// The listen session.
        handle: ListenerHandle,
        /// The request's opaque.
        opaque: u32,
        /// The failure, if any.
        error: Option<SessionError>,
    },
    /// Reply to an asynchronous unlisten.
    UnlistenReply {
        /// The listen session.
        handle: ListenerHandle,
        /// The request's opaque.
        opaque: u32,
        /// The failure, if any.
        error: Option<SessionError>,
    },
}

impl AppMessage {
    /// The session the message is about, if any.
    pub fn session(&self) -> Option<SessionHandle> {
        match self {
            AppMessage::Accepted { fifos, .. } => Some(fifos.session),
            AppMessage::Connected { result, .. } => result.as_ref().ok().map(|f| f.session),
            AppMessage::Disconnected(h)
            | AppMessage::Reset(h)
            | AppMessage::TransportClosed(h)
            | AppMessage::Rx(h)
            | AppMessage::Tx(h) => Some(*h),
            AppMessage::Cleanup { session, .. } => Some(*session),
            _ => None,
        }
    }
}

/// The stack's end of an app worker's queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueSender {
    tx: Sender<AppMessage>,
}

impl QueueSender {
    /// Sends without blocking; a full queue gives the message back.
    pub(crate) fn try_send(&self, m: AppMessage) -> Result<(), AppMessage> {
        self.tx.try_send(m).map_err(|e| match e {
            TrySendError::Full(m) | TrySendError::Disconnected(m) => m,
        })
    }

    /// Whether the queue is full (VPP `app_worker_mq_is_congested`).
    pub(crate) fn is_full(&self) -> bool {
        self.tx.is_full()
    }
}

/// The app's end of its app worker's queue: cloneable, `Send`.
#[derive(Debug, Clone)]
pub struct AppQueue {
    rx: Receiver<AppMessage>,
}

/// A bounded queue of `size` messages (at least 1).
pub(crate) fn app_queue(size: usize) -> (QueueSender, AppQueue) {
    let (tx, rx) = crossbeam_channel::bounded(size.max(1));
    (QueueSender { tx }, AppQueue { rx })
}

impl AppQueue {
    /// Waits for the next message; [`SessionError::NoApp`] once the app
    /// worker is gone and the queue drained.
    pub fn recv(&self) -> Result<AppMessage, SessionError> {
        self.rx.recv().map_err(|_| SessionError::NoApp)
    }

    /// Waits up to `timeout`; [`SessionError::TimedOut`] when nothing came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<AppMessage, SessionError> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => SessionError::TimedOut,
            RecvTimeoutError::Disconnected => SessionError::NoApp,
        })
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Result<Option<AppMessage>, SessionError> {
        match self.rx.try_recv() {
            Ok(m) => Ok(Some(m)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(SessionError::NoApp),
        }
    }

    /// Everything queued now.
    pub fn drain(&self) -> Vec<AppMessage> {
        self.rx.try_iter().collect()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// No message waiting?
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.rx.capacity().unwrap_or(usize::MAX)
    }
}
