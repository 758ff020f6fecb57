//! Echo apps: a builtin echo server and client (the roles of VPP's hs_apps
//! `echo_server` / `echo_client`) over ct, and the driver that runs them,
//! used by the scenario tests, the benches and the `ct-echo` program.
//!
//! - [`EchoServer`]: echoes or discards what it reads (checksumming it).
//! - [`EchoClient`]: opens sessions and, per [`EchoMode`], streams bytes,
//!   plays request/response rounds or connects and closes; checks the
//!   checksum of what comes back.
//! - [`EchoRun`]: a stack with ct, both apps, the run to the end (stepping
//!   or threaded), teardown and a leak check; [`EchoReport`] its figures.
//! - Across processes, the same apps over app-client against a running
//!   `ct-stackd`: [`serve`] and [`run_client`]; the processes of a
//!   multi-process run ([`Role`]: stackd, server, client, each printing
//!   [`KvLine`] records) and [`run_processes`], which starts all three
//!   ([`RoleChild`]) and builds one [`EchoReport`] from their records.
//!
//! ```
//! use test_harness::echo::{EchoConfig, EchoMode, EchoRun};
//!
//! let mut cfg = EchoConfig::small(EchoMode::Throughput);
//! cfg.echo = true;
//! cfg.sessions = 2;
//! cfg.bytes = 256 << 10;
//! let report = EchoRun::run(cfg, &mut |_| {}).unwrap();
//! assert!(report.is_ok(), "{}", report.table());
//! assert_eq!(report.tx_bytes, 2 * (256 << 10));
//! assert_eq!(report.verified, 2);
//! ```

mod app_client;
mod app_server;
pub(crate) mod app_wait;
mod client;
mod config;
mod kv;
mod options;
mod pattern;
mod procs;
mod report;
mod roles;
mod run;
mod server;
mod stats;

pub use app_client::run_client;
pub use app_server::{ServeOptions, serve};
pub use client::EchoClient;
pub use config::{EchoConfig, EchoMode, RunMode, parse_size};
pub use kv::{KvLine, KvRecord};
pub use options::RunOptions;
pub use pattern::{Checksum, PATTERN_LEN, Pattern};
pub use procs::{RoleChild, run_processes};
pub use report::{EchoReport, Layout, Leaks, human_bytes, json_string};
pub use roles::{ClientRole, Role, ServerRole, StackdRole, leaks_of, stackd_figures};
pub use run::{EchoError, EchoRun, Progress, loopback};
pub use server::EchoServer;
pub use stats::{EchoCounters, RoundTrips, get, quantile};
