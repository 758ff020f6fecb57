//! `SessionError`: the session layer's typed errors, mirroring VPP's
//! `session_error_t`.

use thiserror::Error;

/// Errors the session layer and the layers above return (VPP
/// `session_error_t`; the message strings are VPP's).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionError {
    /// Generic or unknown error.
    #[error("generic/unknown error")]
    Unknown,
    /// The peer refused the session.
    #[error("refused")]
    Refused,
    /// Timed out.
    #[error("timedout")]
    TimedOut,
    /// Object or memory allocation failed.
    #[error("obj/memory allocation error")]
    Alloc,
    /// Object not owned by the application.
    #[error("object not owned by application")]
    Owner,
    /// No route to the endpoint.
    #[error("no route")]
    NoRoute,
    /// No resolving interface.
    #[error("no resolving interface")]
    NoIntf,
    /// No ip for the local interface.
    #[error("no ip for lcl interface")]
    NoIp,
    /// No local port.
    #[error("no lcl port")]
    NoPort,
    /// Not supported.
    #[error("not supported")]
    NoSupport,
    /// Not listening.
    #[error("not listening")]
    NoListen,
    /// The session does not exist (unknown or stale handle).
    #[error("session does not exist")]
    NoSession,
    /// The application is not attached.
    #[error("app not attached")]
    NoApp,
    /// Local port in use.
    #[error("lcl port in use")]
    PortInUse,
    /// Ip in use.
    #[error("ip in use")]
    IpInUse,
    /// The ip/port pair is already listened on.
    #[error("ip port pair already listened on")]
    AlreadyListening,
    /// Invalid value.
    #[error("invalid value")]
    Invalid,
    /// Invalid remote ip (e.g. the zero address).
    #[error("invalid remote ip")]
    InvalidRmtIp,
    /// Invalid app worker.
    #[error("invalid app worker")]
    InvalidAppWrk,
    /// Invalid namespace.
    #[error("invalid namespace")]
    InvalidNs,
    /// Could not allocate a fifo pair.
    #[error("Couldn't allocate a fifo pair")]
    SegNoSpace,
    /// Created a segment, but could not allocate a fifo pair in it.
    #[error("Created segment, couldn't allocate a fifo pair")]
    SegNoSpace2,
    /// Could not create a new segment.
    #[error("Couldn't create a new segment")]
    SegCreate,
    /// The session was filtered by a rule.
    #[error("session filtered")]
    Filtered,
    /// Scope not supported.
    #[error("scope not supported")]
    Scope,
    /// Failed to allocate a message-queue message.
    #[error("failed to alloc mq msg")]
    MqMsgAlloc,
    /// Failed to allocate an eventfd.
    #[error("failed to alloc eventfd")]
    EventfdAlloc,
    /// Could not connect with local scope.
    #[error("could not connect with local scope")]
    LocalConnect,
    /// Wrong namespace secret.
    #[error("wrong ns secret")]
    WrongNsSecret,
    /// A system call failed.
    #[error("system call error")]
    Syscall,
    /// No transport is registered for the protocol.
    #[error("transport was not registered")]
    TransportNoReg,
    /// The operation is not allowed in the session's current state.
    #[error("invalid state for this operation")]
    WrongState,
    /// The app's event queue is full or locked (congestion); retry later.
    #[error("app event queue congested")]
    Congested,
}
