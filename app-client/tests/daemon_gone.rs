//! A stream whose daemon goes away (stopped in this process while the
//! stream is open) or whose app detached: what would need the stack fails
//! `NotConnected`, as a socket whose connection is gone.

mod daemon;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use ct_app_client::{AppClient, CtListener, CtStream};
use daemon::Daemon;

/// A read once the daemon went: the end of the stream (the session was
/// closed first), a reset, or `NotConnected` (the hang-up came first);
/// never data, never a wait.
fn read_ends(mut stream: &CtStream) {
    match stream.read(&mut [0u8; 8]) {
        Ok(0) => {}
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::NotConnected | ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Ok(n) => panic!("read {n} bytes nobody wrote"),
    }
}

/// A write once the daemon went fails: `NotConnected`, or what the
/// session's end says if the stop closed it first.
fn write_fails(mut stream: &CtStream) {
    let e = stream.write(b"after").unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::NotConnected | ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{e}"
    );
}

/// The daemon's stop resets every session, then hangs up every app socket:
/// a read sees whichever the app files first, the end of the stream
/// (`Ok(0)`, as a TCP peer that went) or the hang-up (`NotConnected`).
/// Then the app drains until it has seen the hang-up too.
fn read_sees_the_daemon_go(app: &AppClient, stream: &CtStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    read_ends(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.is_attached() {
        assert!(Instant::now() < deadline, "the hang-up never seen");
        let _ = app.poll_events();
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_daemon_stopped_under_an_open_stream() {
    let mut d = Daemon::start("gone");
    let server = d.attach("gone-server");
    let listener = CtListener::bind(&server, d.addr(7301)).unwrap();
    let client = d.attach("gone-client");
    let (c, srv) = d.pair(&client, &listener);
    (&c).write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    (&srv).read_exact(&mut buf).unwrap();
    d.kill();
    read_sees_the_daemon_go(&client, &c);
    // Once the client knows, reads end and writes fail.
    read_ends(&c);
    write_fails(&c);
    // The other app learns it on its next wait, and then the same.
    read_sees_the_daemon_go(&server, &srv);
    read_ends(&srv);
    write_fails(&srv);
    let e = CtStream::connect(&client, d.addr(7301)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
}

#[test]
fn a_detached_app_writes_not_connected() {
    let d = Daemon::start("detached");
    let server = d.attach("detached-server");
    let listener = CtListener::bind(&server, d.addr(7302)).unwrap();
    let client = d.attach("detached-client");
    let (c, srv) = d.pair(&client, &listener);
    client.clone().detach().unwrap();
    let e = (&c).write(b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
    let e = (&c).read(&mut [0u8; 1]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
    drop((c, client));
    // The stack closed the detached app's session: its peer reads the end.
    srv.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!((&srv).read(&mut [0u8; 1]).unwrap(), 0);
    drop((srv, listener, server));
    d.stop();
}
