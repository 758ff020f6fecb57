//! How the echo apps over app-client wait when none of their sessions can
//! move: sleep on the app worker's event fd (armed with `prepare_sleep`,
//! so the stack signals it on its next message), or spin on the queues
//! (`busy_poll`, VPP's polling apps).

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use ct_app_client::AppClient;
use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// Longest sleep: bounds how late a stop request or a stack hang-up (seen
/// on the app socket, not on the event fd) is noticed.
pub(crate) const MAX_SLEEP: Duration = Duration::from_millis(20);

/// Waits for news from the stack (or [`MAX_SLEEP`]) and files it.
pub(crate) fn wait_events(client: &AppClient, busy_poll: bool) -> io::Result<()> {
    if !busy_poll && client.prepare_sleep()? {
        let ts = Timespec::try_from(MAX_SLEEP).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        });
        let mut fds = [PollFd::from_borrowed_fd(client.as_fd(), PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    client.poll_events().map(drop)
}

/// Whether `e` only says "not now".
pub(crate) fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}
