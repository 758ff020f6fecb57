//! `Worker`: one thread's share of the session layer (VPP
//! `session_worker_t`): its session pool, its queue, its per-app-worker
//! event fifos, local state for transports and the app layer, counters.
//! [`Worker::poll`] is one iteration of the worker loop.

use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::clock::{StackTime, WorkerClock};
use crate::counters::WorkerCounters;
use crate::events::AppEventQueues;
use crate::pool::SessionPool;
use crate::queue::{IoEvent, WorkerEvent};
use crate::session::Session;
use crate::session_main::SessionMain;
use crate::transport::Transport;
use crate::worker_input::InputSnapshot;
use crate::{SessionError, SessionHandle, SessionType};

/// One entry of a worker's local state. A worker holds a handful of
/// types (a transport's pool, the app layer's caches), looked up several
/// times per event: a scan of a few `TypeId`s costs less than hashing one.
struct LocalSlot {
    id: TypeId,
    state: Box<dyn Any + Send>,
}

/// One thread's session-layer state. Owned by the thread that runs it
/// (`Send`, not shared); other threads reach it through its queue.
pub struct Worker {
    thread_index: u32,
    main: Arc<SessionMain>,
    sessions: SessionPool,
    rx: Receiver<WorkerEvent>,
    /// Close/reset events programmed from this thread for this thread.
    pending_ctrl: VecDeque<WorkerEvent>,
    pub(crate) app_events: AppEventQueues,
    local: Vec<LocalSlot>,
    pub(crate) counters: WorkerCounters,
    inputs: InputSnapshot,
    /// This worker's copy of the registered transports (polled every
    /// iteration: walking the registry's slots cost more) and the
    /// registry's count it was taken at.
    transports: Vec<Arc<dyn Transport>>,
    transports_seen: usize,
    batch: usize,
    stop: bool,
    /// Where [`Worker::now`] comes from (the runtime sets it).
    clock: WorkerClock,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("thread_index", &self.thread_index)
            .field("sessions", &self.sessions.len())
            .field("queued", &self.rx.len())
            .field("pending_app_wrks", &self.app_events.pending)
            .finish()
    }
}

impl Worker {
    pub(crate) fn new(
        thread_index: u32,
        main: Arc<SessionMain>,
        rx: Receiver<WorkerEvent>,
        batch: usize,
    ) -> Self {
        let clock = WorkerClock::Monotonic {
            origin: main.clock_origin(),
        };
        Worker {
            thread_index,
            main,
            sessions: SessionPool::new(thread_index),
            rx,
            pending_ctrl: VecDeque::new(),
            app_events: AppEventQueues::default(),
            local: Vec::new(),
            counters: WorkerCounters::default(),
            inputs: InputSnapshot::default(),
            transports: Vec::new(),
            transports_seen: 0,
            batch,
            stop: false,
            clock,
        }
    }

    /// This worker's thread index (0 is main).
    pub fn thread_index(&self) -> u32 {
        self.thread_index
    }

    /// The shared session-layer state.
    pub fn main(&self) -> &Arc<SessionMain> {
        &self.main
    }

    /// The time on the stack's clock: real monotonic time for threaded
    /// workers, the time the test or simulator set for stepped ones.
    /// Transports take their time from here, never from the wall clock.
    pub fn now(&self) -> StackTime {
        self.clock.now()
    }

    /// Where [`Worker::now`] comes from; the runtime sets it.
    pub fn clock(&self) -> WorkerClock {
        self.clock
    }

    /// Sets where [`Worker::now`] comes from ([`crate::Runtime`] does, when
    /// it takes the worker).
    pub fn set_clock(&mut self, clock: WorkerClock) {
        self.clock = clock;
    }

    /// This worker's counters.
    pub fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    // ---- session pool (VPP session_alloc / session_get / session_free) ----

    /// This thread's sessions.
    pub fn sessions(&self) -> &SessionPool {
        &self.sessions
    }

    /// This thread's sessions, mutably.
    pub fn sessions_mut(&mut self) -> &mut SessionPool {
        &mut self.sessions
    }

    /// Allocates a session in state Created on this thread (VPP
    /// `session_alloc`).
    pub fn session_alloc(&mut self, st: SessionType) -> Result<SessionHandle, SessionError> {
        let h = self.sessions.alloc(st)?.handle();
        self.counters.sessions_allocated += 1;
        Ok(h)
    }

