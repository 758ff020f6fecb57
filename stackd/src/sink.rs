//! [`StackdSink`]: the [`AppSink`] of an app in another process. Called on
//! the session's worker with each [`AppEvent`] for one of the app's
//! workers, it encodes the event as a [`StackMsg`] onto that worker's
//! `evt_q[thread]`; when the app said it sleeps, the worker owes it a
//! wake-up ([`OwedSignals`]), paid once at the end of the worker's poll. A new
//! segment's fd goes over the app socket first, so the app never reads an
//! `AddSegment` for a segment it cannot map. A full queue (or socket) hands
//! the event back: the session layer keeps it and retries.

use std::sync::Arc;

use ct_app_interface::wire::{CTRL_MSG_SIZE, FifoRef, SessionRef, StackMsg, WireEndpoint};
use ct_app_worker::{AppEvent, AppSink, AppWorkerHandle, SessionFifos};
use ct_fifo_segment::{FifoSegment, MsgQueueError};
use ct_segment_manager::{SegmentHandle, SegmentManagers};
use ct_session::{SessionCleanupNtf, SessionError, SessionHandle, SessionState, Worker};
use ct_sync::RwLock;

use crate::app_conn::AppWorkerConn;
use crate::control::Strikes;
use crate::convert::{
    connection_ends, error_code, fifo_ref, segment_of, segment_ref, session_ref, wire_endpoint,
};
use crate::counters::SharedCounters;
use crate::local::StackdLocal;

/// The sink of one app: its workers' queues.
pub(crate) struct StackdSink {
    workers: RwLock<Vec<Arc<AppWorkerConn>>>,
    sms: Arc<SegmentManagers>,
    counters: Arc<SharedCounters>,
    strikes: Strikes,
}

impl std::fmt::Debug for StackdSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackdSink")
            .field("workers", &self.workers.read().len())
            .finish()
    }
}

/// What to do with a message after converting it.
enum Out {
    Send(StackMsg),
    /// Nothing to tell the app (e.g. a segment deleted before its add went
    /// out).
    Skip,
}

impl StackdSink {
    pub(crate) fn new(
        sms: Arc<SegmentManagers>,
        counters: Arc<SharedCounters>,
        strikes: Strikes,
    ) -> Self {
        StackdSink {
            workers: RwLock::new(Vec::new()),
            sms,
            counters,
            strikes,
        }
    }

    /// Starts delivering to `w`.
    pub(crate) fn add_worker(&self, w: Arc<AppWorkerConn>) {
        self.workers.write().push(w);
    }

    /// Stops delivering to `h`.
    pub(crate) fn remove_worker(&self, h: AppWorkerHandle) {
        self.workers.write().retain(|w| w.handle != h);
    }

    /// Drops every worker (detach).
    pub(crate) fn clear(&self) {
        self.workers.write().clear();
    }

    /// The workers delivered to.
    pub(crate) fn workers(&self) -> Vec<Arc<AppWorkerConn>> {
        self.workers.read().clone()
    }

    /// Workers delivered to.
    pub(crate) fn n_workers(&self) -> usize {
        self.workers.read().len()
    }

    /// The worker the app numbers `map_index`.
    pub(crate) fn worker_by_map_index(&self, map_index: u32) -> Option<Arc<AppWorkerConn>> {
        self.workers
            .read()
            .iter()
            .find(|w| w.wrk_map_index == map_index)
            .cloned()
    }

    fn worker(&self, h: AppWorkerHandle) -> Option<Arc<AppWorkerConn>> {
        self.workers.read().iter().find(|w| w.handle == h).cloned()
    }

