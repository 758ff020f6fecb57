//! The bugs VPP fixed in `application_local.c` after the reference commit:
//! each test fails on the reference's behaviour.

mod common;

use common::*;
use ct_app_worker::{AppEvent, AppKind, AttachOptions, Scope};
use ct_fifo_segment::DeqNtf;
use ct_session::{SessionError, SessionFlags};

fn pair(env: &mut Env) -> (App, App) {
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    drain(&server.q);
    (server, client)
}

/// VPP 63d228e: the reader drained the fifo (and found no request) while
/// the writer's TX event travelled; the writer armed its request after.
/// The reference never notifies; ct must notify the writer at once.
#[test]
fn drained_while_the_enqueue_notification_travels_still_notifies_the_writer() {
    let mut env = Env::new(0);
    let (server, client) = pair(&mut env);
    let (sf, cf) = env.establish(&server, &client, 80);
    let (mut s_io, mut c_io) = (env.io(&sf), env.io(&cf));
    drain(&client.q);
    assert_eq!(c_io.write(b"abc").unwrap(), 3); // TX event queued
    let mut buf = [0u8; 8];
    assert_eq!(s_io.read(&mut buf).unwrap(), 3); // nothing armed yet: no RX-dequeue
    cf.tx_fifo.add_want_deq_ntf(DeqNtf::NOTIF); // the writer asks, too late
    env.idle();
    let n = names(&drain(&client.q));
    assert!(
        n.contains(&"tx"),
        "writer never told its fifo drained: {n:?}"
    );
    assert!(cf.tx_fifo.want_deq_ntf().is_empty());
}

/// VPP e64d38d + 81d7593: the writer filled the fifo again while the
/// reader's dequeue notification travelled. The reference sends a useless
/// TX event and marks the IF_FULL notification sent, so the next one is
/// lost; ct asks for another notification instead.
#[test]
fn filled_while_the_dequeue_notification_travels_asks_again() {
    let mut env = Env::new(0);
    let (server, client) = pair(&mut env);
    let (sf, cf) = env.establish(&server, &client, 80);
    let (mut s_io, mut c_io) = (env.io(&sf), env.io(&cf));
    let chunk = vec![7u8; 1024];
    while c_io.write(&chunk).unwrap() > 0 {}
    env.idle();
    drain(&client.q);
    drain(&server.q);
    // Armed by the writer on the full fifo.
    assert!(cf.tx_fifo.want_deq_ntf().contains(DeqNtf::NOTIF));
    let mut buf = [0u8; 100];
    assert_eq!(s_io.read(&mut buf).unwrap(), 100); // RX-dequeue event queued
    assert_eq!(c_io.write(&buf).unwrap(), 100); // full again before it lands
    env.idle();
    let n = names(&drain(&client.q));
    assert!(!n.contains(&"tx"), "writer woken for a full fifo: {n:?}");
    assert!(cf.tx_fifo.want_deq_ntf().contains(DeqNtf::NOTIF));
    // The next read notifies.
    assert_eq!(s_io.read(&mut buf).unwrap(), 100);
    env.idle();
    assert!(names(&drain(&client.q)).contains(&"tx"));
}

/// VPP 696b91c: a refused connect returns the client's share of the fifos
/// with client accounting, not server accounting.
#[test]
fn refused_connect_counts_down_the_client_side() {
    let mut env = Env::new(0);
    let (server, client) = pair(&mut env);
    let (_sf, _cf) = env.establish(&server, &client, 80);
    env.connect(&client, 80, 2);
    env.idle();
    let sf2 = accepted(&server.q).unwrap();
    let segs = env.ct.segments();
    assert_eq!(segs.len(), 1);
    assert_eq!(
        (segs[0].client_n_sessions, segs[0].server_n_sessions),
        (2, 2)
    );
    env.stack
        .accept_reply(server.wrk, sf2.session, Err(SessionError::Refused))
        .unwrap();
    env.idle();
    let segs = env.ct.segments();
    assert_eq!(
        (segs[0].client_n_sessions, segs[0].server_n_sessions),
        (1, 1),
        "{segs:?}"
    );
}

/// VPP 9cab992: get_peer of a session whose peer is gone.
#[test]
fn get_peer_of_a_session_whose_peer_was_freed() {
    let mut env = Env::new(0);
    let (server, client) = pair(&mut env);
    let (sf, cf) = env.establish(&server, &client, 80);
    let ct = env.ct.clone();
    {
        let w = env.stack.runtime_mut().worker_mut(0).unwrap();
        assert_eq!(ct.get_peer(w, sf.session), Ok(cf.session));
        assert_eq!(ct.get_peer(w, cf.session), Ok(sf.session));
    }
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.idle();
    let w = env.stack.runtime_mut().worker_mut(0).unwrap();
    assert_eq!(ct.get_peer(w, sf.session), Err(SessionError::NoSession));
    assert_eq!(ct.get_peer(w, cf.session), Err(SessionError::NoSession));
}

