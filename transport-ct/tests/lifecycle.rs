//! ct session lifecycles end to end through the app layer, stepped on one
//! thread: connect, accept, data both ways, the closes, refusals and
//! allocation failures of issue 6.

mod common;

use common::*;
use ct_app_worker::{AppEvent, Scope};
use std::net::SocketAddr;

use ct_session::SessionError;

#[test]
fn connect_accept_data_both_ways_close_from_client() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 1234);
    drain(&server.q);
    let (sf, cf) = env.establish(&server, &client, 1234);
    // The client's fifos are the server's, crossed.
    assert!(cf.rx_fifo.same(&sf.tx_fifo) && cf.tx_fifo.same(&sf.rx_fifo));
    assert_eq!(env.ct.segments().len(), 1);
    let seg = env.ct.segments()[0].clone();
    assert_eq!((seg.client_n_sessions, seg.server_n_sessions), (1, 1));

    let (mut s_io, mut c_io) = (env.io(&sf), env.io(&cf));
    assert_eq!(c_io.write(b"ping").unwrap(), 4);
    env.idle();
    assert_eq!(names(&drain(&server.q)), ["rx"]);
    let mut buf = [0u8; 16];
    assert_eq!(s_io.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(s_io.write(b"pong!").unwrap(), 5);
    env.idle();
    assert_eq!(names(&drain(&client.q)), ["rx"]);
    assert_eq!(c_io.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"pong!");

    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.idle();
    let sm = drain(&server.q);
    assert!(names(&sm).contains(&"disconnected"), "{:?}", names(&sm));
    assert!(!names(&sm).contains(&"reset"));
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
    let (s_names, c_names) = (names(&drain(&server.q)), names(&drain(&client.q)));
    assert!(
        s_names.contains(&"cleanup") && s_names.contains(&"del-segment"),
        "{s_names:?}"
    );
    assert!(
        c_names.contains(&"cleanup") && c_names.contains(&"del-segment"),
        "{c_names:?}"
    );
    drop((s_io, c_io));
    env.assert_clean();
}

#[test]
fn close_from_server_side() {
    let mut env = Env::new(1);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
    assert!(names(&drain(&client.q)).contains(&"disconnected"));
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.assert_clean();
}

#[test]
fn close_with_unread_data_resets_the_peer() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let mut s_io = env.io(&sf);
    s_io.write(b"unread").unwrap();
    env.idle();
    drain(&client.q);
    // The client closes with data left in its rx fifo: the server is reset.
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.idle();
    let n = names(&drain(&server.q));
    assert!(n.contains(&"reset"), "{n:?}");
    assert!(!n.contains(&"disconnected"), "{n:?}");
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    drop(s_io);
    env.assert_clean();
}

#[test]
fn client_closes_before_the_server_accepts_is_refused_and_nothing_leaks() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    drain(&server.q);
    env.connect(&client, 80, 3);
    env.idle();
    let sf = accepted(&server.q).unwrap();
    // The server closes before accepting: the half-open client is refused.
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
    let cmsgs = drain(&client.q);
    let err = cmsgs.iter().find_map(|m| match m {
        AppEvent::Connected {
            result: Err(e),
            opaque,
        } => Some((*e, *opaque)),
        _ => None,
    });
    assert_eq!(err, Some((SessionError::Refused, 3)));
    env.assert_clean();
}

#[test]
fn server_refuses_accept() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    env.connect(&client, 80, 9);
    env.idle();
    let sf = accepted(&server.q).unwrap();
    env.stack
        .accept_reply(server.wrk, sf.session, Err(SessionError::Refused))
        .unwrap();
    env.idle();
    assert_eq!(
        connected(&client.q).map(|r| r.map(|_| ())),
        Some(Err(SessionError::Refused))
    );
    env.assert_clean();
}

#[test]
fn client_gone_before_the_server_accepts_disconnects_the_server() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    env.connect(&client, 80, 1);
    env.idle();
    let sf = accepted(&server.q).unwrap();
    // The client app goes away while the server decides.
    env.stack.detach(client.app).unwrap();
    env.idle();
    env.stack
        .accept_reply(server.wrk, sf.session, Ok(()))
        .unwrap();
    env.idle();
    let n = names(&drain(&server.q));
    assert!(n.contains(&"disconnected"), "{n:?}");
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.assert_clean();
}

