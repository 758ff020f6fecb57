//! The listen backlog of apps in other processes (ARCHITECTURE.md,
//! "Accepts without the app"), over real queues with a hand-written app:
//! a connect completes while the server app reads nothing; sessions the
//! server has not taken fill its backlog and a connect beyond it is
//! refused (the server never hears of it); taking a session or closing it
//! frees its slot; an error reply resets it; a server that goes without
//! taking its sessions resets their peers; nothing is left afterwards.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ct_app_interface::SessionError;
use ct_app_interface::wire::{AppMsg, SapiMsg, SessionRef, StackMsg};
use hashbrown::HashSet;

fn listen(server: &mut TestApp, port: u16, backlog: u32) {
    server.w.send(
        0,
        AppMsg::Listen {
            opaque: 1,
            ep: ep(port),
            backlog,
        },
    );
    server.wait_for("bound", |_, m| {
        matches!(m, StackMsg::Bound { error: 0, .. }).then_some(())
    });
}

/// Connects and waits for the answer: the session, or the error code.
fn connect(client: &mut TestApp, port: u16, opaque: u32) -> Result<SessionRef, i32> {
    client.w.send(
        0,
        AppMsg::Connect {
            opaque,
            ep: ep(port),
        },
    );
    client.wait_for("connected", |_, m| match *m {
        StackMsg::Connected {
            opaque: o,
            error,
            session,
            ..
        } if o == opaque => Some(if error == 0 { Ok(session) } else { Err(error) }),
        _ => None,
    })
}

/// The next `Accepted` on the server: (thread, session).
fn accepted(server: &mut TestApp) -> (u32, SessionRef) {
    server.wait_for("accepted", |t, m| match *m {
        StackMsg::Accepted { session, .. } => Some((t, session)),
        _ => None,
    })
}

/// Waits for the peer of `s` to be reset.
fn reset(app: &mut TestApp, s: SessionRef) {
    app.wait_for("reset", |_, m| {
        matches!(m, StackMsg::Reset(x) if *x == s).then_some(())
    });
}

#[test]
fn connects_complete_without_the_server_and_beyond_its_backlog_are_refused() {
    let (d, path) = daemon(2, "backlog");
    let mut server = TestApp::attach(&path, "server");
    let mut client = TestApp::attach(&path, "client");
    listen(&mut server, 9100, 2);
    // The server reads nothing while its clients connect.
    let c1 = connect(&mut client, 9100, 1).expect("first connect");
    let c2 = connect(&mut client, 9100, 2).expect("second connect");
    assert_eq!(
        connect(&mut client, 9100, 3),
        Err(SessionError::Refused.code())
    );
    let c = wait_counters(&d, "two waiting, one refused", |c| {
        c.unaccepted == 2 && c.backlog_refused == 1
    });
    assert_eq!(c.failed_requests, 0);
    // The server hears of the two it has, never of the refused one.
    let (t1, s1) = accepted(&mut server);
    let (t2, s2) = accepted(&mut server);
    let known: HashSet<SessionRef> = [s1, s2].into();
    // Taking one frees a slot: the next connect completes, the one after
    // is refused again.
    server.w.send(
        t1,
        AppMsg::AcceptReply {
            session: s1,
            error: 0,
        },
    );
    wait_counters(&d, "one taken", |c| c.unaccepted == 1);
    let c4 = connect(&mut client, 9100, 4).expect("a connect after the accept");
    let (t4, s4) = accepted(&mut server);
    assert_eq!(
        connect(&mut client, 9100, 5),
        Err(SessionError::Refused.code())
    );
    // An error reply resets the session; closing one not taken frees its
    // slot too.
    server.w.send(
        t2,
        AppMsg::AcceptReply {
            session: s2,
            error: SessionError::Refused.code(),
        },
    );
    server.w.send(t4, AppMsg::Reset(s4));
    // (Which client session is whose peer the test cannot tell: the
    // server reads its threads' queues in its own order.)
    let live = [c1, c2, c4];
    let mut peers_reset = HashSet::new();
    while peers_reset.len() < 2 {
        peers_reset.insert(client.wait_for("reset", |_, m| match *m {
            StackMsg::Reset(x) if live.contains(&x) => Some(x),
            _ => None,
        }));
    }
    wait_counters(&d, "slots free", |c| c.unaccepted == 0);
    let c6 = connect(&mut client, 9100, 6).expect("a connect after the resets");
    let (_, s6) = accepted(&mut server);
    // A late reply for a session taken already is the app's own mistake,
    // not a strike.
    server.w.send(
        t1,
        AppMsg::AcceptReply {
            session: s1,
            error: 0,
        },
    );
    wait_counters(&d, "late reply answered", |c| c.failed_requests == 1);
    let deadline = Instant::now() + Duration::from_millis(100);
    while let Some((_, m)) = server.next(deadline) {
        if let Some(s) = m.session() {
            assert!(
                known.contains(&s) || [s4, s6].contains(&s),
                "server told of {m:?}"
            );
        }
    }
    let c = d.counters();
    assert_eq!((c.bad_msgs, c.backlog_refused), (0, 2), "{c}");
    drop((server, client, c6));
    let c = wait_counters(&d, "all gone", |c| c.is_empty());
    assert_eq!(c.unaccepted, 0);
    assert!(d.stop().is_empty());
}

/// A server that never takes its sessions and then goes: its clients are
/// reset (not closed in order: they never had a server).
fn server_goes_without_accepting(hangup: bool) {
    let (d, path) = daemon(2, "never-accepts");
    let mut client = TestApp::attach(&path, "client");
    let mut server = TestApp::attach(&path, "server");
    listen(&mut server, 9200, 0);
    let sessions: Vec<SessionRef> = (0..5)
        .map(|i| connect(&mut client, 9200, i).expect("connect"))
        .collect();
    wait_counters(&d, "waiting", |c| c.unaccepted == 5);
    if hangup {
        drop(server);
    } else {
        match request(&server.sock, &SapiMsg::DetachReq).0 {
            SapiMsg::DetachReply { error } => assert_eq!(error, 0),
            other => panic!("{other:?}"),
        }
    }
    for &s in &sessions {
        reset(&mut client, s);
        client.w.send(s.thread(), AppMsg::Disconnect(s));
    }
    wait_counters(&d, "server side gone", |c| {
        c.apps == 1 && c.sessions == 0 && c.unaccepted == 0
    });
    drop(client);
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn a_server_that_detaches_without_accepting_resets_its_clients() {
    server_goes_without_accepting(false);
}

#[test]
fn a_server_that_dies_without_accepting_resets_its_clients() {
    server_goes_without_accepting(true);
}
