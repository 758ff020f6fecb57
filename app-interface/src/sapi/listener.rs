//! [`SapiListener`]: the stack's bound app socket.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::net::{SocketAddrUnix, SocketFlags};

use super::SapiError;
use super::socket::{SapiSocket, new_socket, retry_intr};

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 128;

/// A listening app socket bound to a path; removes the path when dropped.
#[derive(Debug)]
pub struct SapiListener {
    fd: OwnedFd,
    path: PathBuf,
}

impl SapiListener {
    /// Binds and listens at `path`. A socket file left there by a stack
    /// that died (nobody accepts on it) is replaced; a live one is
    /// `AddrInUse`.
    pub fn bind(path: &Path) -> Result<SapiListener, SapiError> {
        let addr = SocketAddrUnix::new(path)?;
        let fd = new_socket()?;
        match rustix::net::bind(&fd, &addr) {
            Ok(()) => {}
            Err(Errno::ADDRINUSE) if is_stale(path, &addr)? => {
                std::fs::remove_file(path)?;
                rustix::net::bind(&fd, &addr)?;
            }
            Err(e) => return Err(SapiError::Io(e.into())),
        }
        let listener = SapiListener {
            fd,
            path: path.to_owned(),
        };
        // From here the path is ours: an error below drops `listener`,
        // which removes it.
        rustix::net::listen(&listener.fd, BACKLOG)?;
        Ok(listener)
    }

    /// The next app connection (close-on-exec, blocking unless set
    /// otherwise).
    pub fn accept(&self) -> Result<SapiSocket, SapiError> {
        let fd = retry_intr(|| rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC))?;
        Ok(SapiSocket::from_fd(fd))
    }

    /// Sets nonblocking mode: `accept` then fails with `WouldBlock` when
    /// nobody waits.
    pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
        rustix::io::ioctl_fionbio(&self.fd, nonblocking)?;
        Ok(())
    }

    /// The bound path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether `path` is a left-over socket: a socket file that refuses
/// connections. Anything else (a live socket, a regular file) is not ours
/// to remove.
fn is_stale(path: &Path, addr: &SocketAddrUnix) -> Result<bool, SapiError> {
    use std::os::unix::fs::FileTypeExt;
    if !std::fs::symlink_metadata(path)?.file_type().is_socket() {
        return Ok(false);
    }
    let probe = new_socket()?;
    match retry_intr(|| rustix::net::connect(&probe, addr)) {
        Err(Errno::CONNREFUSED) => Ok(true),
        Ok(()) => Ok(false),
        Err(e) => Err(SapiError::Io(e.into())),
    }
}

impl AsFd for SapiListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SapiListener {
    fn drop(&mut self) {
        // Best effort: the path may have been removed or replaced by hand.
        let _ = std::fs::remove_file(&self.path);
    }
}
