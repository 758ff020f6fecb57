//! One app worker's end of the stack: its queues, its eventfds and the
//! filed events, with the two ways to make progress:
//!
//! - `drain`: take everything on `evt_q[*]` and file it (under the lock);
//! - `wait`: whoever waits drains; if nothing came, one thread (the
//!   sleeper) arms every `evt_q[t]` (`prepare_sleep`: flag, then re-check)
//!   and sleeps on `app_evtfd` and the app socket, the others wait on a
//!   condition variable the sleeper (or any drainer) notifies. A thread
//!   that files something while the sleeper sleeps signals `app_evtfd`
//!   itself, so the sleeper never misses an event another thread took.
//!
//! Waiters compare a sequence number taken before they looked at their
//! condition (fifo empty, no accept yet): any filing bumps it, so an event
//! filed between the look and the wait ends the wait at once.
//!
//! Before sleeping, a waiter spins for an adaptive [`SpinSpell`]
//! (app-interface's, the one builtin apps' waits use): on its own
//! condition when it can see it in shared memory (a stream's fifo), and on
//! the event queues, which it drains itself every [`CHECKS_PER_DRAIN`]
//! looks, so waits that need an event (an accept, a connect reply, a
//! close) end without a sleep and a wake-up too, and the events a spinning
//! reader outran never pile up. A waiter that spins has not armed its
//! queues, so the stack does not signal `app_evtfd` for what it sends
//! meanwhile: the syscalls go with the sleep.
//!
//! A stream's blocking reader waits on its rx fifo instead
//! ([`AppWorkerShared::wait_on_fifo`]): it announces itself in the fifo's
//! reader-state word, spinning then asleep on the word's futex, so the
//! peer's write reaches it directly, not through the daemon.

use ct_sync::atomic::{AtomicU64, Ordering};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use ct_app_interface::io::{SpinSpell, SpinWait};
use ct_app_interface::wire::StackMsg;
use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::msg_q::MsgQueueError;
use ct_fifo_segment::{Fifo, FifoSegment, ReaderState};
use ct_sync::{Condvar, Mutex, MutexGuard};

use crate::ctrl::Ctrl;
use crate::error::ClientError;
use crate::events::{Events, FileCtx};
#[cfg(feature = "tokio")]
use crate::readiness::WakerSlot;
use crate::sock::AppShared;
use std::sync::{Arc, OnceLock};

/// How long a sleeper sleeps at most while a control backlog waits for
/// room in a full queue (nobody signals us when the stack drains it).
const BACKLOG_RETRY: Duration = Duration::from_millis(1);

/// Longest sleep of a reader on its fifo's futex word: then it looks at
/// the app socket (a daemon that died says so there, and nobody wakes the
/// futex for it) and the event queues, and sleeps again.
pub(crate) const FIFO_SLEEP_BOUND: Duration = Duration::from_millis(50);

/// Looks at a spinning waiter's own condition between two looks at the
/// event queues (each takes the worker's lock, when free): often enough
/// that an event is filed within a microsecond or so of its arrival, rare
/// enough that the condition's look (one load) dominates.
const CHECKS_PER_DRAIN: u32 = 16;

/// The ids the stack gave this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AppWorkerIds {
    pub(crate) app_index: u32,
    pub(crate) app_wrk: u32,
    pub(crate) wrk_index: u32,
}

/// One app worker.
pub(crate) struct AppWorkerShared {
    pub(crate) app: Arc<AppShared>,
    pub(crate) ids: AppWorkerIds,
    /// The mapping the queues live in (kept for as long as they are used).
    _mq_segment: FifoSegment,
    pub(crate) ctrl: Ctrl,
    app_evtfd: EventFd,
    events: Mutex<Events>,
    cond: Condvar,
    seq: AtomicU64,
    /// The spell of waits that only an event ends (bind, connect).
    event_spell: SpinSpell,
    /// A queue failed validation: the worker is unusable.
    broken: OnceLock<String>,
    /// The worker's one fd for event loops: an epoll instance over
    /// `app_evtfd` and the app socket, so it is readable when the stack
    /// has news (once armed) and when the daemon goes (a hang-up).
    epoll: OwnedFd,
    /// An async driver of the queues runs (`tokio/driver.rs`).
    #[cfg(feature = "tokio")]
    pub(crate) driver_running: ct_sync::unmodeled::atomic::AtomicBool,
    /// Woken when the worker goes, so its driver ends.
    #[cfg(feature = "tokio")]
    pub(crate) driver_gone: Arc<WakerSlot>,
    /// Set, then `driver_rearm` woken, when somebody else took the event
    /// queues out of their armed state (a blocking wait woke from its
    /// sleep, the app's own `poll_events`): the driver, parked on the fd,
    /// would never hear of the next message. It arms them again.
    #[cfg(feature = "tokio")]
    pub(crate) driver_must_arm: ct_sync::unmodeled::atomic::AtomicBool,
    #[cfg(feature = "tokio")]
    pub(crate) driver_rearm: WakerSlot,
}

