//! `SessionMain`: the state a stack's threads share (VPP `session_main`,
//! minus everything per-thread, which lives in each [`Worker`]).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use ct_sync::RwLock;

use crate::app::AppLayer;
use crate::parker::WorkerWake;
use crate::pool::SessionPool;
use crate::queue::{IoEvent, Rpc, WorkerEvent};
use crate::registry::TransportRegistry;
use crate::session::Session;
use crate::worker::Worker;
use crate::worker_input::{WorkerInput, WorkerInputs};
use crate::{ListenerHandle, SessionError, SessionLookup, SessionState, SessionType};

/// Listen sessions live on thread 0 (VPP's main thread) but in their own
/// pool, shared by all threads (workers read listeners on every accept):
/// their indices start here, so a listener handle never equals the handle
/// of one of thread 0's own sessions.
pub const LISTENER_INDEX_BASE: u32 = 1 << 31;

/// Most queue events a worker handles in one [`Worker::poll`] by default.
pub const DEFAULT_EVENT_BATCH: usize = 256;

/// How a stack's session layer is laid out.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Worker threads besides main (VPP `vlib_num_workers`): threads are
    /// `0..=n_workers`, 0 is main.
    pub n_workers: u32,
    /// Most queue events one poll handles.
    pub event_batch: usize,
}

impl SessionConfig {
    /// `n_workers` workers plus main, default batch.
    pub fn new(n_workers: u32) -> Self {
        SessionConfig {
            n_workers,
            event_batch: DEFAULT_EVENT_BATCH,
        }
    }
}

/// State shared by every thread of a stack: the transport registry, the
/// lookup tables, the listen sessions, one queue sender and sleep/wake
/// state per thread, the worker inputs and the app layer. No statics:
/// a stack owns it (`Arc`).
pub struct SessionMain {
    n_workers: u32,
    transports: TransportRegistry,
    lookup: SessionLookup,
    listeners: RwLock<SessionPool>,
    senders: Vec<Sender<WorkerEvent>>,
    wakes: Vec<WorkerWake>,
    pub(crate) inputs: WorkerInputs,
    app: OnceLock<Arc<dyn AppLayer>>,
    /// Origin of the threaded workers' clock, one per stack so their
    /// times compare.
    clock_origin: Instant,
}

impl std::fmt::Debug for SessionMain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionMain")
            .field("n_workers", &self.n_workers)
            .field("transports", &self.transports)
            .field("listeners", &self.listeners.read().len())
            .field("app_layer", &self.app.get().is_some())
            .field("inputs", &self.inputs.len())
            .finish()
    }
}

impl SessionMain {
    /// A session layer with `cfg.n_workers` workers plus main; returns the
    /// shared part and one [`Worker`] per thread (index order), to hand to a
    /// [`Runtime`](crate::Runtime).
    pub fn new(cfg: SessionConfig) -> (Arc<SessionMain>, Vec<Worker>) {
        let n_threads = cfg.n_workers as usize + 1;
        let (senders, receivers): (Vec<_>, Vec<Receiver<WorkerEvent>>) = (0..n_threads)
            .map(|_| crossbeam_channel::unbounded())
            .unzip();
        let main = Arc::new(SessionMain {
            n_workers: cfg.n_workers,
            transports: TransportRegistry::new(),
            lookup: SessionLookup::new(),
            listeners: RwLock::new(SessionPool::with_index_base(
                ListenerHandle::LISTENER_THREAD,
                LISTENER_INDEX_BASE,
            )),
            senders,
            wakes: (0..n_threads).map(|_| WorkerWake::new()).collect(),
            inputs: WorkerInputs::default(),
            app: OnceLock::new(),
            clock_origin: Instant::now(),
        });
        let batch = cfg.event_batch.max(1);
        let workers = receivers
            .into_iter()
            .enumerate()
            .map(|(t, rx)| Worker::new(t as u32, main.clone(), rx, batch))
            .collect();
        (main, workers)
    }

