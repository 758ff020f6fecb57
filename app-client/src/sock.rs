//! The app's end of the app socket, shared by its workers: requests and
//! their replies (attach, add/del worker, detach), and the segment fds the
//! stack pushes (`SegmentFd` records), mapped as they arrive.
//!
//! Reading is non-blocking and done by whoever needs it: an event drain
//! (so a segment is mapped before the queue message naming it is
//! handled), or a request waiting for its reply. Records that are not
//! segment fds are kept for the request that wants them.

use ct_sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use ct_app_interface::sapi::{SapiError, SapiMsg, SapiSocket};
use ct_fifo_segment::FifoSegment;
use ct_sync::Mutex;

use crate::error::ClientError;
use crate::segments::Segments;

/// Replies kept for a request, at most (a stack that floods the socket
/// with records nobody asked for loses the oldest).
const MAX_KEPT_REPLIES: usize = 64;

/// The socket and what was read from it but not yet taken.
struct SockState {
    sock: SapiSocket,
    replies: VecDeque<(SapiMsg, Vec<OwnedFd>)>,
}

/// Per app: the socket, the mapped segments, whether the stack is gone.
pub(crate) struct AppShared {
    sock: Mutex<SockState>,
    /// A duplicate of the socket's fd for `poll` (the socket itself sits
    /// behind the lock).
    poll_fd: OwnedFd,
    segments: Mutex<Segments>,
    closed: AtomicBool,
    bad_records: AtomicU64,
}

impl std::fmt::Debug for AppShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppShared")
            .field("closed", &self.is_closed())
            .field("segments", &self.segments.lock().len())
            .finish()
    }
}

fn sapi_err(e: SapiError) -> ClientError {
    match e {
        SapiError::Closed => ClientError::Detached,
        SapiError::Io(e) => ClientError::Io(e),
        e => ClientError::protocol(format_args!("app socket: {e}")),
    }
}

/// Waits up to `timeout` for `fd` to be readable (or hung up).
pub(crate) fn wait_readable(
    fd: BorrowedFd<'_>,
    timeout: Option<Duration>,
) -> Result<(), ClientError> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let ts = timeout.map(|t| {
        Timespec::try_from(t).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        })
    });
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    match poll(&mut fds, ts.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(ClientError::Io(e.into())),
    }
}

impl AppShared {
    /// Wraps a connected socket, switched to non-blocking reads.
    pub(crate) fn new(sock: SapiSocket) -> Result<Self, ClientError> {
        sock.set_nonblocking(true).map_err(ClientError::Io)?;
        let poll_fd = rustix::io::fcntl_dupfd_cloexec(sock.as_fd(), 0)
            .map_err(|e| ClientError::Io(e.into()))?;
        Ok(AppShared {
            sock: Mutex::new(SockState {
                sock,
                replies: VecDeque::new(),
            }),
            poll_fd,
            segments: Mutex::new(Segments::default()),
            closed: AtomicBool::new(false),
            bad_records: AtomicU64::new(0),
        })
    }

    /// The socket's fd, to poll beside the queues' eventfd: readable when
    /// a record waits or the stack hung up.
    pub(crate) fn poll_fd(&self) -> BorrowedFd<'_> {
        self.poll_fd.as_fd()
    }

    /// The stack hung up (or we detached).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the app detached.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Records the socket refused (bad header, too many fds, a segment that
    /// would not map).
    pub(crate) fn bad_records(&self) -> u64 {
        self.bad_records.load(Ordering::Relaxed)
    }

    /// The mapped segments.
    pub(crate) fn segments(&self) -> &Mutex<Segments> {
        &self.segments
    }

    /// Reads what the socket holds now. With `block` false a thread that
    /// finds the socket busy (another reader) returns at once: that reader
    /// maps what arrives. Returns the records read.
    pub(crate) fn drain_socket(&self, block: bool) -> Result<usize, ClientError> {
        let mut st = if block {
            self.sock.lock()
        } else {
            match self.sock.try_lock() {
                Some(st) => st,
                None => return Ok(0),
            }
        };
        self.drain_locked(&mut st)
    }

    fn drain_locked(&self, st: &mut SockState) -> Result<usize, ClientError> {
        let mut n = 0;
        loop {
            if self.is_closed() {
                return Err(ClientError::Detached);
            }
            match st.sock.recv() {
                Ok((msg, fds)) => {
                    n += 1;
                    self.file(st, msg, fds);
                }
                Err(e) if e.is_would_block() => return Ok(n),
                Err(SapiError::Closed) => {
                    self.close();
                    return Err(ClientError::Detached);
                }
                Err(SapiError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(SapiError::Io(e)) => return Err(ClientError::Io(e)),
                Err(_) => {
                    // A bad record (its fds already closed): count it, go on.
                    n += 1;
                    self.bad_records.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Maps a segment fd, keeps anything else for a request.
    fn file(&self, st: &mut SockState, msg: SapiMsg, mut fds: Vec<OwnedFd>) {
        if let SapiMsg::SegmentFd { segment, size } = msg {
            let fd = match (fds.pop(), fds.is_empty()) {
                (Some(fd), true) => fd,
                _ => {
                    self.bad_records.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            match FifoSegment::attach(fd) {
                Ok(seg) if seg.size() as u64 == size => self.segments.lock().add(segment, seg),
                _ => {
                    // Never mapped: a message naming it is refused later.
                    self.bad_records.fetch_add(1, Ordering::Relaxed);
                }
            }
            return;
        }
        if st.replies.len() == MAX_KEPT_REPLIES {
            st.replies.pop_front();
            self.bad_records.fetch_add(1, Ordering::Relaxed);
        }
        st.replies.push_back((msg, fds));
    }

    /// Sends `msg` and waits up to `timeout` for the first record `pick`
    /// accepts, mapping segment fds meanwhile.
    pub(crate) fn request(
        &self,
        msg: &SapiMsg,
        pick: impl FnMut(&SapiMsg) -> bool,
        timeout: Duration,
    ) -> Result<(SapiMsg, Vec<OwnedFd>), ClientError> {
        let mut st = self.sock.lock();
        if self.is_closed() {
            return Err(ClientError::Detached);
        }
        st.sock.send(msg, &[]).map_err(sapi_err)?;
        self.wait_reply(&mut st, pick, Instant::now() + timeout)
    }

    fn wait_reply(
        &self,
        st: &mut SockState,
        mut pick: impl FnMut(&SapiMsg) -> bool,
        deadline: Instant,
    ) -> Result<(SapiMsg, Vec<OwnedFd>), ClientError> {
        loop {
            let drained = self.drain_locked(st);
            if let Some(i) = st.replies.iter().position(|(m, _)| pick(m))
                && let Some(r) = st.replies.remove(i)
            {
                return Ok(r);
            }
            drained?;
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Session(
                    ct_app_interface::SessionError::TimedOut,
                ));
            }
            wait_readable(st.sock.as_fd(), Some(deadline - now))?;
        }
    }

    /// Sends `msg` without waiting for anything (a detach on drop).
    pub(crate) fn send(&self, msg: &SapiMsg) -> Result<(), ClientError> {
        let st = self.sock.lock();
        st.sock.send(msg, &[]).map_err(sapi_err)
    }
}