#[cfg(feature = "tokio")]
impl Drop for AppWorkerShared {
    fn drop(&mut self) {
        self.driver_gone.wake();
    }
}

/// An epoll instance over `fds`, level-triggered, each for reading.
fn epoll_over(fds: &[BorrowedFd<'_>]) -> Result<OwnedFd, ClientError> {
    use rustix::event::epoll;
    let io = |e: rustix::io::Errno| ClientError::Io(e.into());
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(io)?;
    for (i, fd) in fds.iter().enumerate() {
        epoll::add(
            &ep,
            fd,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )
        .map_err(io)?;
    }
    Ok(ep)
}

impl std::fmt::Debug for AppWorkerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWorkerShared")
            .field("ids", &self.ids)
            .field("threads", &self.ctrl.n_threads())
            .finish_non_exhaustive()
    }
}

fn mq_fatal(e: MsgQueueError) -> ClientError {
    ClientError::protocol(format_args!("event queue: {e}"))
}

impl AppWorkerShared {
    pub(crate) fn new(
        app: Arc<AppShared>,
        ids: AppWorkerIds,
        mq_segment: FifoSegment,
        ctrl: Ctrl,
        events: Events,
        app_evtfd: EventFd,
    ) -> Result<Self, ClientError> {
        let epoll = epoll_over(&[app_evtfd.as_fd(), app.poll_fd()])?;
        Ok(AppWorkerShared {
            app,
            ids,
            _mq_segment: mq_segment,
            ctrl,
            app_evtfd,
            events: Mutex::new(events),
            cond: Condvar::new(),
            seq: AtomicU64::new(0),
            event_spell: SpinSpell::new(),
            broken: OnceLock::new(),
            epoll,
            #[cfg(feature = "tokio")]
            driver_running: ct_sync::unmodeled::atomic::AtomicBool::new(false),
            #[cfg(feature = "tokio")]
            driver_gone: Arc::new(WakerSlot::new()),
            #[cfg(feature = "tokio")]
            driver_must_arm: ct_sync::unmodeled::atomic::AtomicBool::new(false),
            #[cfg(feature = "tokio")]
            driver_rearm: WakerSlot::new(),
        })
    }

