//! `AppWorker`: one worker of an application (VPP `app_worker_t`): its
//! connects segment manager, its listeners' segment managers, its half-opens,
//! how it hears of events (callbacks, queue or sink) and its sessions' wakers.

use ct_sync::atomic::{AtomicBool, Ordering};
use std::collections::HashSet;
use std::sync::Arc;

use ct_fifo_segment::FifoSegment;
use ct_segment_manager::{HookError, SegmentHandle, SegmentHook, SegmentManager};
use ct_session::{ListenerHandle, SessionError, SessionHandle};
use ct_sync::Arc as SmArc;
use ct_sync::Mutex;
use hashbrown::HashMap;

use crate::application::Application;
use crate::handle::AppWorkerHandle;
use crate::queue::{AppQueue, QueueSender};
use crate::waker::SessionWaker;

/// A segment added to or deleted from one of an app worker's managers,
/// waiting for a worker to queue the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentNote {
    Add(u32, SegmentHandle),
    Del(u32, SegmentHandle),
}

/// Segment notifications raised inside segment-manager calls (which hold
/// the manager's lock and have no worker at hand); the app layer queues
/// them as app events right after the call returns.
#[derive(Debug, Default)]
pub(crate) struct SegmentNotes {
    notes: Mutex<Vec<SegmentNote>>,
}

impl SegmentNotes {
    pub(crate) fn take(&self) -> Vec<SegmentNote> {
        std::mem::take(&mut *self.notes.lock())
    }
}

/// The hook installed on an app worker's segment managers.
pub(crate) struct AppSegmentHook {
    pub(crate) app_wrk: u32,
    pub(crate) notes: Arc<SegmentNotes>,
}

impl SegmentHook for AppSegmentHook {
    fn on_add(&self, handle: SegmentHandle, _segment: &FifoSegment) -> Result<(), HookError> {
        self.notes
            .notes
            .lock()
            .push(SegmentNote::Add(self.app_wrk, handle));
        Ok(())
    }

    fn on_del(&self, handle: SegmentHandle) {
        self.notes
            .notes
            .lock()
            .push(SegmentNote::Del(self.app_wrk, handle));
    }
}

/// How an app worker hears of events, by where its app lives
/// ([`AppKind`](crate::AppKind)).
pub(crate) enum Delivery {
    Builtin(Arc<dyn crate::callbacks::AppCallbacks>),
    InProcess(QueueSender),
    OutOfProcess(Arc<dyn crate::sink::AppSink>),
}

/// One app worker. Shared as `Arc`: workers deliver to it while control
/// calls change its listeners.
pub struct AppWorker {
    pub(crate) handle: AppWorkerHandle,
    pub(crate) app: Arc<Application>,
    pub(crate) wrk_map_index: u32,
    pub(crate) connects_sm: SmArc<SegmentManager>,
    pub(crate) first_segment: SegmentHandle,
    pub(crate) listen_sms: Mutex<HashMap<ListenerHandle, SmArc<SegmentManager>>>,
    pub(crate) detached_sms: Mutex<Vec<SmArc<SegmentManager>>>,
    pub(crate) half_opens: Mutex<HashSet<SessionHandle>>,
    pub(crate) delivery: Delivery,
    pub(crate) queue: Option<AppQueue>,
    pub(crate) wakers: Mutex<HashMap<SessionHandle, Arc<SessionWaker>>>,
    /// Set once a waker was registered: until then deliveries skip the
    /// wakers' lock.
    pub(crate) any_waker: AtomicBool,
    pub(crate) detached: AtomicBool,
}

impl std::fmt::Debug for AppWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWorker")
            .field("handle", &self.handle)
            .field("app", &self.app.handle)
            .field("wrk_map_index", &self.wrk_map_index)
            .field("connects_sm", &self.connects_sm.handle())
            .field("listeners", &self.listen_sms.lock().len())
            .field("half_opens", &self.half_opens.lock().len())
            .finish()
    }
}

impl AppWorker {
    /// Its handle.
    pub fn handle(&self) -> AppWorkerHandle {
        self.handle
    }

    /// Its pool index (VPP `wrk_index`, what sessions record).
    pub fn wrk_index(&self) -> u32 {
        self.handle.index
    }

    /// Its index among its app's workers (VPP `wrk_map_index`).
    pub fn wrk_map_index(&self) -> u32 {
        self.wrk_map_index
    }

    /// Its application's index (VPP `app_wrk->app_index`).
    pub fn app_index(&self) -> u32 {
        self.app.handle.index
    }

    /// Its application (VPP `application_get (app_wrk->app_index)`).
    pub fn application(&self) -> &Arc<Application> {
        &self.app
    }

    /// Whether the worker was detached (it stays reachable through `Arc`s
    /// held elsewhere, but gets no more events).
    pub fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    /// VPP `app_worker_get_connect_segment_manager`.
    pub fn connect_segment_manager(&self) -> &SmArc<SegmentManager> {
        &self.connects_sm
    }

    /// The first segment of its connects manager (given to the app when it
    /// attaches).
    pub fn first_segment(&self) -> SegmentHandle {
        self.first_segment
    }

    /// VPP `app_worker_get_listen_segment_manager`: the manager of this
    /// worker for listen session `ls`; [`SessionError::NoListen`] if the
    /// worker does not listen there.
    pub fn listen_segment_manager(
        &self,
        ls: ListenerHandle,
    ) -> Result<SmArc<SegmentManager>, SessionError> {
        self.listen_sms
            .lock()
            .get(&ls)
            .cloned()
            .ok_or(SessionError::NoListen)
    }

    /// Listen sessions this worker listens on.
    pub fn listeners(&self) -> Vec<ListenerHandle> {
        self.listen_sms.lock().keys().copied().collect()
    }

    /// Half-open connects not finished yet.
    pub fn half_opens(&self) -> Vec<SessionHandle> {
        self.half_opens.lock().iter().copied().collect()
    }

    /// The app's queue end (in-process queue apps).
    pub fn queue(&self) -> Option<&AppQueue> {
        self.queue.as_ref()
    }

    /// VPP `app_worker_mq_is_congested`: an in-process app's queue (its
    /// queue of `thread` for an out-of-process app) is full.
    pub fn is_congested(&self, thread: u32) -> bool {
        match &self.delivery {
            Delivery::InProcess(q) => q.is_full(),
            Delivery::OutOfProcess(s) => s.is_congested(thread),
            Delivery::Builtin(_) => false,
        }
    }

    pub(crate) fn has_wakers(&self) -> bool {
        self.any_waker.load(Ordering::Acquire)
    }

    pub(crate) fn wake(&self, h: SessionHandle, closed: bool) {
        let w = self.wakers.lock().get(&h).cloned();
        if let Some(w) = w {
            w.wake(closed);
        }
    }
}
