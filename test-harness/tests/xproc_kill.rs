//! Apps killed with SIGKILL (no detach, no close: the daemon learns it
//! from the app socket's hang-up) while their peers are mid-transfer or
//! hold many sessions: the peers see resets, the daemon (here, in the test
//! process, so its counters are readable) frees everything, and a
//! listener outlives its clients: new client processes connect to it.

mod xproc_common;

use std::time::{Duration, Instant};

use xproc_common::*;

fn custom(role: &str, args: &[String]) {
    match role {
        "hold-server" => hold_server(args),
        "hold-client" => hold_client(args),
        "writer" => writer(args),
        _ => unreachable!("role {role}"),
    }
}

/// An echo server child: `--sessions n`, pattern-checked (each client
/// streams one session from offset 0).
fn echo_server(test: &str, sock: &str, port: u16, sessions: u64, bytes: u64) -> ct_echo::RoleChild {
    let mut s = spawn(
        test,
        "server",
        &args(&[
            &"--socket",
            &sock,
            &"--port",
            &port,
            &"--echo",
            &"--expect-bytes",
            &bytes,
            &"--sessions",
            &sessions,
            &"--fifo-size",
            &"64k",
            &"--segment-size",
            &"4m",
        ]),
    );
    s.expect("READY", WAIT).unwrap();
    s
}

fn echo_client(test: &str, sock: &str, port: u16, bytes: u64) -> ct_echo::RoleChild {
    spawn(
        test,
        "client",
        &args(&[
            &"--socket",
            &sock,
            &"--port",
            &port,
            &"--echo",
            &"--bytes",
            &bytes,
            &"--fifo-size",
            &"64k",
            &"--segment-size",
            &"4m",
            &"--timeout",
            &120,
            &"--report-line",
        ]),
    )
}

/// A client that streamed into an echo server without reading the echo,
/// killed with unread data in its rx fifo (its stream then ends in a
/// reset, not an end of stream).
fn kill_mid_transfer(test: &str, sock: &str, port: u16) {
    let mut w = spawn(test, "writer", &args(&[&sock, &port]));
    let r = w.expect("STUCK", WAIT).unwrap();
    // Both fifos full: 64 KiB echoed and unread, 64 KiB unread by the
    // server, and at least one write that found no room.
    assert!(r.num("written") >= 128 << 10, "{r:?}");
    w.kill();
}

/// A client killed mid-transfer: the server reads `ConnectionReset`, and
/// the daemon frees the session, its fifos and the client app.
#[test]
fn kill_9_client_mid_transfer_resets_the_server_and_frees_everything() {
    const TEST: &str = "kill_9_client_mid_transfer_resets_the_server_and_frees_everything";
    if child_role(custom) {
        return;
    }
    let (d, path) = daemon("kill-client");
    let sock = path.to_string_lossy().into_owned();
    let mut server = echo_server(TEST, &sock, 4200, 1, 1 << 20);
    kill_mid_transfer(TEST, &sock, 4200);
    // The server's one session ended by reset; it exits and reports.
    let sv = server.expect("SERVER", WAIT).unwrap();
    assert_eq!(
        nums(
            &sv,
            &["accepted", "resets", "verified", "verify_failed", "errors"]
        ),
        [1, 1, 0, 0, 0],
        "server: {sv:?}"
    );
    assert!(sv.num("server_rx_bytes") > 0, "{sv:?}");
    assert!(server.wait_timeout(WAIT).unwrap().success());
    let c = wait_counters(&d, "everything freed", |c| c.is_empty());
    assert!(
        c.hangup_detaches >= 1,
        "the killed client was a hang-up: {c}"
    );
    assert!(d.stop().is_empty());
}

