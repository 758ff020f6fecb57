//! Echo apps, scenario tests, the deterministic simulator and benches for
//! ct-stack.
//!
//! - [`echo`]: builtin echo server and client over ct (throughput, cps and
//!   request/response modes, checksummed data) and [`echo::EchoRun`], the
//!   driver the `ct-echo` program, the scenario tests and the benches use.
//! - [`sim`]: the deterministic simulator (seeded schedules, invariants
//!   after every step, shrinking); the `ct-sim` program and
//!   `cargo xtask sim` run it.
//! - [`cps_pipeline`]: connects per second against a `ct-stackd` from one
//!   thread with many connects in flight (`ct-echo`'s cps client and the
//!   `xproc` bench's).
//! - [`ct_pair`]: one ct session between two in-process apps on a threaded
//!   stack, for benches that drive both ends from app threads.
//! - [`bench`](mod@bench), [`anchors`]: bench plumbing and the anchors every figure is
//!   compared with; [`anchors_xproc`]: the same between processes (the
//!   `xproc` bench).
//!
//! Scenario tests live in `tests/` (lifecycle, namespaces, detach, flow
//! control, scale), benches in `benches/`.
//!
//! ```
//! use test_harness::echo::{EchoConfig, EchoMode, EchoRun};
//!
//! // 200 connect/accept/close cycles, stepped on this thread.
//! let mut cfg = EchoConfig::small(EchoMode::Cps);
//! cfg.sessions = 200;
//! let report = EchoRun::run(cfg, &mut |_| {}).unwrap();
//! assert!(report.is_ok() && report.connected == 200);
//! ```
#![forbid(unsafe_code)]

pub mod anchors;
pub mod anchors_xproc;
pub mod bench;
pub mod cps_pipeline;
pub mod ct_pair;
pub mod echo;
pub mod sim;
