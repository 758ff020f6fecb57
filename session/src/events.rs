//! Async app events (the reference commit's `app_worker_add_event` and
//! session-input): per app worker, per thread, a fifo of events the session
//! layer and transports queue for the app, flushed later by
//! [`Worker::session_input`](crate::Worker::session_input).

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use ct_fifo_segment::{Fifo, FifoSegment};
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

/// One event for an app worker (VPP `session_evt_type_t`, the kinds the
/// session layer sends to apps): the one form of the event set inside the
/// stack's process. The session layer queues it, builtin apps get it as
/// callbacks, in-process apps receive it on their queue and an
/// out-of-process app's sink encodes it into the wire form.
///
/// Generic over how it gives a new session (`S`) and a new segment (`G`):
/// the session layer queues handles ([`QueuedAppEvent`]) and the app layer
/// resolves them when it delivers, on the session's worker, to the
/// session's fifos and the segment itself (the defaults, what apps
/// receive). Resolving late gives the app what holds at delivery, retries
/// after congestion included: a session gone by then is not announced, a
/// segment deleted by then comes as `None`.
#[derive(Clone)]
pub enum AppEvent<S = SessionFifos, G = Option<FifoSegment>> {
    /// Data to read (coalesced per session through
    /// [`SessionFlags::RX_EVT`](crate::SessionFlags::RX_EVT)).
    Rx(SessionHandle),
    /// Space to write (a dequeue notification).
    Tx(SessionHandle),
    /// A new session to accept; reply with `accept_reply`.
    Accepted {
        /// The session (with its fifos, once resolved).
        session: S,
        /// The listener it came from.
        listener: Option<ListenerHandle>,
    },
    /// A connect finished.
    Connected {
        /// The connect's opaque.
        opaque: u32,
        /// The session (with its fifos, once resolved), or why the connect
        /// failed.
        result: Result<S, SessionError>,
    },
    /// The peer closed.
    Disconnected(SessionHandle),
    /// The peer reset.
    Reset(SessionHandle),
    /// The transport closed.
    TransportClosed(SessionHandle),
    /// The session (or its transport) is being cleaned up. A session
    /// cleanup then frees the session (see
    /// [`Worker::app_worker_cleanup_notify_custom`]).
    Cleanup {
        /// The session.
        session: SessionHandle,
        /// Transport or session cleanup.
        ntf: SessionCleanupNtf,
    },
    /// A half-open is gone: the app layer drops it from its table, then the
    /// session layer frees it. The app layer's own: apps never receive it.
    HalfCleanup(SessionHandle),
    /// A segment to map.
    AddSegment {
        /// The segment's handle.
        handle: SegmentHandle,
        /// The segment (its fd, for another process) once resolved; `None`
        /// when it was deleted before the event went out.
        segment: G,
    },
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

/// An app event as the session layer queues it: sessions and segments by
/// handle, resolved when delivered.
pub type QueuedAppEvent = AppEvent<SessionHandle, ()>;

impl<S, G> AppEvent<S, G> {
    /// VPP's event name.
    pub fn name(&self) -> &'static str {
        match self {
            AppEvent::Rx(_) => "rx",
            AppEvent::Tx(_) => "tx",
            AppEvent::Accepted { .. } => "accepted",
            AppEvent::Connected { .. } => "connected",
            AppEvent::Disconnected(_) => "disconnected",
            AppEvent::Reset(_) => "reset",
            AppEvent::TransportClosed(_) => "transport-closed",
            AppEvent::Cleanup { .. } => "cleanup",
            AppEvent::HalfCleanup(_) => "half-cleanup",
            AppEvent::AddSegment { .. } => "app-add-segment",
            AppEvent::DelSegment(_) => "app-del-segment",
            AppEvent::UnlistenReply { .. } => "unlisten-reply",
            AppEvent::Bound { .. } => "bound",
        }
    }

    /// The session of a session event, whatever `S` is.
    fn session_with(&self, of: impl Fn(&S) -> SessionHandle) -> Option<SessionHandle> {
        match self {
            AppEvent::Rx(h)
            | AppEvent::Tx(h)
            | AppEvent::Disconnected(h)
            | AppEvent::Reset(h)
            | AppEvent::TransportClosed(h)
            | AppEvent::HalfCleanup(h) => Some(*h),
            AppEvent::Cleanup { session, .. } => Some(*session),
            AppEvent::Accepted { session, .. } => Some(of(session)),
            AppEvent::Connected { result, .. } => result.as_ref().ok().map(of),
            AppEvent::UnlistenReply { .. }
            | AppEvent::Bound { .. }
            | AppEvent::AddSegment { .. }
            | AppEvent::DelSegment(_) => None,
        }
    }
}

impl QueuedAppEvent {
    /// The session the event is about, if any (listen replies name their
    /// listener).
    pub fn session(&self) -> Option<SessionHandle> {
        match self {
            AppEvent::UnlistenReply { handle, .. } | AppEvent::Bound { handle, .. } => {
                Some(*handle)
            }
            other => other.session_with(|h| *h),
        }
    }
}

impl<G> AppEvent<SessionFifos, G> {
    /// The session the event is about, if any (a failed connect has none;
    /// listen replies are about a listener, not a session).
    pub fn session(&self) -> Option<SessionHandle> {
        self.session_with(|f| f.session)
    }
}

impl<S: fmt::Debug, G: fmt::Debug> fmt::Debug for AppEvent<S, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppEvent::Rx(h)
            | AppEvent::Tx(h)
            | AppEvent::Disconnected(h)
            | AppEvent::Reset(h)
            | AppEvent::TransportClosed(h)
            | AppEvent::HalfCleanup(h) => write!(f, "{}({h:?})", self.name()),
            AppEvent::Accepted { session, listener } => {
                write!(f, "accepted({session:?}, listener {listener:?})")
            }
            AppEvent::Connected { opaque, result } => {
                write!(f, "connected({result:?}, opaque {opaque})")
            }
            AppEvent::Cleanup { session, ntf } => write!(f, "cleanup({session:?}, {ntf:?})"),
            AppEvent::AddSegment { handle, segment } => {
                write!(f, "{}({handle:?}, {segment:?})", self.name())
            }
            AppEvent::DelSegment(h) => write!(f, "{}({h:?})", self.name()),
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
        }
    }
}

/// A queued event and, for a session cleanup, what frees the session: a
/// transport's custom action, or `None` for the session layer's
/// [`Worker::session_cleanup`].
pub(crate) struct Queued {
    pub(crate) event: QueuedAppEvent,
    pub(crate) action: Option<CleanupFn>,
}

impl fmt::Debug for Queued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.event)?;
        if self.action.is_some() {
            f.write_str(" (custom)")?;
        }
        Ok(())
    }
}

/// One app worker's pending events on one thread.
#[derive(Debug, Default)]
pub(crate) struct AppWrkEvents {
    pub(crate) fifo: VecDeque<Queued>,
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
    pub(crate) fn add(&mut self, app_wrk: u32, evt: Queued) {
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
