//! Async app events (the reference commit's `app_worker_add_event` and
//! session-input): per app worker, per thread, a fifo of events the session
//! layer and transports queue for the app, flushed later by
//! [`Worker::session_input`](crate::Worker::session_input).

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use hashbrown::HashMap;

use crate::state::SessionCleanupNtf;
use crate::worker::Worker;
use crate::{ListenerHandle, SessionError, SessionHandle};

/// Most events delivered to one app worker per session-input run.
pub const APP_EVENTS_PER_FLUSH: usize = 128;

/// A cleanup action a transport attaches to a cleanup event (VPP
/// `app_worker_cleanup_notify_custom`): runs on the session's thread once
/// the app was told, or when the app worker's events are drained.
pub type CleanupFn = Box<dyn FnOnce(&mut Worker, SessionHandle) + Send>;

/// The segment handle carried by add/del segment events.
pub use ct_segment_manager::SegmentHandle;

/// One event for an app worker (VPP `session_evt_type_t`, the kinds the
/// session layer sends to apps).
pub enum AppEvent {
    /// Data to read (coalesced per session through
    /// [`SessionFlags::RX_EVT`](crate::SessionFlags::RX_EVT)).
    Rx(SessionHandle),
    /// Space to write (a dequeue notification).
    Tx(SessionHandle),
    /// A new session to accept.
    Accepted(SessionHandle),
    /// Connect result: the new session, or the error; with the app's opaque.
    Connected {
        /// The session, `None` when the connect failed.
        session: Option<SessionHandle>,
        /// The connect's opaque.
        opaque: u32,
        /// Why the connect failed.
        error: Option<SessionError>,
    },
    /// The peer closed.
    Disconnected(SessionHandle),
    /// The peer reset.
    Reset(SessionHandle),
    /// The transport closed.
    TransportClosed(SessionHandle),
    /// The session (or its transport) is being cleaned up.
    Cleanup {
        /// The session.
        session: SessionHandle,
        /// Transport or session cleanup.
        ntf: SessionCleanupNtf,
        /// For session cleanups, what frees the session: a transport's custom
        /// action, or `None` for the session layer's
        /// [`Worker::session_cleanup`].
        action: Option<CleanupFn>,
    },
    /// A half-open is gone: the app drops it from its table, then the
    /// session layer frees it.
    HalfCleanup(SessionHandle),
    /// A segment to map.
    AddSegment(SegmentHandle),
    /// A segment to unmap.
    DelSegment(SegmentHandle),
    /// Reply to an unlisten.
    UnlistenReply {
        /// The listener.
        handle: ListenerHandle,
        /// The request's opaque.
        opaque: u32,
        /// The failure, if any.
        error: Option<SessionError>,
    },
    /// Reply to a listen.
    Bound {
        /// The listener.
        handle: ListenerHandle,
        /// The request's opaque.
        opaque: u32,
        /// The failure, if any.
        error: Option<SessionError>,
    },
}

impl AppEvent {
    /// VPP's event name.
    pub fn name(&self) -> &'static str {
        match self {
            AppEvent::Rx(_) => "rx",
            AppEvent::Tx(_) => "tx",
            AppEvent::Accepted(_) => "accepted",
            AppEvent::Connected { .. } => "connected",
            AppEvent::Disconnected(_) => "disconnected",
            AppEvent::Reset(_) => "reset",
            AppEvent::TransportClosed(_) => "transport-closed",
            AppEvent::Cleanup { .. } => "cleanup",
            AppEvent::HalfCleanup(_) => "half-cleanup",
            AppEvent::AddSegment(_) => "app-add-segment",
            AppEvent::DelSegment(_) => "app-del-segment",
            AppEvent::UnlistenReply { .. } => "unlisten-reply",
            AppEvent::Bound { .. } => "bound",
        }
    }

    /// The session the event is about, if any.
    pub fn session(&self) -> Option<SessionHandle> {
        match self {
            AppEvent::Rx(h)
            | AppEvent::Tx(h)
            | AppEvent::Accepted(h)
            | AppEvent::Disconnected(h)
            | AppEvent::Reset(h)
            | AppEvent::TransportClosed(h)
            | AppEvent::HalfCleanup(h) => Some(*h),
            AppEvent::Cleanup { session, .. } => Some(*session),
            AppEvent::Connected { session, .. } => *session,
            AppEvent::UnlistenReply { handle, .. } | AppEvent::Bound { handle, .. } => {
                Some(*handle)
            }
            AppEvent::AddSegment(_) | AppEvent::DelSegment(_) => None,
        }
    }
}

impl fmt::Debug for AppEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppEvent::Connected {
                session,
                opaque,
                error,
            } => write!(f, "connected({session:?}, opaque {opaque}, {error:?})"),
            AppEvent::Cleanup {
                session,
                ntf,
                action,
            } => write!(
                f,
                "cleanup({session:?}, {ntf:?}{})",
                if action.is_some() { ", custom" } else { "" }
            ),
            AppEvent::AddSegment(h) | AppEvent::DelSegment(h) => {
                write!(f, "{}({h:?})", self.name())
            }
            AppEvent::UnlistenReply {
                handle,
                opaque,
                error,
            }
            | AppEvent::Bound {
                handle,
                opaque,
                error,
            } => write!(f, "{}({handle:?}, opaque {opaque}, {error:?})", self.name()),
            other => write!(f, "{}({:?})", other.name(), other.session()),
        }
    }
}

/// One app worker's pending events on one thread.
#[derive(Debug, Default)]
pub(crate) struct AppWrkEvents {
    pub(crate) fifo: VecDeque<AppEvent>,
    /// The app's queue was full or locked at the last flush.
    pub(crate) congested: bool,
}

/// A thread's event fifos for every app worker, and the set of app workers
/// with events to flush (VPP `app_wrk->wrk_evts[thread]` and
/// `wrk->app_wrks_pending_ntf`). Ordered set: flushes visit app workers in
/// index order, as VPP's bitmap walk does, so runs are deterministic.
#[derive(Debug, Default)]
pub(crate) struct AppEventQueues {
    pub(crate) per_app_wrk: HashMap<u32, AppWrkEvents>,
    pub(crate) pending: BTreeSet<u32>,
}

impl AppEventQueues {
    /// Queues `evt`; the first event marks the app worker pending.
    pub(crate) fn add(&mut self, app_wrk: u32, evt: AppEvent) {
        let q = self.per_app_wrk.entry(app_wrk).or_default();
        q.fifo.push_back(evt);
        if q.fifo.len() == 1 {
            self.pending.insert(app_wrk);
        }
    }

    pub(crate) fn len(&self, app_wrk: u32) -> usize {
        self.per_app_wrk.get(&app_wrk).map_or(0, |q| q.fifo.len())
    }
}
