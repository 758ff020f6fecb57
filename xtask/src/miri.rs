//! Miri over fifo-segment, the crate allowed `unsafe_code`: `cargo +nightly
//! xtask miri` by hand, and the `miri` CI step where a nightly toolchain
//! with Miri is installed (skipped, not failed, elsewhere: Miri ships only
//! with nightly, and CI has a job of its own for it).
//!
//! Miri checks the heap backing: tests that need a memfd mapping, an
//! eventfd or poll, or that are too slow interpreted, are marked
//! `#[cfg_attr(miri, ignore)]` (doc tests: a `#[cfg(not(miri))]` body).

use std::process::Command;

use crate::cmd::{self, Totals};
use crate::workspace::Workspace;

/// The crate Miri checks.
pub const MIRI_CRATE: &str = "ct-fifo-segment";

/// `cargo miri test` on [`MIRI_CRATE`] with the cargo that runs xtask
/// (`cargo +nightly xtask miri` makes that nightly's).
pub fn run(ws: &Workspace, totals: &mut Totals) -> Result<(), String> {
    let mut c = cmd::cargo(&ws.root);
    c.args(["miri", "test", "-p", MIRI_CRATE]);
    cmd::run_tests(&mut c, totals)
}

/// The CI step: through rustup's `cargo +nightly` (xtask itself runs on
/// stable), or a skip line when that has no Miri.
pub fn ci_step(ws: &Workspace, totals: &mut Totals) -> Result<(), String> {
    let nightly = || {
        let mut c = Command::new("cargo");
        c.current_dir(&ws.root).arg("+nightly");
        c
    };
    let probe = nightly().args(["miri", "--version"]).output();
    match probe {
        Ok(o) if o.status.success() => {
            println!("{}", String::from_utf8_lossy(&o.stdout).trim());
        }
        _ => {
            println!(
                "miri: SKIPPED: `cargo +nightly miri --version` failed (no nightly toolchain \
                 with the miri component: rustup toolchain install nightly --component miri)"
            );
            return Ok(());
        }
    }
    let mut c = nightly();
    if std::env::var_os("CI").is_some() {
        c.env("CARGO_TERM_COLOR", "never");
    }
    c.args(["miri", "test", "-p", MIRI_CRATE]);
    cmd::run_tests(&mut c, totals)
}
