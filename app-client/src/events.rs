//! Filing what the stack sends on `evt_q[*]`: each message lands with the
//! session, listener or pending request it is about, where the thread
//! that waits for it looks (VCL's per-session event handling, without a
//! thread of its own: whoever waits drains, under the worker's lock).
//!
//! Every message is untrusted. A session it opens must name mapped
//! segments and fifos the segment validates, on a stack thread that
//! exists; otherwise it is refused (an error reply to the stack, an error
//! to the app), never a panic. Messages about sessions this app no longer
//! holds (closed meanwhile) are counted and dropped.

use ct_sync::atomic::{AtomicU32, Ordering};
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use ct_app_interface::SessionError;
use ct_app_interface::wire::{AppMsg, FifoRef, SessionRef, StackMsg, WireEndpoint};
use ct_fifo_segment::msg_q::MsgConsumer;
use ct_fifo_segment::{Consumer, Producer};
use hashbrown::HashMap;

use crate::ctrl::Ctrl;
use crate::error::ClientError;
use crate::readiness::SessionReadiness;
use crate::sock::AppShared;

/// Session status bits, set by the filer, read by the stream.
pub(crate) mod status {
    /// The peer closed (`Disconnected`).
    pub(crate) const PEER_CLOSED: u32 = 1 << 0;
    /// The peer reset (`Reset`).
    pub(crate) const RESET: u32 = 1 << 1;
    /// The transport closed (`TransportClosed`, or a transport cleanup).
    pub(crate) const TRANSPORT_CLOSED: u32 = 1 << 2;
    /// The stack freed the session (`Cleanup` of the session).
    pub(crate) const CLEANED: u32 = 1 << 3;
    /// No more data will arrive.
    pub(crate) const ENDED: u32 = PEER_CLOSED | RESET | TRANSPORT_CLOSED | CLEANED;
}

/// `SessionCleanupNtf::Session` on the wire.
const CLEANUP_SESSION: u8 = 1;

/// What the stack said about one session so far.
#[derive(Debug)]
pub(crate) struct SessionStatus {
    pub(crate) sref: SessionRef,
    flags: AtomicU32,
    /// The tasks waiting to read and to write (`readiness.rs`).
    pub(crate) ready: SessionReadiness,
}

impl SessionStatus {
    fn new(sref: SessionRef) -> Self {
        SessionStatus {
            sref,
            flags: AtomicU32::new(0),
            ready: SessionReadiness::default(),
        }
    }

    /// The status bits ([`status`]).
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    /// Sets `bits`, then wakes both directions' tasks (the hand-off
    /// order of `readiness.rs`).
    fn set(&self, bits: u32) {
        self.flags.fetch_or(bits, Ordering::AcqRel);
        self.ready.wake_both();
    }
}

/// A session the stack opened for this app (accepted or connected), its
/// fifo roles already taken.
pub(crate) struct NewSession {
    pub(crate) rx: Consumer,
    pub(crate) tx: Producer,
    pub(crate) lcl: WireEndpoint,
    pub(crate) rmt: WireEndpoint,
    pub(crate) status: Arc<SessionStatus>,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("session", &self.status.sref)
            .field("lcl", &self.lcl)
            .field("rmt", &self.rmt)
            .finish()
    }
}

/// A listener's accepted sessions, waiting for `accept()` (the stack
/// accepted them; each holds a slot of the listener's backlog until
/// `accept()` answers it).
#[derive(Debug)]
pub(crate) struct ListenerSlot {
    generation: u32,
    pub(crate) backlog: VecDeque<Result<NewSession, ClientError>>,
    /// The task waiting in an async `accept`.
    pub(crate) waker: Option<Waker>,
}

impl ListenerSlot {
    fn push(&mut self, s: Result<NewSession, ClientError>) {
        self.backlog.push_back(s);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// Counters of the filer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EventCounters {
    pub(crate) events: u64,
    pub(crate) ignored: u64,
    pub(crate) protocol_errors: u64,
}

/// A bind's result: the listener and the endpoint bound.
pub(crate) type BindResult = Result<(SessionRef, WireEndpoint), SessionError>;

/// The worker's filed events (behind the worker's lock).
pub(crate) struct Events {
    pub(crate) consumers: Vec<MsgConsumer>,
    pub(crate) buf: Vec<u8>,
    sessions: HashMap<u64, Arc<SessionStatus>>,
    listeners: HashMap<u64, ListenerSlot>,
    binds: HashMap<u32, Option<BindResult>>,
    connects: HashMap<u32, Option<Result<NewSession, ClientError>>>,
    /// The tasks waiting in an async connect, by opaque.
    connect_wakers: HashMap<u32, Waker>,
    next_opaque: u32,
    /// A thread sleeps on the eventfd (see `AppWorkerShared::wait`).
    pub(crate) sleeper: bool,
    pub(crate) counters: EventCounters,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("sessions", &self.sessions.len())
            .field("listeners", &self.listeners.len())
            .field("binds", &self.binds.len())
            .field("connects", &self.connects.len())
            .field("counters", &self.counters)
            .finish()
    }
}

