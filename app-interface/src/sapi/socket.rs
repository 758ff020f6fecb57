//! [`SapiSocket`]: one app socket connection, records and fds.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, Shutdown, SocketAddrUnix, SocketFlags,
    SocketType,
};

use super::SapiError;
use crate::wire::{SAPI_MAX_FDS, SAPI_MAX_RECORD, SapiMsg, WireError};

/// Control-message space for the most fds a record may carry. A peer that
/// sends more gets its extra fds cut by the kernel (`MSG_CTRUNC`, never
/// installed here) and the record refused.
const CMSG_SPACE: usize = rustix::cmsg_space!(ScmRights(SAPI_MAX_FDS));

/// One end of an app socket connection (`SOCK_SEQPACKET`, close-on-exec).
#[derive(Debug)]
pub struct SapiSocket {
    fd: OwnedFd,
}

impl SapiSocket {
    /// Connects to the stack's socket at `path`.
    pub fn connect(path: &Path) -> Result<SapiSocket, SapiError> {
        let fd = new_socket()?;
        let addr = SocketAddrUnix::new(path)?;
        retry_intr(|| rustix::net::connect(&fd, &addr))?;
        Ok(SapiSocket { fd })
    }

    /// A connected pair (tests, and a stack hosting an app in-process).
    pub fn pair() -> Result<(SapiSocket, SapiSocket), SapiError> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((SapiSocket { fd: a }, SapiSocket { fd: b }))
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> SapiSocket {
        SapiSocket { fd }
    }

    /// Sets nonblocking mode: `send` and `recv` then fail with
    /// `WouldBlock` ([`SapiError::is_would_block`]) instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
        rustix::io::ioctl_fionbio(&self.fd, nonblocking)?;
        Ok(())
    }

    /// The peer's `(pid, uid, gid)` as the kernel recorded them at connect
    /// (`SO_PEERCRED`): who the app is, whatever it claims in its records.
    pub fn peer_cred(&self) -> Result<(i32, u32, u32), SapiError> {
        let c = rustix::net::sockopt::socket_peercred(&self.fd)?;
        Ok((c.pid.as_raw_nonzero().get(), c.uid.as_raw(), c.gid.as_raw()))
    }

    /// Sends `msg` with `fds` (duplicated into the peer; ours stay open).
    /// `fds` must be exactly as many as the record carries
    /// ([`SapiMsg::expected_fds`]), in the order its kind documents.
    pub fn send(&self, msg: &SapiMsg, fds: &[BorrowedFd<'_>]) -> Result<(), SapiError> {
        let expected = msg.expected_fds();
        if fds.len() != expected {
            return Err(SapiError::FdCount {
                expected,
                got: fds.len(),
            });
        }
        let bytes = msg.encode()?;
        self.send_raw(&bytes, fds)
    }

    /// Sends `bytes` as one record with `fds`, unchecked: for tools and
    /// tests that speak for a misbehaving peer. Use [`SapiSocket::send`].
    pub fn send_raw(&self, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), SapiError> {
        let rights = SendAncillaryMessage::ScmRights(fds);
        let mut space = vec![MaybeUninit::<u8>::uninit(); rights.size()];
        let mut cmsg = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !cmsg.push(rights) {
            return Err(SapiError::FdCount {
                expected: 0,
                got: fds.len(),
            });
        }
        let iov = [IoSlice::new(bytes)];
        // NOSIGNAL: a dead peer is EPIPE (Closed), not a SIGPIPE that kills
        // the stack.
        let n =
            retry_intr(|| rustix::net::sendmsg(&self.fd, &iov, &mut cmsg, SendFlags::NOSIGNAL))?;
        if n != bytes.len() {
            // SEQPACKET sends a record whole or not at all.
            return Err(SapiError::Io(std::io::Error::other(
                "short app socket send",
            )));
        }
        Ok(())
    }

    /// Receives one record and the fds that came with it. A record that
    /// does not decode, or whose fd count is not what its kind carries,
    /// is an error, and every fd that came with it is closed. A peer
    /// hangup (end of stream) is [`SapiError::Closed`].
    pub fn recv(&self) -> Result<(SapiMsg, Vec<OwnedFd>), SapiError> {
        // One byte over the largest record, so an oversized one shows as
        // too large instead of silently cut to a valid-looking length.
        let mut buf = vec![0u8; SAPI_MAX_RECORD + 1];
        let mut space = [MaybeUninit::<u8>::uninit(); CMSG_SPACE];
        let mut cmsg = RecvAncillaryBuffer::new(&mut space);
        let r = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match rustix::net::recvmsg(&self.fd, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC) {
                Err(Errno::INTR) => continue,
                r => break r,
            }
        };
        // Take ownership of every fd that arrived before looking at
        // anything else: from here on, any early return closes them.
        let mut fds = Vec::new();
        for m in cmsg.drain() {
            if let RecvAncillaryMessage::ScmRights(it) = m {
                fds.extend(it);
            }
        }
        let r = r?;
        if r.bytes == 0 && fds.is_empty() {
            // A SEQPACKET read of 0 is the peer's end of stream (no valid
            // record is empty).
            return Err(SapiError::Closed);
        }
        if r.flags.contains(ReturnFlags::CTRUNC) {
            return Err(SapiError::FdCount {
                expected: SAPI_MAX_FDS,
                got: fds.len() + 1,
            });
        }
        if r.flags.contains(ReturnFlags::TRUNC) || r.bytes > SAPI_MAX_RECORD {
            return Err(WireError::TooLarge(r.bytes.max(SAPI_MAX_RECORD + 1)).into());
        }
        let msg = SapiMsg::decode(&buf[..r.bytes])?;
        let expected = msg.expected_fds();
        if fds.len() != expected {
            return Err(SapiError::FdCount {
                expected,
                got: fds.len(),
            });
        }
        Ok((msg, fds))
    }

    /// Shuts both directions down: the peer's next read sees end of
    /// stream and a thread blocked in [`SapiSocket::recv`] here returns
    /// [`SapiError::Closed`]. Errors (already disconnected) are ignored:
    /// either way the connection is down.
    pub fn shutdown(&self) {
        let _ = rustix::net::shutdown(&self.fd, Shutdown::Both);
    }
}

impl AsFd for SapiSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<SapiSocket> for OwnedFd {
    fn from(s: SapiSocket) -> OwnedFd {
        s.fd
    }
}

pub(crate) fn new_socket() -> Result<OwnedFd, SapiError> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

pub(crate) fn retry_intr<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}
