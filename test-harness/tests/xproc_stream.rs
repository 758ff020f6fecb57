//! Three processes: a stackd child, an echo server child and an echo
//! client child (this test binary re-executed in each role). The client
//! attaches, connects to the server's listener and streams its bytes,
//! the server echoes them: checksums are checked both ways (the server
//! against the pattern, the client what came back against what went out),
//! and the daemon reports nothing left once both apps are gone.

mod xproc_common;

use std::time::Duration;

use ct_echo::{KvRecord, Pattern};
use xproc_common::*;

fn stream(test: &str, bytes: u64, fifo: &str) {
    if child_role(|_, _| unreachable!("no custom role here")) {
        return;
    }
    let sock = sock_path("stream");
    let s = sock.to_string_lossy().into_owned();
    let mut stackd = spawn(
        test,
        "stackd",
        &args(&[
            &"--socket",
            &s,
            &"--segment-size",
            &"32m",
            &"--fifo-size",
            &fifo,
        ]),
    );
    stackd.expect("READY", WAIT).unwrap();
    let mut server = spawn(
        test,
        "server",
        &args(&[
            &"--socket",
            &s,
            &"--port",
            &4100,
            &"--echo",
            &"--expect-bytes",
            &bytes,
            &"--sessions",
            &1,
            &"--fifo-size",
            &fifo,
            &"--segment-size",
            &"32m",
        ]),
    );
    server.expect("READY", WAIT).unwrap();
    let mut client = spawn(
        test,
        "client",
        &args(&[
            &"--socket",
            &s,
            &"--port",
            &4100,
            &"--echo",
            &"--bytes",
            &bytes,
            &"--fifo-size",
            &fifo,
            &"--segment-size",
            &"32m",
            &"--timeout",
            &600,
            &"--report-line",
        ]),
    );
    let c = client.expect("CLIENT", Duration::from_secs(900)).unwrap();
    let sv = server.expect("SERVER", WAIT).unwrap();
    assert!(client.wait_timeout(WAIT).unwrap().success());
    assert!(server.wait_timeout(WAIT).unwrap().success());
    stackd.close_stdin();
    let d = stackd.expect("STACKD", WAIT).unwrap();
    assert!(
        stackd.wait_timeout(WAIT).unwrap().success(),
        "stackd left state: {d:?}"
    );

    let keys = [
        "connected",
        "client_tx_bytes",
        "client_rx_bytes",
        "verified",
        "errors",
    ];
    assert_eq!(nums(&c, &keys), [1, bytes, bytes, 1, 0], "client: {c:?}");
    let keys = [
        "accepted",
        "server_rx_bytes",
        "server_tx_bytes",
        "verified",
        "resets",
    ];
    assert_eq!(nums(&sv, &keys), [1, bytes, bytes, 1, 0], "server: {sv:?}");
    assert_eq!(sv.num("errors"), 0, "server: {sv:?}");
    assert_left_nothing(&d);
    // Data moved through the fifos, the daemon moved only events.
    assert!(d.num("tx_events") > 0 && d.num("evt_msgs") > 0, "{d:?}");
    // The server's check is against the pattern itself.
    assert_ne!(
        Pattern::new().checksum(0, bytes),
        Pattern::new().checksum(1, bytes)
    );
}

fn assert_left_nothing(d: &KvRecord) {
    for (k, v) in &d.fields {
        if k.starts_with("left_") {
            assert_eq!(v, "0", "stackd left {k}: {d:?}");
        }
    }
}

#[test]
fn stream_16mib_both_ways_between_two_processes_through_a_stackd_process() {
    stream(
        "stream_16mib_both_ways_between_two_processes_through_a_stackd_process",
        16 << 20,
        "64k",
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
fn stress_stream_1gib_both_ways_between_two_processes_through_a_stackd_process() {
    stream(
        "stress_stream_1gib_both_ways_between_two_processes_through_a_stackd_process",
        1 << 30,
        "4m",
    );
}