    /// Frees a session of this thread and returns it; its fifos are the
    /// caller's (VPP `session_free`; [`Worker::session_cleanup`] frees the
    /// fifos too).
    pub fn session_free(&mut self, h: SessionHandle) -> Result<Session, SessionError> {
        let s = self.sessions.free(h)?;
        self.counters.sessions_freed += 1;
        tracing::trace!(session = %h, "session free");
        Ok(s)
    }

    /// The session `h` names, if it is live and on this thread.
    pub fn session_get(&self, h: SessionHandle) -> Result<&Session, SessionError> {
        self.sessions.get(h)
    }

    /// The session, mutably.
    pub fn session_get_mut(&mut self, h: SessionHandle) -> Result<&mut Session, SessionError> {
        self.sessions.get_mut(h)
    }

    /// Same as [`Worker::session_get`] (VPP `session_get_from_handle`).
    pub fn session_get_from_handle(&self, h: SessionHandle) -> Result<&Session, SessionError> {
        self.sessions.get(h)
    }

    /// Whether `h` names a live session of this thread.
    pub fn session_is_valid(&self, h: SessionHandle) -> bool {
        self.sessions.is_valid(h)
    }

    /// The transport serving a session type.
    pub fn transport_for(&self, st: SessionType) -> Result<Arc<dyn Transport>, SessionError> {
        self.main.transports().get_for(st).cloned()
    }

    /// The session's transport connection (VPP `session_get_transport`).
    pub fn session_get_transport(
        &self,
        h: SessionHandle,
    ) -> Result<crate::TransportConnection, SessionError> {
        let s = self.sessions.get(h)?;
        let (st, ci) = (s.session_type, s.connection_id);
        // Borrowed, not cloned: `get_connection` only reads the worker.
        self.main
            .transports()
            .get_for(st)?
            .get_connection(self, ci)
            .ok_or(SessionError::NoSession)
    }

    /// A listen session's transport listener (VPP
    /// `listen_session_get_transport`); any thread.
    pub fn listen_session_get_transport(
        &self,
        lh: crate::ListenerHandle,
    ) -> Result<crate::TransportConnection, SessionError> {
        let ls = self.main.listen_session_get(lh)?;
        self.main
            .transports()
            .get_for(ls.session_type)?
            .get_listener(self, ls.connection_id)
            .ok_or(SessionError::NoListen)
    }

    // ---- local state for transports and the app layer ----