/// What filing needs besides the table: the app's segments and socket,
/// and the control queues for replies.
pub(crate) struct FileCtx<'a> {
    pub(crate) app: &'a AppShared,
    pub(crate) ctrl: &'a Ctrl,
}

impl FileCtx<'_> {
    /// The stack thread of `s`, checked against the threads there are.
    fn thread_of(&self, s: SessionRef) -> Result<u32, ClientError> {
        let t = s.thread();
        if t < self.ctrl.n_threads() {
            Ok(t)
        } else {
            Err(ClientError::protocol(format_args!(
                "session {:#x} on stack thread {t} of {}",
                s.handle,
                self.ctrl.n_threads()
            )))
        }
    }

    /// Opens the two fifos; maps pending segment fds first when a segment
    /// is not known yet (the record may still sit on the socket while
    /// another thread held it).
    fn open_fifos(&self, rx: FifoRef, tx: FifoRef) -> Result<(Consumer, Producer), ClientError> {
        let known = {
            let segs = self.app.segments().lock();
            segs.contains(rx.segment) && segs.contains(tx.segment)
        };
        if !known {
            self.app.drain_socket(true)?;
        }
        let segs = self.app.segments().lock();
        let (rxf, txf) = (segs.open_fifo(rx)?, segs.open_fifo(tx)?);
        drop(segs);
        let rx = rxf
            .consumer()
            .map_err(|e| ClientError::protocol(format_args!("rx fifo: {e}")))?;
        let tx = txf
            .producer()
            .map_err(|e| ClientError::protocol(format_args!("tx fifo: {e}")))?;
        Ok((rx, tx))
    }
}

impl Events {
    /// The table over the worker's event-queue consumers (`evt_q[t]`, in
    /// thread order);
    /// `max_msg_size` is the largest message any of them holds.
    pub(crate) fn new(consumers: Vec<MsgConsumer>, max_msg_size: usize) -> Self {
        Events {
            buf: vec![0; max_msg_size.max(ct_app_interface::wire::CTRL_MSG_SIZE)],
            consumers,
            sessions: HashMap::new(),
            listeners: HashMap::new(),
            binds: HashMap::new(),
            connects: HashMap::new(),
            connect_wakers: HashMap::new(),
            next_opaque: 1,
            sleeper: false,
            counters: EventCounters::default(),
        }
    }

