//! `cargo xtask sim [--seeds N] [ARGS]`: test-harness's deterministic
//! simulator (`ct-sim`) in release (CI: the `ci-release` profile, which its
//! stress step has already built); arguments go to it unchanged.

use crate::cmd;
use crate::workspace::Workspace;

/// Seeds the `sim` CI step runs (a few seconds in release).
pub const CI_SEEDS: u64 = 300;

/// Runs `ct-sim` built with cargo profile `profile` with `args`.
pub fn run(ws: &Workspace, profile: &str, args: &[String]) -> Result<(), String> {
    let mut c = cmd::cargo(&ws.root);
    c.args([
        "run",
        "--profile",
        profile,
        "--quiet",
        "-p",
        "test-harness",
        "--bin",
        "ct-sim",
        "--",
    ]);
    c.args(args);
    cmd::run(&mut c)
}
