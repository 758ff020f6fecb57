//! `std::net` parity of addresses and half-close against a real daemon in
//! this process: port 0, both ends' addresses, `shutdown(Write)` with a
//! reply read after it, `shutdown(Read)`, and writes after a shutdown.

mod daemon;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;

use ct_app_client::CtListener;
use daemon::Daemon;

/// The ephemeral range the stack picks ports from (Linux's default).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

#[test]
fn port_zero_binds_a_free_port_and_both_ends_see_real_addresses() {
    let d = Daemon::start("addrs");
    let server = d.attach("addrs-server");
    let client = d.attach("addrs-client");
    let l1 = CtListener::bind(&server, d.addr(0)).unwrap();
    let l2 = CtListener::bind(&server, d.addr(0)).unwrap();
    let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
    assert!(EPHEMERAL.contains(&a1.port()), "{a1}");
    assert!(EPHEMERAL.contains(&a2.port()), "{a2}");
    assert_ne!(a1.port(), a2.port());
    assert_eq!(a1.ip(), d.addr(0).ip());

    let (c1, s1) = d.pair(&client, &l1);
    let (c2, s2) = d.pair(&client, &l1);
    let mut client_ports = Vec::new();
    for (c, s) in [(&c1, &s1), (&c2, &s2)] {
        let c_lcl = c.local_addr().unwrap();
        assert_eq!(c.peer_addr().unwrap(), a1);
        assert_eq!(s.local_addr().unwrap(), a1);
        assert_eq!(s.peer_addr().unwrap(), c_lcl);
        assert_eq!(c_lcl.ip(), a1.ip());
        assert!(EPHEMERAL.contains(&c_lcl.port()), "{c_lcl}");
        client_ports.push(c_lcl.port());
    }
    assert_ne!(client_ports[0], client_ports[1]);
    // accept's address is the peer's too.
    let pending = ct_app_client::CtConnecting::start(&client, a2).unwrap();
    let (s3, rmt) = l2.accept().unwrap();
    let c3 = pending.finish(Some(daemon::TIMEOUT)).unwrap();
    assert_eq!(rmt, c3.local_addr().unwrap());
    assert_eq!(s3.peer_addr().unwrap(), rmt);
    assert_eq!(c3.peer_addr().unwrap(), a2);
    drop((c1, s1, c2, s2, c3, s3, l1, l2, client, server));
    d.stop();
}

#[test]
fn a_request_then_shutdown_write_still_gets_its_reply() {
    let d = Daemon::start("halfclose");
    let server = d.attach("halfclose-server");
    let client = d.attach("halfclose-client");
    let listener = CtListener::bind(&server, d.addr(7301)).unwrap();
    let (mut c, mut s) = d.pair(&client, &listener);
    let srv = thread::spawn(move || {
        // The request, to its end, then the reply on the same session.
        let mut req = Vec::new();
        s.read_to_end(&mut req).unwrap();
        assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0, "the end stays");
        s.write_all(b"reply to ").unwrap();
        s.write_all(&req).unwrap();
        s
    });
    c.write_all(b"request").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.write(b"late").unwrap_err().kind(), ErrorKind::BrokenPipe);
    assert_eq!(c.writable().unwrap_err().kind(), ErrorKind::BrokenPipe);
    let s = srv.join().unwrap();
    // The server closes after its reply: the client reads it, then the end.
    drop(s);
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"reply to request");
    drop((c, listener, client, server));
    d.stop();
}

#[test]
fn the_half_closed_side_reads_a_reply_while_the_peer_stays_open() {
    let d = Daemon::start("halfopen");
    let server = d.attach("halfopen-server");
    let client = d.attach("halfopen-client");
    let listener = CtListener::bind(&server, d.addr(7302)).unwrap();
    let (c, s) = d.pair(&client, &listener);
    thread::scope(|sc| {
        // A reader blocked on an empty fifo wakes for the end of stream.
        let reader = sc.spawn(|| {
            let mut got = Vec::new();
            (&s).read_to_end(&mut got).unwrap();
            got
        });
        thread::sleep(std::time::Duration::from_millis(50));
        (&c).write_all(b"abc").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), b"abc");
    });
    // The server still writes, the client still reads; both stay open.
    (&s).write_all(b"xyz").unwrap();
    let mut buf = [0u8; 3];
    (&c).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"xyz");
    // Then the server half-closes too: the client sees the end.
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!((&c).read(&mut buf).unwrap(), 0);
    drop((c, s, listener, client, server));
    d.stop();
}

#[test]
fn shutdown_read_returns_zero_and_the_peer_writes_on() {
    let d = Daemon::start("shutread");
    let server = d.attach("shutread-server");
    let client = d.attach("shutread-client");
    let listener = CtListener::bind(&server, d.addr(7303)).unwrap();
    let (c, s) = d.pair(&client, &listener);
    thread::scope(|sc| {
        let reader = sc.spawn(|| (&c).read(&mut [0u8; 4]));
        thread::sleep(std::time::Duration::from_millis(50));
        c.shutdown(Shutdown::Read).unwrap();
        // The blocked reader returns 0.
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    });
    // Data the peer sends now is never read: every read is 0 at once.
    (&s).write_all(b"unread").unwrap();
    assert_eq!((&c).read(&mut [0u8; 4]).unwrap(), 0);
    assert_eq!(c.readable().unwrap(), 0);
    (&s).write_all(b"more").unwrap();
    assert_eq!(c.read_slices().slices().unwrap(), (&[][..], &[][..]));
    // The peer's writes still succeed, more than a fifo's worth (what
    // arrives is dropped by each read), and our direction still works.
    let chunk = vec![7u8; 16 << 10];
    for _ in 0..256 {
        (&s).write_all(&chunk).unwrap();
        assert_eq!((&c).read(&mut [0u8; 4]).unwrap(), 0);
    }
    (&c).write_all(b"still here").unwrap();
    let mut buf = [0u8; 10];
    (&s).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still here");
    drop((c, s, listener, client, server));
    d.stop();
}

#[test]
fn shutdown_both_closes_and_writes_fail() {
    let d = Daemon::start("shutboth");
    let server = d.attach("shutboth-server");
    let client = d.attach("shutboth-client");
    let listener = CtListener::bind(&server, d.addr(7304)).unwrap();
    let (c, s) = d.pair(&client, &listener);
    (&c).write_all(b"bye").unwrap();
    c.shutdown(Shutdown::Both).unwrap();
    assert_eq!((&c).read(&mut [0u8; 4]).unwrap(), 0);
    assert_eq!((&c).write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    let _: SocketAddr = s.peer_addr().unwrap();
    drop((c, s, listener, client, server));
    d.stop();
}
