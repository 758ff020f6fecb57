//! What a daemon counts: live event counters (atomics bumped by workers and
//! socket threads) and [`StackdCounters`], a snapshot that adds what the stack
//! holds (apps, sessions, segments, fifos): what tests check goes back to
//! zero once every app is gone.

use ct_sync::atomic::{AtomicU64, Ordering};

/// Event counters, shared by every thread of the daemon.
#[derive(Debug, Default)]
pub struct SharedCounters {
    /// Socket records received.
    pub records_in: AtomicU64,
    /// Socket records that failed to decode or made no sense.
    pub bad_records: AtomicU64,
    /// Control queue messages refused (undecodable, not the app's, wrong
    /// thread).
    pub bad_msgs: AtomicU64,
    /// Control requests the stack answered with an error (stale session,
    /// refused listen...).
    pub failed_requests: AtomicU64,
    /// Segment fds sent over app sockets.
    pub segment_fds: AtomicU64,
    /// Apps detached for too many strikes.
    pub strike_detaches: AtomicU64,
    /// Apps detached because their socket closed.
    pub hangup_detaches: AtomicU64,
    /// Peers the allow lists refused (`AccessRules`).
    pub access_refused: AtomicU64,
}

impl SharedCounters {
    /// Adds one to `c`.
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// The hot-path counters, kept per stack thread in the worker's local
/// state (no shared cache line between workers) and summed by
/// `Stackd::counters`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WorkerMqCounters {
    /// Messages read from apps' control queues.
    pub(crate) ctrl_msgs: u64,
    /// Messages put on apps' event queues.
    pub(crate) evt_msgs: u64,
    /// Deliveries that found an event queue full (retried later).
    pub(crate) congested: u64,
    /// Wake-ups sent to apps' eventfds (at most one per app worker per
    /// poll).
    pub(crate) app_signals: u64,
    /// Sessions refused because their listener's backlog was full (or the
    /// listener gone).
    pub(crate) backlog_refused: u64,
}

impl WorkerMqCounters {
    /// Adds `w`'s counts to `c`.
    pub(crate) fn add_to(&self, c: &mut StackdCounters) {
        c.ctrl_msgs += self.ctrl_msgs;
        c.evt_msgs += self.evt_msgs;
        c.congested += self.congested;
        c.app_signals += self.app_signals;
        c.backlog_refused += self.backlog_refused;
    }
}

/// A snapshot of a daemon: what it holds and what it counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackdCounters {
    /// Apps attached (daemon view: apps with a socket).
    pub apps: usize,
    /// Apps the stack's app layer holds.
    pub stack_apps: usize,
    /// App workers with queues.
    pub app_workers: usize,
    /// Sessions on all workers (listeners not included).
    pub sessions: usize,
    /// Listen sessions.
    pub listeners: usize,
    /// Sessions the daemon accepted for apps that the apps have not taken
    /// yet (or refused and not yet cleaned up): what fills listen
    /// backlogs.
    pub unaccepted: usize,
    /// Segments: every segment manager's segments plus the apps' message
    /// queue segments.
    pub segments: usize,
    /// Segment managers.
    pub segment_managers: usize,
    /// Fifos allocated in all segments.
    pub fifos: usize,
    /// ct connections on all workers, half-opens included.
    pub ct_connections: usize,
    /// ct segments (lingering ones included).
    pub ct_segments: usize,
    /// ct's segment contexts (its accounting of each segment's sessions).
    pub ct_segment_contexts: usize,
    /// See [`SharedCounters::records_in`].
    pub records_in: u64,
    /// See [`SharedCounters::bad_records`].
    pub bad_records: u64,
    /// Messages read from apps' control queues.
    pub ctrl_msgs: u64,
    /// See [`SharedCounters::bad_msgs`].
    pub bad_msgs: u64,
    /// See [`SharedCounters::failed_requests`].
    pub failed_requests: u64,
    /// Messages put on apps' event queues.
    pub evt_msgs: u64,
    /// Deliveries that found an event queue full (retried later).
    pub congested: u64,
    /// Wake-ups sent to apps sleeping on their eventfd (at most one per
    /// app worker per worker poll).
    pub app_signals: u64,
    /// Connects refused because the listener's backlog was full (or the
    /// listener was gone when the session was accepted).
    pub backlog_refused: u64,
    /// See [`SharedCounters::segment_fds`].
    pub segment_fds: u64,
    /// See [`SharedCounters::strike_detaches`].
    pub strike_detaches: u64,
    /// See [`SharedCounters::hangup_detaches`].
    pub hangup_detaches: u64,
    /// See [`SharedCounters::access_refused`].
    pub access_refused: u64,
}

impl StackdCounters {
    /// Copies the event counters from `s`.
    pub(crate) fn with_shared(mut self, s: &SharedCounters) -> Self {
        self.records_in = SharedCounters::get(&s.records_in);
        self.bad_records = SharedCounters::get(&s.bad_records);
        self.bad_msgs = SharedCounters::get(&s.bad_msgs);
        self.failed_requests = SharedCounters::get(&s.failed_requests);
        self.segment_fds = SharedCounters::get(&s.segment_fds);
        self.strike_detaches = SharedCounters::get(&s.strike_detaches);
        self.hangup_detaches = SharedCounters::get(&s.hangup_detaches);
        self.access_refused = SharedCounters::get(&s.access_refused);
        self
    }

    /// Nothing held: no app, app worker, session, listener, unaccepted
    /// session, segment, segment manager, fifo or ct connection left.
    pub fn is_empty(&self) -> bool {
        self.apps == 0
            && self.stack_apps == 0
            && self.app_workers == 0
            && self.sessions == 0
            && self.listeners == 0
            && self.unaccepted == 0
            && self.segments == 0
            && self.segment_managers == 0
            && self.fifos == 0
            && self.ct_connections == 0
            && self.ct_segments == 0
            && self.ct_segment_contexts == 0
    }
}

impl std::fmt::Display for StackdCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "apps {} (stack {}) app-workers {} sessions {} listeners {} unaccepted {} segments {} \
             segment-managers {} fifos {} ct-connections {} ct-segments {} ct-segment-contexts {} \
             | records {} \
             (bad {}) ctrl {} (bad {}, failed {}) evt {} congested {} app-signals {} \
             backlog-refused {} segment-fds {} detached: strikes {} hangups {} \
             access-refused {}",
            self.apps,
            self.stack_apps,
            self.app_workers,
            self.sessions,
            self.listeners,
            self.unaccepted,
            self.segments,
            self.segment_managers,
            self.fifos,
            self.ct_connections,
            self.ct_segments,
            self.ct_segment_contexts,
            self.records_in,
            self.bad_records,
            self.ctrl_msgs,
            self.bad_msgs,
            self.failed_requests,
            self.evt_msgs,
            self.congested,
            self.app_signals,
            self.backlog_refused,
            self.segment_fds,
            self.strike_detaches,
            self.hangup_detaches,
            self.access_refused,
        )
    }
}
