//! A stream whose daemon goes away (stopped in this process while the
//! stream is open) or whose app detached: what would need the stack fails
//! `NotConnected`, as a socket whose connection is gone.

mod daemon;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use ct_app_client::{CtListener, CtStream};
use daemon::Daemon;

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
    // A read that would block waits on the worker, which sees the app
    // socket hang up.
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let e = (&c).read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
    assert!(!client.is_attached());
    // The client knows: a write fails too, though its fifo has room.
    assert!(c.max_enqueue().unwrap() > 0);
    let e = (&c).write(b"after").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
    // The other app learns it on its next wait, and then the same.
    srv.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let e = (&srv).read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
    let e = (&srv).write(b"after").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
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
