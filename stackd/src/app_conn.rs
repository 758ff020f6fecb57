//! The stack's end of one app worker in another process: its "mq segment"
//! (a sealed memfd segment holding `evt_q[t]` and `ctrl_q[t]` for every
//! stack thread `t`), the producer ends of the event queues, the consumer
//! ends of the control queues, the app worker's eventfd, and the app's
//! socket (segment fds go over it before the queue message naming them).
//!
//! Each end sits behind its own mutex, but only one thread ever takes it:
//! `evt_q[t]`'s producer and `ctrl_q[t]`'s consumer belong to stack thread
//! `t` (the mutex only makes the shared struct `Sync`; it is never
//! contended).

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use ct_app_interface::sapi::SapiError;
use ct_app_interface::wire::{SapiMsg, SegmentRef, WorkerReply, msg_q_config};
use ct_app_worker::{AppListenerHandle, AppWorkerHandle};
use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::{
    FifoSegment, MsgConsumer, MsgProducer, MsgQueue, MsgQueueConfig, MsgQueueError, SegmentFlags,
};
use ct_segment_manager::SegmentHandle;
use ct_session::{SessionEndpoint, SessionHandle};
use ct_sync::Mutex;
use hashbrown::{HashMap, HashSet};

use crate::app_state::AppState;
use crate::backlog::{AcceptBacklog, Unaccepted};
use crate::convert::segment_ref;
use crate::error::StackdError;

/// Largest event queue an app may ask for (messages per queue): bounds the
/// mq segment an attach makes us create.
pub const MAX_EVT_Q_SIZE: u32 = 1 << 13;

/// Default messages per event queue.
pub const DEFAULT_EVT_Q_SIZE: u32 = 1 << 10;

/// The rings of one queue for an app that asked for `evt_q_size` messages
/// (0: the default), each ring a power of two.
pub(crate) fn queue_config(evt_q_size: u32) -> MsgQueueConfig {
    let n = match evt_q_size {
        0 => DEFAULT_EVT_Q_SIZE,
        n => n.min(MAX_EVT_Q_SIZE),
    };
    // Rings hold a power of two of slots.
    msg_q_config(n.next_power_of_two())
}

/// The queues of one app worker, made before the stack knows the worker
/// (an attach creates them first, so a failure leaves nothing in the
/// stack to undo).
pub(crate) struct Queues {
    mq: FifoSegment,
    evt: Vec<MsgProducer>,
    ctrl: Vec<MsgConsumer>,
    ctrl_shared: Vec<MsgQueue>,
    offsets: Vec<(u64, u64)>,
    app_evtfd: EventFd,
}

impl Queues {
    /// The mq segment and `n_threads` queue pairs of `cfg`, plus the app
    /// worker's eventfd.
    pub(crate) fn new(
        name: &str,
        n_threads: u32,
        cfg: &MsgQueueConfig,
    ) -> Result<Self, StackdError> {
        let one = MsgQueue::footprint(cfg);
        let size = one
            .checked_mul(2 * n_threads as usize)
            .and_then(|n| n.checked_add(64 << 10))
            .ok_or(StackdError::Config("event queue size".into()))?;
        let size = size.next_multiple_of(4096);
        let mq = FifoSegment::create(name, size, 1, SegmentFlags::empty())
            .map_err(|e| StackdError::MsgQueue(MsgQueueError::Segment(e)))?;
        let mut evt = Vec::with_capacity(n_threads as usize);
        let mut ctrl = Vec::with_capacity(n_threads as usize);
        let mut ctrl_shared = Vec::with_capacity(n_threads as usize);
        let mut offsets = Vec::with_capacity(n_threads as usize);
        for _ in 0..n_threads {
            let e = MsgQueue::create(&mq, cfg)?;
            let c = MsgQueue::create(&mq, cfg)?;
            offsets.push((e.offset(), c.offset()));
            evt.push(e.producer()?);
            ctrl.push(c.consumer()?);
            ctrl_shared.push(c);
        }
        Ok(Queues {
            mq,
            evt,
            ctrl,
            ctrl_shared,
            offsets,
            app_evtfd: EventFd::new()?,
        })
    }
}

/// A reference the app can name a listener by, and what it listens on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenerEntry {
    pub(crate) alh: AppListenerHandle,
    pub(crate) endpoint: SessionEndpoint,
    /// Sessions the stack may accept before the app took them
    /// ([`crate::backlog`]).
    pub(crate) backlog: u32,
}

