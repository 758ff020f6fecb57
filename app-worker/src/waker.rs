//! Per-session wake-ups for apps that block on a session (blocking
//! `Read`/`Write`): the app layer signals the session's waker whenever it
//! delivers an event about that session, whatever the app kind.
//!
//! A blocked app does not have to sleep at once: the data it waits for is
//! in a fifo it can look at, and it usually lands before the event that
//! announces it has gone through the worker. [`SessionWaker::wait_past_or`]
//! polls a readiness check for the session's adaptive
//! [`SpinSpell`] (app-interface's, shared with apps in other processes)
//! before it sleeps, so a reader whose peer answers quickly never pays a
//! sleep and a wake-up. Events are unchanged: the worker still delivers
//! every one, and a waiter that found its data by spinning sees the late
//! event as a seq bump (a spurious wake-up its caller's retry loop
//! absorbs).

use ct_sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ct_app_interface::io::{SpinSpell, SpinWait};
use ct_sync::{Condvar, Mutex};

/// Wakes a thread blocked on one session.
#[derive(Debug)]
pub struct SessionWaker {
    /// Held to bump `seq` / set `closed` and to sleep: a sleeper that saw
    /// neither move under the lock is on the condvar before the next
    /// [`SessionWaker::wake`] can notify.
    lock: Mutex<()>,
    cv: Condvar,
    /// Bumped on every event (under `lock`; read without it).
    seq: AtomicU64,
    /// The peer closed or reset, or the session is being cleaned up
    /// (sticky; set under `lock`).
    closed: AtomicBool,
    /// How long a blocking wait polls before it sleeps.
    spell: SpinSpell,
}

impl Default for SessionWaker {
    fn default() -> Self {
        SessionWaker {
            lock: Mutex::new(()),
            cv: Condvar::new(),
            seq: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            spell: SpinSpell::new(),
        }
    }
}

impl SessionWaker {
    /// Records an event and wakes waiters; `closed` marks the session as
    /// closing (it stays marked).
    pub fn wake(&self, closed: bool) {
        let _g = self.lock.lock();
        self.seq.fetch_add(1, Ordering::Release);
        if closed {
            self.closed.store(true, Ordering::Release);
        }
        self.cv.notify_all();
    }

    /// The event count now: pass it to [`SessionWaker::wait_past`] after
    /// re-checking the fifo, so an event in between is not missed.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Whether the session was marked closing.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn moved(&self, seq: u64) -> bool {
        self.seq() != seq || self.is_closed()
    }

    /// Waits until an event after `seq`, the session closing, or
    /// `deadline`; returns whether something happened.
    pub fn wait_past(&self, seq: u64, deadline: Option<Instant>) -> bool {
        let mut g = self.lock.lock();
        while !self.moved(seq) {
            match deadline {
                Some(d) => {
                    if self.cv.wait_until(&mut g, d).timed_out() {
                        return self.moved(seq);
                    }
                }
                None => self.cv.wait(&mut g),
            }
        }
        true
    }

    /// [`SessionWaker::wait_past`] with a timeout.
    pub fn wait_timeout(&self, seq: u64, timeout: Duration) -> bool {
        self.wait_past(seq, Some(Instant::now() + timeout))
    }

    /// [`SessionWaker::wait_past`], but first polls `ready` (e.g. "the rx
    /// fifo has data") for the current spin spell and returns true as soon
    /// as it says so; then sleeps as `wait_past` does. `ready` must be
    /// cheap and free of side effects the caller would not repeat.
    pub fn wait_past_or(
        &self,
        seq: u64,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        match self.spell.wait(
            deadline,
            || ready() || self.moved(seq),
            || self.wait_past(seq, deadline),
        ) {
            SpinWait::Ready => true,
            SpinWait::TimedOut => self.moved(seq),
            SpinWait::Slept(woke) => woke,
        }
    }

    /// The current spin spell (what the next [`SessionWaker::wait_past_or`]
    /// polls for at most).
    pub fn spin_spell(&self) -> Duration {
        self.spell.spell()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ct_app_interface::io::MAX_SPIN;

    use super::*;

    fn far() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(10))
    }

    #[test]
    fn ready_ends_the_wait_without_an_event() {
        let w = SessionWaker::default();
        let seq = w.seq();
        assert!(w.wait_past_or(seq, far(), || true));
        assert_eq!(w.seq(), seq);
    }

    #[test]
    fn nothing_happening_times_out() {
        let w = SessionWaker::default();
        let seq = w.seq();
        let t = Instant::now() + Duration::from_millis(2);
        assert!(!w.wait_past_or(seq, Some(t), || false));
        assert!(Instant::now() >= t);
    }

    #[test]
    fn an_event_before_the_wait_ends_it() {
        let w = SessionWaker::default();
        let seq = w.seq();
        w.wake(false);
        assert!(w.wait_past_or(seq, far(), || false));
        assert!(w.wait_past(seq, far()));
    }

    #[test]
    fn wake_and_close_from_another_thread_end_a_sleeping_wait() {
        for closed in [false, true] {
            // Nothing to spin for: the waiter goes to sleep at once.
            let w = Arc::new(SessionWaker {
                spell: SpinSpell::starting_at(Duration::ZERO),
                ..SessionWaker::default()
            });
            let seq = w.seq();
            let waiter = {
                let w = w.clone();
                std::thread::spawn(move || w.wait_past_or(seq, None, || false))
            };
            std::thread::sleep(Duration::from_millis(5));
            w.wake(closed);
            assert!(waiter.join().unwrap());
            assert_eq!(w.is_closed(), closed);
            assert_eq!(w.seq(), seq + 1);
        }
    }

    #[test]
    fn a_wait_that_sleeps_long_shrinks_the_spell() {
        let w = SessionWaker::default();
        let seq = w.seq();
        let t = Instant::now() + Duration::from_millis(1);
        assert!(!w.wait_past_or(seq, Some(t), || false));
        assert_eq!(w.spin_spell(), MAX_SPIN / 2);
    }
}
