//! Per-session wake-ups for apps that block on a session (blocking
//! `Read`/`Write`): the app layer signals the session's waker whenever it
//! delivers an event about that session, whatever the app kind.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

#[derive(Debug, Default)]
struct WakeState {
    /// Bumped on every event.
    seq: u64,
    /// The peer closed or reset, or the session is being cleaned up.
    closed: bool,
}

/// Wakes a thread blocked on one session.
#[derive(Debug, Default)]
pub struct SessionWaker {
    state: Mutex<WakeState>,
    cv: Condvar,
}

impl SessionWaker {
    /// Records an event and wakes waiters; `closed` marks the session as
    /// closing (it stays marked).
    pub fn wake(&self, closed: bool) {
        let mut st = self.state.lock();
        st.seq = st.seq.wrapping_add(1);
        st.closed |= closed;
        self.cv.notify_all();
    }

    /// The event count now: pass it to [`SessionWaker::wait_past`] after
    /// re-checking the fifo, so an event in between is not missed.
    pub fn seq(&self) -> u64 {
        self.state.lock().seq
    }

    /// Whether the session was marked closing.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Waits until an event after `seq`, the session closing, or
    /// `deadline`; returns whether something happened.
    pub fn wait_past(&self, seq: u64, deadline: Option<Instant>) -> bool {
        let mut st = self.state.lock();
        while st.seq == seq && !st.closed {
            match deadline {
                Some(d) => {
                    if self.cv.wait_until(&mut st, d).timed_out() {
                        return st.seq != seq || st.closed;
                    }
                }
                None => self.cv.wait(&mut st),
            }
        }
        true
    }

    /// [`SessionWaker::wait_past`] with a timeout.
    pub fn wait_timeout(&self, seq: u64, timeout: Duration) -> bool {
        self.wait_past(seq, Some(Instant::now() + timeout))
    }
}
