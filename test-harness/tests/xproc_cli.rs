//! `ct-echo` across processes, as a user runs it: `--processes` (stackd,
//! server, client as three processes) in every mode, the `server` and
//! `client` subcommands against a running daemon, and bad options (exit
//! status 2).

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const EXE: &str = env!("CARGO_BIN_EXE_ct-echo");

fn ct_echo(args: &[&str]) -> Output {
    Command::new(EXE).args(args).output().expect("run ct-echo")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const SMALL: [&str; 6] = [
    "--fifo-size",
    "64k",
    "--segment-size",
    "8m",
    "--timeout",
    "120",
];

#[test]
fn processes_throughput_prints_the_in_process_table() {
    let out = ct_echo(
        &[
            &["--processes", "--bytes", "4m", "--echo", "--sessions", "2"][..],
            &SMALL,
        ]
        .concat(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for row in [
        "stackd (sleeping), server, client",
        "Gbit/s",
        "bytes echoed back",
        "ok (2 sessions, checksum)",
        "events delivered",
        "leaks after detach",
        "none",
    ] {
        assert!(t.contains(row), "no `{row}` in\n{t}");
    }
}

#[test]
fn processes_discard_is_verified_by_the_server() {
    let out = ct_echo(
        &[
            &["--processes", "--bytes", "2m", "--sessions", "3"][..],
            &SMALL,
        ]
        .concat(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("discard") && t.contains("ok (3 sessions"), "{t}");
}

#[test]
fn processes_rr_json_and_cps_polling() {
    let out = ct_echo(
        &[
            &["--processes", "--mode", "rr", "--rounds", "300", "--json"][..],
            &SMALL,
        ]
        .concat(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(line.starts_with('{') && line.ends_with('}'), "{t}");
    for f in [
        "\"layout\":\"processes\"",
        "\"round_trips\":300",
        "\"verified\":1",
        "\"leak_free\":true",
        "\"ok\":true",
    ] {
        assert!(line.contains(f), "no {f} in {line}");
    }
    assert!(!line.contains("\"rr_p50_ns\":null"), "{line}");
    let out = ct_echo(
        &[
            &[
                "--processes",
                "--poll",
                "--mode",
                "cps",
                "--sessions",
                "200",
            ][..],
            &SMALL,
        ]
        .concat(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("stackd (polling)") && t.contains("connects/s"),
        "{t}"
    );
}

#[test]
fn server_and_client_against_a_running_daemon() {
    let sock = std::env::temp_dir().join(format!("xproc-cli-{}.sock", std::process::id()));
    let sock = sock.to_string_lossy().into_owned();
    // The daemon (ct-echo's own stackd role), stopped by closing stdin.
    let mut d = Command::new(EXE)
        .args(["stackd", "--socket", &sock, "--segment-size", "8m"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(d.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let mut server = Command::new(EXE)
        .args(["server", "--socket", &sock, "--echo", "--sessions", "1"])
        .args([
            "--fifo-size",
            "64k",
            "--segment-size",
            "4m",
            "--port",
            "4700",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut slines = BufReader::new(server.stdout.take().unwrap()).lines();
    assert!(slines.next().unwrap().unwrap().starts_with("READY"));
    let out = ct_echo(&[
        "client",
        "--socket",
        &sock,
        "--echo",
        "--bytes",
        "2m",
        "--port",
        "4700",
        "--fifo-size",
        "64k",
        "--segment-size",
        "4m",
        "--timeout",
        "60",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("client only") && t.contains("ok (1 sessions"),
        "{t}"
    );
    // The stack's counters are not seen from a client.
    assert!(!t.contains("leaks after detach"), "{t}");
    let rec = slines.next().unwrap().unwrap();
    assert!(
        rec.starts_with("SERVER") && rec.contains(" accepted=1 "),
        "{rec}"
    );
    assert!(server.wait().unwrap().success());
    drop(d.stdin.take());
    let rec = lines.next().unwrap().unwrap();
    assert!(
        rec.starts_with("STACKD") && rec.contains("left_apps=0"),
        "{rec}"
    );
    let status = wait(&mut d, Duration::from_secs(30));
    assert!(status.success(), "{rec}");
}

fn wait(c: &mut std::process::Child, t: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + t;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() >= deadline {
            let _ = c.kill();
            panic!("still running");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn bad_options_exit_2() {
    for args in [
        &["--poll"][..],
        &["--busy-poll", "--bytes", "1m"],
        &["--processes", "--verbose"],
        &["--processes", "--mode", "rr", "--request-size", "0"],
        &["--processes", "--fifo-size", "1k"],
        &["client"],
        &[
            "client",
            "--socket",
            "/nonexistent",
            "--mode",
            "rr",
            "--request-size",
            "0",
        ],
        &["client", "--socket", "/nonexistent", "--mode", "bogus"],
        &["server", "--socket", "/nonexistent", "--port", "http"],
        &["stackd", "--socket", "/nonexistent", "--fifo-size", "1k"],
    ] {
        let out = ct_echo(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
    // A daemon that is not there is a failure, not a bad option.
    let out = ct_echo(&[
        "client",
        "--socket",
        "/nonexistent/ct.sock",
        "--bytes",
        "1m",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
