//! `cargo xtask bench [NAME] [--quick]`: runs test-harness's benches whose
//! name starts with NAME and gathers their `BENCH` lines at the end.

use crate::cmd;
use crate::workspace::Workspace;

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

/// Runs the selected benches; fails if none matched or any failed (after
/// running the rest).
pub fn run(ws: &Workspace, prefix: Option<&str>, quick: bool) -> Result<(), String> {
    let pkg = ws
        .package(BENCH_CRATE)
        .ok_or(format!("no `{BENCH_CRATE}` crate"))?;
    let all: Vec<&str> = pkg.benches().map(|t| t.name.as_str()).collect();
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
}