    /// The session's message fields: its fifos and both ends. The fifos'
    /// segments reach the app first: normally their `AddSegment` did that
    /// already, but it may still wait on another thread (a ct segment
    /// added for an accept there, then used for one here), and the app
    /// must never read a fifo reference it cannot map.
    fn session_fields(
        &self,
        wrk: &Worker,
        conn: &AppWorkerConn,
        f: &SessionFifos,
    ) -> Result<Fields, Conv> {
        let (rx, tx) = (&f.rx_fifo, &f.tx_fifo);
        let rx_seg = segment_of(&self.sms, rx).map_err(Conv::Gone)?;
        // A session's pair is normally carved from one segment: one lookup.
        let same = rx.segment_manager_index() == tx.segment_manager_index()
            && rx.segment_index() == tx.segment_index();
        let tx_seg = if same {
            rx_seg
        } else {
            segment_of(&self.sms, tx).map_err(Conv::Gone)?
        };
        self.ensure_fd(conn, rx_seg)?;
        if tx_seg != rx_seg {
            self.ensure_fd(conn, tx_seg)?;
        }
        let (lcl, rmt) = wrk
            .session_get_transport(f.session)
            .map(|tc| connection_ends(&tc))
            .unwrap_or_default();
        Ok(Fields {
            session: session_ref(f.session),
            rx: fifo_ref(rx_seg, rx),
            tx: fifo_ref(tx_seg, tx),
            lcl,
            rmt,
        })
    }

    /// Sends segment `h`'s fd to the app unless it went already; only then
    /// is the segment itself looked up (the common case costs one set
    /// lookup).
    fn ensure_fd(&self, conn: &AppWorkerConn, h: SegmentHandle) -> Result<(), Conv> {
        if conn.segment_fd_sent(h) {
            return Ok(());
        }
        let segment = self
            .sms
            .segment(h)
            .map_err(|_| Conv::Gone(SessionError::NoSession))?;
        self.send_fd(conn, h, &segment)
    }

    /// Sends a segment's fd to the app unless it went already.
    fn send_fd(
        &self,
        conn: &AppWorkerConn,
        h: SegmentHandle,
        seg: &FifoSegment,
    ) -> Result<(), Conv> {
        match conn.send_segment_fd(h, seg) {
            Ok(sent) => {
                if sent {
                    SharedCounters::bump(&self.counters.segment_fds);
                }
                Ok(())
            }
            Err(e) if e.is_would_block() => Err(Conv::Congested),
            Err(e) => {
                // The socket is gone (the app is going away) or cannot
                // carry the fd: the app could not map the segment, so it
                // must not hear of it.
                tracing::debug!(app_wrk = %conn.handle, error = %e, "segment fd not sent");
                Err(Conv::Gone(SessionError::NoApp))
            }
        }
    }

