//! Apps that misbehave on their queues: garbage, another app's sessions,
//! the wrong thread's queue. Each is an error and a strike; past the limit
//! the app is detached; the daemon never panics and other apps go on.

mod common;

use std::time::Instant;

use common::*;
use ct_app_interface::wire::{AppMsg, SessionRef, StackMsg};
use ct_stackd::{Stackd, StackdConfig};
use proptest::prelude::*;

fn daemon_with_strikes(workers: u32, max: u32, tag: &str) -> (Stackd, std::path::PathBuf) {
    let path = sock_path(tag);
    let mut cfg = StackdConfig::new(&path).with_workers(workers);
    cfg.max_strikes = max;
    (Stackd::start(cfg).unwrap(), path)
}

/// A server listening on `port` and a client connected to it; returns the
/// apps and both session references.
fn pair(path: &std::path::Path, port: u16) -> (TestApp, SessionRef, TestApp, SessionRef) {
    let mut server = TestApp::attach(path, &format!("srv-{port}"));
    let mut client = TestApp::attach(path, &format!("cli-{port}"));
    server.w.send(
        0,
        AppMsg::Listen {
            opaque: 1,
            ep: ep(port),
            backlog: 0,
        },
    );
    server.wait_for("bound", |_, m| {
        matches!(m, StackMsg::Bound { error: 0, .. }).then_some(())
    });
    client.w.send(
        0,
        AppMsg::Connect {
            opaque: 2,
            ep: ep(port),
        },
    );
    let (t, ss) = server.wait_for("accepted", |t, m| match *m {
        StackMsg::Accepted { session, .. } => Some((t, session)),
        _ => None,
    });
    server.w.send(
        t,
        AppMsg::AcceptReply {
            session: ss,
            error: 0,
        },
    );
    let cs = client.wait_for("connected", |_, m| match *m {
        StackMsg::Connected {
            opaque: 2,
            error: 0,
            session,
            ..
        } => Some(session),
        _ => None,
    });
    (server, ss, client, cs)
}