    fn opaque(&mut self) -> u32 {
        let o = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1).max(1);
        o
    }

    /// A new pending bind; its opaque.
    pub(crate) fn start_bind(&mut self) -> u32 {
        let o = self.opaque();
        self.binds.insert(o, None);
        o
    }

    /// The bind's result once it came; `None` while pending.
    pub(crate) fn take_bind(&mut self, opaque: u32) -> Option<BindResult> {
        let r = self.binds.get_mut(&opaque)?.take()?;
        self.binds.remove(&opaque);
        Some(r)
    }

    /// Gives up a bind (a late `Bound` is then unlistened).
    pub(crate) fn cancel_bind(&mut self, opaque: u32) {
        self.binds.remove(&opaque);
    }

    /// A new pending connect; its opaque.
    pub(crate) fn start_connect(&mut self) -> u32 {
        let o = self.opaque();
        self.connects.insert(o, None);
        o
    }

    /// The connect's result once it came.
    pub(crate) fn take_connect(&mut self, opaque: u32) -> Option<Result<NewSession, ClientError>> {
        let r = self.connects.get_mut(&opaque)?.take()?;
        self.connects.remove(&opaque);
        self.connect_wakers.remove(&opaque);
        Some(r)
    }

    /// Gives up a connect (a late `Connected` is then disconnected).
    pub(crate) fn cancel_connect(&mut self, opaque: u32) {
        self.connects.remove(&opaque);
        self.connect_wakers.remove(&opaque);
    }

    /// The task waiting for the connect's answer (registered under the
    /// lock the answer is filed under, so it is not missed).
    #[cfg(feature = "tokio")]
    pub(crate) fn register_connect(&mut self, opaque: u32, w: &Waker) {
        if self.connects.contains_key(&opaque) {
            self.connect_wakers.insert(opaque, w.clone());
        }
    }

    /// A connect's answer was filed: its task looks.
    fn connect_filed(&mut self, opaque: u32) {
        if let Some(w) = self.connect_wakers.remove(&opaque) {
            w.wake();
        }
    }

    /// Wakes every task waiting for anything of this worker: it can no
    /// longer be used (the daemon went, a queue is corrupt), and each
    /// finds out when it looks.
    pub(crate) fn wake_all(&mut self) {
        for st in self.sessions.values() {
            st.ready.wake_both();
        }
        for slot in self.listeners.values_mut() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
        for (_, w) in self.connect_wakers.drain() {
            w.wake();
        }
    }

    /// The listener's slot, if it is this app's.
    pub(crate) fn listener(&mut self, l: SessionRef) -> Option<&mut ListenerSlot> {
        self.listeners
            .get_mut(&l.handle)
            .filter(|s| s.generation == l.generation)
    }

    /// Forgets a listener; returns its unaccepted sessions.
    pub(crate) fn remove_listener(&mut self, l: SessionRef) -> Vec<NewSession> {
        if self.listener(l).is_none() {
            return Vec::new();
        }
        let slot = self.listeners.remove(&l.handle);
        let pending: Vec<NewSession> = slot
            .into_iter()
            .flat_map(|s| s.backlog)
            .filter_map(Result::ok)
            .collect();
        for s in &pending {
            self.forget_session(s.status.sref);
        }
        pending
    }

    /// Forgets a session the app closed; its late events are dropped.
    pub(crate) fn forget_session(&mut self, s: SessionRef) {
        if self
            .sessions
            .get(&s.handle)
            .is_some_and(|st| st.sref.generation == s.generation)
        {
            self.sessions.remove(&s.handle);
        }
    }

    /// Sessions and listeners this worker holds.
    pub(crate) fn live(&self) -> (usize, usize) {
        (self.sessions.len(), self.listeners.len())
    }

    fn session(&self, s: SessionRef) -> Option<&Arc<SessionStatus>> {
        self.sessions
            .get(&s.handle)
            .filter(|st| st.sref.generation == s.generation)
    }

    fn set_status(&mut self, s: SessionRef, bits: u32) {
        match self.session(s) {
            Some(st) => st.set(bits),
            None => self.counters.ignored += 1,
        }
    }

    /// A session the stack opened: fifos opened, roles taken, status
    /// entry made.
    fn open_session(
        &mut self,
        ctx: &FileCtx<'_>,
        session: SessionRef,
        rx: FifoRef,
        tx: FifoRef,
        lcl: WireEndpoint,
        rmt: WireEndpoint,
    ) -> Result<NewSession, ClientError> {
        ctx.thread_of(session)?;
        if self.sessions.contains_key(&session.handle) {
            return Err(ClientError::protocol(format_args!(
                "session {:#x} opened twice",
                session.handle
            )));
        }
        let (rx, tx) = ctx.open_fifos(rx, tx)?;
        let status = Arc::new(SessionStatus::new(session));
        self.sessions.insert(session.handle, status.clone());
        Ok(NewSession {
            rx,
            tx,
            lcl,
            rmt,
            status,
        })
    }

    /// Files one message. An error is a protocol violation (already
    /// answered to the stack where an answer is due).
    pub(crate) fn file(&mut self, ctx: &FileCtx<'_>, msg: StackMsg) -> Result<(), ClientError> {
        self.counters.events += 1;
        match msg {
            StackMsg::Bound {
                opaque,
                listener,
                lcl,
                error,
            } => self.on_bound(ctx, opaque, listener, lcl, error),
            StackMsg::UnlistenReply { .. } => Ok(()),
            StackMsg::Accepted {
                listener,
                session,
                rx,
                tx,
                rmt,
                lcl,
            } => self.on_accepted(ctx, listener, session, rx, tx, lcl, rmt),
            StackMsg::Connected {
                opaque,
                error,
                session,
                rx,
                tx,
                lcl,
                rmt,
            } => self.on_connected(ctx, opaque, error, session, rx, tx, lcl, rmt),
            StackMsg::Disconnected(s) => {
                self.set_status(s, status::PEER_CLOSED);
                Ok(())
            }
            StackMsg::Reset(s) => {
                self.set_status(s, status::RESET);
                Ok(())
            }
            StackMsg::TransportClosed(s) => {
                self.set_status(s, status::TRANSPORT_CLOSED);
                Ok(())
            }
            StackMsg::Cleanup { session, ntf } => {
                if ntf == CLEANUP_SESSION {
                    self.set_status(session, status::CLEANED);
                    self.forget_session(session);
                } else {
                    self.set_status(session, status::TRANSPORT_CLOSED);
                }
                Ok(())
            }
            // The data (or the room) is in the fifo; the waiter re-checks
            // it.
            StackMsg::Rx(s) => {
                match self.session(s) {
                    Some(st) => st.ready.read.wake(),
                    None => self.counters.ignored += 1,
                }
                Ok(())
            }
            StackMsg::Tx(s) => {
                match self.session(s) {
                    Some(st) => st.ready.write.wake(),
                    None => self.counters.ignored += 1,
                }
                Ok(())
            }
            StackMsg::AddSegment { segment, size } => {
                let known = |app: &AppShared| {
                    app.segments()
                        .lock()
                        .get(segment)
                        .map(|s| s.size() as u64 == size)
                };
                match known(ctx.app) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(ClientError::protocol("segment size differs from its fd")),
                    Err(_) => {
                        ctx.app.drain_socket(true)?;
                        match known(ctx.app)? {
                            true => Ok(()),
                            false => Err(ClientError::protocol("segment size differs from its fd")),
                        }
                    }
                }
            }
            StackMsg::DelSegment(segment) => {
                if !ctx.app.segments().lock().del(segment) {
                    self.counters.ignored += 1;
                }
                Ok(())
            }
        }
    }

    fn on_bound(
        &mut self,
        ctx: &FileCtx<'_>,
        opaque: u32,
        listener: SessionRef,
        lcl: WireEndpoint,
        error: i32,
    ) -> Result<(), ClientError> {
        let result = SessionError::check_code(error).map(|()| (listener, lcl));
        let waiting = matches!(self.binds.get(&opaque), Some(None));
        if result.is_ok() {
            if !waiting || self.listeners.contains_key(&listener.handle) {
                // Nobody waits for it (or a second listener on one handle):
                // give it back.
                self.counters.ignored += 1;
                ctx.ctrl.send(0, &AppMsg::Unlisten { opaque, listener })?;
                if waiting {
                    self.binds.insert(opaque, Some(Err(SessionError::Invalid)));
                    return Err(ClientError::protocol("listener bound twice"));
                }
                return Ok(());
            }
            self.listeners.insert(
                listener.handle,
                ListenerSlot {
                    generation: listener.generation,
                    backlog: VecDeque::new(),
                    waker: None,
                },
            );
        }
        if waiting {
            self.binds.insert(opaque, Some(result));
        } else {
            self.counters.ignored += 1;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn on_accepted(
        &mut self,
        ctx: &FileCtx<'_>,
        listener: SessionRef,
        session: SessionRef,
        rx: FifoRef,
        tx: FifoRef,
        lcl: WireEndpoint,
        rmt: WireEndpoint,
    ) -> Result<(), ClientError> {
        let thread = ctx.thread_of(session)?;
        if self.listener(listener).is_none() {
            // Unlistened meanwhile: refuse (the stack resets it).
            self.counters.ignored += 1;
            let error = SessionError::NoListen.code();
            return ctx
                .ctrl
                .send(thread, &AppMsg::AcceptReply { session, error });
        }
        match self.open_session(ctx, session, rx, tx, lcl, rmt) {
            Ok(s) => {
                // The stack accepted it already (its peer is connected);
                // the reply that frees its backlog slot goes when
                // `accept()` hands it to the app.
                if let Some(slot) = self.listener(listener) {
                    slot.push(Ok(s));
                }
                Ok(())
            }
            Err(e) => {
                let error = SessionError::Invalid.code();
                ctx.ctrl
                    .send(thread, &AppMsg::AcceptReply { session, error })?;
                let what = e.to_string();
                if let Some(slot) = self.listener(listener) {
                    slot.push(Err(ClientError::Protocol(what.clone())));
                }
                Err(ClientError::Protocol(what))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_connected(
        &mut self,
        ctx: &FileCtx<'_>,
        opaque: u32,
        error: i32,
        session: SessionRef,
        rx: FifoRef,
        tx: FifoRef,
        lcl: WireEndpoint,
        rmt: WireEndpoint,
    ) -> Result<(), ClientError> {
        let waiting = matches!(self.connects.get(&opaque), Some(None));
        if let Err(e) = SessionError::check_code(error) {
            if waiting {
                self.connects.insert(opaque, Some(Err(e.into())));
                self.connect_filed(opaque);
            } else {
                self.counters.ignored += 1;
            }
            return Ok(());
        }
        let thread = ctx.thread_of(session)?;
        match self.open_session(ctx, session, rx, tx, lcl, rmt) {
            Ok(s) if waiting => {
                self.connects.insert(opaque, Some(Ok(s)));
                self.connect_filed(opaque);
                Ok(())
            }
            Ok(s) => {
                // The connect was given up: close what it opened.
                self.counters.ignored += 1;
                self.forget_session(s.status.sref);
                ctx.ctrl.send(thread, &AppMsg::Disconnect(session))
            }
            Err(e) => {
                ctx.ctrl.send(thread, &AppMsg::Reset(session))?;
                let what = e.to_string();
                if waiting {
                    self.connects
                        .insert(opaque, Some(Err(ClientError::Protocol(what.clone()))));
                    self.connect_filed(opaque);
                }
                Err(ClientError::Protocol(what))
            }
        }
    }
}