    /// The wire message for `msg` (an event); sends a new segment's fd
    /// first.
    fn convert(
        &self,
        wrk: &Worker,
        conn: &AppWorkerConn,
        msg: &AppEvent,
    ) -> Result<Out, Congestion> {
        Ok(Out::Send(match msg {
            AppEvent::Accepted {
                session: fifos,
                listener,
            } => {
                let f = match self.session_fields(wrk, conn, fifos) {
                    Ok(f) => f,
                    Err(Conv::Congested) => return Err(Congestion),
                    // The session went before the app heard of it; its
                    // cleanup still comes.
                    Err(Conv::Gone(_)) => return Ok(Out::Skip),
                };
                StackMsg::Accepted {
                    listener: listener.map(session_ref).unwrap_or_default(),
                    session: f.session,
                    rx: f.rx,
                    tx: f.tx,
                    rmt: f.rmt,
                    lcl: f.lcl,
                }
            }
            AppEvent::Connected { opaque, result } => {
                let fields = match result {
                    Ok(fifos) => self.session_fields(wrk, conn, fifos),
                    Err(e) => Err(Conv::Gone(*e)),
                };
                match fields {
                    Ok(f) => StackMsg::Connected {
                        opaque: *opaque,
                        error: 0,
                        session: f.session,
                        rx: f.rx,
                        tx: f.tx,
                        lcl: f.lcl,
                        rmt: f.rmt,
                    },
                    Err(Conv::Congested) => return Err(Congestion),
                    Err(Conv::Gone(e)) => StackMsg::connect_failed(*opaque, e.code()),
                }
            }
            AppEvent::Disconnected(h) => StackMsg::Disconnected(session_ref(*h)),
            AppEvent::Reset(h) => StackMsg::Reset(session_ref(*h)),
            // As VPP's message-queue callbacks (`session_api.c`): an app in
            // another process is not told the transport closed (no
            // callback for it; Disconnected, Reset and the session's
            // cleanup tell it what it needs), and a transport cleanup goes
            // out only for a session the app had not closed (the session
            // is still `TransportDeleted` when the event is flushed). Each
            // message saved is a write into shared memory the app's core
            // owns.
            AppEvent::TransportClosed(_) => return Ok(Out::Skip),
            AppEvent::Cleanup {
                session,
                ntf: SessionCleanupNtf::Transport,
            } if wrk
                .session_get(*session)
                .map_or(true, |s| s.state() != SessionState::TransportDeleted) =>
            {
                return Ok(Out::Skip);
            }
            AppEvent::Cleanup { session, ntf } => StackMsg::Cleanup {
                session: session_ref(*session),
                ntf: match ntf {
                    SessionCleanupNtf::Transport => 0,
                    SessionCleanupNtf::Session => 1,
                },
            },
            AppEvent::Rx(h) => StackMsg::Rx(session_ref(*h)),
            AppEvent::Tx(h) => StackMsg::Tx(session_ref(*h)),
            AppEvent::AddSegment { handle, segment } => {
                let Some(seg) = segment else {
                    return Ok(Out::Skip);
                };
                match self.send_fd(conn, *handle, seg) {
                    Ok(()) => {}
                    Err(Conv::Congested) => return Err(Congestion),
                    Err(Conv::Gone(_)) => return Ok(Out::Skip),
                }
                StackMsg::AddSegment {
                    segment: segment_ref(*handle),
                    size: seg.size() as u64,
                }
            }
            AppEvent::DelSegment(h) => {
                conn.forget_segment(*h);
                StackMsg::DelSegment(segment_ref(*h))
            }
            AppEvent::Bound {
                handle,
                opaque,
                error,
            } => {
                let lcl = match error {
                    None => conn
                        .listener(*handle)
                        .map(|l| wire_endpoint(&l.endpoint))
                        .unwrap_or_default(),
                    Some(_) => WireEndpoint::default(),
                };
                StackMsg::Bound {
                    opaque: *opaque,
                    listener: if error.is_none() {
                        session_ref(*handle)
                    } else {
                        SessionRef::default()
                    },
                    lcl,
                    error: error_code(*error),
                }
            }
            AppEvent::UnlistenReply {
                handle,
                opaque,
                error,
            } => StackMsg::UnlistenReply {
                opaque: *opaque,
                listener: session_ref(*handle),
                error: error_code(*error),
            },
            // The app layer's own; never delivered to an app.
            AppEvent::HalfCleanup(_) => return Ok(Out::Skip),
        }))
    }
}

/// The app workers one stack thread owes a wake-up (in the worker's local
/// state): a delivery found the app asleep on its eventfd. Signalling right
/// there would wake the app in the middle of the worker's batch, and with
/// few cores the app then takes the worker's core before the batch is out
/// (the app also sleeps again between messages, and each sleep costs
/// another signal). So [`signal_owed`] pays them at the end of the poll,
/// once per app worker, before the worker may sleep. No wake-up is lost:
/// the queue reported the sleep once, and the debt stays recorded until the
/// signal went.
#[derive(Default)]
pub(crate) struct OwedSignals(Vec<Arc<AppWorkerConn>>);