/// A server killed while it holds 100 sessions: every client session is
/// reset, and once the client goes too nothing is left.
#[test]
fn kill_9_server_with_100_live_sessions_resets_every_client_session() {
    const TEST: &str = "kill_9_server_with_100_live_sessions_resets_every_client_session";
    if child_role(custom) {
        return;
    }
    let (d, path) = daemon("kill-server");
    let sock = path.to_string_lossy().into_owned();
    let mut server = spawn(TEST, "hold-server", &args(&[&sock, &4300, &100]));
    server.expect("READY", WAIT).unwrap();
    let mut client = spawn(TEST, "hold-client", &args(&[&sock, &4300, &100]));
    client.expect("CONNECTED", WAIT).unwrap();
    server.expect("ACCEPTED", WAIT).unwrap();
    let c = wait_counters(&d, "200 sessions", |c| c.sessions == 200);
    assert_eq!((c.apps, c.listeners), (2, 1), "{c}");
    server.kill();
    let ended = client.expect("ENDED", WAIT).unwrap();
    assert_eq!(
        nums(&ended, &["resets", "eof", "other"]),
        [100, 0, 0],
        "{ended:?}"
    );
    assert!(client.wait_timeout(WAIT).unwrap().success());
    wait_counters(&d, "everything freed", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

/// A server that never accepts, killed: its clients connected anyway (the
/// daemon accepts for it, up to its listen backlog: ARCHITECTURE.md,
/// "Accepts without the app"), and each one is reset, none left hanging.
#[test]
fn kill_9_server_that_never_accepted_resets_its_clients() {
    const TEST: &str = "kill_9_server_that_never_accepted_resets_its_clients";
    if child_role(custom) {
        return;
    }
    let (d, path) = daemon("kill-never-accepts");
    let sock = path.to_string_lossy().into_owned();
    let mut server = spawn(TEST, "hold-server", &args(&[&sock, &4350, &0]));
    server.expect("READY", WAIT).unwrap();
    let mut client = spawn(TEST, "hold-client", &args(&[&sock, &4350, &20]));
    client.expect("CONNECTED", WAIT).unwrap();
    let c = wait_counters(&d, "20 sessions waiting", |c| {
        c.unaccepted == 20 && c.sessions == 40
    });
    assert_eq!(c.backlog_refused, 0, "{c}");
    server.kill();
    let ended = client.expect("ENDED", WAIT).unwrap();
    assert_eq!(
        nums(&ended, &["resets", "eof", "other"]),
        [20, 0, 0],
        "{ended:?}"
    );
    assert!(client.wait_timeout(WAIT).unwrap().success());
    wait_counters(&d, "everything freed", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

/// One listener, three client processes in turn: the first completes,
/// the second is killed mid-transfer, the third (a restart) connects to
/// the same listener and completes; the server saw two verified streams
/// and one reset.
#[test]
fn restarted_clients_reuse_the_listener() {
    const TEST: &str = "restarted_clients_reuse_the_listener";
    if child_role(custom) {
        return;
    }
    const BYTES: u64 = 4 << 20;
    let (d, path) = daemon("restart");
    let sock = path.to_string_lossy().into_owned();
    let mut server = echo_server(TEST, &sock, 4400, 3, BYTES);
    let finish = |mut c: ct_echo::RoleChild| {
        let r = c.expect("CLIENT", Duration::from_secs(120)).unwrap();
        assert!(c.wait_timeout(WAIT).unwrap().success());
        assert_eq!(nums(&r, &["verified", "errors"]), [1, 0], "client: {r:?}");
    };
    finish(echo_client(TEST, &sock, 4400, BYTES));
    kill_mid_transfer(TEST, &sock, 4400);
    let t = Instant::now();
    wait_counters(&d, "killed client freed", |c| {
        c.sessions == 0 && c.apps == 1
    });
    assert!(t.elapsed() < WAIT);
    finish(echo_client(TEST, &sock, 4400, BYTES));
    let sv = server.expect("SERVER", WAIT).unwrap();
    assert_eq!(
        nums(
            &sv,
            &["accepted", "verified", "resets", "verify_failed", "errors"]
        ),
        [3, 2, 1, 0, 0],
        "server: {sv:?}"
    );
    assert!(server.wait_timeout(WAIT).unwrap().success());
    wait_counters(&d, "everything freed", |c| c.is_empty());
    assert!(d.stop().is_empty());
}
