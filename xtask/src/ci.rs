//! `cargo xtask ci [STEP...]`: every check CI runs, in order, failing fast.
//!
//! All steps share the workspace target dir; only the `--cfg loom` builds
//! (the `clippy-loom` and `loom` steps) use `<target>/loom`, so flipping the
//! cfg never rebuilds the normal build. The last line printed is always the
//! test totals, `tests: N passed, N failed, N skipped`, summed over every
//! cargo test run of this invocation (per-crate runs and the workspace run
//! both count, so most tests count twice).

use std::time::{Duration, Instant};

use crate::cmd::{self, Totals};
use crate::workspace::{PackageExt, Workspace};
use crate::{examples, layering, lints, loom, miri, package_meta, sim, sync_shim};

/// Cargo profile of the stress and simulator steps: release without LTO
/// (root Cargo.toml), so linking dozens of test binaries stays cheap.
const CI_RELEASE: &str = "ci-release";

/// One CI step.
pub struct Step {
    /// Name given on the command line and in the CI matrix.
    pub name: &'static str,
    /// What it checks.
    pub about: &'static str,
    run: fn(&mut Ctx) -> Result<(), String>,
}

/// State shared by the steps of one run.
struct Ctx {
    ws: Workspace,
    totals: Totals,
}

/// Every step, in the order `cargo xtask ci` runs them.
pub const STEPS: &[Step] = &[
    Step {
        name: "toolchain",
        about: "rustfmt and clippy are installed",
        run: toolchain,
    },
    Step {
        name: "fmt",
        about: "cargo fmt --check",
        run: fmt,
    },
    Step {
        name: "layering",
        about: "crate graph, lints forbid unsafe_code (fifo-segment aside), sync shim, benches",
        run: layering_step,
    },
    Step {
        name: "clippy",
        about: "clippy, all targets, -D warnings",
        run: clippy,
    },
    Step {
        name: "clippy-loom",
        about: "clippy under --cfg loom on crates with loom code",
        run: clippy_loom,
    },
    Step {
        name: "crate-tests",
        about: "each crate's tests on their own (-p CRATE)",
        run: crate_tests,
    },
    Step {
        name: "test",
        about: "workspace tests, debug",
        run: test,
    },
    Step {
        name: "examples",
        about: "every publishable crate has an example; each runs (debug)",
        run: examples_step,
    },
    Step {
        name: "stress",
        about: "stress_ tests, optimised (ci-release profile), ignored included",
        run: stress,
    },
    Step {
        name: "sim",
        about: "deterministic simulator, a few hundred seeds (cargo xtask sim)",
        run: sim_step,
    },
    Step {
        name: "loom",
        about: "loom models (cargo xtask loom)",
        run: loom_step,
    },
    Step {
        name: "miri",
        about: "fifo-segment under Miri (cargo +nightly; skipped without it)",
        run: miri_step,
    },
    Step {
        name: "doctest",
        about: "doc tests",
        run: doctest,
    },
    Step {
        name: "doc",
        about: "cargo doc, RUSTDOCFLAGS=-D warnings",
        run: doc,
    },
    Step {
        name: "package",
        about: "package metadata and cargo package --workspace",
        run: package,
    },
];

/// Prints the steps.
pub fn list() {
    for s in STEPS {
        println!("{:<12} {}", s.name, s.about);
    }
}

/// Runs the named steps (all when `names` is empty), in `STEPS` order.
/// Returns false when a step failed.
pub fn run(names: &[String]) -> Result<bool, String> {
    for n in names {
        if !STEPS.iter().any(|s| s.name == n) {
            return Err(format!("unknown ci step `{n}`; steps: {}", step_names()));
        }
    }
    let chosen: Vec<&Step> = STEPS
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .collect();
    let mut ctx = Ctx {
        ws: Workspace::load()?,
        totals: Totals::default(),
    };
    let started = Instant::now();
    let mut timings: Vec<(&str, Duration, bool)> = Vec::new();
    let mut failure = None;
    for (i, step) in chosen.iter().enumerate() {
        println!(
            "\n==> [{}/{}] {}: {}",
            i + 1,
            chosen.len(),
            step.name,
            step.about
        );
        let t = Instant::now();
        let result = (step.run)(&mut ctx);
        let took = t.elapsed();
        timings.push((step.name, took, result.is_ok()));
        match result {
            Ok(()) => println!("<== {}: ok in {}", step.name, secs(took)),
            Err(e) => {
                println!("<== {}: FAILED in {}", step.name, secs(took));
                failure = Some((step.name, e));
                break;
            }
        }
    }
    println!("\n==> xtask ci: step times");
    for (name, took, ok) in &timings {
        println!(
            "  {name:<12} {:>9}  {}",
            secs(*took),
            if *ok { "ok" } else { "FAILED" }
        );
    }
    let ok = failure.is_none();
    match failure {
        None => println!(
            "xtask ci: all {} steps passed in {}",
            timings.len(),
            secs(started.elapsed())
        ),
        Some((name, e)) => {
            println!(
                "xtask ci: step `{name}` failed after {}:",
                secs(started.elapsed())
            );
            for line in e.lines() {
                println!("  {line}");
            }
            println!("  rerun it alone with: cargo xtask ci {name}");
        }
    }
    println!("tests: {}", ctx.totals.summary_line());
    Ok(ok)
}