#[test]
fn fifo_allocation_failure_is_alloc_and_frees_everything() {
    let mut env = Env::new(0);
    let mut opts = ct_app_worker::AttachOptions::new("server", ct_app_worker::AppKind::InProcess)
        .with_scope(Scope::LOCAL);
    // Fifos larger than the segment ct adds: the pair does not fit.
    opts.segment_size = 1 << 20;
    opts.rx_fifo_size = 1 << 30;
    opts.tx_fifo_size = 1 << 30;
    let server = env.attach_opts(opts);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    env.connect(&client, 80, 5);
    env.idle();
    assert_eq!(
        connected(&client.q).map(|r| r.map(|_| ())),
        Some(Err(SessionError::Alloc))
    );
    assert!(accepted(&server.q).is_none());
    env.assert_clean();
}

#[test]
fn a_full_segment_makes_ct_use_a_second_one() {
    let mut env = Env::new(0);
    let server = env.attach_opts(
        ct_app_worker::AttachOptions::new("server", ct_app_worker::AppKind::InProcess)
            .with_scope(Scope::LOCAL)
            .with_fifo_sizes(256 << 10, 256 << 10),
    );
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    // 1 MiB segments hold one 512 KiB pair plus margin, not two.
    let a = env.establish(&server, &client, 80);
    let b = env.establish(&server, &client, 80);
    let segs = env.ct.segments();
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_ne!(segs[0].segment, segs[1].segment);
    assert!(
        segs.iter()
            .all(|s| s.client_n_sessions == 1 && s.server_n_sessions == 1)
    );
    for (sf, cf) in [a, b] {
        env.stack.disconnect(client.wrk, cf.session).unwrap();
        env.stack.disconnect(server.wrk, sf.session).unwrap();
    }
    env.assert_clean();
}

#[test]
fn show_lines_have_vpp_shape() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 1234);
    let (sf, cf) = env.establish(&server, &client, 1234);
    let w = env.stack.runtime_mut().worker_mut(0).unwrap();
    let line = w.format_session(sf.session, 1).unwrap();
    assert!(line.starts_with("[0:"), "{line}");
    // The reference leaves a ct server's remote end and its client's local
    // end zero (0.0.0.0:0); here they are the client's address and port, so
    // the two lines mirror each other.
    assert!(
        line.contains("[CT:T] 127.0.0.1:1234->127.0.0.1:32768"),
        "{line}"
    );
    assert!(line.contains("ESTABLISHED"), "{line}");
    let cline = w.format_session(cf.session, 1).unwrap();
    assert!(
        cline.contains("[CT:T] 127.0.0.1:32768->127.0.0.1:1234"),
        "{cline}"
    );
    let _ = (sf, cf);
}

#[test]
fn segment_allocation_failure_is_alloc() {
    // ct's segments would be larger than any mapping can be.
    let mut env = Env::with_config(
        0,
        ct_transport_ct::CtConfig {
            min_segment_size: usize::MAX / 4,
            ..Default::default()
        },
    );
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    env.connect(&client, 80, 5);
    env.idle();
    assert_eq!(
        connected(&client.q).map(|r| r.map(|_| ())),
        Some(Err(SessionError::Alloc))
    );
    assert!(accepted(&server.q).is_none());
    env.assert_clean();
}

/// A session's (local, remote) ends as its transport reports them.
fn ends(env: &mut Env, h: ct_session::SessionHandle) -> (SocketAddr, SocketAddr) {
    let w = env
        .stack
        .runtime_mut()
        .worker_mut(h.thread_index())
        .unwrap();
    let s = w.session_get(h).unwrap();
    let tc = w
        .transport_for(s.session_type)
        .unwrap()
        .get_connection(w, s.connection_id)
        .unwrap();
    (
        SocketAddr::new(tc.lcl_ip, tc.lcl_port),
        SocketAddr::new(tc.rmt_ip, tc.rmt_port),
    )
}

