//! Session states and flags: VPP's `session_state_t` in its order, the
//! transitions the session layer allows, and `session_flags_t`.

use std::fmt;

use crate::SessionError;

/// Where a session is in its life (VPP `session_state_t`, same order: the
/// session layer compares states with `<` / `>=` as VPP does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SessionState {
    /// Allocated, not yet handed to an app.
    #[default]
    Created,
    /// A listen session.
    Listening,
    /// Connect in progress (half-open, or established but the app was not told yet).
    Connecting,
    /// Accept notification sent, waiting for the app's reply.
    Accepting,
    /// Established.
    Ready,
    /// Connectionless session opened.
    Opened,
    /// The transport started closing (peer closed).
    TransportClosing,
    /// The app asked to close.
    Closing,
    /// The app's close reached the transport.
    AppClosed,
    /// The transport is closed (no more data).
    TransportClosed,
    /// Both app and transport closed.
    Closed,
    /// The transport connection is gone; only cleanup remains.
    TransportDeleted,
}

impl SessionState {
    /// All states, in VPP order.
    pub const ALL: [SessionState; 12] = [
        SessionState::Created,
        SessionState::Listening,
        SessionState::Connecting,
        SessionState::Accepting,
        SessionState::Ready,
        SessionState::Opened,
        SessionState::TransportClosing,
        SessionState::Closing,
        SessionState::AppClosed,
        SessionState::TransportClosed,
        SessionState::Closed,
        SessionState::TransportDeleted,
    ];

    /// VPP's name for the state (`format_session_state`).
    pub const fn name(self) -> &'static str {
        match self {
            SessionState::Created => "created",
            SessionState::Listening => "listening",
            SessionState::Connecting => "connecting",
            SessionState::Accepting => "accepting",
            SessionState::Ready => "ready",
            SessionState::Opened => "opened",
            SessionState::TransportClosing => "transport-closing",
            SessionState::Closing => "closing",
            SessionState::AppClosed => "app-closed",
            SessionState::TransportClosed => "transport-closed",
            SessionState::Closed => "closed",
            SessionState::TransportDeleted => "transport-deleted",
        }
    }

    /// Whether the session layer may move a session from `self` to `to`.
    ///
    /// States only move forward in VPP's order (re-setting the current state
    /// is allowed: VPP does it, e.g. ct sets Connecting twice), with these
    /// exceptions, each taken from VPP's session layer:
    /// - Accepting -> Created: the app rejected an accept, the session goes
    ///   back to waiting for a transport delete.
    /// - Listening is entered only from Created and left only for
    ///   TransportDeleted/Closed-family teardown states.
    pub fn can_transition_to(self, to: SessionState) -> bool {
        use SessionState::*;
        if self == to {
            return true;
        }
        match (self, to) {
            (Accepting, Created) => true,
            (_, Listening) => self == Created,
            (Listening, t) => t >= TransportClosing,
            (from, t) => t > from,
        }
    }

    /// Checks `self -> to`; an illegal transition is a bug in the caller:
    /// debug builds assert, release builds get [`SessionError::WrongState`].
    pub fn check_transition(self, to: SessionState) -> Result<(), SessionError> {
        if self.can_transition_to(to) {
            Ok(())
        } else {
            debug_assert!(false, "illegal session state transition {self} -> {to}");
            Err(SessionError::WrongState)
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

bitflags::bitflags! {
    /// Session flags (VPP `session_flags_t`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SessionFlags: u32 {
        /// An RX event for the session is queued to its app worker and not
        /// yet delivered: further enqueue notifies coalesce into it.
        const RX_EVT = 1 << 0;
        /// Proxy listener.
        const PROXY = 1 << 1;
        /// Transport does its own tx (custom_tx).
        const CUSTOM_TX = 1 << 2;
        /// Half-open whose transport moved to another thread.
        const IS_MIGRATING = 1 << 3;
        /// Unidirectional session.
        const UNIDIRECTIONAL = 1 << 4;
        /// App tunes fifo sizes.
        const CUSTOM_FIFO_TUNING = 1 << 5;
        /// Half-open session (lives on the transport's connect thread).
        const HALF_OPEN = 1 << 6;
        /// The app asked to close (tracked apart from the state, as VPP does).
        const APP_CLOSED = 1 << 7;
    }
}

impl fmt::Display for SessionFlags {
    /// VPP's flag names, space separated (`format_session_flags`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(SessionFlags, &str); 8] = [
            (SessionFlags::RX_EVT, "rx-event"),
            (SessionFlags::PROXY, "proxy"),
            (SessionFlags::CUSTOM_TX, "custom-tx"),
            (SessionFlags::IS_MIGRATING, "migrating"),
            (SessionFlags::UNIDIRECTIONAL, "unidirectional"),
            (SessionFlags::CUSTOM_FIFO_TUNING, "custom-fifo-tuning"),
            (SessionFlags::HALF_OPEN, "half-open"),
            (SessionFlags::APP_CLOSED, "app-closed"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// What a cleanup notification is about (VPP `session_cleanup_ntf_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionCleanupNtf {
    /// The transport connection is gone; the session still exists.
    Transport,
    /// The session itself is being freed.
    Session,
}

#[cfg(test)]
mod tests {
    use super::SessionState::*;
    use super::*;

    #[test]
    fn order_is_vpp_order() {
        for w in SessionState::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        assert_eq!(SessionState::ALL.len(), 12);
        assert_eq!(TransportClosing.to_string(), "transport-closing");
    }

    #[test]
    fn forward_moves_are_legal_backward_are_not() {
        assert!(Created.can_transition_to(Accepting));
        assert!(Accepting.can_transition_to(Ready));
        assert!(Connecting.can_transition_to(Ready));
        assert!(Ready.can_transition_to(TransportClosing));
        assert!(TransportClosing.can_transition_to(Closing));
        assert!(AppClosed.can_transition_to(Closed));
        assert!(Ready.can_transition_to(Ready));
        assert!(Accepting.can_transition_to(Created));
        assert!(!Ready.can_transition_to(Connecting));
        assert!(!TransportDeleted.can_transition_to(Ready));
        assert!(!Closed.can_transition_to(Closing));
        assert!(!Ready.can_transition_to(Listening));
        assert!(Created.can_transition_to(Listening));
        assert!(!Listening.can_transition_to(Ready));
        assert!(Listening.can_transition_to(TransportDeleted));
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn illegal_transition_is_typed_error_in_release() {
        assert_eq!(
            Ready.check_transition(Created),
            Err(SessionError::WrongState)
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "illegal session state transition")]
    fn illegal_transition_asserts_in_debug() {
        let _ = Ready.check_transition(Created);
    }

    #[test]
    fn flags_display() {
        let f = SessionFlags::RX_EVT | SessionFlags::HALF_OPEN;
        assert_eq!(f.to_string(), "rx-event half-open");
        assert_eq!(SessionFlags::empty().to_string(), "");
    }
}