    /// The origin of the stack's monotonic clock (what threaded workers'
    /// [`Worker::now`] counts from).
    pub fn clock_origin(&self) -> Instant {
        self.clock_origin
    }

    /// Worker threads besides main.
    pub fn n_workers(&self) -> u32 {
        self.n_workers
    }

    /// Threads, main included.
    pub fn n_threads(&self) -> u32 {
        self.n_workers + 1
    }

    /// The thread that opens connections and owns half-opens (VPP
    /// `transport_cl_thread`): the first worker, or main without workers.
    pub fn transport_cl_thread(&self) -> u32 {
        if self.n_workers > 0 { 1 } else { 0 }
    }

    /// The transport registry.
    pub fn transports(&self) -> &TransportRegistry {
        &self.transports
    }

    /// Enables (or disables) every registered transport (VPP
    /// `transport_enable_disable`).
    pub fn enable_transports(&self, is_en: bool) -> Result<(), SessionError> {
        for (_, t) in self.transports.iter() {
            t.enable(self, is_en)?;
        }
        Ok(())
    }

    /// The session lookup tables.
    pub fn lookup(&self) -> &SessionLookup {
        &self.lookup
    }

    /// Installs the app layer; once per stack ([`SessionError::Invalid`] the
    /// second time).
    pub fn set_app_layer(&self, app: Arc<dyn AppLayer>) -> Result<(), SessionError> {
        self.app.set(app).map_err(|_| SessionError::Invalid)
    }

    /// The app layer, once installed.
    pub fn app_layer(&self) -> Option<&Arc<dyn AppLayer>> {
        self.app.get()
    }

    /// Whether `app_wrk` is a live app worker (false without an app layer).
    pub fn app_worker_is_valid(&self, app_wrk: u32) -> bool {
        self.app
            .get()
            .is_some_and(|a| a.app_worker_is_valid(app_wrk))
    }

    fn sender(&self, thread: u32) -> Result<&Sender<WorkerEvent>, SessionError> {
        self.senders
            .get(thread as usize)
            .ok_or(SessionError::Invalid)
    }

    pub(crate) fn send(&self, thread: u32, ev: WorkerEvent) -> Result<(), SessionError> {
        // Receivers live as long as their Worker; a send fails only after a
        // runtime dropped its workers, and then nobody would run the event.
        self.sender(thread)?
            .send(ev)
            .map_err(|_| SessionError::NoSession)?;
        self.wakes[thread as usize].notify();
        Ok(())
    }

    /// Thread `thread`'s sleep/wake state (its `sleeping` flag and parker).
    pub fn worker_wake(&self, thread: u32) -> Option<&WorkerWake> {
        self.wakes.get(thread as usize)
    }

    /// Wakes `thread`'s worker if it sleeps, after the caller published
    /// work it finds by polling (an input's queue); returns whether it
    /// unparked. Inputs whose producers signal the parker themselves do
    /// not need it.
    pub fn wake_worker(&self, thread: u32) -> bool {
        self.wakes.get(thread as usize).is_some_and(|w| w.notify())
    }

    /// Adds an input every worker polls from its next poll on (VPP: the
    /// session queue node's app message queues); any time, also while the
    /// workers run. Sleeping workers are woken to pick it up.
    pub fn add_worker_input(&self, input: Arc<dyn WorkerInput>) {
        self.inputs.add(input);
        for t in 0..self.n_threads() {
            self.wake_worker(t);
        }
    }

    /// Removes an input added by [`SessionMain::add_worker_input`] (the
    /// same `Arc`); false if it was not there. A worker may still be
    /// polling it during its current poll.
    pub fn remove_worker_input(&self, input: &Arc<dyn WorkerInput>) -> bool {
        let removed = self.inputs.remove(input);
        if removed {
            for t in 0..self.n_threads() {
                self.wake_worker(t);
            }
        }
        removed
    }

