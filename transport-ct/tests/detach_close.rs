//! An app that closes a session and detaches right after, with the TX event
//! of its last write never read by the stack (an in-process app's queue is
//! abandoned at detach; stackd's apps hit this): the detach still closes
//! and cleans the session, the peer still hears of the data and of the
//! close, nothing leaks. Stepped on the test thread, so each case is
//! deterministic; without the fix the cleanup waits for the lost event
//! forever and the stack never goes idle.

mod common;

use common::*;
use ct_app_worker::Scope;

/// The client's last write: data in its tx fifo and the event flag set, but
/// the TX event that should follow never reaches the stack.
fn write_with_lost_tx_event(cf: &ct_app_worker::SessionFifos, data: &[u8]) {
    let mut p = cf.tx_fifo.producer().unwrap();
    assert_eq!(p.enqueue(data).unwrap(), data.len());
    assert!(cf.tx_fifo.set_event(), "flag was clear");
}

/// The server got the data notification and the close (not a reset: the
/// client left nothing unread), reads every byte, closes; then it detaches
/// and ct is clean.
fn server_sees_data_then_close(env: &mut Env, server: &App, sf: &ct_app_worker::SessionFifos) {
    let msgs = drain(&server.q);
    let n = names(&msgs);
    let rx = n.iter().position(|m| *m == "rx");
    let disc = n.iter().position(|m| *m == "disconnected");
    assert!(
        matches!((rx, disc), (Some(r), Some(d)) if r < d),
        "server messages: {n:?}"
    );
    assert!(!n.contains(&"reset"), "{n:?}");
    let mut s_io = env.io(sf);
    let mut buf = [0u8; 64];
    assert_eq!(s_io.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"bye!!");
    drop(s_io);
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
    env.stack.detach(server.app).unwrap();
    env.assert_clean();
}

fn setup(
    n_workers: u32,
    port: u16,
) -> (
    Env,
    App,
    App,
    ct_app_worker::SessionFifos,
    ct_app_worker::SessionFifos,
) {
    let mut env = Env::new(n_workers);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, port);
    drain(&server.q);
    let (sf, cf) = env.establish(&server, &client, port);
    drain(&server.q);
    (env, server, client, sf, cf)
}

#[test]
fn close_then_detach_in_one_step_with_a_lost_tx_event() {
    for n_workers in [0, 2] {
        let (mut env, server, client, sf, cf) = setup(n_workers, 4100);
        write_with_lost_tx_event(&cf, b"bye!!");
        // The close runs (its cleanup now waits for the TX event), then the
        // detach, with no idle run between them.
        env.stack.disconnect(client.wrk, cf.session).unwrap();
        env.stack.detach(client.app).unwrap();
        let r = env.stack.run_until_idle();
        assert!(r.is_ok(), "stack never idle ({n_workers} workers): {r:?}");
        server_sees_data_then_close(&mut env, &server, &sf);
    }
}

#[test]
fn detach_with_an_unread_close_and_a_lost_tx_event() {
    // The stackd case where neither the TX event nor the close request was
    // read before the detach: the detach closes the session itself.
    for n_workers in [0, 2] {
        let (mut env, server, client, sf, cf) = setup(n_workers, 4101);
        write_with_lost_tx_event(&cf, b"bye!!");
        env.stack.detach(client.app).unwrap();
        let r = env.stack.run_until_idle();
        assert!(r.is_ok(), "stack never idle ({n_workers} workers): {r:?}");
        server_sees_data_then_close(&mut env, &server, &sf);
    }
}

#[test]
fn cleanup_does_not_wait_for_a_tx_flag_an_invalid_app_left() {
    // The app's workers turn invalid while a closed session's cleanup waits
    // for its TX event (an app that raises the flag once its sessions were
    // already closed by the detach looks the same to ct): ct runs the TX
    // itself instead of waiting forever.
    for n_workers in [0, 2] {
        let (mut env, server, client, sf, cf) = setup(n_workers, 4102);
        write_with_lost_tx_event(&cf, b"bye!!");
        env.stack.disconnect(client.wrk, cf.session).unwrap();
        env.stack.apps().detach_invalidate(client.app).unwrap();
        let r = env.stack.run_until_idle();
        assert!(r.is_ok(), "stack never idle ({n_workers} workers): {r:?}");
        env.stack.detach(client.app).unwrap();
        env.idle();
        server_sees_data_then_close(&mut env, &server, &sf);
    }
}

#[test]
fn a_client_reusing_a_detached_clients_worker_index_is_told_of_its_segment() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let a = env.attach("a", Scope::LOCAL);
    env.listen(&server, 4103);
    let (sf_a, _) = env.establish(&server, &a, 4103);
    // The server keeps its session with `a` open while `a` detaches and
    // `b` attaches in its place.
    env.stack.detach(a.app).unwrap();
    env.idle();
    let b = env.attach("b", Scope::LOCAL);
    assert_eq!(b.wrk.index(), a.wrk.index(), "the pool reuses the index");
    env.connect(&b, 4103, 9);
    env.idle();
    let sf_b = accepted(&server.q).expect("no accept");
    env.stack
        .accept_reply(server.wrk, sf_b.session, Ok(()))
        .unwrap();
    env.idle();
    let n = names(&drain(&b.q));
    assert_eq!(
        n,
        ["add-segment", "connected"],
        "b must map its fifos' segment"
    );
    for s in [sf_a.session, sf_b.session] {
        env.stack.disconnect(server.wrk, s).unwrap();
    }
    env.idle();
    assert!(names(&drain(&b.q)).contains(&"disconnected"));
    env.stack.detach(b.app).unwrap();
    env.idle();
    env.stack.detach(server.app).unwrap();
    env.assert_clean();
}

