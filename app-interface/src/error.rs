//! `SessionError`: the session layer's typed errors, mirroring VPP's
//! `session_error_t`, and their numbers on the wire.
//!
//! The enum lives here, below the session layer, so an app in another
//! process gets the same typed error the stack returned without linking
//! the stack: replies carry [`SessionError::code`] and the app turns it
//! back with [`SessionError::from_code`].

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
    /// An app with this name is attached already (in the namespace, for
    /// the same owner).
    #[error("app already attached")]
    AppAttached,
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
    /// The daemon's access rules do not let this peer attach.
    #[error("not permitted by the stack's access rules")]
    NotPermitted,
}

/// `(error, code)` for every variant: VPP's negative `session_error_t`
/// numbers (`SESSION_E_*` as of the VPP tree this workspace reads, where
/// `SESSION_E_NONE` is 0); the two errors VPP has no number for get codes
/// below VPP's range so they never collide with one VPP adds later.
const CODES: [(SessionError, i32); 35] = [
    (SessionError::Unknown, -1),
    (SessionError::Refused, -2),
    (SessionError::TimedOut, -3),
    (SessionError::Alloc, -4),
    (SessionError::Owner, -5),
    (SessionError::NoRoute, -6),
    (SessionError::NoIntf, -7),
    (SessionError::NoIp, -8),
    (SessionError::NoPort, -9),
    (SessionError::NoSupport, -10),
    (SessionError::NoListen, -11),
    (SessionError::NoSession, -12),
    (SessionError::NoApp, -13),
    (SessionError::AppAttached, -14),
    (SessionError::PortInUse, -15),
    (SessionError::IpInUse, -16),
    (SessionError::AlreadyListening, -17),
    // -18: SESSION_E_ADDR_NOT_IN_USE (not used by this stack)
    (SessionError::Invalid, -19),
    (SessionError::InvalidRmtIp, -20),
    (SessionError::InvalidAppWrk, -21),
    (SessionError::InvalidNs, -22),
    (SessionError::SegNoSpace, -23),
    (SessionError::SegNoSpace2, -24),
    (SessionError::SegCreate, -25),
    (SessionError::Filtered, -26),
    (SessionError::Scope, -27),
    // -28..=-30: binary-API fd errors (no binary API here)
    (SessionError::MqMsgAlloc, -31),
    // -32: SESSION_E_TLS_HANDSHAKE (no TLS here)
    (SessionError::EventfdAlloc, -33),
    // -34..=-36: crypto and extended-config errors (no TLS here)
    (SessionError::LocalConnect, -37),
    (SessionError::WrongNsSecret, -38),
    (SessionError::Syscall, -39),
    (SessionError::TransportNoReg, -40),
    // ct-stack's own, outside VPP's range.
    (SessionError::WrongState, -1001),
    (SessionError::Congested, -1002),
    (SessionError::NotPermitted, -1003),
];

impl SessionError {
    /// The error's number on the wire: VPP's negative `session_error_t`
    /// value (`SESSION_E_REFUSED` is -2, ...). Never 0: 0 means "no error"
    /// in replies.
    pub fn code(self) -> i32 {
        // Every variant is in CODES (a test checks it); Unknown's -1 is the
        // answer for none, which cannot happen.
        CODES
            .iter()
            .find(|(e, _)| *e == self)
            .map_or(-1, |&(_, c)| c)
    }

    /// The error a wire code names; `None` for 0 ("no error") and for
    /// numbers no variant has (a newer or hostile peer).
    pub fn from_code(code: i32) -> Option<SessionError> {
        CODES.iter().find(|(_, c)| *c == code).map(|&(e, _)| e)
    }

    /// A reply's error field as a result: 0 is `Ok`, a known code its
    /// error, any other number [`SessionError::Unknown`].
    pub fn check_code(code: i32) -> Result<(), SessionError> {
        match code {
            0 => Ok(()),
            c => Err(SessionError::from_code(c).unwrap_or(SessionError::Unknown)),
        }
    }

    /// The wire code of a result: 0 for `Ok`.
    pub fn result_code(r: Result<(), SessionError>) -> i32 {
        match r {
            Ok(()) => 0,
            Err(e) => e.code(),
        }
    }
}

impl From<ct_fifo_segment::FifoError> for SessionError {
    /// What an app sees when its fifo fails: a freed fifo means the session
    /// is gone; a write after a shutdown is the wrong state; a corrupted header, a taken role or a bad range is invalid
    /// input.
    fn from(e: ct_fifo_segment::FifoError) -> Self {
        use ct_fifo_segment::FifoError;
        match e {
            FifoError::Freed => SessionError::NoSession,
            // Writing after this side shut its direction.
            FifoError::Shutdown => SessionError::WrongState,
            FifoError::Corrupted(_) | FifoError::RoleTaken | FifoError::OutOfRange => {
                SessionError::Invalid
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, written out so adding one without a code fails here.
    fn all() -> Vec<SessionError> {
        use SessionError::*;
        vec![
            Unknown,
            Refused,
            TimedOut,
            Alloc,
            Owner,
            NoRoute,
            NoIntf,
            NoIp,
            NoPort,
            NoSupport,
            NoListen,
            NoSession,
            NoApp,
            AppAttached,
            PortInUse,
            IpInUse,
            AlreadyListening,
            Invalid,
            InvalidRmtIp,
            InvalidAppWrk,
            InvalidNs,
            SegNoSpace,
            SegNoSpace2,
            SegCreate,
            Filtered,
            Scope,
            MqMsgAlloc,
            EventfdAlloc,
            LocalConnect,
            WrongNsSecret,
            Syscall,
            TransportNoReg,
            WrongState,
            Congested,
            NotPermitted,
        ]
    }

    #[test]
    fn every_error_has_a_distinct_negative_code_that_round_trips() {
        let all = all();
        assert_eq!(all.len(), CODES.len());
        let mut seen = std::collections::HashSet::new();
        for e in all {
            let c = e.code();
            assert!(c < 0, "{e:?} has code {c}");
            assert!(seen.insert(c), "{e:?} reuses code {c}");
            assert_eq!(SessionError::from_code(c), Some(e));
            assert_eq!(SessionError::check_code(c), Err(e));
            assert_eq!(SessionError::result_code(Err(e)), c);
        }
    }

    #[test]
    fn vpp_numbers() {
        assert_eq!(SessionError::Refused.code(), -2);
        assert_eq!(SessionError::NoSession.code(), -12);
        assert_eq!(SessionError::AppAttached.code(), -14);
        assert_eq!(SessionError::AlreadyListening.code(), -17);
        assert_eq!(SessionError::WrongNsSecret.code(), -38);
    }

    #[test]
    fn zero_and_unknown_codes() {
        assert_eq!(SessionError::from_code(0), None);
        assert_eq!(SessionError::check_code(0), Ok(()));
        assert_eq!(SessionError::result_code(Ok(())), 0);
        for c in [1, -18, -32, -41, -999, i32::MIN, i32::MAX] {
            assert_eq!(SessionError::from_code(c), None, "{c}");
            assert_eq!(SessionError::check_code(c), Err(SessionError::Unknown));
        }
    }

    #[test]
    fn fifo_errors_map() {
        use ct_fifo_segment::FifoError;
        assert_eq!(
            SessionError::from(FifoError::Freed),
            SessionError::NoSession
        );
        assert_eq!(
            SessionError::from(FifoError::RoleTaken),
            SessionError::Invalid
        );
    }
}
