//! ct-stack's project tooling, run as `cargo xtask <command>` (the alias
//! lives in `.cargo/config.toml`). Plain Rust with two small dependencies
//! (`cargo_metadata`, `toml`), so it builds in seconds on a fresh clone and
//! no shell script can drift.
//!
//! ```text
//! cargo xtask ci [STEP...]             every CI check, or only the named steps
//! cargo xtask ci --list                the steps
//! cargo xtask loom [-p CRATE] [-- ARGS] loom models, release, --cfg loom
//! cargo xtask bench [NAME] [--quick]   benches whose name starts with NAME
//! cargo xtask sim [--seeds N] [ARGS]   the deterministic simulator, release
//! cargo xtask layering                 crate graph, lints, sync shim, benches
//! cargo +nightly xtask miri            fifo-segment's tests under Miri
//! ```

mod bench;
mod ci;
mod cmd;
mod examples;
mod layering;
mod lints;
mod loom;
mod miri;
mod package_meta;
mod sim;
mod src_text;
mod sync_shim;
mod workspace;

use std::process::ExitCode;

use workspace::Workspace;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci [STEP...]              run every CI step (or only the named ones), fail fast
  ci --list                 list the CI steps
  loom [-p CRATE] [-- ARGS] run loom models (tests/loom.rs) in release with --cfg loom;
                            LOOM_MAX_PREEMPTIONS defaults to 3
  bench [NAME] [--quick]    run test-harness benches whose name starts with NAME
  sim [--seeds N] [ARGS]    run the deterministic simulator (test-harness's ct-sim, release)
                            over N seeds; a failure prints its seed and shrunk schedule
  layering                  check the crate graph, lint inheritance (unsafe_code only in
                            ct-fifo-segment), the sync shim, bench registration
  miri                      run fifo-segment's tests under Miri (needs nightly:
                            cargo +nightly xtask miri)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<bool, String> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(false);
    };
    match command.as_str() {
        "ci" if rest.iter().any(|a| a == "--list") => {
            ci::list();
            Ok(true)
        }
        "ci" => ci::run(rest),
        "loom" => {
            let (own, test_args) = match rest.iter().position(|a| a == "--") {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let only = match own {
                [] => None,
                [flag, name] if flag == "-p" || flag == "--package" => Some(name.as_str()),
                _ => return Err(format!("bad loom arguments {own:?}\n{USAGE}")),
            };
            let mut totals = cmd::Totals::default();
            let result = loom::run(&Workspace::load()?, only, test_args, &mut totals);
            println!("loom: {}", totals.summary_line());
            result.map(|()| true)
        }
        "bench" => {
            let quick = rest.iter().any(|a| a == "--quick");
            let names: Vec<&String> = rest.iter().filter(|a| *a != "--quick").collect();
            let prefix = match names.as_slice() {
                [] => None,
                [n] if !n.starts_with('-') => Some(n.as_str()),
                _ => return Err(format!("bad bench arguments {rest:?}\n{USAGE}")),
            };
            bench::run(&Workspace::load()?, prefix, quick).map(|()| true)
        }
        "sim" => sim::run(&Workspace::load()?, "release", rest).map(|()| true),
        "layering" => {
            let errors = layering::check_all(&Workspace::load()?);
            for e in &errors {
                eprintln!("{e}");
            }
            println!("layering: {} problem(s)", errors.len());
            Ok(errors.is_empty())
        }
        "miri" => {
            let mut totals = cmd::Totals::default();
            let result = miri::run(&Workspace::load()?, &mut totals);
            println!("miri: {}", totals.summary_line());
            result.map(|()| true)
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(true)
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}
