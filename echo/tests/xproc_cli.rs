//! `ct-echo` across processes, as a user runs it: `--processes` (stackd,
//! server, client as three processes) in every mode, the `server` and
//! `client` subcommands against a running daemon, and bad options (exit
//! status 2).

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use ct_echo::{KvRecord, stackd_figures};

const EXE: &str = env!("CARGO_BIN_EXE_ct-echo");

fn ct_echo(args: &[&str]) -> Output {
    Command::new(EXE).args(args).output().expect("run ct-echo")
}

/// `ct-echo --processes` with `args` and the small sizes; must succeed.
/// Returns the output and its text.
fn processes(args: &[&str]) -> (Output, String) {
    let out = ct_echo(&[args, &SMALL[..]].concat());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    (out, t)
}

/// Asserts the JSON line carries every `"field":value` of `fields`.
fn has_fields(line: &str, fields: &[&str]) {
    for f in fields {
        assert!(line.contains(f), "no {f} in {line}");
    }
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
    let (_, t) = processes(&["--processes", "--bytes", "4m", "--echo", "--sessions", "2"]);
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
    let (_, t) = processes(&["--processes", "--bytes", "2m", "--sessions", "3"]);
    assert!(t.contains("discard") && t.contains("ok (3 sessions"), "{t}");
}

#[test]
fn processes_rr_json_and_cps_polling() {
    let (out, t) = processes(&["--processes", "--mode", "rr", "--rounds", "300", "--json"]);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(line.starts_with('{') && line.ends_with('}'), "{t}");
    has_fields(
        &line,
        &[
            "\"layout\":\"processes\"",
            "\"round_trips\":300",
            "\"verified\":1",
            "\"leak_free\":true",
            "\"ok\":true",
        ],
    );
    assert!(!line.contains("\"rr_p50_ns\":null"), "{line}");
    let (_, t) = processes(&[
        "--processes",
        "--poll",
        "--mode",
        "cps",
        "--sessions",
        "200",
    ]);
    assert!(
        t.contains("stackd (polling)") && t.contains("connects/s"),
        "{t}"
    );
}

/// `ct-echo stackd` as a child (stopped by closing its stdin), serving on
/// a fresh socket.
struct Daemon {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    sock: String,
}

