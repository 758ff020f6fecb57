//! Scenario tests, the deterministic simulator and benches for ct-stack
//! (dev-only: not published). The echo apps and the `ct-echo` program are
//! their own crate, `ct-echo`, which this one uses.
//!
//! - [`sim`]: the deterministic simulator (seeded schedules, invariants
//!   after every step, shrinking); the `ct-sim` program and
//!   `cargo xtask sim` run it.
//! - [`ct_pair`]: one ct session between two in-process apps on a threaded
//!   stack, for benches that drive both ends from app threads.
//! - [`bench`](mod@bench), [`anchors`]: bench plumbing and the anchors every figure is
//!   compared with; [`anchors_xproc`]: the same between processes (the
//!   `xproc` bench).
//!
//! Scenario tests live in `tests/` (lifecycle, namespaces, detach, flow
//! control, scale, the echo apps, processes), benches in `benches/`.
//!
//! ```
//! use test_harness::sim;
//!
//! // A few seeded schedules, each checked after every step.
//! let (_stats, failures) = sim::run_seeds(0, 3, 40, 1);
//! assert!(failures.is_empty());
//! ```

pub mod anchors;
pub mod anchors_xproc;
pub mod bench;
pub mod ct_pair;
pub mod rr_paced;
pub mod sim;