impl OwedSignals {
    fn owe(&mut self, conn: &Arc<AppWorkerConn>) {
        // A handful per poll: a scan beats a set.
        if !self.0.iter().any(|c| Arc::ptr_eq(c, conn)) {
            self.0.push(conn.clone());
        }
    }

    /// Whether a wake-up is still owed.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Signals every app worker `wrk` owes a wake-up (end of its poll).
pub(crate) fn signal_owed(wrk: &mut Worker) {
    let local = wrk.local_state_mut::<StackdLocal>();
    for c in &local.owed.0 {
        c.signal_app();
    }
    local.counters.app_signals += local.owed.0.len() as u64;
    // The list goes back empty, its allocation kept for the next poll.
    local.owed.0.clear();
}

/// The app's queue or socket is full: keep the message for later.
struct Congestion;

/// Why a session's fields are not there.
enum Conv {
    /// The app's socket is full (a segment fd waits).
    Congested,
    /// The session, its segment or the app's socket is gone.
    Gone(SessionError),
}

/// What an accept or a connect reply says about the session.
struct Fields {
    session: SessionRef,
    rx: FifoRef,
    tx: FifoRef,
    lcl: WireEndpoint,
    rmt: WireEndpoint,
}

/// What became of a message handed to [`StackdSink::send`].
#[derive(PartialEq, Eq)]
enum Sent {
    /// On the app's queue.
    Queued,
    /// Not for the app (or the app cannot take it): dropped.
    Dropped,
}

impl StackdSink {
    /// A session the stack accepted for the app (ARCHITECTURE.md, "Accepts
    /// without the app"): filed in the listener's backlog and delivered,
    /// then accepted on the app's behalf, so ct connects the peer now;
    /// refused (the peer's connect fails) when the backlog is full or the
    /// listener is gone.
    fn deliver_accepted(
        &self,
        wrk: &mut Worker,
        conn: &Arc<AppWorkerConn>,
        msg: AppEvent,
        session: SessionHandle,
        listener: Option<SessionHandle>,
    ) -> Result<(), AppEvent> {
        let admitted = match listener {
            Some(l) => conn.admit_accepted(session, l),
            None => {
                conn.mark_refused(session);
                false
            }
        };
        if !admitted {
            wrk.local_state_mut::<StackdLocal>()
                .counters
                .backlog_refused += 1;
            Self::accept_reply(wrk, session, false);
            return Ok(());
        }
        match self.send(wrk, conn, msg) {
            Ok(Sent::Queued) => {
                Self::accept_reply(wrk, session, true);
                Ok(())
            }
            Ok(Sent::Dropped) => {
                // The app will not hear of it (the session or the app's
                // socket went): not the app's to take. A session still
                // there is refused (its close is not the app's either);
                // one gone needs no record.
                if wrk.session_is_valid(session) {
                    conn.mark_refused(session);
                    Self::accept_reply(wrk, session, false);
                } else {
                    conn.take_accepted(session);
                }
                Ok(())
            }
            Err(msg) => {
                // Retried later, and admitted again then.
                conn.take_accepted(session);
                Err(msg)
            }
        }
    }

    /// The session layer's accept reply, given on the app's behalf (as a
    /// builtin app's accept callback does, from its delivery).
    fn accept_reply(wrk: &mut Worker, session: SessionHandle, accept: bool) {
        if let Err(e) = wrk.session_accepted_reply(session, accept) {
            tracing::debug!(%session, accept, error = %e, "stackd accept reply");
        }
    }

