//! The session layer: sessions, lookup tables, the transport registry, the
//! worker runtime and async app events (VPP: `session.c`, `session_lookup.c`,
//! `transport.c`, `session_input.c`).
#![forbid(unsafe_code)]

mod app;
mod control;
mod counters;
mod endpoint;
mod error;
mod events;
mod handle;
mod input;
mod lookup;
mod notify;
mod pool;
mod queue;
mod registry;
mod runtime;
mod session;
mod session_main;
mod state;
mod transport;
mod worker;

pub use app::{AppInterface, Congested};
pub use counters::WorkerCounters;
pub use endpoint::{FibProto, SessionEndpoint, SessionEndpointCfg, SessionType, TransportProto};
pub use error::SessionError;
pub use events::{APP_EVENTS_PER_FLUSH, AppEvent, CleanupFn, SegmentHandle};
pub use handle::{ListenerHandle, SessionHandle};
pub use lookup::{
    IpPrefix, LocalLookup, LocalTableId, RuleAction, RulesTable, SessionLookup, SessionRule,
    TableId,
};
pub use pool::SessionPool;
pub use queue::{IoEvent, Rpc};
pub use registry::TransportRegistry;
pub use runtime::{MAX_IDLE_ROUNDS, Runtime, ThreadedConfig};
pub use session::{APP_INVALID_INDEX, Session};
pub use session_main::{DEFAULT_EVENT_BATCH, LISTENER_INDEX_BASE, SessionConfig, SessionMain};
pub use state::{SessionCleanupNtf, SessionFlags, SessionState};
pub use transport::{
    SESSION_CLI_ID_LEN, SESSION_CLI_STATE_LEN, Transport, TransportConnection,
    TransportConnectionFlags, TransportOptions, TransportServiceType, TransportTxType,
    format_cli_line,
};
pub use worker::Worker;