    /// This worker's instance of `T`, if one was created (e.g. a transport's
    /// per-thread connection pool).
    #[inline(always)]
    pub fn local_state<T: Any + Send>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.local.iter().find(|s| s.id == id)?.state.downcast_ref()
    }

    /// This worker's instance of `T`, created with `T::default()` on first
    /// use.
    #[inline(always)]
    pub fn local_state_mut<T: Any + Send + Default>(&mut self) -> &mut T {
        let i = self.local_slot::<T>();
        self.local[i]
            .state
            .downcast_mut()
            .expect("local state is keyed by its own TypeId")
    }

    /// This worker's `T` and its sessions at once, for code that updates
    /// both (a transport walking its connections and their sessions).
    #[inline(always)]
    pub fn local_state_and_sessions_mut<T: Any + Send + Default>(
        &mut self,
    ) -> (&mut T, &mut SessionPool) {
        let i = self.local_slot::<T>();
        let state = self.local[i]
            .state
            .downcast_mut()
            .expect("local state is keyed by its own TypeId");
        (state, &mut self.sessions)
    }

    /// The index of `T`'s slot. Inlined into each caller (the lookup is a
    /// few compares of a constant, called several times per event and
    /// per poll: a call frame cost as much), the first use's insert kept
    /// out of line.
    #[inline(always)]
    fn local_slot<T: Any + Send + Default>(&mut self) -> usize {
        let id = TypeId::of::<T>();
        match self.local.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => self.local_insert(id, Box::new(T::default())),
        }
    }

    /// Adds a new local state slot; returns its index.
    #[cold]
    #[inline(never)]
    fn local_insert(&mut self, id: TypeId, state: Box<dyn Any + Send>) -> usize {
        self.local.push(LocalSlot { id, state });
        self.local.len() - 1
    }

    // ---- queues ----

    /// Queues `f` on `thread` (VPP `session_send_rpc_evt_to_thread_force`).
    pub fn send_rpc_evt_to_thread_force(
        &self,
        thread: u32,
        f: impl FnOnce(&mut Worker) + Send + 'static,
    ) -> Result<(), SessionError> {
        self.main.send_rpc_evt_to_thread_force(thread, f)
    }

    /// Runs `f` now when `thread` is this one, else queues it there (VPP
    /// `session_send_rpc_evt_to_thread`).
    pub fn send_rpc_evt_to_thread(
        &mut self,
        thread: u32,
        f: impl FnOnce(&mut Worker) + Send + 'static,
    ) -> Result<(), SessionError> {
        if thread == self.thread_index {
            self.counters.rpcs += 1;
            f(self);
            Ok(())
        } else {
            self.main.send_rpc_evt_to_thread_force(thread, f)
        }
    }

    /// Programs a close or reset for `h` on its thread (VPP
    /// `session_program_transport_ctrl_evt`): queued locally when `h` is
    /// ours, so it runs after the events already pending, else sent.
    pub(crate) fn program_ctrl(
        &mut self,
        ev: WorkerEvent,
        thread: u32,
    ) -> Result<(), SessionError> {
        if thread == self.thread_index {
            self.pending_ctrl.push_back(ev);
            Ok(())
        } else {
            self.main.send_ctrl(ev, thread)
        }
    }

    /// Events waiting in this worker's queue.
    pub fn queued_events(&self) -> usize {
        self.rx.len() + self.pending_ctrl.len()
    }

    /// Whether a poll now could do work: queued events, or app events
    /// pending (even congested ones).
    pub fn has_pending_work(&self) -> bool {
        self.queued_events() > 0 || !self.app_events.pending.is_empty()
    }

    pub(crate) fn should_stop(&self) -> bool {
        self.stop
    }

    /// One iteration of the worker loop: up to a batch of queue events,
    /// the local control events, the transports' pending work, then
    /// session-input (the flush of app events), then every input's
    /// end-of-poll hook. Returns whether it did work.
    pub fn poll(&mut self) -> bool {
        let mut work = false;
        // Only what was queued before this poll: an RPC that re-queues
        // itself waits for the next poll instead of starving the rest.
        // `is_empty` first: far cheaper than `len` on crossbeam's list
        // channel, and most polls of a busy worker find the queue empty.
        let queued = if self.rx.is_empty() {
            0
        } else {
            self.rx.len().min(self.batch)
        };
        for _ in 0..queued {
            match self.rx.try_recv() {
                Ok(ev) => {
                    self.handle_event(ev);
                    work = true;
                }
                Err(_) => break,
            }
        }
        // Only those programmed before this point: closes programmed while
        // handling these run next poll, after the queue had its turn.
        for _ in 0..self.pending_ctrl.len() {
            let Some(ev) = self.pending_ctrl.pop_front() else {
                break;
            };
            self.handle_event(ev);
            work = true;
        }
        work |= self.poll_transports();
        work |= self.poll_inputs();
        work |= self.session_input() > 0;
        self.end_inputs();
        work
    }

    /// Runs every transport's per-iteration work (refreshing this
    /// worker's copy of the list first if a transport registered).
    fn poll_transports(&mut self) -> bool {
        let n = self.main.transports().n_registered();
        if n != self.transports_seen {
            self.transports = self
                .main
                .transports()
                .iter()
                .map(|(_, t)| t.clone())
                .collect();
            self.transports_seen = n;
        }
        if self.transports.is_empty() {
            return false;
        }
        // Taken out so each transport gets `&mut self`; only this function
        // changes the list.
        let transports = std::mem::take(&mut self.transports);
        let mut work = false;
        for t in &transports {
            work |= t.worker_poll(self);
        }
        self.transports = transports;
        work
    }

    /// Tells every input this poll ended (see
    /// [`WorkerInput::poll_end`](crate::WorkerInput::poll_end)).
    fn end_inputs(&mut self) {
        if self.inputs.inputs.is_empty() {
            return;
        }
        let inputs = std::mem::take(&mut self.inputs.inputs);
        for i in &inputs {
            i.poll_end(self);
        }
        if self.inputs.inputs.is_empty() {
            self.inputs.inputs = inputs;
        }
    }

    /// Polls every worker input once (refreshing this worker's copy of the
    /// list first if it changed).
    fn poll_inputs(&mut self) -> bool {
        if self.main.inputs.generation() != self.inputs.generation {
            let (generation, inputs) = self.main.inputs.snapshot();
            self.inputs = InputSnapshot { generation, inputs };
        }
        if self.inputs.inputs.is_empty() {
            return false;
        }
        // Taken out so each input gets `&mut self`; an input added meanwhile
        // shows up in the next poll (the generation moved).
        let inputs = std::mem::take(&mut self.inputs.inputs);
        let mut work = false;
        for i in &inputs {
            work |= i.poll(self);
        }
        if self.inputs.inputs.is_empty() {
            self.inputs.inputs = inputs;
        }
        work
    }

    /// Handles an app's IO event for session `h` now, as if it came
    /// through this worker's queue (stackd's input, reading an app's
    /// control queue on the session's thread). `h` must be this thread's;
    /// a stale or foreign handle is [`SessionError::NoSession`] (counted as
    /// a stale event).
    pub fn io_event(&mut self, h: SessionHandle, ev: IoEvent) -> Result<(), SessionError> {
        let r = match ev {
            IoEvent::Tx => {
                self.counters.tx_events += 1;
                self.session_tx(h).map(drop)
            }
            IoEvent::RxDequeue => {
                self.counters.rx_dequeue_events += 1;
                self.session_app_rx_evt(h)
            }
        };
        if let Err(e) = r {
            self.counters.stale_events += u64::from(e == SessionError::NoSession);
            tracing::trace!(session = %h, error = %e, event = ?ev, "io event dropped");
        }
        r
    }

    /// The threaded runtime's idle sleep (see [`WorkerWake`](crate::WorkerWake)):
    /// says it sleeps, re-checks its queue and every input, and parks up
    /// to `timeout` only when all are quiet. Returns whether it parked.
    pub(crate) fn sleep(&mut self, timeout: std::time::Duration) -> bool {
        let main = self.main.clone();
        let Some(wake) = main.worker_wake(self.thread_index) else {
            return false;
        };
        wake.prepare_sleep();
        let quiet = self.rx.is_empty()
            && self.pending_ctrl.is_empty()
            && main.inputs.generation() == self.inputs.generation
            && self.inputs.inputs.iter().all(|i| i.prepare_sleep(self));
        if quiet {
            wake.park(timeout);
        }
        wake.woke();
        for i in &self.inputs.inputs {
            i.woke(self);
        }
        quiet
    }

    pub(crate) fn handle_event(&mut self, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Rpc(f) => {
                self.counters.rpcs += 1;
                f(self);
            }
            WorkerEvent::Tx(h) => {
                let _ = self.io_event(h, IoEvent::Tx);
            }
            WorkerEvent::RxDequeue(h) => {
                let _ = self.io_event(h, IoEvent::RxDequeue);
            }
            WorkerEvent::Close(h) => {
                self.counters.ctrl_events += 1;
                tracing::debug!(session = %h, "ctrl close");
                if let Err(e) = self.session_transport_close(h) {
                    tracing::debug!(session = %h, error = %e, "close event dropped");
                }
            }
            WorkerEvent::Reset(h) => {
                self.counters.ctrl_events += 1;
                tracing::debug!(session = %h, "ctrl reset");
                if let Err(e) = self.session_transport_reset(h) {
                    tracing::debug!(session = %h, error = %e, "reset event dropped");
                }
            }
            WorkerEvent::Shutdown => self.stop = true,
        }
    }

    /// A TX event: the transport's custom_tx, unless the transport is
    /// already closed for the session (VPP `session_tx_fifo_dequeue_internal`).
    fn session_tx(&mut self, h: SessionHandle) -> Result<u32, SessionError> {
        let s = self.sessions.get_mut(h)?;
        if s.state() >= crate::SessionState::TransportClosed {
            return Ok(0);
        }
        s.flags.remove(crate::SessionFlags::CUSTOM_TX);
        let st = s.session_type;
        let t = self.transport_for(st)?;
        t.custom_tx(self, h)
    }

    /// An RX-dequeue event: the transport's app_rx_evt (VPP
    /// `transport_app_rx_evt`).
    fn session_app_rx_evt(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let s = self.sessions.get(h)?;
        let (st, ci) = (s.session_type, s.connection_id);
        let t = self.transport_for(st)?;
        let tc = t.get_connection(self, ci).ok_or(SessionError::NoSession)?;
        t.app_rx_evt(self, &tc)
    }
}