/// Runs `f` on thread `t`'s worker alone: no other worker runs, so RPCs
/// sent to them wait.
fn on<R>(
    env: &mut Env,
    t: u32,
    f: impl FnOnce(&ct_app_worker::Apps, &mut ct_session::Worker) -> R,
) -> R {
    let apps = env.stack.apps().clone();
    f(&apps, env.stack.runtime_mut().worker_mut(t).unwrap())
}

/// Polls thread `t`'s worker alone until it has nothing to do.
fn poll_alone(env: &mut Env, t: u32) {
    for _ in 0..1000 {
        if !env.stack.runtime_mut().worker_mut(t).unwrap().poll() {
            return;
        }
    }
    panic!("worker {t} never idle");
}

/// The client `a` connects, the server's worker accepts and the server app
/// hears of it; then `a` detaches and `b` attaches in its worker slot; then
/// the server accepts (`refuse`: refuses). With workers, the detach runs
/// before the connect thread learns that the half-open moved (its RPCs wait
/// in its queue), so the detach cannot reach the moved connection and ct
/// alone must see that its client is gone. `b` must hear nothing of `a`'s
/// connect, the server's session is closed, and nothing is left once the
/// apps go. Without the client's generation in the connection, `b` got
/// `a`'s Connected (fifos in a segment it was never told of) or connect
/// error. With no workers the detach's cleanup of the moved connection runs
/// at once (an RPC to the own thread runs inline): the same checks guard
/// that path.
fn connect_detach_reuse_before_the_accept_reply(n_workers: u32, port: u16, refuse: bool) {
    let mut env = Env::new(n_workers);
    let server = env.attach("server", Scope::LOCAL);
    let a = env.attach("a", Scope::LOCAL);
    env.listen(&server, port);
    drain(&server.q);
    let a_wrk = a.wrk;
    let cl = env.stack.main().transport_cl_thread();
    on(&mut env, cl, |apps, w| apps.connect(w, a_wrk, lo(port), 5)).unwrap();
    // The connect thread hands the connect over; the accepting worker (the
    // connect thread itself with no workers) accepts and tells the server.
    // With workers, the connect thread (where the half-open session lives)
    // does not run again: the accepting worker's news of the migration
    // waits in its queue.
    poll_alone(&mut env, cl);
    for t in (0..=n_workers).filter(|t| *t != cl) {
        poll_alone(&mut env, t);
    }
    let sf = accepted(&server.q).expect("server got no accept");

    // `a` detaches, thread by thread, with no other work run in between.
    let wrks = env.stack.apps().detach_invalidate(a.app).unwrap();
    for t in 0..=n_workers {
        on(&mut env, t, |apps, w| apps.detach_on_thread(w, &wrks));
    }
    env.stack.apps().detach_finish(a.app).unwrap();
    let b = env.attach("b", Scope::LOCAL);
    assert_eq!(b.wrk.index(), a.wrk.index(), "the pool reuses the index");
    assert_ne!(b.wrk, a.wrk);

    let (s_wrk, ss) = (server.wrk, sf.session);
    let reply = if refuse {
        Err(ct_session::SessionError::Refused)
    } else {
        Ok(())
    };
    on(&mut env, ss.thread_index(), |apps, w| {
        apps.accept_reply(w, s_wrk, ss, reply)
    })
    .unwrap();
    env.idle();
    let n = names(&drain(&b.q));
    assert!(
        n.is_empty(),
        "b ({n_workers} workers, refuse: {refuse}) got a's messages: {n:?}"
    );
    if !refuse {
        let n = names(&drain(&server.q));
        assert!(
            n.contains(&"disconnected") || n.contains(&"reset"),
            "server not told its client went ({n_workers} workers): {n:?}"
        );
        // The server closes the session it was told is gone.
        env.stack.disconnect(server.wrk, ss).unwrap();
        env.idle();
    }
    env.stack.detach(b.app).unwrap();
    env.idle();
    env.stack.detach(server.app).unwrap();
    env.assert_clean();
}

#[test]
fn a_reused_client_index_gets_no_connected_for_the_detached_clients_connect() {
    connect_detach_reuse_before_the_accept_reply(2, 4104, false);
}

#[test]
fn a_reused_client_index_gets_no_connect_error_for_the_detached_clients_connect() {
    connect_detach_reuse_before_the_accept_reply(2, 4105, true);
}

#[test]
fn a_detach_on_the_connect_thread_itself_cleans_the_moved_connection() {
    for refuse in [false, true] {
        connect_detach_reuse_before_the_accept_reply(0, 4106, refuse);
    }
}
