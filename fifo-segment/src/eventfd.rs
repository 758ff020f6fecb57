//! Eventfds: how one side of a message queue wakes the other.
//!
//! A consumer that found its queues empty says so with
//! [`crate::msg_q::MsgConsumer::prepare_sleep`] and sleeps in
//! [`EventFd::wait`]; a producer whose `try_send` returned `Ok(true)` calls
//! [`EventFd::signal`]. The fd crosses processes (SCM_RIGHTS), so an app can
//! also put it in its own poll/epoll loop ([`AsFd`]).
//!
//! ```
//! # // Miri has neither eventfd nor ppoll: it skips the body.
//! # #[cfg(not(miri))]
//! # {
//! use ct_fifo_segment::eventfd::EventFd;
//! use std::time::Duration;
//!
//! let efd = EventFd::new().unwrap();
//! assert!(!efd.wait(Some(Duration::ZERO)).unwrap());
//! efd.signal().unwrap();
//! efd.signal().unwrap();
//! assert!(efd.wait(None).unwrap());
//! assert_eq!(efd.drain(), 2);
//! assert_eq!(efd.drain(), 0);
//! # }
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};

/// A nonblocking, close-on-exec eventfd (a counter the kernel keeps).
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new eventfd (`EFD_CLOEXEC | EFD_NONBLOCK`, counter 0).
    pub fn new() -> io::Result<EventFd> {
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Self { fd })
    }

    /// Wraps an eventfd received from a peer. It should be nonblocking (an
    /// eventfd made by [`EventFd::new`] is); a blocking one makes `drain`
    /// block while the counter is 0.
    pub fn from_fd(fd: OwnedFd) -> EventFd {
        Self { fd }
    }

    /// Adds 1 to the counter, waking a waiter. A counter at its maximum
    /// (the wake-up is pending anyway) is not an error.
    pub fn signal(&self) -> io::Result<()> {
        loop {
            match rustix::io::write(&self.fd, &1u64.to_ne_bytes()) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads and resets the counter: the signals since the last drain, 0 if
    /// none. (Reading an eventfd can only fail for a bad buffer or fd,
    /// neither possible here; such a failure also reads as 0.)
    pub fn drain(&self) -> u64 {
        let mut buf = [0u8; 8];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(8) => return u64::from_ne_bytes(buf),
                Err(rustix::io::Errno::INTR) => continue,
                Ok(_) | Err(_) => return 0,
            }
        }
    }

    /// Waits until the counter is non-zero (true) or `timeout` passes
    /// (false; `None` waits forever, `Some(ZERO)` only checks). Does not
    /// drain. An interrupted wait returns false (a spurious wake-up).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let ts = match timeout {
            // Longer than a Timespec holds: forever.
            Some(d) => Timespec::try_from(d).ok(),
            None => None,
        };
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(n) => Ok(n > 0 && fds[0].revents().contains(PollFlags::IN)),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Another handle to the same eventfd (a `dup`), e.g. to send to a
    /// peer or to keep in another thread.
    pub fn try_clone(&self) -> io::Result<EventFd> {
        Ok(Self {
            fd: self.fd.try_clone()?,
        })
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<EventFd> for OwnedFd {
    fn from(e: EventFd) -> OwnedFd {
        e.fd
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    #[cfg_attr(miri, ignore = "eventfd is a syscall Miri does not support")]
    fn signal_wakes_a_waiter_in_another_thread() {
        let efd = EventFd::new().unwrap();
        let other = efd.try_clone().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.signal().unwrap();
        });
        assert!(efd.wait(Some(Duration::from_secs(10))).unwrap());
        t.join().unwrap();
        assert_eq!(efd.drain(), 1);
    }

    #[test]
    #[cfg_attr(miri, ignore = "eventfd is a syscall Miri does not support")]
    fn wait_times_out_when_nothing_is_signalled() {
        let efd = EventFd::new().unwrap();
        let t0 = Instant::now();
        assert!(!efd.wait(Some(Duration::from_millis(10))).unwrap());
        assert!(t0.elapsed() >= Duration::from_millis(10));
        assert_eq!(efd.drain(), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "eventfd is a syscall Miri does not support")]
    fn flags_are_cloexec_and_nonblocking() {
        let efd = EventFd::new().unwrap();
        let fd_flags = rustix::io::fcntl_getfd(&efd).unwrap();
        assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
        let fl = rustix::fs::fcntl_getfl(&efd).unwrap();
        assert!(fl.contains(rustix::fs::OFlags::NONBLOCK));
        // A round trip through OwnedFd keeps the same counter.
        let efd2 = EventFd::from_fd(OwnedFd::from(efd.try_clone().unwrap()));
        efd2.signal().unwrap();
        assert_eq!(efd.drain(), 1);
    }
}