    /// The worker's fd for event loops (an epoll instance over the
    /// eventfd and the app socket).
    pub(crate) fn poll_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// The filing sequence: take it before looking at a condition, hand it
    /// to [`AppWorkerShared::wait`].
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// The events table, locked.
    pub(crate) fn events(&self) -> MutexGuard<'_, Events> {
        self.events.lock()
    }

    /// Errors if the worker can no longer be used.
    pub(crate) fn check(&self) -> Result<(), ClientError> {
        if let Some(what) = self.broken.get() {
            return Err(ClientError::Protocol(what.clone()));
        }
        if self.app.is_closed() {
            return Err(ClientError::Detached);
        }
        Ok(())
    }

    fn fail(&self, e: ClientError) -> ClientError {
        if let ClientError::Protocol(what) = &e {
            let _ = self.broken.set(what.clone());
        }
        e
    }

    /// Drains every event queue (and, with `socket`, the app socket),
    /// filing each message. Protocol errors of single messages go to
    /// `errors`; an `Err` is fatal (a corrupted queue, a lost socket).
    /// Returns the messages handled.
    pub(crate) fn drain_locked(
        &self,
        ev: &mut Events,
        socket: bool,
        errors: &mut Vec<ClientError>,
    ) -> Result<usize, ClientError> {
        let r = self.drain_inner(ev, socket, errors);
        if r.is_err() {
            // The worker is unusable (the daemon went, a queue is
            // corrupt): every waiting task finds out.
            ev.wake_all();
        }
        r
    }

    fn drain_inner(
        &self,
        ev: &mut Events,
        socket: bool,
        errors: &mut Vec<ClientError>,
    ) -> Result<usize, ClientError> {
        self.check()?;
        let mut n = 0;
        if socket {
            n += self.app.drain_socket(false)?;
        }
        self.ctrl.flush()?;
        let ctx = FileCtx {
            app: &self.app,
            ctrl: &self.ctrl,
        };
        for t in 0..ev.consumers.len() {
            loop {
                let len = match ev.consumers[t].try_recv(&mut ev.buf) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(e) => return Err(self.fail(mq_fatal(e))),
                };
                n += 1;
                let msg = ev.buf.get(..len).map(StackMsg::decode);
                let r = match msg {
                    Some(Ok(msg)) => ev.file(&ctx, msg),
                    Some(Err(e)) => Err(ClientError::protocol(format_args!("event: {e}"))),
                    None => Err(ClientError::protocol("event longer than its buffer")),
                };
                if let Err(e) = r {
                    if matches!(e, ClientError::Detached) {
                        return Err(e);
                    }
                    ev.counters.protocol_errors += 1;
                    errors.push(e);
                }
            }
        }
        if n > 0 {
            self.filed(ev);
        }
        Ok(n)
    }

    /// Something changed: waiters re-check.
    pub(crate) fn filed(&self, ev: &Events) {
        self.seq.fetch_add(1, Ordering::AcqRel);
        self.cond.notify_all();
        if ev.sleeper {
            // The sleeper sleeps on the eventfd, not on the condvar.
            let _ = self.app_evtfd.signal();
        }
    }

    /// Wakes every waiter to re-check its condition (a stream closed
    /// under a blocked reader or writer, which must let go of its end).
    pub(crate) fn wake(&self) {
        let ev = self.events.lock();
        self.filed(&ev);
    }

    /// The event queues were taken out of their armed state: an async
    /// driver parked on the fd arms them again (nothing else would wake
    /// it for the next message).
    fn disarmed(&self) {
        #[cfg(feature = "tokio")]
        if self
            .driver_running
            .load(ct_sync::unmodeled::atomic::Ordering::Acquire)
        {
            self.driver_must_arm
                .store(true, ct_sync::unmodeled::atomic::Ordering::Release);
            self.driver_rearm.wake();
        }
    }

    /// Wakes every waiter, threads and tasks (the app detached).
    pub(crate) fn wake_all(&self) {
        let mut ev = self.events.lock();
        ev.wake_all();
        self.filed(&ev);
    }

    /// Drains now (the app's poll loop). Clears the sleep flags the app
    /// armed with [`AppWorkerShared::prepare_sleep`] unless a thread of ours
    /// sleeps on them. Returns the messages handled, or the first protocol
    /// error among them (the rest were still filed).
    pub(crate) fn poll(&self) -> Result<usize, ClientError> {
        self.poll_as(false)
    }

    /// [`AppWorkerShared::poll`]; `driver`: called by the async driver,
    /// which arms the queues again itself (anybody else's poll makes it).
    pub(crate) fn poll_as(&self, driver: bool) -> Result<usize, ClientError> {
        let mut ev = self.events.lock();
        if !ev.sleeper {
            for c in &ev.consumers {
                c.woke();
            }
            self.app_evtfd.drain();
            if !driver {
                self.disarmed();
            }
        }
        let mut errors = Vec::new();
        let n = self.drain_locked(&mut ev, true, &mut errors)?;
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// Drains the queues (not the socket) and ignores single-message
    /// errors (counted): the non-blocking paths' look for news.
    pub(crate) fn poll_quiet(&self) -> Result<usize, ClientError> {
        let mut ev = self.events.lock();
        self.drain_locked(&mut ev, false, &mut Vec::new())
    }

    /// A non-blocking or async call found nothing. What it looks for may sit in
    /// the queues undrained, so the first time drain them: `Ok` (look
    /// again) if that brought news; `WouldBlock` if not, or on a second
    /// call (`polled` remembers), so a busy queue cannot keep it spinning.
    pub(crate) fn poll_once(&self, polled: &mut bool) -> std::io::Result<()> {
        if !std::mem::replace(polled, true) && self.poll_quiet()? > 0 {
            return Ok(());
        }
        Err(std::io::ErrorKind::WouldBlock.into())
    }

    /// Arms every event queue for sleep (the app's own poll loop): true
    /// when all are empty and `app_evtfd` will be signalled on the next
    /// message; false when a message is already there (drain it first).
    pub(crate) fn prepare_sleep(&self) -> Result<bool, ClientError> {
        let ev = self.events.lock();
        for c in &ev.consumers {
            if !c.prepare_sleep().map_err(|e| self.fail(mq_fatal(e)))? {
                return Ok(false);
            }
        }
        Ok(self.ctrl.backlog() == 0)
    }

    /// Waits until something is filed after `seen`, or `deadline`, spinning
    /// on the event queues for the worker's event spell first. May return
    /// early (spuriously): callers loop on their condition.
    pub(crate) fn wait(&self, seen: u64, deadline: Option<Instant>) -> Result<(), ClientError> {
        self.wait_or(seen, deadline, &self.event_spell, || false)
            .map(drop)
    }

    /// [`AppWorkerShared::wait`], ending too when `ready` (the caller's own
    /// condition, looked at in shared memory: cheap, consuming nothing)
    /// says so while spinning for `spell`. Returns whether the spell ran
    /// out and the waiter slept.
    pub(crate) fn wait_or(
        &self,
        seen: u64,
        deadline: Option<Instant>,
        spell: &SpinSpell,
        mut ready: impl FnMut() -> bool,
    ) -> Result<bool, ClientError> {
        let mut failed = None;
        let mut checks = 0u32;
        let r = spell.wait(
            deadline,
            || self.spin_look(seen, &mut checks, &mut failed, &mut ready),
            || self.sleep_wait(seen, deadline),
        );
        if let Some(e) = failed {
            return Err(e);
        }
        match r {
            SpinWait::Ready | SpinWait::TimedOut => Ok(false),
            SpinWait::Slept(r) => r.map(|()| true),
        }
    }

    /// [`AppWorkerShared::wait_or`] for a reader waiting on its rx fifo:
    /// it announces itself in the fifo's reader-state word, so the writer
    /// skips the event path (ARCHITECTURE.md, "Event flow"): spinning for
    /// `spell` (a write needs nobody told), then asleep on the word's
    /// futex (a write wakes it directly, one wake-up, no daemon), bounded
    /// by [`FIFO_SLEEP_BOUND`]. Whoever files a close or reset for the
    /// session, or closes the stream from another handle, wakes the futex
    /// too. Leaves the word idle: the caller then re-checks the fifo (its
    /// loop reads next), which takes data written as it stopped waiting.
    /// Returns whether the waiter slept.
    pub(crate) fn wait_on_fifo(
        &self,
        seen: u64,
        deadline: Option<Instant>,
        spell: &SpinSpell,
        fifo: &Fifo,
        ready: impl Fn() -> bool,
    ) -> Result<bool, ClientError> {
        fifo.set_reader_state(ReaderState::Spinning);
        let mut failed = None;
        let mut checks = 0u32;
        let r = spell.wait(
            deadline,
            || self.spin_look(seen, &mut checks, &mut failed, &mut || ready()),
            || self.fifo_sleep(seen, deadline, fifo, &ready),
        );
        fifo.set_reader_state(ReaderState::Idle);
        if let Some(e) = failed {
            return Err(e);
        }
        match r {
            SpinWait::Ready | SpinWait::TimedOut => Ok(false),
            SpinWait::Slept(r) => r.map(|()| true),
        }
    }

    /// One sleep on the fifo's futex word: announce it, re-check
    /// everything a waker would announce (the fifo, filings, the event
    /// queues), sleep, then look at the socket and the queues.
    fn fifo_sleep(
        &self,
        seen: u64,
        deadline: Option<Instant>,
        fifo: &Fifo,
        ready: &impl Fn() -> bool,
    ) -> Result<(), ClientError> {
        fifo.set_reader_state(ReaderState::Sleeping);
        if ready() {
            return Ok(());
        }
        {
            // Locked, not tried: a thread draining now may be filing news
            // for us, and its waker may have found us spinning (nobody
            // wakes the word for it then). Under the lock its filing is
            // done or not begun, and the queues hold what is not.
            let mut ev = self.events.lock();
            if self.seq() != seen
                || self.drain_locked(&mut ev, false, &mut Vec::new())? > 0
                || self.seq() != seen
            {
                return Ok(());
            }
        }
        let now = Instant::now();
        let bound = if self.ctrl.backlog() > 0 {
            BACKLOG_RETRY
        } else {
            FIFO_SLEEP_BOUND
        };
        let until = deadline.map_or(now + bound, |d| d.min(now + bound));
        if until <= now {
            return Ok(());
        }
        fifo.reader_sleep(until - now);
        fifo.set_reader_state(ReaderState::Spinning);
        // The socket too: a daemon that died (or detached us) says so
        // only there.
        let Some(mut ev) = self.events.try_lock() else {
            return Ok(());
        };
        self.drain_locked(&mut ev, true, &mut Vec::new()).map(drop)
    }

    /// One look of a spinning waiter: its own condition (`ready`, in
    /// shared memory) or anything filed since `seen`; every
    /// [`CHECKS_PER_DRAIN`] looks, the event queues too. The first look
    /// drains as well: a wait that ends within a few looks (a busy
    /// session) must still take what the stack sent. A fatal drain error
    /// goes to `failed` and ends the spin.
    fn spin_look(
        &self,
        seen: u64,
        checks: &mut u32,
        failed: &mut Option<ClientError>,
        ready: &mut impl FnMut() -> bool,
    ) -> bool {
        if ready() || self.seq() != seen {
            return true;
        }
        let due = checks.is_multiple_of(CHECKS_PER_DRAIN);
        *checks = checks.wrapping_add(1);
        if !due {
            return false;
        }
        match self.drain_news() {
            Ok(filed) => filed || self.seq() != seen,
            Err(e) => {
                *failed = Some(e);
                true
            }
        }
    }

    /// A spinning waiter's look at the event queues: drains them when a
    /// message (or a control backlog) waits. Skipped while another thread
    /// holds the lock (it is draining or filing; its filing ends our
    /// spin). Returns whether anything was handled.
    fn drain_news(&self) -> Result<bool, ClientError> {
        let Some(mut ev) = self.events.try_lock() else {
            return Ok(false);
        };
        if self.ctrl.backlog() == 0 && ev.consumers.iter().all(|c| c.is_empty()) {
            return Ok(false);
        }
        // Single messages' errors are counted, as in every wait's drain.
        Ok(self.drain_locked(&mut ev, false, &mut Vec::new())? > 0)
    }

    /// The wait proper: drain, then sleep (on the eventfd, or behind the
    /// thread that does).
    fn sleep_wait(&self, seen: u64, deadline: Option<Instant>) -> Result<(), ClientError> {
        let mut ev = self.events.lock();
        if self.seq() != seen {
            return Ok(());
        }
        let mut errors = Vec::new();
        if self.drain_locked(&mut ev, false, &mut errors)? > 0 || self.seq() != seen {
            return Ok(());
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(());
        }
        let until = if self.ctrl.backlog() > 0 {
            let retry = now + BACKLOG_RETRY;
            Some(deadline.map_or(retry, |d| d.min(retry)))
        } else {
            deadline
        };
        if ev.sleeper {
            match until {
                Some(u) => {
                    self.cond.wait_until(&mut ev, u);
                }
                None => self.cond.wait(&mut ev),
            }
            return Ok(());
        }
        for i in 0..ev.consumers.len() {
            match ev.consumers[i].prepare_sleep() {
                Ok(true) => {}
                Ok(false) => {
                    // A message came as we armed: take it instead.
                    for c in &ev.consumers {
                        c.woke();
                    }
                    self.disarmed();
                    self.drain_locked(&mut ev, false, &mut errors)?;
                    return Ok(());
                }
                Err(e) => return Err(self.fail(mq_fatal(e))),
            }
        }
        ev.sleeper = true;
        let slept = MutexGuard::unlocked(&mut ev, || self.sleep(until));
        ev.sleeper = false;
        for c in &ev.consumers {
            c.woke();
        }
        self.disarmed();
        self.app_evtfd.drain();
        let drained = match slept {
            Ok(socket) => self.drain_locked(&mut ev, socket, &mut errors),
            Err(_) => Ok(0),
        };
        // Followers may take the sleeper's place now.
        self.cond.notify_all();
        slept?;
        drained.map(drop)
    }

    /// Sleeps on `app_evtfd` and the app socket until one is readable or
    /// `until`. Returns whether the socket has something (a record or a
    /// hang-up).
    fn sleep(&self, until: Option<Instant>) -> Result<bool, ClientError> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let ts = until.map(|u| {
            let d = u.saturating_duration_since(Instant::now());
            Timespec::try_from(d).unwrap_or(Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        let mut fds = [
            PollFd::from_borrowed_fd(self.app_evtfd.as_fd(), PollFlags::IN),
            PollFd::from_borrowed_fd(self.app.poll_fd(), PollFlags::IN),
        ];
        match poll(&mut fds, ts.as_ref()) {
            Ok(_) => Ok(!fds[1].revents().is_empty()),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(e) => Err(ClientError::Io(e.into())),
        }
    }
}