/// VPP e439b1e: cleanup waits for an RX event not yet delivered to the
/// app (here: its queue is full), as it waits for a pending TX event.
#[test]
fn cleanup_waits_for_a_pending_rx_event() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let mut opts = AttachOptions::new("client", AppKind::InProcess).with_scope(Scope::LOCAL);
    opts.evt_q_size = 1;
    let client = env.attach_opts(opts);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let (mut s_io, mut c_io) = (env.io(&sf), env.io(&cf));
    s_io.write(b"a").unwrap();
    env.idle();
    assert_eq!(client.q.len(), 1); // RX: the client's queue is full now
    let mut buf = [0u8; 4];
    assert_eq!(c_io.read(&mut buf).unwrap(), 1);
    s_io.write(b"b").unwrap();
    for _ in 0..5 {
        env.stack.step();
    }
    // The second RX event waits in the stack, congested.
    let w = env.stack.runtime_mut().worker_mut(0).unwrap();
    assert!(
        w.session_get(cf.session)
            .unwrap()
            .flags
            .contains(SessionFlags::RX_EVT)
    );
    assert_eq!(c_io.read(&mut buf).unwrap(), 1);
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    for _ in 0..50 {
        env.stack.step();
    }
    // Not cleaned up yet: the session is not deleted, both connections
    // live, and the server has not heard of the close.
    let ct = env.ct.clone();
    let w = env.stack.runtime_mut().worker_mut(0).unwrap();
    let state = w.session_get(cf.session).unwrap().state();
    assert!(
        state < ct_session::SessionState::TransportClosed,
        "cleaned up with an RX event still pending ({state})"
    );
    assert_eq!(ct.worker_state(w).unwrap().n_connections(), 2);
    let n = names(&drain(&server.q));
    assert!(
        !n.contains(&"disconnected") && !n.contains(&"reset"),
        "{n:?}"
    );
    // The app drains its queue: the RX event goes out, then the cleanup.
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(drain(&client.q));
        env.stack.step();
    }
    let n = names(&seen);
    let rx = n.iter().position(|m| *m == "rx");
    let cleanup = n.iter().position(|m| *m == "cleanup");
    assert!(rx.is_some() && cleanup.is_some() && rx < cleanup, "{n:?}");
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    drop((s_io, c_io));
    env.assert_clean();
}

/// VPP 6d14c0c: a reset resets the peer even with no unread data.
#[test]
fn forced_reset_resets_the_peer() {
    let mut env = Env::new(0);
    let (server, client) = pair(&mut env);
    let (sf, cf) = env.establish(&server, &client, 80);
    env.stack.reset(client.wrk, cf.session).unwrap();
    env.idle();
    let n = names(&drain(&server.q));
    assert!(
        n.contains(&"reset") && !n.contains(&"disconnected"),
        "{n:?}"
    );
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.assert_clean();
}

/// VPP 5707bc4: an app may connect to its own listener, unless that
/// listener is a catch-all (proxy) one.
#[test]
fn self_connect_unless_the_listener_is_a_proxy() {
    let mut env = Env::new(0);
    let app = env.attach("both", Scope::LOCAL);
    env.listen(&app, 80);
    env.connect(&app, 80, 11);
    env.idle();
    let sf = accepted(&app.q).expect("self connect reached the listener");
    env.stack.accept_reply(app.wrk, sf.session, Ok(())).unwrap();
    env.idle();
    let cf = connected(&app.q).unwrap().unwrap();
    env.stack.disconnect(app.wrk, cf.session).unwrap();
    env.idle();
    env.stack.disconnect(app.wrk, sf.session).unwrap();
    env.assert_clean();

    // Made a proxy listener: the connect would loop, so it leaves the local
    // scope, which this app may not.
    let lh = env
        .stack
        .main()
        .lookup()
        .lookup_local_endpoint(
            env.stack
                .apps()
                .application_get(app.app.index())
                .unwrap()
                .local_session_table()
                .unwrap(),
            &lo(80),
        )
        .unwrap()
        .listener()
        .unwrap();
    env.stack
        .main()
        .listen_session_update(lh, |s| s.flags.insert(SessionFlags::PROXY))
        .unwrap();
    assert_eq!(
        env.stack.connect(app.wrk, lo(80), 12).map(|_| ()),
        Err(SessionError::NoRoute)
    );
}

/// VPP 9375266: a multi-worker client app's workers never see one handle
/// for two segments: each segment, even one that reuses a deleted
/// segment's slot, has its own handle (generation).
#[test]
fn client_segment_handles_do_not_collide_across_app_workers() {
    let mut env = Env::new(0);
    let (server, client) = pair(&mut env);
    let w2 = env.stack.apps().add_worker(client.app).unwrap();
    let q2 = w2.queue.clone().unwrap();
    let (sf, cf) = env.establish(&server, &client, 80);
    let h1 = env.ct.segments()[0].segment;
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
    assert!(env.ct.segments().is_empty());
    drain(&client.q);
    // The second worker's segment takes the first one's slot.
    env.stack.connect(w2.app_wrk, lo(80), 1).unwrap();
    env.idle();
    let sf2 = accepted(&server.q).unwrap();
    env.stack
        .accept_reply(server.wrk, sf2.session, Ok(()))
        .unwrap();
    env.idle();
    let adds: Vec<_> = q2
        .drain()
        .into_iter()
        .filter_map(|m| match m {
            AppEvent::AddSegment { handle, .. } => Some(handle),
            _ => None,
        })
        .collect();
    let h2 = env.ct.segments()[0].segment;
    assert!(adds.contains(&h2), "{adds:?}");
    assert_ne!(h1, h2);
    assert!(!adds.contains(&h1));
}