/// One app worker's queues, eventfd and socket.
pub(crate) struct AppWorkerConn {
    pub(crate) app: Arc<AppState>,
    pub(crate) handle: AppWorkerHandle,
    /// The worker's index within its app (what the app names it by).
    pub(crate) wrk_map_index: u32,
    mq: FifoSegment,
    mq_ref: SegmentRef,
    evt: Box<[Mutex<MsgProducer>]>,
    ctrl: Box<[Mutex<MsgConsumer>]>,
    /// `ctrl_q[t]` itself, to see it empty without taking its consumer.
    ctrl_shared: Box<[MsgQueue]>,
    offsets: Vec<(u64, u64)>,
    app_evtfd: EventFd,
    /// Segments whose fd went to the app: an `AddSegment` retried after
    /// congestion must not send the fd twice.
    sent_segments: Mutex<HashSet<SegmentHandle>>,
    /// This worker's listeners by listen session (the handle the app got
    /// in `Bound` and names in `Unlisten`).
    listeners: Mutex<HashMap<SessionHandle, ListenerEntry>>,
    /// Sessions accepted for this worker and not yet taken: taken on the
    /// sessions' threads (each delivery and accept reply), so contended
    /// only between threads accepting for one app worker at once.
    backlog: Mutex<AcceptBacklog>,
}

impl std::fmt::Debug for AppWorkerConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWorkerConn")
            .field("handle", &self.handle)
            .field("wrk_map_index", &self.wrk_map_index)
            .field("threads", &self.evt.len())
            .finish()
    }
}

/// Handle value of mq segments: they belong to no segment manager, so their
/// manager index is one no manager gets.
const MQ_SEGMENT_SM: u32 = u32::MAX;

impl AppWorkerConn {
    pub(crate) fn new(
        app: Arc<AppState>,
        handle: AppWorkerHandle,
        wrk_map_index: u32,
        q: Queues,
    ) -> Self {
        let mq_ref = segment_ref(SegmentHandle::new(
            MQ_SEGMENT_SM,
            handle.index(),
            handle.generation(),
        ));
        AppWorkerConn {
            app,
            handle,
            wrk_map_index,
            mq: q.mq,
            mq_ref,
            evt: q.evt.into_iter().map(Mutex::new).collect(),
            ctrl: q.ctrl.into_iter().map(Mutex::new).collect(),
            ctrl_shared: q.ctrl_shared.into_boxed_slice(),
            offsets: q.offsets,
            app_evtfd: q.app_evtfd,
            sent_segments: Mutex::new(HashSet::new()),
            listeners: Mutex::new(HashMap::new()),
            backlog: Mutex::new(AcceptBacklog::default()),
        }
    }

    /// Stack threads this worker has queues for.
    pub(crate) fn n_threads(&self) -> u32 {
        self.evt.len() as u32
    }

    /// The reply that hands the worker to the app (its fds come from
    /// [`AppWorkerConn::reply_fds`]).
    pub(crate) fn reply(&self) -> WorkerReply {
        WorkerReply {
            error: 0,
            app_index: self.handle_app_index(),
            app_wrk: self.handle.index(),
            wrk_index: self.wrk_map_index,
            n_threads: self.n_threads(),
            mq_segment: self.mq_ref,
            mq_segment_size: self.mq.size() as u64,
            queues: self.offsets.clone(),
        }
    }

    fn handle_app_index(&self) -> u32 {
        self.app.app().map_or(u32::MAX, |a| a.index())
    }