    /// Number of worker inputs.
    pub fn n_worker_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Queues `f` to run on `thread`'s worker at its next poll, even when
    /// called on that thread (VPP `session_send_rpc_evt_to_thread_force`).
    pub fn send_rpc_evt_to_thread_force(
        &self,
        thread: u32,
        f: impl FnOnce(&mut Worker) + Send + 'static,
    ) -> Result<(), SessionError> {
        self.send(thread, WorkerEvent::Rpc(Box::new(f) as Rpc))
    }

    /// An IO event from an app for `session` (VPP
    /// `session_send_io_evt_to_thread`): TX after writing to the tx fifo
    /// when `set_event` said the flag was clear, RX-dequeue after a dequeue
    /// that needs a notification.
    pub fn send_io_evt_to_thread(
        &self,
        session: crate::SessionHandle,
        kind: IoEvent,
    ) -> Result<(), SessionError> {
        let ev = match kind {
            IoEvent::Tx => WorkerEvent::Tx(session),
            IoEvent::RxDequeue => WorkerEvent::RxDequeue(session),
        };
        self.send(session.thread_index(), ev)
    }

    pub(crate) fn send_ctrl(&self, ev: WorkerEvent, thread: u32) -> Result<(), SessionError> {
        self.send(thread, ev)
    }

    /// Runs `f` on `thread`'s worker and waits for its result, from a thread
    /// that is not a worker of a threaded runtime (app threads, programs).
    /// Never call it from a worker (it would wait for itself): code running
    /// on a worker has the `&mut Worker` already. In stepping mode use
    /// [`Runtime::call`](crate::Runtime::call), which steps the workers.
    pub fn call_blocking<R: Send + 'static>(
        &self,
        thread: u32,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<R, SessionError> {
        let rx = self.send_call(thread, f)?;
        rx.recv().map_err(|_| SessionError::NoSession)
    }

    pub(crate) fn send_call<R: Send + 'static>(
        &self,
        thread: u32,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<Receiver<R>, SessionError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send_rpc_evt_to_thread_force(thread, move |wrk| {
            // The caller may have given up waiting; nothing to do then.
            let _ = tx.send(f(wrk));
        })?;
        Ok(rx)
    }

    // ---- listen sessions (VPP listen_session_*) ----

    /// Allocates a listen session, in state Listening (VPP
    /// `listen_session_alloc`).
    pub fn listen_session_alloc(&self, st: SessionType) -> Result<ListenerHandle, SessionError> {
        let mut pool = self.listeners.write();
        let s = pool.alloc(st)?;
        s.set_state(SessionState::Listening)?;
        let h = s.handle();
        tracing::debug!(listener = %h, "listen session alloc");
        Ok(h)
    }

    /// A copy of the listen session (VPP `listen_session_get_from_handle`).
    pub fn listen_session_get(&self, lh: ListenerHandle) -> Result<Session, SessionError> {
        self.listeners.read().get(lh).cloned()
    }

    /// Runs `f` on the listen session under the pool's write lock. Keep `f`
    /// short and do not call into the session layer from it.
    pub fn listen_session_update<R>(
        &self,
        lh: ListenerHandle,
        f: impl FnOnce(&mut Session) -> R,
    ) -> Result<R, SessionError> {
        let mut pool = self.listeners.write();
        Ok(f(pool.get_mut(lh)?))
    }

    /// Frees the listen session (VPP `listen_session_free`).
    pub fn listen_session_free(&self, lh: ListenerHandle) -> Result<(), SessionError> {
        self.listeners.write().free(lh)?;
        tracing::debug!(listener = %lh, "listen session free");
        Ok(())
    }

    /// Whether `lh` names a live listen session.
    pub fn listen_session_is_valid(&self, lh: ListenerHandle) -> bool {
        self.listeners.read().is_valid(lh)
    }

    /// Number of listen sessions.
    pub fn n_listeners(&self) -> usize {
        self.listeners.read().len()
    }
}
