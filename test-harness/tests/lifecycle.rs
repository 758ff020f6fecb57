//! ct session lifecycles end to end through the app layer: data both ways,
//! closes from either side, reset on unread data, refusals, connects to
//! nobody; stepped and threaded, with 0, 1 and 2 workers; nothing leaks.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use ct_app_worker::{AppEvent, IoMode, Scope};
use ct_echo::loopback;
use ct_session::SessionError;

#[test]
fn data_both_ways_then_client_close_on_every_worker_count() {
    for workers in 0..=2 {
        let mut env = Env::new(workers);
        let server = env.attach("server", Scope::LOCAL);
        let client = env.attach("client", Scope::LOCAL);
        env.listen(&server, 1234);
        let (sf, cf) = env.establish(&server, &client, 1234);
        // ct puts both ends on one worker, main skipped when there are workers.
        assert_eq!(sf.session.thread_index(), cf.session.thread_index());
        assert_eq!(workers > 0, sf.session.thread_index() > 0);
        let (mut s, mut c) = (env.io(&sf), env.io(&cf));
        assert_eq!(c.write(b"hello").unwrap(), 5);
        env.idle();
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(s.write(b"world!").unwrap(), 6);
        env.idle();
        assert_eq!(c.read(&mut buf).unwrap(), 6);
        assert_eq!(&buf[..6], b"world!");
        drain_all(&[&server, &client]);
        env.stack.disconnect(client.wrk, cf.session).unwrap();
        let got = env.wait_for(&server.q, |m| {
            matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_)).then(|| name(&m))
        });
        assert_eq!(got, Some("disconnected"), "workers {workers}");
        env.stack.disconnect(server.wrk, sf.session).unwrap();
        drop((s, c));
        env.assert_clean();
        env.stack.detach(client.app).unwrap();
        env.stack.detach(server.app).unwrap();
        env.assert_clean();
        assert!(env.stack.segment_managers().is_empty());
    }
}

fn drain_all(apps: &[&App]) {
    for a in apps {
        a.q.drain();
    }
}

#[test]
fn threaded_blocking_reader_sees_data_then_end_of_stream_when_the_server_closes() {
    let mut env = Env::threaded(2);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let mut c = env.io(&cf);
    c.set_waker(
        env.stack
            .apps()
            .session_waker(client.wrk, cf.session)
            .unwrap(),
    );
    c.set_mode(IoMode::Blocking(Some(Duration::from_secs(10))));
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        c.read_to_end(&mut got).map(|_| got)
    });
    let mut s = env.io(&sf);
    let msg: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    s.set_mode(IoMode::Blocking(Some(Duration::from_secs(10))));
    s.set_waker(
        env.stack
            .apps()
            .session_waker(server.wrk, sf.session)
            .unwrap(),
    );
    s.write_all(&msg).unwrap();
    // Let the reader take everything, then close: a graceful close.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !s.tx_fifo().is_empty().unwrap() {
        assert!(std::time::Instant::now() < deadline, "reader never drained");
        std::thread::sleep(Duration::from_millis(1));
    }
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    let got = reader.join().unwrap().expect("read to end");
    assert_eq!(got, msg);
    let n = env.wait_for(&client.q, |m| {
        matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_)).then(|| name(&m))
    });
    assert_eq!(n, Some("disconnected"));
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    drop(s);
    env.assert_clean();
}

#[test]
fn close_with_unread_data_resets_the_peer_threaded() {
    let mut env = Env::threaded(1);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let mut s = env.io(&sf);
    s.write(b"you will not read this").unwrap();
    env.wait_for(&client.q, |m| matches!(m, AppEvent::Rx(_)).then_some(()))
        .expect("rx");
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    let n = env.wait_for(&server.q, |m| {
        matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_)).then(|| name(&m))
    });
    assert_eq!(n, Some("reset"));
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    drop(s);
    env.assert_clean();
}

#[test]
fn refused_accept_and_close_before_accept_fail_the_connect() {
    let mut env = Env::new(1);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    // Refused by the accept reply.
    env.stack.connect(client.wrk, loopback(80), 1).unwrap();
    let sf = env.wait_for(&server.q, accepted).unwrap();
    env.stack
        .accept_reply(server.wrk, sf.session, Err(SessionError::Refused))
        .unwrap();
    let r = env.wait_for(&client.q, connected).unwrap();
    assert_eq!(r.map(|_| ()), Err(SessionError::Refused));
    // Closed by the server before it answered.
    env.stack.connect(client.wrk, loopback(80), 2).unwrap();
    let sf = env.wait_for(&server.q, accepted).unwrap();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    let r = env.wait_for(&client.q, connected).unwrap();
    assert_eq!(r.map(|_| ()), Err(SessionError::Refused));
    env.assert_clean();
}

#[test]
fn connects_to_nobody_fail_and_leave_nothing() {
    let mut env = Env::new(1);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    let l = env.listen(&server, 80);
    // Another port: no local listener, and no network transport to fall
    // back to.
    assert!(env.stack.connect(client.wrk, loopback(81), 1).is_err());
    // After unlisten, the port is gone too.
    env.stack.unlisten(server.wrk, l).unwrap();
    env.idle();
    assert!(env.stack.connect(client.wrk, loopback(80), 2).is_err());
    assert_eq!(env.ct.n_listeners(), 0);
    env.assert_clean();
    env.stack.detach(server.app).unwrap();
    env.stack.detach(client.app).unwrap();
    env.assert_clean();
    assert!(env.stack.segment_managers().is_empty());
}

#[test]
fn an_app_connects_to_its_own_listener() {
    let mut env = Env::new(1);
    let app = env.attach("self", Scope::LOCAL);
    env.listen(&app, 90);
    env.stack.connect(app.wrk, loopback(90), 5).unwrap();
    let sf = env.wait_for(&app.q, accepted).expect("accept");
    env.stack.accept_reply(app.wrk, sf.session, Ok(())).unwrap();
    let cf = env
        .wait_for(&app.q, connected)
        .unwrap()
        .expect("self connect");
    let (mut s, mut c) = (env.io(&sf), env.io(&cf));
    c.write(b"me").unwrap();
    env.idle();
    let mut b = [0u8; 2];
    assert_eq!(s.read(&mut b).unwrap(), 2);
    assert_eq!(&b, b"me");
    drop((s, c));
    env.stack.reset(app.wrk, cf.session).unwrap();
    let n = env.wait_for(&app.q, |m| {
        matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_)).then(|| name(&m))
    });
    // A reset is a reset even with nothing unread.
    assert_eq!(n, Some("reset"));
    env.stack.disconnect(app.wrk, sf.session).unwrap();
    env.assert_clean();
}

#[test]
fn four_workers_spread_connects_and_keep_both_ends_together() {
    let mut env = Env::threaded(4);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let mut threads = std::collections::BTreeSet::new();
    let mut pairs = Vec::new();
    for _ in 0..8 {
        let (sf, cf) = env.establish(&server, &client, 80);
        assert_eq!(sf.session.thread_index(), cf.session.thread_index());
        threads.insert(sf.session.thread_index());
        pairs.push((sf, cf));
    }
    assert_eq!(threads.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
    for (sf, cf) in pairs {
        env.stack.disconnect(client.wrk, cf.session).unwrap();
        env.stack.disconnect(server.wrk, sf.session).unwrap();
    }
    env.assert_clean();
}