    /// Puts `msg` on the app worker's `evt_q` of this thread (after a new
    /// segment's fd, if it names one). A full queue or socket hands it
    /// back.
    fn send(
        &self,
        wrk: &mut Worker,
        conn: &Arc<AppWorkerConn>,
        msg: AppEvent,
    ) -> Result<Sent, AppEvent> {
        let app_wrk = conn.handle;
        let thread = wrk.thread_index();
        let Some(q) = conn.evt_q(thread) else {
            return Ok(Sent::Dropped);
        };
        let mut producer = q.lock();
        // Room first for the messages that may send a segment fd: the fd
        // must not go out for a message that then waits. (The rest simply
        // try: a full queue changes nothing.)
        let may_send_fd = matches!(
            msg,
            AppEvent::AddSegment { .. } | AppEvent::Accepted { .. } | AppEvent::Connected { .. }
        );
        if may_send_fd && producer.is_full(CTRL_MSG_SIZE) {
            wrk.local_state_mut::<StackdLocal>().counters.congested += 1;
            return Err(msg);
        }
        let out = match self.convert(wrk, conn, &msg) {
            Ok(o) => o,
            Err(Congestion) => {
                wrk.local_state_mut::<StackdLocal>().counters.congested += 1;
                return Err(msg);
            }
        };
        let Out::Send(smsg) = out else {
            return Ok(Sent::Dropped);
        };
        // Encoded in the worker's buffer: a fresh one would be cleared
        // for every event.
        let local = wrk.local_state_mut::<StackdLocal>();
        smsg.encode_into(&mut local.msg);
        match producer.try_send(&local.msg) {
            Ok(wake) => {
                local.counters.evt_msgs += 1;
                if wake {
                    local.owed.owe(conn);
                }
                Ok(Sent::Queued)
            }
            Err(MsgQueueError::Full) => {
                local.counters.congested += 1;
                Err(msg)
            }
            Err(e) => {
                // The app scribbled over its own queue's indices: it gets
                // nothing more there, and a strike.
                tracing::warn!(app_wrk = %app_wrk, thread, error = %e, "event queue unusable");
                SharedCounters::bump(&self.counters.bad_msgs);
                self.strikes.strike(&conn.app, &e);
                Ok(Sent::Dropped)
            }
        }
    }
}

impl AppSink for StackdSink {
    fn deliver(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        msg: AppEvent,
    ) -> Result<(), AppEvent> {
        let Some(conn) = self.worker(app_wrk) else {
            // Not registered yet (its attach is finishing): retry later.
            return Err(msg);
        };
        let closing = match &msg {
            AppEvent::Accepted {
                session: f,
                listener,
            } => {
                let (s, l) = (f.session, *listener);
                return self.deliver_accepted(wrk, &conn, msg, s, l);
            }
            AppEvent::Disconnected(h) | AppEvent::Reset(h) | AppEvent::TransportClosed(h) => {
                Some((*h, false))
            }
            AppEvent::Cleanup { session, ntf } => {
                Some((*session, *ntf == SessionCleanupNtf::Session))
            }
            _ => None,
        };
        // Only a session's close can follow its refusal (it never got
        // data), so only those events look the session up.
        if let Some((h, _)) = closing
            && conn.is_refused(h)
        {
            if let Some((h, true)) = closing {
                conn.take_accepted(h);
            }
            return Ok(());
        }
        self.send(wrk, &conn, msg)?;
        if let Some((h, gone)) = closing {
            // A reader asleep on the session's rx fifo (its futex word,
            // not the app's eventfd: ARCHITECTURE.md, "Event flow") must
            // see the close; the message is queued first, and its re-check
            // after announcing the sleep looks at the queue.
            if let Ok(Some(rx)) = wrk.session_get(h).map(|s| s.rx_fifo.as_ref()) {
                rx.wake_reader();
            }
            if gone {
                // Gone before the app took it: its backlog slot frees.
                conn.take_accepted(h);
            }
        }
        Ok(())
    }

    /// Whether any of the app's workers has a full event queue on
    /// `thread` (the trait does not say which worker is asked about, so
    /// an app with several workers is judged by its fullest one).
    fn is_congested(&self, thread: u32) -> bool {
        self.workers.read().iter().any(|w| {
            w.evt_q(thread)
                .is_some_and(|q| q.lock().is_full(CTRL_MSG_SIZE))
        })
    }
}
