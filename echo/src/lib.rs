//! `ct-echo`: a builtin echo server and client (the roles of VPP's hs_apps
//! `echo_server` / `echo_client`) over ct, the driver that runs them and
//! reports what they did, and the same apps over app-client against a
//! running `ct-stackd`. The `ct-echo` program is this library's command
//! line; ct-stack's scenario tests and benches (test-harness) use it too.
//!
//! - [`EchoServer`]: echoes or discards what it reads (checksumming it).
//! - [`EchoClient`]: opens sessions and, per [`EchoMode`], streams bytes,
//!   plays request/response rounds or connects and closes; checks the
//!   checksum of what comes back.
//! - [`EchoRun`]: a stack with ct, both apps, the run to the end (stepping
//!   or threaded), teardown and a leak check; [`EchoReport`] its figures,
//!   as a table or JSON.
//! - Across processes, the same apps over app-client against a running
//!   `ct-stackd`: [`serve`] and [`run_client`] (its cps client keeps many
//!   connects in flight from one thread: [`cps_pipeline`]); the processes
//!   of a multi-process run ([`Role`]: stackd, server, client, each
//!   printing [`KvLine`] records) and [`run_processes`], which starts all
//!   three ([`RoleChild`]) and builds one [`EchoReport`] from their
//!   records.
//! - [`RunOptions`]: the command-line options of a run (clap), shared by
//!   the program and the process roles.
//!
//! ```
//! use ct_echo::{EchoConfig, EchoMode, EchoRun};
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
mod app_opts;
mod app_server;
mod app_wait;
mod client;
mod config;
pub mod cps_pipeline;
mod kv;
mod options;
mod pattern;
mod procs;
mod report;
mod report_json;
mod roles;
mod run;
mod server;
mod stats;

pub use app_client::run_client;
pub use app_opts::AppOptions;
pub use app_server::{ServeOptions, serve};
pub use client::EchoClient;
pub use config::{EchoConfig, EchoMode, RunMode, parse_size};
pub use kv::{KvLine, KvRecord};
pub use options::RunOptions;
pub use pattern::{Checksum, PATTERN_LEN, Pattern};
pub use procs::{RoleChild, run_processes};
pub use report::{EchoReport, Layout, Leaks, human_bytes};
pub use roles::{ClientRole, Role, ServerRole, StackdRole, leaks_of, stackd_figures};
pub use run::{EchoError, EchoRun, Progress, loopback};
pub use server::EchoServer;
pub use stats::{EchoCounters, RoundTrips, get, quantile};
