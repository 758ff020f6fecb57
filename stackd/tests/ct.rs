//! Two apps in one namespace connected over ct through the daemon: listen,
//! connect, accept, data both ways through fifos both apps map, close, and
//! a client that goes away without a word.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ct_app_interface::SessionError;
use ct_app_interface::wire::{AppMsg, FifoRef, SessionRef, StackMsg};
use ct_fifo_segment::{Consumer, Producer};
use ct_stackd::{Stackd, StackdConfig};

/// One end of a session, as the test app holds it.
struct End {
    session: SessionRef,
    rx: Consumer,
    tx: Producer,
}

impl End {
    fn open(app: &TestApp, session: SessionRef, rx: FifoRef, tx: FifoRef) -> End {
        End {
            session,
            rx: app.fifo(rx).consumer().unwrap(),
            tx: app.fifo(tx).producer().unwrap(),
        }
    }

    /// Writes and tells the session's worker when the event flag was
    /// clear (the app side of VPP's TX event).
    fn write(&mut self, app: &mut TestApp, data: &[u8]) {
        assert_eq!(self.tx.enqueue(data).unwrap(), data.len());
        if self.tx.fifo().set_event() {
            app.w
                .send(self.session.thread(), AppMsg::IoTx(self.session));
        }
    }

    /// Waits for an Rx event for this session, then reads what is there.
    fn read(&mut self, app: &mut TestApp, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let deadline = Instant::now() + WAIT;
        while out.len() < n {
            let mut buf = vec![0u8; n - out.len()];
            let got = self.rx.dequeue(&mut buf).unwrap();
            out.extend_from_slice(&buf[..got]);
            if out.len() < n {
                let s = self.session;
                app.wait_for("rx", |_, m| {
                    matches!(m, StackMsg::Rx(x) if *x == s).then_some(())
                });
                assert!(Instant::now() < deadline);
            }
        }
        out
    }
}

/// A listening server, a connected client and the session between them.
fn connected(
    path: &std::path::Path,
    port: u16,
    pause: Option<Duration>,
) -> (TestApp, End, TestApp, End) {
    let mut server = TestApp::attach(path, &format!("server-{port}"));
    let mut client = TestApp::attach(path, &format!("client-{port}"));
    server.w.pause_before_send = pause;
    client.w.pause_before_send = pause;
    server.w.send(
        0,
        AppMsg::Listen {
            opaque: 7,
            ep: ep(port),
            backlog: 0,
        },
    );
    let listener = server.wait_for("bound", |_, m| match *m {
        StackMsg::Bound {
            opaque: 7,
            listener,
            lcl,
            error,
        } => {
            assert_eq!(error, 0);
            assert_eq!(lcl.port, port);
            Some(listener)
        }
        _ => None,
    });
    client.w.send(
        0,
        AppMsg::Connect {
            opaque: 9,
            ep: ep(port),
        },
    );
    let (t, accepted) = server.wait_for("accepted", |t, m| match *m {
        StackMsg::Accepted {
            listener: l,
            session,
            rx,
            tx,
            ..
        } => {
            assert_eq!(l, listener);
            Some((t, (session, rx, tx)))
        }
        _ => None,
    });
    // Events about a session come on its thread's queue.
    assert_eq!(t, accepted.0.thread());
    let s_end = End::open(&server, accepted.0, accepted.1, accepted.2);
    server.w.send(
        t,
        AppMsg::AcceptReply {
            session: accepted.0,
            error: 0,
        },
    );
    let c = client.wait_for("connected", |_, m| match *m {
        StackMsg::Connected {
            opaque: 9,
            error,
            session,
            rx,
            tx,
            ..
        } => {
            assert_eq!(error, 0);
            Some((session, rx, tx))
        }
        _ => None,
    });
    let c_end = End::open(&client, c.0, c.1, c.2);
    (server, s_end, client, c_end)
}