fn step_names() -> String {
    STEPS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn checks(errors: Vec<String>) -> Result<(), String> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn toolchain(ctx: &mut Ctx) -> Result<(), String> {
    for (sub, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        let present = cmd::cargo(&ctx.ws.root)
            .args([sub, "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if present {
            println!("cargo {sub}: present");
            continue;
        }
        println!("cargo {sub}: missing; installing the {component} component");
        cmd::run(std::process::Command::new("rustup").args(["component", "add", component]))
            .map_err(|e| format!("{e}\n{component} is required: install it with `rustup component add {component}`"))?;
    }
    Ok(())
}

fn fmt(ctx: &mut Ctx) -> Result<(), String> {
    let mut c = cmd::cargo(&ctx.ws.root);
    c.args(["fmt", "--all", "--", "--check"]);
    if std::env::var_os("CI").is_some() {
        c.args(["--color", "never"]);
    }
    cmd::run(&mut c).map_err(|e| format!("{e}\nformat with: cargo fmt --all"))
}

fn layering_step(ctx: &mut Ctx) -> Result<(), String> {
    let errors = layering::check_all(&ctx.ws);
    println!(
        "checked {} crates: graph {}; lints inherited, unsafe_code forbidden but in {}; \
         locks and atomics only from {}; benches registered",
        ctx.ws.packages.len(),
        layering::LAYERS
            .iter()
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join(" -> "),
        lints::UNSAFE_CRATES.join(", "),
        sync_shim::SHIM_CRATE,
    );
    checks(errors)
}

fn clippy(ctx: &mut Ctx) -> Result<(), String> {
    cmd::run(cmd::cargo(&ctx.ws.root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))
}

fn clippy_loom(ctx: &mut Ctx) -> Result<(), String> {
    let crates: Vec<&str> = ctx
        .ws
        .packages
        .iter()
        .filter(|p| loom::has_loom_code(p))
        .map(|p| p.name.as_str())
        .collect();
    if crates.is_empty() {
        println!("no crate has loom code");
        return Ok(());
    }
    println!("crates with loom code: {}", crates.join(", "));
    let mut c = cmd::cargo(&ctx.ws.root);
    c.env("RUSTFLAGS", cmd::rustflags_with("--cfg loom"))
        .env("CARGO_TARGET_DIR", loom::target_dir(&ctx.ws))
        .args(["clippy", "--all-targets"]);
    for name in crates {
        c.args(["-p", name]);
    }
    c.args(["--", "-D", "warnings"]);
    cmd::run(&mut c)
}

fn crate_tests(ctx: &mut Ctx) -> Result<(), String> {
    let names: Vec<String> = ctx.ws.packages.iter().map(|p| p.name.to_string()).collect();
    for name in names {
        println!("--- {name}");
        let mut c = cmd::cargo(&ctx.ws.root);
        c.args(["test", "--no-fail-fast", "--all-features", "-p", &name]);
        cmd::run_tests(&mut c, &mut ctx.totals)?;
    }
    Ok(())
}

fn test(ctx: &mut Ctx) -> Result<(), String> {
    // Doc tests have a step of their own.
    let mut c = cmd::cargo(&ctx.ws.root);
    c.args([
        "test",
        "--no-fail-fast",
        "--workspace",
        "--all-features",
        "--lib",
        "--bins",
        "--tests",
        "--examples",
    ]);
    cmd::run_tests(&mut c, &mut ctx.totals)
}

fn examples_step(ctx: &mut Ctx) -> Result<(), String> {
    examples::run(&ctx.ws)
}

fn stress(ctx: &mut Ctx) -> Result<(), String> {
    let mut c = cmd::cargo(&ctx.ws.root);
    c.args([
        "test",
        "--no-fail-fast",
        "--workspace",
        "--all-features",
        "--profile",
        CI_RELEASE,
        "--lib",
        "--bins",
        "--tests",
        "--",
        "stress_",
        "--include-ignored",
    ]);
    cmd::run_tests(&mut c, &mut ctx.totals)
}

fn sim_step(ctx: &mut Ctx) -> Result<(), String> {
    sim::run(
        &ctx.ws,
        CI_RELEASE,
        &["--seeds".to_string(), sim::CI_SEEDS.to_string()],
    )
}

fn loom_step(ctx: &mut Ctx) -> Result<(), String> {
    loom::run(&ctx.ws, None, &[], &mut ctx.totals)
}

fn miri_step(ctx: &mut Ctx) -> Result<(), String> {
    miri::ci_step(&ctx.ws, &mut ctx.totals)
}

fn doctest(ctx: &mut Ctx) -> Result<(), String> {
    let mut c = cmd::cargo(&ctx.ws.root);
    c.args([
        "test",
        "--no-fail-fast",
        "--workspace",
        "--all-features",
        "--doc",
    ]);
    cmd::run_tests(&mut c, &mut ctx.totals)
}

fn doc(ctx: &mut Ctx) -> Result<(), String> {
    let mut c = cmd::cargo(&ctx.ws.root);
    c.env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--all-features",
        "--no-deps",
    ]);
    cmd::run(&mut c)
}

