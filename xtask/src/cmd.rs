//! Running cargo: building commands, streaming their output, reading test
//! totals and `BENCH` lines out of it.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// A `cargo` command: the cargo that runs xtask (`$CARGO`), so a `cargo
/// +toolchain xtask ...` stays on that toolchain.
pub fn cargo(root: &Path) -> Command {
    let bin = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(bin);
    cmd.current_dir(root);
    if std::env::var_os("CI").is_some() {
        // CI logs are read as plain text.
        cmd.env("CARGO_TERM_COLOR", "never");
    }
    cmd
}

/// `RUSTFLAGS` from the environment with `extra` appended.
pub fn rustflags_with(extra: &str) -> String {
    match std::env::var("RUSTFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} {extra}"),
        _ => extra.to_string(),
    }
}

/// The command line as a reader would type it, with the environment
/// variables xtask set in front.
pub fn describe(cmd: &Command) -> String {
    let mut out = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let v = v.to_string_lossy();
            if v.contains(' ') {
                out.push_str(&format!("{}=\"{}\" ", k.to_string_lossy(), v));
            } else {
                out.push_str(&format!("{}={} ", k.to_string_lossy(), v));
            }
        }
    }
    let prog = Path::new(cmd.get_program());
    out.push_str(
        &prog
            .file_name()
            .unwrap_or(prog.as_os_str())
            .to_string_lossy(),
    );
    for a in cmd.get_args() {
        out.push(' ');
        out.push_str(&a.to_string_lossy());
    }
    out
}

/// Runs `cmd` with inherited output; `Err` says what failed and how.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    println!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Runs `cmd`, echoing its stdout line by line (stderr is inherited) and
/// handing each line to `on_line`.
pub fn run_streaming(cmd: &mut Command, mut on_line: impl FnMut(&str)) -> Result<(), String> {
    println!("$ {}", describe(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut reader = BufReader::new(stdout);
    let mut raw = Vec::new();
    let out = std::io::stdout();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {
                let mut lock = out.lock();
                // Losing our own stdout (a closed pipe) must not hide the
                // child's result, so write errors are ignored.
                let _ = lock.write_all(&raw);
                let _ = lock.flush();
                drop(lock);
                on_line(String::from_utf8_lossy(&raw).trim_end());
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("reading output of `{}`: {e}", describe(cmd)));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Sums of the `test result:` lines cargo test prints, one per test binary
/// and doc-test run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that were ignored (e.g. stress tests in debug builds).
    pub ignored: u64,
    /// `test result:` lines seen.
    pub runs: u64,
}

impl Totals {
    /// Adds the counts of one line if it is a `test result:` line.
    pub fn add_line(&mut self, line: &str) -> bool {
        let Some(rest) = line.trim_start().strip_prefix("test result: ") else {
            return false;
        };
        // "ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ..."
        let Some((_, counts)) = rest.split_once(". ") else {
            return false;
        };
        let mut seen = Totals {
            runs: 1,
            ..Totals::default()
        };
        let mut any = false;
        for part in counts.split(';') {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => seen.passed = n,
                "failed" => seen.failed = n,
                "ignored" => seen.ignored = n,
                _ => continue,
            }
            any = true;
        }
        if any {
            self.add(seen);
        }
        any
    }

    /// Adds another set of totals.
    pub fn add(&mut self, other: Totals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
        self.runs += other.runs;
    }

    /// The closing line CI's parser reads: `N passed, N failed, N skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.ignored
        )
    }
}

/// Runs a `cargo test` command and adds its `test result:` lines to
/// `totals` (also when it fails, so the summary shows the failures).
pub fn run_tests(cmd: &mut Command, totals: &mut Totals) -> Result<(), String> {
    let mut here = Totals::default();
    let result = run_streaming(cmd, |line| {
        here.add_line(line);
    });
    totals.add(here);
    println!(
        "xtask: this run: {} ({} test binaries / doc-test runs)",
        here.summary_line(),
        here.runs
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ok_and_failed_result_lines() {
        let mut t = Totals::default();
        assert!(t.add_line(
            "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 4 filtered out; finished in 0.52s"
        ));
        assert!(t.add_line(
            "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s"
        ));
        assert!(!t.add_line("running 3 tests"));
        assert!(!t.add_line("test foo::bar ... ok"));
        assert!(!t.add_line("test result: garbage"));
        assert_eq!(
            t,
            Totals {
                passed: 14,
                failed: 1,
                ignored: 3,
                runs: 2
            }
        );
        assert_eq!(t.summary_line(), "14 passed, 1 failed, 3 skipped");
    }

    #[test]
    fn appends_rustflags() {
        // Only checks the shape: the variable may or may not be set here.
        assert!(rustflags_with("--cfg loom").ends_with("--cfg loom"));
    }

    #[test]
    fn streams_lines_and_reports_failure() {
        let mut seen = Vec::new();
        let mut ok = Command::new("sh");
        ok.args(["-c", "printf 'a\\nBENCH x 1 GB/s\\n'"]);
        run_streaming(&mut ok, |l| seen.push(l.to_string())).unwrap();
        assert_eq!(seen, ["a", "BENCH x 1 GB/s"]);

        let mut bad = Command::new("sh");
        bad.args(["-c", "exit 3"]);
        let err = run_streaming(&mut bad, |_| {}).unwrap_err();
        assert!(err.contains("exit status: 3"), "{err}");
    }
}