#[test]
fn listen_bound_and_unlisten_reply() {
    let (d, path) = daemon(1, "listen");
    let mut app = TestApp::attach(&path, "l");
    app.w.send(
        0,
        AppMsg::Listen {
            opaque: 1,
            ep: ep(5000),
            backlog: 0,
        },
    );
    let l = app.wait_for("bound", |_, m| match *m {
        StackMsg::Bound {
            opaque: 1,
            listener,
            error: 0,
            ..
        } => Some(listener),
        _ => None,
    });
    assert_eq!(wait_counters(&d, "listener", |c| c.listeners >= 1).apps, 1);
    // The same endpoint again: refused with the stack's error.
    app.w.send(
        0,
        AppMsg::Listen {
            opaque: 2,
            ep: ep(5000),
            backlog: 0,
        },
    );
    let e = app.wait_for("second bound", |_, m| match *m {
        StackMsg::Bound {
            opaque: 2, error, ..
        } => Some(error),
        _ => None,
    });
    assert_ne!(e, 0);
    app.w.send(
        0,
        AppMsg::Unlisten {
            opaque: 3,
            listener: l,
        },
    );
    let e = app.wait_for("unlisten", |_, m| match *m {
        StackMsg::UnlistenReply {
            opaque: 3, error, ..
        } => Some(error),
        _ => None,
    });
    assert_eq!(e, 0);
    // Unknown now: an error reply, not a strike.
    app.w.send(
        0,
        AppMsg::Unlisten {
            opaque: 4,
            listener: l,
        },
    );
    let e = app.wait_for("unlisten again", |_, m| match *m {
        StackMsg::UnlistenReply {
            opaque: 4, error, ..
        } => Some(error),
        _ => None,
    });
    assert_eq!(e, SessionError::NoListen.code());
    let c = wait_counters(&d, "no listener", |c| c.listeners == 0);
    assert_eq!((c.bad_msgs, c.apps), (0, 1));
    drop(app);
    wait_counters(&d, "detached", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn connect_to_nothing_is_refused() {
    let (d, path) = daemon(1, "refused");
    let mut app = TestApp::attach(&path, "lonely");
    app.w.send(
        0,
        AppMsg::Connect {
            opaque: 5,
            ep: ep(6000),
        },
    );
    let e = app.wait_for("connected", |_, m| match *m {
        StackMsg::Connected {
            opaque: 5, error, ..
        } => Some(error),
        _ => None,
    });
    assert_ne!(e, 0);
    drop(app);
    wait_counters(&d, "detached", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn ct_session_moves_data_both_ways_and_closes() {
    let (d, path) = daemon(2, "ct");
    data_both_ways_and_close(d, &path, None);
}

/// Workers that would sleep a minute unless woken: every step below needs
/// a wake-up through an eventfd (apps' ctrl_q sends, the stack's event
/// sends), and a lost one fails the test's 10 s waits.
#[test]
fn wakeups_cross_the_process_boundary() {
    let path = sock_path("wake");
    let mut cfg = StackdConfig::new(&path).with_workers(2);
    cfg.park_timeout = Duration::from_secs(60);
    let pause = Some(Duration::from_millis(20));
    data_both_ways_and_close(Stackd::start(cfg).unwrap(), &path, pause);
}

/// Workers that never sleep (`--poll`) serve the same way.
#[test]
fn polling_workers_serve_the_same() {
    let path = sock_path("poll");
    let mut cfg = StackdConfig::new(&path).with_workers(1);
    cfg.poll = true;
    data_both_ways_and_close(Stackd::start(cfg).unwrap(), &path, None);
}

fn data_both_ways_and_close(d: Stackd, path: &std::path::Path, pause: Option<Duration>) {
    let path = path.to_owned();
    let (mut server, mut s, mut client, mut c) = connected(&path, 7000, pause);
    assert!(!server.segments.is_empty() && !client.segments.is_empty());
    let c0 = wait_counters(&d, "sessions", |c| c.sessions == 2);
    assert!(c0.ct_connections >= 2 && c0.fifos >= 2, "{c0}");
    let rounds = if pause.is_some() { 3 } else { 20 };
    for round in 0..rounds {
        let msg = vec![round; 1000];
        c.write(&mut client, &msg);
        assert_eq!(s.read(&mut server, msg.len()), msg);
        s.write(&mut server, &msg[..500]);
        assert_eq!(c.read(&mut client, 500), &msg[..500]);
    }
    // The client closes; the server hears it and closes too.
    client
        .w
        .send(c.session.thread(), AppMsg::Disconnect(c.session));
    let ss = s.session;
    server.wait_for("disconnected", |_, m| {
        matches!(m, StackMsg::Disconnected(x) if *x == ss).then_some(())
    });
    server.w.send(ss.thread(), AppMsg::Disconnect(ss));
    let cs = c.session;
    client.wait_for("client cleanup", |_, m| {
        matches!(m, StackMsg::Cleanup { session, ntf: 1 } if *session == cs).then_some(())
    });
    server.wait_for("server cleanup", |_, m| {
        matches!(m, StackMsg::Cleanup { session, ntf: 1 } if *session == ss).then_some(())
    });
    // As VPP's message-queue callbacks: no transport-closed message (the
    // app learns of the end from Disconnected, Reset and the cleanups).
    for (app, me) in [(&mut client, cs), (&mut server, ss)] {
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut seen = Vec::new();
        while let Some(m) = app.next(deadline) {
            seen.push(m);
        }
        let told: Vec<_> = seen
            .iter()
            .filter(|(_, m)| matches!(m, StackMsg::TransportClosed(x) if *x == me))
            .collect();
        assert!(told.is_empty(), "{told:?}");
    }
    let c1 = wait_counters(&d, "sessions gone", |c| {
        c.sessions == 0 && c.ct_connections == 0
    });
    assert_eq!((c1.bad_msgs, c1.apps), (0, 2));
    // The session is gone: an IO event for it is only a failed request.
    client.w.send(cs.thread(), AppMsg::IoTx(cs));
    let c2 = wait_counters(&d, "failed request", |c| {
        c.failed_requests > c1.failed_requests
    });
    assert_eq!(c2.bad_msgs, 0);
    drop((s, c));
    drop((server, client));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn a_hangup_resets_even_without_unread_data() {
    // An orderly close with nothing unread is a disconnect; a process that
    // dies in the same state must still look like a reset to its peer, or
    // a stream cut short would read as complete.
    let (d, path) = daemon(1, "hangup-reset");
    let (mut server, mut s, mut client, mut c) = connected(&path, 7200, None);
    c.write(&mut client, b"partial");
    assert_eq!(s.read(&mut server, 7), b"partial");
    drop(c);
    drop(client);
    let ss = s.session;
    let reset = server.wait_for("reset or disconnect", |_, m| match m {
        StackMsg::Reset(x) if *x == ss => Some(true),
        StackMsg::Disconnected(x) if *x == ss => Some(false),
        _ => None,
    });
    assert!(reset, "a hung-up peer looked like an orderly close");
    server.w.send(ss.thread(), AppMsg::Disconnect(ss));
    drop((s, server));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn client_gone_mid_transfer_resets_the_server_and_frees_everything() {
    let (d, path) = daemon(1, "hangup");
    let (mut server, mut s, mut client, mut c) = connected(&path, 7100, None);
    c.write(&mut client, b"hello");
    assert_eq!(s.read(&mut server, 5), b"hello");
    // Data the client never reads: its side closes with unread data.
    s.write(&mut server, &[1u8; 4096]);
    client.wait_for("rx", |_, m| matches!(m, StackMsg::Rx(_)).then_some(()));
    drop(c);
    drop(client); // the process "dies": socket closed, queues unmapped
    let ss = s.session;
    server.wait_for("reset", |_, m| {
        matches!(m, StackMsg::Reset(x) | StackMsg::Disconnected(x) if *x == ss).then_some(())
    });
    server.w.send(ss.thread(), AppMsg::Disconnect(ss));
    let c1 = wait_counters(&d, "client detached", |c| c.apps == 1 && c.sessions == 0);
    assert!(c1.hangup_detaches >= 1);
    // The server keeps its listener and takes a new client.
    let mut again = TestApp::attach(&path, "client-again");
    again.w.send(
        0,
        AppMsg::Connect {
            opaque: 1,
            ep: ep(7100),
        },
    );
    let (t, session) = server.wait_for("accepted again", |t, m| match *m {
        StackMsg::Accepted { session, .. } => Some((t, session)),
        _ => None,
    });
    server.w.send(t, AppMsg::AcceptReply { session, error: 0 });
    let e = again.wait_for("connected again", |_, m| match *m {
        StackMsg::Connected {
            opaque: 1, error, ..
        } => Some(error),
        _ => None,
    });
    assert_eq!(e, 0);
    drop((s, server, again));
    let c2 = wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(c2.hangup_detaches >= 3);
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
}

#[test]
fn server_gone_with_100_live_sessions_frees_everything() {
    let (d, path) = daemon(2, "server-gone");
    let mut server = TestApp::attach(&path, "busy-server");
    let mut client = TestApp::attach(&path, "many-client");
    server.listen(7200);
    const N: u32 = 100;
    for i in 0..N {
        client.w.send(
            0,
            AppMsg::Connect {
                opaque: i,
                ep: ep(7200),
            },
        );
    }
    for _ in 0..N {
        let (t, session) = server.wait_for("accepted", |t, m| match *m {
            StackMsg::Accepted { session, .. } => Some((t, session)),
            _ => None,
        });
        server.w.send(t, AppMsg::AcceptReply { session, error: 0 });
    }
    let mut sessions = Vec::new();
    for _ in 0..N {
        sessions.push(client.wait_for("connected", |_, m| match *m {
            StackMsg::Connected {
                error: 0, session, ..
            } => Some(session),
            _ => None,
        }));
    }
    let c = wait_counters(&d, "sessions", |c| c.sessions == 2 * N as usize);
    assert!(c.fifos >= 2 * N as usize, "{c}");
    drop(server);
    // Every client session hears of it; the client closes each.
    for s in &sessions {
        client.wait_for("peer gone", |_, m| {
            matches!(m, StackMsg::Reset(x) | StackMsg::Disconnected(x) if x == s).then_some(())
        });
        client.w.send(s.thread(), AppMsg::Disconnect(*s));
    }
    let c = wait_counters(&d, "sessions freed", |c| {
        c.apps == 1
            && c.sessions == 0
            && c.ct_connections == 0
            && c.ct_segments == 0
            && c.ct_segment_contexts == 0
    });
    assert_eq!(c.bad_msgs, 0);
    drop(client);
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn two_workers_of_one_app_share_a_listener() {
    use ct_app_interface::wire::SapiMsg;
    let (d, path) = daemon(2, "two-workers");
    let mut server = TestApp::attach(&path, "server-2w");
    let (r, fds) = request(&server.sock, &SapiMsg::AddWorkerReq);
    let SapiMsg::AddWorkerReply(r) = r else {
        panic!("{r:?}")
    };
    let mut w1 = WorkerQueues::map(r, fds);
    server.w.send(
        0,
        AppMsg::Listen {
            opaque: 1,
            ep: ep(7500),
            backlog: 0,
        },
    );
    let l0 = server.wait_for("bound 0", |_, m| match *m {
        StackMsg::Bound {
            error: 0, listener, ..
        } => Some(listener),
        _ => None,
    });
    w1.send(
        0,
        AppMsg::Listen {
            opaque: 2,
            ep: ep(7500),
            backlog: 0,
        },
    );
    let deadline = Instant::now() + WAIT;
    let l1 = loop {
        match w1.recv(deadline) {
            Some((
                _,
                StackMsg::Bound {
                    opaque: 2,
                    error: 0,
                    listener,
                    ..
                },
            )) => break listener,
            Some(_) => {}
            None => panic!("no bound for worker 1"),
        }
    };
    assert_eq!(l0, l1, "one listener, two workers");
    let mut client = TestApp::attach(&path, "client-2w");
    const N: u32 = 6;
    for i in 0..N {
        client.w.send(
            0,
            AppMsg::Connect {
                opaque: i,
                ep: ep(7500),
            },
        );
    }
    let (mut on0, mut on1) = (0, 0);
    let deadline = Instant::now() + WAIT;
    while on0 + on1 < N {
        assert!(Instant::now() < deadline, "accepts: {on0} + {on1}");
        let soon = Instant::now() + Duration::from_millis(5);
        if let Some((t, StackMsg::Accepted { session, .. })) = server.next(soon) {
            server.w.send(t, AppMsg::AcceptReply { session, error: 0 });
            on0 += 1;
        }
        let soon = Instant::now() + Duration::from_millis(5);
        if let Some((t, StackMsg::Accepted { session, .. })) = w1.recv(soon) {
            w1.send(t, AppMsg::AcceptReply { session, error: 0 });
            on1 += 1;
        }
    }
    assert!(on0 > 0 && on1 > 0, "accepts alternate: {on0} + {on1}");
    for _ in 0..N {
        client.wait_for("connected", |_, m| {
            matches!(m, StackMsg::Connected { error: 0, .. }).then_some(())
        });
    }
    wait_counters(&d, "sessions", |c| c.sessions == 2 * N as usize);
    drop((w1, server, client));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}