/// Each end sees the other's address as its remote one, and two clients of
/// the same listener get different local ports, given back when they close.
#[test]
fn client_and_server_ends_mirror_each_other() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 1234);
    let a = env.establish(&server, &client, 1234);
    let b = env.establish(&server, &client, 1234);
    let mut client_ports = Vec::new();
    for (sf, cf) in [&a, &b] {
        let (s_lcl, s_rmt) = ends(&mut env, sf.session);
        let (c_lcl, c_rmt) = ends(&mut env, cf.session);
        assert_eq!(s_lcl, "127.0.0.1:1234".parse().unwrap());
        assert_eq!(c_rmt, s_lcl);
        assert_eq!(s_rmt, c_lcl);
        assert_eq!(c_lcl.ip(), s_lcl.ip());
        assert!(ct_session::EPHEMERAL_PORTS.contains(&c_lcl.port()));
        client_ports.push(c_lcl.port());
    }
    assert_ne!(client_ports[0], client_ports[1]);
    assert_eq!(env.ct.n_client_ports(), 2);
    for (sf, cf) in [a, b] {
        env.stack.disconnect(client.wrk, cf.session).unwrap();
        env.stack.disconnect(server.wrk, sf.session).unwrap();
    }
    env.assert_clean();
}

/// A listen on port 0 gets a free ephemeral port; a second one another.
#[test]
fn listen_on_port_zero_picks_a_free_port() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    let l1 = env.stack.listen(server.wrk, lo(0)).unwrap();
    let l2 = env.stack.listen(server.wrk, lo(0)).unwrap();
    let p1 = env.stack.apps().app_listener(l1).unwrap().endpoint().port;
    let p2 = env.stack.apps().app_listener(l2).unwrap().endpoint().port;
    assert!(ct_session::EPHEMERAL_PORTS.contains(&p1), "{p1}");
    assert!(ct_session::EPHEMERAL_PORTS.contains(&p2), "{p2}");
    assert_ne!(p1, p2);
    env.idle();
    // The port picked is the one connects reach.
    let (sf, cf) = env.establish(&server, &client, p2);
    assert_eq!(ends(&mut env, sf.session).0.port(), p2);
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.stack.unlisten(server.wrk, l1).unwrap();
    env.stack.unlisten(server.wrk, l2).unwrap();
    env.assert_clean();
}

/// Half-close through the stack: the client writes, shuts its direction,
/// and the forced TX event reaches the server as an RX event even though
/// the write's event was still pending; the server reads the data, then
/// the end, and its reply still reaches the client.
#[test]
fn half_close_reaches_the_peer_and_the_reply_comes_back() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 1234);
    let (sf, cf) = env.establish(&server, &client, 1234);
    let (mut s_io, mut c_io) = (env.io(&sf), env.io(&cf));
    assert_eq!(c_io.write(b"req").unwrap(), 3);
    c_io.shutdown_tx().unwrap();
    assert_eq!(c_io.tx_events_sent(), 2);
    assert_eq!(c_io.write(b"x"), Err(SessionError::WrongState));
    env.idle();
    assert!(names(&drain(&server.q)).contains(&"rx"));
    let mut buf = [0u8; 16];
    assert!(!s_io.peer_shutdown().unwrap());
    assert_eq!(s_io.read(&mut buf).unwrap(), 3);
    assert!(s_io.peer_shutdown().unwrap());
    // Nothing else woke the server: a second shutdown sends nothing.
    c_io.shutdown_tx().unwrap();
    assert_eq!(c_io.tx_events_sent(), 2);
    assert_eq!(s_io.write(b"reply").unwrap(), 5);
    env.idle();
    assert_eq!(names(&drain(&client.q)), ["rx"]);
    assert_eq!(c_io.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"reply");
    assert!(!c_io.peer_shutdown().unwrap());

    // A shutdown alone (nothing written) wakes the peer too.
    s_io.shutdown_tx().unwrap();
    env.idle();
    assert_eq!(names(&drain(&client.q)), ["rx"]);
    assert!(c_io.peer_shutdown().unwrap());

    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.idle();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    drop((s_io, c_io));
    env.assert_clean();
}
