//! `Session`: the session layer's per-connection record (VPP `session_t`).

use std::fmt;

use ct_fifo_segment::Fifo;

use crate::state::{SessionFlags, SessionState};
use crate::{
    ListenerHandle, SessionError, SessionHandle, SessionType, TransportConnId, TransportProto,
};

/// VPP's `APP_INVALID_INDEX`: no app / app worker.
pub const APP_INVALID_INDEX: u32 = u32::MAX;

/// One session. Allocated from a worker's [`SessionPool`](crate::SessionPool)
/// (or the listener pool), which owns it; everything outside names it by its
/// [`SessionHandle`].
#[derive(Clone)]
pub struct Session {
    handle: SessionHandle,
    state: SessionState,
    /// Transport protocol and ip version.
    pub session_type: SessionType,
    /// Session flags.
    pub flags: SessionFlags,
    /// The transport connection (listener / half-open for those sessions):
    /// VPP's `connection_index`, with the generation the transport checks.
    pub connection_id: TransportConnId,
    /// App worker that owns the session ([`APP_INVALID_INDEX`] if none).
    pub app_wrk_index: u32,
    /// App that owns a listener (listen sessions only).
    pub app_index: u32,
    /// The listener an accepted session came from.
    pub listener_handle: Option<ListenerHandle>,
    /// The app listener's index in its app (listen sessions only).
    pub al_index: u32,
    /// The half-open's index in its app worker's half-open table.
    pub ho_index: u32,
    /// Receive fifo (app reads).
    pub rx_fifo: Option<Fifo>,
    /// Transmit fifo (app writes).
    pub tx_fifo: Option<Fifo>,
    /// Opaque value for general use (the connect opaque for half-opens).
    pub opaque: u32,
}

impl Session {
    /// A fresh session in state Created for the slot `handle` names.
    pub fn new(handle: SessionHandle, session_type: SessionType) -> Self {
        Session {
            handle,
            state: SessionState::Created,
            session_type,
            flags: SessionFlags::empty(),
            connection_id: TransportConnId::INVALID,
            app_wrk_index: APP_INVALID_INDEX,
            app_index: APP_INVALID_INDEX,
            listener_handle: None,
            al_index: u32::MAX,
            ho_index: u32::MAX,
            rx_fifo: None,
            tx_fifo: None,
            opaque: 0,
        }
    }

    /// The session's handle (thread, index, generation).
    pub fn handle(&self) -> SessionHandle {
        self.handle
    }

    /// Index in its thread's pool.
    pub fn session_index(&self) -> u32 {
        self.handle.session_index()
    }

    /// Thread whose pool holds the session.
    pub fn thread_index(&self) -> u32 {
        self.handle.thread_index()
    }

    /// Current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Moves to `to` if the transition is legal (see
    /// [`SessionState::can_transition_to`]); an illegal one asserts in debug
    /// builds and returns [`SessionError::WrongState`] in release builds,
    /// leaving the state unchanged.
    pub fn set_state(&mut self, to: SessionState) -> Result<(), SessionError> {
        self.state.check_transition(to)?;
        tracing::trace!(session = %self.handle, from = %self.state, to = %to, "session state");
        self.state = to;
        Ok(())
    }

    /// The transport protocol (VPP `session_get_transport_proto`).
    pub fn transport_proto(&self) -> TransportProto {
        self.session_type.transport_proto()
    }

    /// Whether the session is a half-open.
    pub fn is_half_open(&self) -> bool {
        self.flags.contains(SessionFlags::HALF_OPEN)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("handle", &self.handle)
            .field("state", &self.state)
            .field("type", &self.session_type)
            .field("flags", &self.flags)
            .field("connection_id", &self.connection_id)
            .field("app_wrk_index", &self.app_wrk_index)
            .field("listener", &self.listener_handle)
            .field(
                "has_fifos",
                &(self.rx_fifo.is_some(), self.tx_fifo.is_some()),
            )
            .field("opaque", &self.opaque)
            .finish()
    }
}

impl fmt::Display for Session {
    /// The session-layer part of a `show session verbose` line, for callers
    /// without the transport at hand: `[thread:index][T] STATE`, or VPP's
    /// `[thread:index] CLOSED` once the transport is deleted. The full line
    /// (with the transport's endpoints) is
    /// [`Worker::format_session`](crate::Worker::format_session).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.state >= SessionState::TransportDeleted {
            return write!(f, "{} CLOSED", self.handle);
        }
        write!(
            f,
            "{}[{}] {}",
            self.handle,
            self.transport_proto().short_name(),
            self.state
        )?;
        if !self.flags.is_empty() {
            write!(f, " flags: {}", self.flags)?;
        }
        Ok(())
    }
}
