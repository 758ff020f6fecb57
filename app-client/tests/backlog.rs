//! Accepts against a real `ct-stackd` (in this process, its counters
//! checked): the stack accepts for the server app, so a connect completes
//! before the server's `accept` (the crate example, on one thread); the
//! listen backlog refuses connects beyond it until the server accepts;
//! sessions the server never took are reset when its listener goes or the
//! server detaches; nothing is left in the daemon.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
use ct_stackd::{Stackd, StackdConfig, StackdCounters};

/// How long a test waits for the daemon or a peer.
const WAIT: Duration = Duration::from_secs(10);

fn daemon(tag: &str) -> (Stackd, PathBuf) {
    let sock = std::env::temp_dir().join(format!(
        "app-client-backlog-{tag}-{}.sock",
        std::process::id()
    ));
    let d = Stackd::start(StackdConfig::new(&sock).with_workers(2)).unwrap();
    (d, sock)
}

fn wait_counters(d: &Stackd, what: &str, f: impl Fn(&StackdCounters) -> bool) -> StackdCounters {
    let c = d.wait_counters(WAIT, &f);
    assert!(f(&c), "timed out waiting for {what}: {c}");
    c
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// What the next read of `s` says, within [`WAIT`] (blocking).
fn read_result(s: &mut CtStream) -> std::io::Result<usize> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 16];
    s.read(&mut buf)
}

/// The example of the crate's docs, as written there: bind, connect, then
/// accept, on one thread.
#[test]
fn the_crate_example_runs_on_one_thread() {
    let (daemon, sock) = daemon("example");
    let server = AppClient::attach(&sock, AttachConfig::new("server")).unwrap();
    let client = AppClient::attach(&sock, AttachConfig::new("client")).unwrap();
    let addr = "127.0.0.1:7000".parse().unwrap();
    let listener = CtListener::bind(&server, addr).unwrap();
    let mut c = CtStream::connect(&client, addr).unwrap();
    let (mut s, _peer) = listener.accept().unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    drop((c, s, listener, server, client));
    let left = daemon.stop();
    assert!(left.is_empty(), "{left}");
}

#[test]
fn connects_beyond_the_backlog_are_refused_until_the_server_accepts() {
    let (d, sock) = daemon("full");
    let server = AppClient::attach(&sock, AttachConfig::new("server")).unwrap();
    let client = AppClient::attach(&sock, AttachConfig::new("client")).unwrap();
    let listener = CtListener::bind_with_backlog(&server, addr(7010), 2).unwrap();
    // Two connects complete while the server takes nothing; data sent
    // then waits for it.
    let mut c1 = CtStream::connect(&client, addr(7010)).unwrap();
    let mut c2 = CtStream::connect(&client, addr(7010)).unwrap();
    c1.write_all(b"one").unwrap();
    c2.write_all(b"two").unwrap();
    let e = CtStream::connect(&client, addr(7010)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e:?}");
    wait_counters(&d, "backlog full", |c| {
        c.unaccepted == 2 && c.backlog_refused >= 1
    });
    // An accept frees a slot; once the stack read the server's answer a
    // connect completes again.
    let (mut s1, _) = listener.accept().unwrap();
    wait_counters(&d, "one taken", |c| c.unaccepted == 1);
    let mut c3 = CtStream::connect(&client, addr(7010)).unwrap();
    let e = CtStream::connect(&client, addr(7010)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e:?}");
    c3.write_all(b"six").unwrap();
    let (mut s2, _) = listener.accept().unwrap();
    let (mut s3, _) = listener.accept().unwrap();
    let mut got: Vec<[u8; 3]> = [&mut s1, &mut s2, &mut s3]
        .into_iter()
        .map(|s| {
            let mut b = [0u8; 3];
            s.read_exact(&mut b).unwrap();
            b
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, [*b"one", *b"six", *b"two"]);
    wait_counters(&d, "all taken", |c| c.unaccepted == 0);
    let c = d.counters();
    assert_eq!((c.failed_requests, c.bad_msgs), (0, 0), "{c}");
    drop((c1, c2, c3, s1, s2, s3, listener, server, client));
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
}

#[test]
fn a_listener_dropped_with_sessions_it_never_accepted_resets_them() {
    let (d, sock) = daemon("drop-listener");
    let server = AppClient::attach(&sock, AttachConfig::new("server")).unwrap();
    let client = AppClient::attach(&sock, AttachConfig::new("client")).unwrap();
    let listener = CtListener::bind(&server, addr(7020)).unwrap();
    let mut clients: Vec<CtStream> = (0..3)
        .map(|_| CtStream::connect(&client, addr(7020)).unwrap())
        .collect();
    // The server's queue is read once, so its listener holds all three.
    listener.set_nonblocking(true).unwrap();
    let (mut taken, _) = loop {
        match listener.accept() {
            Ok(s) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("{e:?}"),
        }
    };
    drop(listener);
    // Two clients are reset; the one accepted lives on and still talks to
    // its server.
    for c in &mut clients {
        c.set_nonblocking(true).unwrap();
    }
    let deadline = std::time::Instant::now() + WAIT;
    let mut reset = [false; 3];
    while reset.iter().filter(|r| **r).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "resets: {reset:?}");
        for (i, c) in clients.iter_mut().enumerate() {
            let mut b = [0u8; 1];
            match c.read(&mut b) {
                Err(e) if e.kind() == ErrorKind::ConnectionReset => reset[i] = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                other => panic!("{other:?}"),
            }
        }
        std::thread::yield_now();
    }
    let live = &mut clients[reset.iter().position(|r| !r).unwrap()];
    live.write_all(b"ok").unwrap();
    let mut b = [0u8; 2];
    taken.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ok");
    drop((clients, taken));
    wait_counters(&d, "sessions gone", |c| {
        c.sessions == 0 && c.unaccepted == 0
    });
    drop((server, client));
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
}

#[test]
fn a_server_that_never_accepts_and_detaches_resets_its_clients() {
    let (d, sock) = daemon("detach");
    let server = AppClient::attach(&sock, AttachConfig::new("server")).unwrap();
    let client = AppClient::attach(&sock, AttachConfig::new("client")).unwrap();
    let listener = CtListener::bind(&server, addr(7030)).unwrap();
    let mut clients: Vec<CtStream> = (0..4)
        .map(|_| CtStream::connect(&client, addr(7030)).unwrap())
        .collect();
    wait_counters(&d, "waiting", |c| c.unaccepted == 4);
    server.detach().unwrap();
    for c in &mut clients {
        let e = read_result(c).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}");
    }
    drop((listener, clients, client));
    let c = wait_counters(&d, "all gone", StackdCounters::is_empty);
    assert_eq!(c.unaccepted, 0);
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
}
