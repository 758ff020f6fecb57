//! The session layer: sessions, lookup tables, the transport registry, the
//! worker runtime and async app events (VPP: `session.c`, `session_lookup.c`,
//! `transport.c`, `session_input.c`).
#![forbid(unsafe_code)]

mod endpoint;
mod error;
mod handle;
mod lookup;

pub use endpoint::{FibProto, SessionEndpoint, SessionEndpointCfg, SessionType, TransportProto};
pub use error::SessionError;
pub use handle::{ListenerHandle, SessionHandle};
pub use lookup::{
    IpPrefix, LocalLookup, LocalTableId, RuleAction, RulesTable, SessionLookup, SessionRule,
    TableId,
};
