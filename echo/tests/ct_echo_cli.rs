//! The `ct-echo` program: runs, reports, refuses bad options with status 2.

use std::process::Command;

fn ct_echo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ct-echo"))
        .args(args)
        .args(["--timeout", "60"])
        .output()
        .expect("run ct-echo")
}

#[test]
fn small_run_prints_a_table_and_succeeds() {
    let out = ct_echo(&[
        "--bytes",
        "2m",
        "--fifo-size",
        "64k",
        "--echo",
        "--sessions",
        "2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "Gbit/s",
        "events delivered",
        "verification",
        "ok (2 sessions",
        "leaks after detach",
    ] {
        assert!(text.contains(row), "no `{row}` in\n{text}");
    }
}

#[test]
fn json_and_verbose() {
    let out = ct_echo(&["--mode", "rr", "--rounds", "200", "--json"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.trim();
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains("\"round_trips\":200"), "{line}");
    assert!(line.contains("\"ok\":true"), "{line}");
    let out = ct_echo(&["--mode", "cps", "--sessions", "50", "--verbose"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("show session verbose:") && text.contains("LISTEN"),
        "{text}"
    );
    assert!(text.contains("connects/s"), "{text}");
}

#[test]
fn bad_options_exit_with_status_2() {
    for args in [
        &["--bogus"][..],
        &["--bytes", "12x"],
        &["--mode", "sideways"],
        &["--mode", "rr", "--request-size", "0"],
        &["--sessions", "0"],
        &["--rounds", "5"],
        &["--fifo-size", "1k"],
    ] {
        let out = ct_echo(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}