    /// The fds of the reply, in order: the mq segment, the app worker's
    /// eventfd, then each stack thread's worker eventfd.
    pub(crate) fn reply_fds<'a>(
        &'a self,
        wrk_evtfds: &'a [EventFd],
    ) -> Result<Vec<BorrowedFd<'a>>, StackdError> {
        let mq = self
            .mq
            .fd()
            .ok_or(StackdError::Config("mq segment without fd".into()))?;
        let mut fds = vec![mq, self.app_evtfd.as_fd()];
        fds.extend(wrk_evtfds.iter().map(|e| e.as_fd()));
        Ok(fds)
    }

    /// The producer of `evt_q[thread]` (only stack thread `thread` calls).
    pub(crate) fn evt_q(&self, thread: u32) -> Option<&Mutex<MsgProducer>> {
        self.evt.get(thread as usize)
    }

    /// The consumer of `ctrl_q[thread]` (only stack thread `thread` calls).
    pub(crate) fn ctrl_q(&self, thread: u32) -> Option<&Mutex<MsgConsumer>> {
        self.ctrl.get(thread as usize)
    }

    /// Whether `ctrl_q[thread]` looks empty ([`MsgQueue::looks_empty`]:
    /// the app's tail where our consumer last stopped). A poll skips the
    /// consumer's lock for such a queue.
    pub(crate) fn ctrl_looks_empty(&self, thread: u32) -> bool {
        self.ctrl_shared
            .get(thread as usize)
            .is_none_or(MsgQueue::looks_empty)
    }

    /// Wakes the app (it said it sleeps on its eventfd).
    pub(crate) fn signal_app(&self) {
        if let Err(e) = self.app_evtfd.signal() {
            tracing::warn!(app_wrk = %self.handle, error = %e, "app eventfd signal");
        }
    }

    /// Whether `handle`'s fd went to the app already.
    pub(crate) fn segment_fd_sent(&self, handle: SegmentHandle) -> bool {
        self.sent_segments.lock().contains(&handle)
    }

    /// Sends `segment`'s fd to the app in a `SegmentFd` record, unless it
    /// went already. `Ok(false)`: sent before. A full socket is
    /// [`SapiError::WouldBlock`]-like congestion the caller retries.
    pub(crate) fn send_segment_fd(
        &self,
        handle: SegmentHandle,
        segment: &FifoSegment,
    ) -> Result<bool, SapiError> {
        let mut sent = self.sent_segments.lock();
        if sent.contains(&handle) {
            return Ok(false);
        }
        let Some(fd) = segment.fd() else {
            // A heap segment cannot be shared: nothing the app could map.
            return Err(SapiError::Closed);
        };
        let msg = SapiMsg::SegmentFd {
            segment: segment_ref(handle),
            size: segment.size() as u64,
        };
        self.app.socket.send(&msg, &[fd])?;
        sent.insert(handle);
        Ok(true)
    }

    /// The app is told `handle` is gone: a later segment reusing nothing of
    /// it gets its own fd.
    pub(crate) fn forget_segment(&self, handle: SegmentHandle) {
        self.sent_segments.lock().remove(&handle);
    }

    /// Records a listener of this worker.
    pub(crate) fn add_listener(&self, ls: SessionHandle, entry: ListenerEntry) {
        self.listeners.lock().insert(ls, entry);
    }

    /// The listener the app names `ls`, if it is this worker's.
    pub(crate) fn listener(&self, ls: SessionHandle) -> Option<ListenerEntry> {
        self.listeners.lock().get(&ls).copied()
    }

    /// Every listener of this worker, forgotten.
    pub(crate) fn take_listeners(&self) -> Vec<ListenerEntry> {
        self.listeners.lock().drain().map(|(_, l)| l).collect()
    }

    /// Forgets a listener (after an unlisten).
    pub(crate) fn remove_listener(&self, ls: SessionHandle) -> Option<ListenerEntry> {
        self.listeners.lock().remove(&ls)
    }

    /// Files a session the stack accepted on `listener` for this worker:
    /// whether it waits for the app (false: the listener's backlog is
    /// full, or the listener is not this worker's any more; refuse it).
    pub(crate) fn admit_accepted(&self, session: SessionHandle, listener: SessionHandle) -> bool {
        let limit = self.listener(listener).map(|l| l.backlog);
        self.backlog.lock().admit(session, listener, limit)
    }

    /// Records `session` as refused: the app will not hear of it (its
    /// `Accepted` could not go out).
    pub(crate) fn mark_refused(&self, session: SessionHandle) {
        let mut b = self.backlog.lock();
        b.remove(session);
        b.refuse(session);
    }

    /// Whether the stack refused `session` for this worker (the app never
    /// heard of it, so it hears nothing of its close either).
    pub(crate) fn is_refused(&self, session: SessionHandle) -> bool {
        self.backlog.lock().is_refused(session)
    }

    /// The app took `session` (or it is gone): its backlog entry goes.
    pub(crate) fn take_accepted(&self, session: SessionHandle) -> Option<Unaccepted> {
        self.backlog.lock().remove(session)
    }

    /// The sessions accepted for this worker the app has not taken.
    pub(crate) fn unaccepted_sessions(&self) -> Vec<SessionHandle> {
        self.backlog.lock().waiting_sessions()
    }

    /// Sessions the backlog records (waiting or refused).
    pub(crate) fn n_unaccepted(&self) -> usize {
        self.backlog.lock().len()
    }
}
