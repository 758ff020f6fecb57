//! In-process apps: the bounded queue of an app worker (VPP's app event
//! message queue) that carries its [`AppEvent`]s.
//!
//! The stack sends without blocking: a full queue makes the delivery fail
//! with `Congested` and the session layer keeps the event for its next
//! run. The app receives blocking, with a timeout, or polling.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use ct_session::{AppEvent, SessionError};

/// The stack's end of an app worker's queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueSender {
    tx: Sender<AppEvent>,
}

impl QueueSender {
    /// Sends without blocking; a full queue gives the message back.
    pub(crate) fn try_send(&self, m: AppEvent) -> Result<(), AppEvent> {
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
    rx: Receiver<AppEvent>,
}

/// A bounded queue of `size` messages (at least 1).
pub(crate) fn app_queue(size: usize) -> (QueueSender, AppQueue) {
    let (tx, rx) = crossbeam_channel::bounded(size.max(1));
    (QueueSender { tx }, AppQueue { rx })
}

impl AppQueue {
    /// Waits for the next message; [`SessionError::NoApp`] once the app
    /// worker is gone and the queue drained.
    pub fn recv(&self) -> Result<AppEvent, SessionError> {
        self.rx.recv().map_err(|_| SessionError::NoApp)
    }

    /// Waits up to `timeout`; [`SessionError::TimedOut`] when nothing came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<AppEvent, SessionError> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => SessionError::TimedOut,
            RecvTimeoutError::Disconnected => SessionError::NoApp,
        })
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Result<Option<AppEvent>, SessionError> {
        match self.rx.try_recv() {
            Ok(m) => Ok(Some(m)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(SessionError::NoApp),
        }
    }

    /// Everything queued now.
    pub fn drain(&self) -> Vec<AppEvent> {
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
