//! `TransportConnId`: how the session layer names a transport's connection,
//! listener or half-open (VPP stores a bare `connection_index`).

use std::fmt;

/// A transport object's index in its transport's pool and the generation
/// of that slot when the object was allocated. Sessions store it where VPP
/// stores `connection_index`; the transport checks the generation on every
/// use, so a session that outlived its connection gets `None` back, never
/// the connection that reused the slot.
///
/// One type serves connections, listeners and half-opens: which pool an id
/// names follows from the session holding it (listen session, half-open,
/// established), as in VPP, and the trait method called says it again
/// (`get_listener`, `get_half_open`, `get_connection`); a kind inside the
/// id would only repeat what the session type already says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransportConnId {
    /// Index in the transport's pool (VPP `c_c_index`).
    pub index: u32,
    /// The slot's generation when the object was allocated.
    pub generation: u32,
}

impl TransportConnId {
    /// No connection (VPP's invalid index): what a session holds before its
    /// transport gave it one and while a half-open migrates. No pool hands
    /// out index `u32::MAX`, so a transport finds nothing under it.
    pub const INVALID: TransportConnId = TransportConnId {
        index: u32::MAX,
        generation: u32::MAX,
    };

    /// The id of slot `index` at `generation`.
    pub const fn new(index: u32, generation: u32) -> Self {
        TransportConnId { index, generation }
    }

    /// Whether this is [`TransportConnId::INVALID`].
    pub fn is_invalid(&self) -> bool {
        *self == Self::INVALID
    }
}

impl fmt::Display for TransportConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/g{}", self.index, self.generation)
    }
}
