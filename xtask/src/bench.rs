//! `cargo xtask bench [NAME] [--quick]`: runs test-harness's benches whose
//! name starts with NAME and gathers their `BENCH` lines at the end.

use cargo_metadata::TargetKind;
use toml::{Table, Value};

use crate::cmd;
use crate::workspace::{PackageExt, Workspace};

/// The crate that holds every bench.
pub const BENCH_CRATE: &str = "test-harness";

/// Bench names starting with `prefix` (all when `None`), sorted.
pub fn select<'a>(all: impl IntoIterator<Item = &'a str>, prefix: Option<&str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = all
        .into_iter()
        .filter(|n| prefix.is_none_or(|p| n.starts_with(p)))
        .collect();
    v.sort_unstable();
    v
}

/// Benches of `BENCH_CRATE` not registered the house way: every bench target
/// (cargo also auto-discovers unregistered `benches/*.rs`) needs a
/// `[[bench]]` entry with `harness = false`, or `--quick` reaches libtest,
/// which rejects it.
pub fn check_registration(ws: &Workspace) -> Vec<String> {
    let Some(pkg) = ws.package(BENCH_CRATE) else {
        return Vec::new();
    };
    let manifest = pkg.dir().join("Cargo.toml");
    let table = match std::fs::read_to_string(&manifest)
        .map_err(|e| e.to_string())
        .and_then(|t| t.parse::<Table>().map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => return vec![format!("{}: {e}", manifest.display())],
    };
    let names: Vec<&str> = pkg
        .targets_of(TargetKind::Bench)
        .map(|t| t.name.as_str())
        .collect();
    unregistered(&table, &names)
        .into_iter()
        .map(|n| {
            format!(
                "bench `{n}` of {BENCH_CRATE} needs [[bench]] name = \"{n}\" with harness = false in {}",
                manifest.display()
            )
        })
        .collect()
}

/// Names in `benches` without a `[[bench]]` entry that has `harness = false`
/// in the manifest.
fn unregistered<'a>(manifest: &Table, benches: &[&'a str]) -> Vec<&'a str> {
    let registered: Vec<&str> = manifest
        .get("bench")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| b.get("harness").and_then(Value::as_bool) == Some(false))
        .filter_map(|b| b.get("name").and_then(Value::as_str))
        .collect();
    benches
        .iter()
        .copied()
        .filter(|b| !registered.contains(b))
        .collect()
}

/// Runs the selected benches; fails if none matched or any failed (after
/// running the rest).
pub fn run(ws: &Workspace, prefix: Option<&str>, quick: bool) -> Result<(), String> {
    let pkg = ws
        .package(BENCH_CRATE)
        .ok_or(format!("no `{BENCH_CRATE}` crate"))?;
    let all: Vec<&str> = pkg
        .targets_of(TargetKind::Bench)
        .map(|t| t.name.as_str())
        .collect();
    let chosen = select(all.iter().copied(), prefix);
    if chosen.is_empty() {
        return Err(format!(
            "no bench matches `{}`; benches: {}",
            prefix.unwrap_or(""),
            if all.is_empty() {
                "none".to_string()
            } else {
                all.join(", ")
            }
        ));
    }
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for name in &chosen {
        println!("==> bench {name}{}", if quick { " (quick)" } else { "" });
        let mut c = cmd::cargo(&ws.root);
        c.args(["bench", "-p", BENCH_CRATE, "--bench", name, "--"]);
        if quick {
            c.arg("--quick");
        }
        let result = cmd::run_streaming(&mut c, |line| {
            if line.starts_with("BENCH ") {
                lines.push(line.to_string());
            }
        });
        if let Err(e) = result {
            eprintln!("xtask bench: {e}");
            failed.push(*name);
        }
    }
    println!(
        "==> BENCH lines ({} benches{})",
        chosen.len(),
        if quick { ", quick" } else { "" }
    );
    for l in &lines {
        println!("{l}");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("benches failed: {}", failed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_by_prefix() {
        let all = ["sm", "fifo_stream", "ct_stream", "ct_rr"];
        assert_eq!(
            select(all, None),
            ["ct_rr", "ct_stream", "fifo_stream", "sm"]
        );
        assert_eq!(select(all, Some("ct_")), ["ct_rr", "ct_stream"]);
        assert_eq!(select(all, Some("fifo_stream")), ["fifo_stream"]);
        assert!(select(all, Some("nope")).is_empty());
    }

    #[test]
    fn bench_needs_block_with_harness_false() {
        let manifest = r#"
[dependencies]
rtrb.workspace = true

[[bench]]
name = "fifo_stream"
harness = false

[[bench]]
harness = false # comment
name = "sm"

[[bench]]
name = "ct_rr"

[lints]
harness = false
"#;
        assert_eq!(
            unregistered(
                &manifest.parse().unwrap(),
                &["fifo_stream", "sm", "ct_rr", "stray"]
            ),
            ["ct_rr", "stray"]
        );
    }
}
