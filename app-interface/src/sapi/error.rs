//! [`SapiError`]: what app socket operations fail with.

use std::io;

use thiserror::Error;

use crate::wire::WireError;

/// Errors of the app socket.
#[derive(Debug, Error)]
pub enum SapiError {
    /// The peer hung up (orderly close, reset or a broken pipe).
    #[error("app socket peer closed")]
    Closed,
    /// A system call failed (`WouldBlock` in nonblocking mode when nothing
    /// is there or the socket buffer is full).
    #[error("app socket: {0}")]
    Io(#[from] io::Error),
    /// The record did not decode (size, header or body).
    #[error("bad app socket record: {0}")]
    Wire(#[from] WireError),
    /// The record came with a number of fds its kind does not carry (or
    /// more than fit the receive buffer); all of them were closed.
    #[error("app socket record with {got} fds, expected {expected}")]
    FdCount {
        /// What the record's kind carries.
        expected: usize,
        /// What came (at least; more may have been cut by the kernel).
        got: usize,
    },
}

impl SapiError {
    /// Whether this is `WouldBlock` (nonblocking socket, nothing to do
    /// now).
    pub fn is_would_block(&self) -> bool {
        matches!(self, SapiError::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

impl From<rustix::io::Errno> for SapiError {
    fn from(e: rustix::io::Errno) -> Self {
        use rustix::io::Errno;
        match e {
            Errno::PIPE | Errno::CONNRESET => SapiError::Closed,
            e => SapiError::Io(e.into()),
        }
    }
}
