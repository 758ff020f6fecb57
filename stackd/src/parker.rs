//! [`EventFdParker`]: a stack worker sleeps on its thread's eventfd, the
//! same fd every app holds for that thread (`wrk_evtfd[t]`). Whoever has
//! work for the worker signals it: another thread of the stack through the
//! session layer's sleep protocol, an app after a `try_send` on `ctrl_q[t]`
//! said the worker's input sleeps. The counter is a token: a signal before
//! the park makes the park return at once.

use std::time::Duration;

use ct_fifo_segment::eventfd::EventFd;
use ct_session::WorkerParker;

/// A worker parker on an eventfd.
#[derive(Debug)]
pub struct EventFdParker {
    evt: EventFd,
}

impl EventFdParker {
    /// Parks on `evt` (keep a clone of it to hand to apps).
    pub fn new(evt: EventFd) -> Self {
        EventFdParker { evt }
    }
}

impl WorkerParker for EventFdParker {
    fn park(&self, timeout: Duration) {
        // An error (none is expected on an eventfd) is a spurious wake-up:
        // the worker re-checks its work either way.
        let _ = self.evt.wait(Some(timeout));
        self.evt.drain();
    }

    fn unpark(&self) {
        let _ = self.evt.signal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn unpark_before_park_is_kept() {
        let p = EventFdParker::new(EventFd::new().unwrap());
        p.unpark();
        let t = Instant::now();
        p.park(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(4));
        // The token was used: the next park times out.
        let t = Instant::now();
        p.park(Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(15));
    }
}
