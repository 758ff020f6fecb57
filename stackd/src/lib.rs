//! The ct-stack daemon (`ct-stackd`) and its library entry point: hosts the
//! session layer and the ct transport for apps in other processes (VPP
//! with `session { use-app-socket-api }`).
//!
//! - Apps attach over a `SOCK_SEQPACKET` Unix socket per app namespace
//!   ([`NamespaceCfg`]), mode [`SOCKET_MODE`] in an optional group; the
//!   peer is identified with `SO_PEERCRED`, checked against the allow lists
//!   ([`AccessRules`]) and owns its app's name (names are unique per
//!   namespace and uid; a clash is `SessionError::AppAttached`). The
//!   attach reply carries, with `SCM_RIGHTS`, the app worker's "mq segment"
//!   (a sealed memfd holding one `evt_q` and one `ctrl_q` per stack thread),
//!   its eventfd and every stack thread's eventfd.
//! - Stack thread `t` puts the app's events on `evt_q[t]` (an `AppSink`:
//!   accepted, connected, rx, tx, disconnect, reset, cleanup, add/del
//!   segment, bound...) and reads its requests from `ctrl_q[t]` (a
//!   `WorkerInput`: IO events, disconnect, reset, accept reply; listen,
//!   unlisten and connect on thread 0). A segment's fd goes over the socket
//!   before the message that names it.
//! - The daemon accepts a session for the app as it delivers `Accepted`,
//!   so the peer's connect completes without the app's thread; sessions
//!   the app has not taken yet (its accept reply) fill the listener's
//!   backlog ([`DEFAULT_LISTEN_BACKLOG`], at most [`MAX_LISTEN_BACKLOG`]),
//!   and a connect beyond it is refused.
//! - Apps in one namespace with local scope connect over ct: data moves
//!   through fifos in segments both apps map, the daemon only moves events.
//! - Everything an app sends is untrusted: bad records and messages are
//!   errors and strikes; past [`StackdConfig::max_strikes`] the app is
//!   detached. A hangup (socket closed, process killed) detaches the app:
//!   its sessions reset, peers told, fifos and segments freed.
//! - Idle workers sleep on their eventfd ([`EventFdParker`]) unless
//!   [`StackdConfig::poll`].
//! - It logs through `tracing` (the `ct-stackd` binary installs a
//!   subscriber): attaches, refused attaches and detaches with name,
//!   namespace, pid, uid and reason, strikes, limits, app-socket errors;
//!   nothing per session at info.
//!
//! ```
//! use ct_stackd::{Stackd, StackdConfig};
//!
//! let sock = std::env::temp_dir().join(format!("stackd-doc-{}.sock", std::process::id()));
//! let d = Stackd::start(StackdConfig::new(&sock).with_workers(2)).unwrap();
//! // Apps attach on `sock` now (see the app-client crate).
//! assert!(sock.exists());
//! assert_eq!(d.counters().apps, 0);
//! let left = d.stop(); // detaches every app, joins every thread
//! assert!(left.is_empty());
//! assert!(!sock.exists());
//! ```

mod app_conn;
mod app_state;
mod backlog;
mod config;
mod control;
mod convert;
mod counters;
mod daemon;
mod error;
mod input;
mod local;
mod ops;
mod parker;
mod registry;
mod sapi_server;
mod sink;

pub use app_conn::{DEFAULT_EVT_Q_SIZE, MAX_EVT_Q_SIZE};
pub use app_state::PeerCred;
pub use backlog::{DEFAULT_LISTEN_BACKLOG, MAX_LISTEN_BACKLOG};
pub use config::{
    AccessRules, DEFAULT_CT_SEGMENT_LINGER, DEFAULT_FIFO_SIZE, DEFAULT_MAX_STRIKES,
    DEFAULT_PARK_TIMEOUT, DEFAULT_SEGMENT_SIZE, DEFAULT_SOCKET, NamespaceArg, NamespaceCfg,
    SOCKET_MODE, StackdConfig, parse_secret, read_secret_file, secret_env_var,
};
pub use counters::{SharedCounters, StackdCounters};
pub use daemon::{STOP_DRAIN_TIMEOUT, Stackd, run_until_signal};
pub use error::StackdError;
pub use input::CTRL_BATCH;
pub use ops::{AppInfo, MAX_APP_SEGMENT_SIZE, MAX_WORKERS_PER_APP};
pub use parker::EventFdParker;
pub use sapi_server::REPLY_TIMEOUT;