fn package(ctx: &mut Ctx) -> Result<(), String> {
    checks(package_meta::check(&ctx.ws))?;
    // Verification builds each packaged crate against the others' packaged
    // copies (cargo's local overlay) and crates.io for the rest, so every
    // crate is proven to build on its own. --allow-dirty: this checks
    // package contents, not whether the work tree is committed.
    for stale in stale_package_extracts(&ctx.ws) {
        println!("removing stale verification sources {}", stale.display());
        std::fs::remove_dir_all(&stale)
            .map_err(|e| format!("cannot remove {}: {e}", stale.display()))?;
    }
    // Verification builds the packaged copies in the dev profile of this
    // target dir, as registry crates, whose fingerprints ignore source
    // changes: an earlier run's artifacts of the same version would be
    // reused. Cleaning our crates' dev artifacts costs a rebuild of only
    // our crates (package is the last step).
    let published: Vec<&str> = ctx
        .ws
        .packages
        .iter()
        .filter(|p| p.publishable())
        .map(|p| p.name.as_str())
        .collect();
    let mut clean = cmd::cargo(&ctx.ws.root);
    clean.args(["clean", "--profile", "dev"]);
    for name in &published {
        clean.args(["-p", name]);
    }
    cmd::run(&mut clean)?;
    let mut c = cmd::cargo(&ctx.ws.root);
    c.args(["package", "--workspace", "--allow-dirty"]);
    for p in ctx.ws.packages.iter().filter(|p| !p.publishable()) {
        c.args(["--exclude", &p.name]);
    }
    cmd::run(&mut c)
}

/// Sources cargo unpacked from an earlier run's temporary local registry.
///
/// Verification unpacks each sibling `.crate` from `target/package/tmp-registry`
/// into `$CARGO_HOME/registry/src/-<hash of that path>/NAME-VERSION` and, on
/// the next run with the same target dir, reuses that directory if it exists:
/// the version has not changed, so it verifies against the old sources. The
/// unnamed local registries are the directories whose name starts with `-`.
fn stale_package_extracts(ws: &Workspace) -> Vec<std::path::PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(src) = cargo_home.map(|h| h.join("registry").join("src")) else {
        return Vec::new();
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for reg in registries.flatten() {
        if !reg.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for p in &ws.packages {
            let dir = reg.path().join(format!("{}-{}", p.name, p.version));
            if dir.is_dir() {
                out.push(dir);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_unique_and_ordered_cheap_first() {
        let names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(&names[..3], ["toolchain", "fmt", "layering"]);
    }

    #[test]
    fn unknown_step_is_an_error_not_a_run() {
        let err = run(&["nope".to_string()]).unwrap_err();
        assert!(err.contains("unknown ci step `nope`"), "{err}");
    }
}