impl Daemon {
    fn start(tag: &str) -> Daemon {
        let sock =
            std::env::temp_dir().join(format!("xproc-cli-{tag}-{}.sock", std::process::id()));
        let sock = sock.to_string_lossy().into_owned();
        let mut child = Command::new(EXE)
            .args(["stackd", "--socket", &sock, "--segment-size", "8m"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "READY");
        Daemon { child, lines, sock }
    }

    /// `ct-echo server` on `port` for `sessions` sessions, once it serves;
    /// its output lines (the `SERVER` record comes when it is done).
    fn server(
        &self,
        port: &str,
        sessions: &str,
        extra: &[&str],
    ) -> (Child, Lines<BufReader<ChildStdout>>) {
        let mut server = Command::new(EXE)
            .args(["server", "--socket", &self.sock, "--sessions", sessions])
            .args(["--fifo-size", "64k", "--segment-size", "4m", "--port", port])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        assert!(lines.next().unwrap().unwrap().starts_with("READY"));
        (server, lines)
    }

    /// Stops the daemon; its `STACKD` record, checked to leave nothing.
    fn stop(mut self) -> KvRecord {
        drop(self.child.stdin.take());
        let line = self.lines.next().unwrap().unwrap();
        let rec = KvRecord::parse("STACKD", &line).unwrap_or_else(|| panic!("{line}"));
        let status = wait(&mut self.child, Duration::from_secs(30));
        assert!(status.success(), "{line}");
        // A record without the leak check would read as clean.
        assert!(rec.get("left_apps").is_some(), "{line}");
        let (_, leaks) = stackd_figures(&rec);
        assert!(leaks.is_clean(), "{leaks:?} in {line}");
        rec
    }
}

impl Drop for Daemon {
    /// A failed test leaves no daemon behind (after `stop` it has exited).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn server_and_client_against_a_running_daemon() {
    let d = Daemon::start("stream");
    let (mut server, mut slines) = d.server("4700", "1", &["--echo"]);
    let out = ct_echo(&[
        "client",
        "--socket",
        &d.sock,
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
    d.stop();
}

/// `ct-echo client --mode cps --json` on port 4701 of the daemon at
/// `sock`.
fn cps_client(sock: &str, sessions: &str, concurrency: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "client",
        "--socket",
        sock,
        "--mode",
        "cps",
        "--sessions",
        sessions,
        "--concurrency",
        concurrency,
        "--port",
        "4701",
        "--json",
    ];
    args.extend_from_slice(extra);
    ct_echo(&args)
}

/// The README's cps client against a daemon: one thread with many
/// connects in flight; every connect answered once, nothing left.
#[test]
fn cps_client_with_connects_in_flight_against_a_running_daemon() {
    const N: u64 = 600;
    let d = Daemon::start("cps");
    let (mut server, mut slines) = d.server("4701", &N.to_string(), &[]);
    let out = cps_client(
        &d.sock,
        &N.to_string(),
        "32",
        &[
            "--fifo-size",
            "4k",
            "--segment-size",
            "4m",
            "--timeout",
            "60",
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    has_fields(
        &line,
        &[
            "\"mode\":\"cps\"",
            "\"layout\":\"client-only\"",
            &format!("\"sessions\":{N}"),
            &format!("\"connected\":{N}"),
            "\"connect_failed\":0",
            "\"resets\":0",
            "\"errors\":0",
            "\"ok\":true",
        ],
    );
    assert!(
        !line.contains("\"connects_per_s\":0,") && !line.contains("\"connects_per_s\":0.0,"),
        "{line}"
    );
    let rec = slines.next().unwrap().unwrap();
    let rec = KvRecord::parse("SERVER", &rec).unwrap_or_else(|| panic!("{rec}"));
    assert_eq!(rec.num("accepted"), N, "{rec:?}");
    assert!(server.wait().unwrap().success());
    // Nobody listens now: every connect is refused and counted as a
    // failed (and refused) connect, not retried, not in the connect rate,
    // and the run is not ok.
    let out = cps_client(&d.sock, "50", "8", &["--timeout", "30"]);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    has_fields(
        &line,
        &[
            "\"connected\":0",
            "\"connect_failed\":50",
            "\"connect_refused\":50",
            "\"connects_per_s\":0.0,",
            "\"ok\":false",
        ],
    );
    let (w, _) = stackd_figures(&d.stop());
    // Both ends of every connect were sessions, all freed.
    assert!(w.sessions_allocated >= 2 * N, "{w:?}");
    assert_eq!(w.sessions_allocated, w.sessions_freed, "{w:?}");
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
        &["server", "--socket", "/nonexistent", "--secret-file", "/x"],
        &["client", "--socket", "/nonexistent", "--concurrency", "0"],
        &["client", "--socket", "/nonexistent", "--timeout", "0"],
        &["--concurrency", "0"],
        &["--timeout", "0"],
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

/// Two servers on one daemon (default names differ), one in a second
/// namespace whose secret comes from a file, and a client in each.
#[test]
fn servers_and_clients_in_two_namespaces_of_one_daemon() {
    use ct_stackd::{NamespaceCfg, Stackd, StackdConfig};
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let dflt = tmp.join(format!("xproc-cli-ns-{pid}.sock"));
    let blue = tmp.join(format!("xproc-cli-ns-blue-{pid}.sock"));
    let secret = tmp.join(format!("xproc-cli-ns-secret-{pid}"));
    std::fs::write(&secret, "77\n").unwrap();
    let mut cfg = StackdConfig::new(&dflt).with_namespace(NamespaceCfg::new("blue", 77, &blue));
    cfg.segment_size = 8 << 20;
    let d = Stackd::start(cfg).unwrap();
    let (dflt, blue) = (dflt.to_string_lossy(), blue.to_string_lossy());
    let secret = secret.to_string_lossy().into_owned();
    let blue_args = ["--namespace", "blue", "--secret-file", &secret];
    let server = |sock: &str, port: &str, extra: &[&str]| {
        let mut c = Command::new(EXE)
            .args(["server", "--socket", sock, "--sessions", "1", "--echo"])
            .args(["--fifo-size", "64k", "--segment-size", "4m", "--port", port])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
        assert!(lines.next().unwrap().unwrap().starts_with("READY"));
        (c, lines)
    };
    let s1 = server(&dflt, "4720", &[]);
    let s2 = server(&blue, "4721", &blue_args);
    let client = |sock: &str, port: &str, extra: &[&str]| {
        let mut args = vec!["client", "--socket", sock, "--echo", "--bytes", "1m"];
        args.extend(["--fifo-size", "64k", "--segment-size", "4m", "--port", port]);
        args.extend(["--timeout", "60"]);
        args.extend_from_slice(extra);
        ct_echo(&args)
    };
    let named: Vec<&str> = blue_args
        .iter()
        .copied()
        .chain(["--name", "blue-client"])
        .collect();
    for (sock, port, extra) in [(&*dflt, "4720", &[][..]), (&*blue, "4721", &named[..])] {
        let out = client(sock, port, extra);
        assert!(out.status.success(), "{}", text(&out));
    }
    for (mut s, mut lines) in [s1, s2] {
        let rec = lines.next().unwrap().unwrap();
        assert!(rec.contains(" accepted=1 "), "{rec}");
        assert!(s.wait().unwrap().success());
    }
    // A wrong secret is a failure to attach, not a bad option.
    std::fs::write(&secret, "78").unwrap();
    let out = client(&blue, "4721", &blue_args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("secret"), "{}", text(&out));
    std::fs::remove_file(&secret).unwrap();
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
}
