//! An app that closes a session and detaches right after, with the TX event
//! of its last write never read by the stack (an external app's queue is
//! abandoned at detach; stackd's apps hit this): the detach still closes
//! and cleans the session, the peer still hears of the data and of the
//! close, nothing leaks. Stepped on the test thread, so each case is
//! deterministic; without the fix the cleanup waits for the lost event
//! forever and the stack never goes idle.

mod common;

use app_worker::Scope;
use common::*;

/// The client's last write: data in its tx fifo and the event flag set, but
/// the TX event that should follow never reaches the stack.
fn write_with_lost_tx_event(cf: &app_worker::SessionFifos, data: &[u8]) {
    let mut p = cf.tx_fifo.producer().unwrap();
    assert_eq!(p.enqueue(data).unwrap(), data.len());
    assert!(cf.tx_fifo.set_event(), "flag was clear");
}

/// The server got the data notification and the close (not a reset: the
/// client left nothing unread), reads every byte, closes; then it detaches
/// and ct is clean.
fn server_sees_data_then_close(env: &mut Env, server: &App, sf: &app_worker::SessionFifos) {
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
    app_worker::SessionFifos,
    app_worker::SessionFifos,
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
