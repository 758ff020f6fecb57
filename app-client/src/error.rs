//! How failures reach the app: every public call returns `std::io::Error`,
//! with a kind a `std::net` user expects and, inside, the typed cause:
//! the stack's [`SessionError`] when the stack answered with one, else a
//! [`ClientError`] (a reset by the peer, a protocol violation by the
//! stack, a lost socket).
//!
//! ```
//! use ct_app_client::{session_error, SessionError};
//! use std::io;
//!
//! let e = ct_app_client::to_io(SessionError::AlreadyListening);
//! assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
//! assert_eq!(session_error(&e), Some(SessionError::AlreadyListening));
//! ```

use std::io;

use ct_app_interface::SessionError;
use ct_app_interface::io::IoError;
use ct_fifo_segment::FifoError;
use thiserror::Error;

/// What went wrong on the app side (or in what the stack sent it).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The stack answered with an error.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The peer reset the session.
    #[error("session reset by peer")]
    Reset,
    /// The stack sent something this client cannot use (an unknown
    /// segment, a fifo outside its segment, a bad record): a protocol
    /// violation, never trusted.
    #[error("protocol violation by the stack: {0}")]
    Protocol(String),
    /// The stack refused to attach an app by this name: another app is
    /// attached with it in the namespace (the stack says `AppAttached`).
    #[error("app name {name:?} is in use at the stack: another app is attached with it ({source})")]
    NameInUse {
        /// The name asked for.
        name: String,
        /// The stack's answer.
        source: SessionError,
    },
    /// The app socket is closed (the stack went away) or the app detached.
    #[error("detached from the stack")]
    Detached,
    /// A local system call failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl ClientError {
    /// A protocol violation described by `what`.
    pub(crate) fn protocol(what: impl std::fmt::Display) -> Self {
        ClientError::Protocol(what.to_string())
    }

    /// The `io::Error` an app sees.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            ClientError::Session(e) => to_io(e),
            ClientError::Io(e) => e,
            e @ ClientError::Reset => io::Error::new(io::ErrorKind::ConnectionReset, e),
            e @ ClientError::Protocol(_) => io::Error::new(io::ErrorKind::InvalidData, e),
            e @ ClientError::Detached => io::Error::new(io::ErrorKind::NotConnected, e),
            e @ ClientError::NameInUse { .. } => io::Error::new(io::ErrorKind::AddrInUse, e),
        }
    }
}

impl From<ClientError> for io::Error {
    fn from(e: ClientError) -> Self {
        e.into_io()
    }
}

/// The `io::ErrorKind` that matches a session error.
pub fn error_kind(e: SessionError) -> io::ErrorKind {
    use io::ErrorKind as K;
    match e {
        SessionError::Refused | SessionError::NoListen => K::ConnectionRefused,
        SessionError::AlreadyListening | SessionError::PortInUse | SessionError::IpInUse => {
            K::AddrInUse
        }
        SessionError::NoIp | SessionError::NoIntf => K::AddrNotAvailable,
        SessionError::NoRoute | SessionError::Filtered | SessionError::LocalConnect => {
            K::HostUnreachable
        }
        SessionError::TimedOut => K::TimedOut,
        SessionError::Congested | SessionError::MqMsgAlloc => K::WouldBlock,
        SessionError::NoSession | SessionError::WrongState => K::NotConnected,
        SessionError::Invalid
        | SessionError::InvalidRmtIp
        | SessionError::InvalidNs
        | SessionError::Scope => K::InvalidInput,
        SessionError::Owner | SessionError::WrongNsSecret | SessionError::NotPermitted => {
            K::PermissionDenied
        }
        SessionError::AppAttached => K::AddrInUse,
        SessionError::NoSupport | SessionError::TransportNoReg => K::Unsupported,
        SessionError::Alloc
        | SessionError::SegNoSpace
        | SessionError::SegNoSpace2
        | SessionError::SegCreate => K::OutOfMemory,
        _ => K::Other,
    }
}

/// `e` as an `io::Error` of the matching kind, with `e` inside.
pub fn to_io(e: SessionError) -> io::Error {
    io::Error::new(error_kind(e), e)
}

/// A fifo error as the app sees it.
pub(crate) fn fifo_err(e: FifoError) -> io::Error {
    match e {
        // A write after `shutdown(Write)`, as a socket's EPIPE.
        FifoError::Shutdown => io::Error::new(io::ErrorKind::BrokenPipe, e),
        e => to_io(SessionError::from(e)),
    }
}

/// A stream end's failure as the app sees it: the fifo's, or the control
/// queue's (already an `io::Error`).
pub(crate) fn end_err(e: IoError<io::Error>) -> io::Error {
    match e {
        IoError::Fifo(f) => fifo_err(f),
        IoError::Sink(e) => e,
    }
}

/// The session error inside `e`, if the stack's answer caused it.
pub fn session_error(e: &io::Error) -> Option<SessionError> {
    let inner = e.get_ref()?;
    if let Some(s) = inner.downcast_ref::<SessionError>() {
        return Some(*s);
    }
    match inner.downcast_ref::<ClientError>() {
        Some(ClientError::Session(s) | ClientError::NameInUse { source: s, .. }) => Some(*s),
        _ => None,
    }
}

/// The client error inside `e`, if there is one.
pub fn client_error(e: &io::Error) -> Option<&ClientError> {
    e.get_ref()?.downcast_ref::<ClientError>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<crate::AppClient>();
        send_sync::<crate::CtListener>();
        send_sync::<crate::CtStream>();
        send::<crate::CtConnecting>();
        send_sync::<ClientError>();
    }

    #[test]
    fn kinds_of_the_std_net_errors() {
        assert_eq!(
            to_io(SessionError::Refused).kind(),
            io::ErrorKind::ConnectionRefused
        );
        assert_eq!(
            to_io(SessionError::AlreadyListening).kind(),
            io::ErrorKind::AddrInUse
        );
        assert_eq!(
            to_io(SessionError::Congested).kind(),
            io::ErrorKind::WouldBlock
        );
        let r = ClientError::Reset.into_io();
        assert_eq!(r.kind(), io::ErrorKind::ConnectionReset);
        assert!(matches!(client_error(&r), Some(ClientError::Reset)));
        assert_eq!(session_error(&r), None);
        let s: io::Error = ClientError::Session(SessionError::NoApp).into();
        assert_eq!(session_error(&s), Some(SessionError::NoApp));
    }
}
