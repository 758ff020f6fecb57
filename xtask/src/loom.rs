//! `cargo xtask loom`: the loom models, and which crates have loom code.
//!
//! Convention: a crate's loom models live in `tests/loom.rs`, gated
//! `#![cfg(loom)]`. They build with `RUSTFLAGS="--cfg loom"` in release, in a
//! target dir of their own (`<target>/loom`) so that flipping the cfg never
//! invalidates the normal build.

use std::path::PathBuf;

use cargo_metadata::Package;

use crate::cmd::{self, Totals};
use crate::src_text::{code_lines, contains_word, without_strings};
use crate::workspace::{PackageExt, Workspace, rust_files};

/// Default bound on preemptions per loom execution: enough for the
/// two-thread hand-offs we model, small enough to finish in minutes.
pub const DEFAULT_MAX_PREEMPTIONS: &str = "3";

/// Target dir of every `--cfg loom` build.
pub fn target_dir(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("loom")
}

/// Does the crate contain loom code (a loom dependency, or `loom` in a
/// `cfg` predicate of its sources)? Those crates are linted under
/// `--cfg loom` too.
pub fn has_loom_code(p: &Package) -> bool {
    p.dependencies.iter().any(|d| d.name == "loom")
        || rust_files(p.dir())
            .iter()
            .any(|f| std::fs::read_to_string(f).is_ok_and(|src| cfg_mentions_loom(&src)))
}

/// Is `loom` named inside a `cfg(...)`, `cfg!(...)` or `cfg_attr(...)` on
/// some code line (`#[cfg(all(test, not(loom)))]`)? A module or path that
/// merely shares the name (`mod loom;`) does not count.
fn cfg_mentions_loom(src: &str) -> bool {
    code_lines(src).any(|(_, line)| {
        let line = without_strings(line);
        ["cfg(", "cfg!(", "cfg_attr("].iter().any(|open| {
            line.match_indices(open).any(|(at, _)| {
                let inside = &line[at + open.len()..];
                // Up to the parenthesis that closes the predicate.
                let mut depth = 1usize;
                let end = inside
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(inside.len(), |(i, _)| i);
                contains_word(&inside[..end], "loom")
            })
        })
    })
}

/// Does the crate have loom models (`tests/loom.rs`)?
pub fn has_models(p: &Package) -> bool {
    p.dir().join("tests").join("loom.rs").is_file()
}

/// Runs the loom models of `only` (or of every crate that has some),
/// passing `test_args` to the test binaries.
pub fn run(
    ws: &Workspace,
    only: Option<&str>,
    test_args: &[String],
    totals: &mut Totals,
) -> Result<(), String> {
    let crates: Vec<&Package> = match only {
        Some(name) => {
            let p = ws
                .package(name)
                .ok_or_else(|| format!("no crate `{name}` in the workspace"))?;
            if !has_models(p) {
                return Err(format!("`{name}` has no loom models (tests/loom.rs)"));
            }
            vec![p]
        }
        None => ws.packages.iter().filter(|p| has_models(p)).collect(),
    };
    let skipped: Vec<&str> = ws
        .packages
        .iter()
        .filter(|p| only.is_none() && !has_models(p))
        .map(|p| p.name.as_str())
        .collect();
    if !skipped.is_empty() {
        println!(
            "xtask loom: no tests/loom.rs, skipped: {}",
            skipped.join(", ")
        );
    }
    if crates.is_empty() {
        println!("xtask loom: no crate has loom models yet");
        return Ok(());
    }
    let preemptions = std::env::var("LOOM_MAX_PREEMPTIONS")
        .unwrap_or_else(|_| DEFAULT_MAX_PREEMPTIONS.to_string());
    for p in crates {
        let mut c = cmd::cargo(&ws.root);
        c.env("RUSTFLAGS", cmd::rustflags_with("--cfg loom"))
            .env("CARGO_TARGET_DIR", target_dir(ws))
            .env("LOOM_MAX_PREEMPTIONS", &preemptions)
            .args(["test", "--release", "-p", &p.name, "--test", "loom"]);
        if !test_args.is_empty() {
            c.arg("--").args(test_args);
        }
        cmd::run_tests(&mut c, totals)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loom_in_cfg_predicates_only() {
        assert!(cfg_mentions_loom("#[cfg(loom)]\nfn f() {}"));
        assert!(cfg_mentions_loom("#[cfg(all(test, not(loom)))]\nmod t;"));
        assert!(cfg_mentions_loom("#[cfg_attr(loom, ignore)]\nfn t() {}"));
        assert!(cfg_mentions_loom("if cfg!(loom) { }"));
        assert!(!cfg_mentions_loom(
            "mod loom;\nuse crate::loom::run;\n#[cfg(test)]\nmod tests {}"
        ));
        assert!(!cfg_mentions_loom(
            "// #[cfg(loom)]\n#[cfg(test)] fn loom() {}"
        ));
        assert!(!cfg_mentions_loom("#[cfg(test)] fn f() { loom(); }"));
        assert!(!cfg_mentions_loom("let s = \"#[cfg(loom)]\";"));
    }

    #[test]
    fn finds_the_crates_with_loom_code_here() {
        let ws = Workspace::load().unwrap();
        let with: Vec<&str> = ws
            .packages
            .iter()
            .filter(|p| has_loom_code(p))
            .map(|p| p.name.as_str())
            .collect();
        for name in [
            "ct-sync",
            "ct-fifo-segment",
            "ct-segment-manager",
            "ct-transport-ct",
        ] {
            assert!(with.contains(&name), "{name} not in {with:?}");
        }
        assert!(!with.contains(&"xtask"), "{with:?}");
    }
}