#[test]
fn garbage_on_the_control_queue_detaches_the_app_only() {
    let (d, path) = daemon_with_strikes(1, 3, "garbage");
    let (mut server, ss, mut client, cs) = pair(&path, 8000);
    let mut bad = TestApp::attach(&path, "bad");
    for t in [0, 1, 0] {
        bad.w.send_raw(t, &[0xee, 1, 2, 3]);
    }
    assert!(
        bad.socket_closed(Instant::now() + WAIT),
        "bad app not detached"
    );
    let c = wait_counters(&d, "bad app detached", |c| c.apps == 2);
    assert_eq!((c.bad_msgs, c.strike_detaches), (3, 1));
    // The others still talk: a close goes through.
    client.w.send(cs.thread(), AppMsg::Disconnect(cs));
    server.wait_for("disconnected", |_, m| {
        matches!(m, StackMsg::Disconnected(x) if *x == ss).then_some(())
    });
    drop((server, client, bad));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn another_apps_session_or_thread_is_a_strike_and_changes_nothing() {
    let (d, path) = daemon_with_strikes(1, 100, "owner");
    let (mut server, ss, client, cs) = pair(&path, 8100);
    let mut thief = TestApp::attach(&path, "thief");
    let t = ss.thread();
    thief.w.send(t, AppMsg::Disconnect(ss));
    thief.w.send(t, AppMsg::Reset(cs));
    thief.w.send(t, AppMsg::IoTx(ss));
    thief.w.send(
        t,
        AppMsg::AcceptReply {
            session: ss,
            error: 0,
        },
    );
    // The right app, the wrong queue: sessions talk on their own thread's
    // queue, listen and connect on thread 0's.
    let other = 1 - t;
    server.w.send(other, AppMsg::Disconnect(ss));
    server.w.send(
        1,
        AppMsg::Listen {
            opaque: 9,
            ep: ep(8101),
            backlog: 0,
        },
    );
    let c = wait_counters(&d, "strikes", |c| c.bad_msgs >= 6);
    assert_eq!((c.bad_msgs, c.sessions, c.apps), (6, 2, 3));
    // Both sessions are intact: the server still closes its own.
    server.w.send(t, AppMsg::Disconnect(ss));
    let mut client = client;
    client.wait_for("disconnected", |_, m| {
        matches!(m, StackMsg::Disconnected(x) if *x == cs).then_some(())
    });
    drop((server, client, thief));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

/// Overwrites `len` bytes at `off` of the app's mq segment through its fd
/// (what another process with the fd can do at any time).
fn scribble(app: &TestApp, off: u64, len: usize) {
    use std::os::unix::fs::FileExt;
    let fd = app.w.mq.fd().unwrap().try_clone_to_owned().unwrap();
    std::fs::File::from(fd)
        .write_all_at(&vec![0xff; len], off)
        .unwrap();
}

#[test]
fn a_scribbled_control_queue_detaches_the_app_only() {
    let (d, path) = daemon_with_strikes(1, 2, "scribble");
    let (mut server, ss, client, cs) = pair(&path, 8200);
    // The control queue of thread 0: the worker finds impossible indices
    // (every poll strikes until the app is gone).
    let a = TestApp::attach(&path, "scribbler");
    let (_, ctrl0) = a.w.reply.queues[0];
    scribble(&a, ctrl0, 256);
    a.w.wrk_evtfds[0].signal().unwrap();
    assert!(a.socket_closed(Instant::now() + WAIT), "not detached");
    let c = wait_counters(&d, "detached", |c| c.apps == 2);
    assert_eq!(c.strike_detaches, 1);
    // The pair still talks.
    server.w.send(ss.thread(), AppMsg::Disconnect(ss));
    let mut client = client;
    client.wait_for("disconnected", |_, m| {
        matches!(m, StackMsg::Disconnected(x) if *x == cs).then_some(())
    });
    drop((server, client, a));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

/// An app that does not read its events: its queue fills, the stack keeps
/// the rest (congestion), nothing is lost, and it all arrives once the app
/// reads again.
#[test]
fn a_full_event_queue_is_congestion_not_loss() {
    let (d, path) = daemon_with_strikes(1, 2, "congested");
    let mut req = attach_req("slow");
    req.evt_q_size = 64; // 64 IO slots, 32 control slots
    let mut app = TestApp::attach_with(&path, req).unwrap();
    const N: u32 = 200;
    for i in 0..N {
        // Nobody listens: each connect is answered with an error.
        app.w.send_when_room(
            0,
            AppMsg::Connect {
                opaque: i,
                ep: ep(8300),
            },
        );
    }
    let c = wait_counters(&d, "congested", |c| {
        c.congested > 0 && c.ctrl_msgs >= u64::from(N)
    });
    assert_eq!(c.bad_msgs, 0);
    let mut seen = vec![false; N as usize];
    for _ in 0..N {
        let i = app.wait_for("connect reply", |_, m| match *m {
            StackMsg::Connected { opaque, error, .. } if error != 0 => Some(opaque),
            _ => None,
        });
        assert!(
            !std::mem::replace(&mut seen[i as usize], true),
            "reply {i} twice"
        );
    }
    assert!(seen.iter().all(|&s| s));
    drop(app);
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Random bytes on the control queues: the daemon answers, counts, and
    /// keeps serving; whatever they did, detaching frees everything.
    #[test]
    fn random_control_messages_never_break_the_daemon(
        msgs in proptest::collection::vec(
            (0u32..2, proptest::collection::vec(any::<u8>(), 1..64)), 1..16),
    ) {
        let (d, path) = daemon_with_strikes(1, u32::MAX, "random");
        let mut app = TestApp::attach(&path, "random");
        for (t, bytes) in &msgs {
            app.w.send_raw(*t, bytes);
        }
        let n = msgs.len() as u64;
        wait_counters(&d, "all read", |c| c.ctrl_msgs >= n);
        // Still serving: a listen gets its answer.
        app.w.send(0, AppMsg::Listen {
                opaque: 77,
                ep: ep(9000),
                backlog: 0,
            });
        app.wait_for("bound", |_, m| {
            matches!(m, StackMsg::Bound { opaque: 77, .. }).then_some(())
        });
        drop(app);
        wait_counters(&d, "all gone", |c| c.is_empty());
        prop_assert!(d.stop().is_empty());
    }
}
