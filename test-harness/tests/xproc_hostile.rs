//! Hostile peers beside a good pair of processes: apps that write garbage
//! into their control queues, send malformed socket records, name other
//! apps' sessions and listeners, or fuzz the control queue (proptest). Each
//! gets an error or is detached; the daemon (in this process, so its
//! counters are readable) never panics, keeps its accounting straight and
//! keeps serving the good pair, whose stream (an echo server process and a
//! streaming client process) goes on throughout and verifies at the end.

#[allow(unused_imports)]
#[path = "../../stackd/tests/common/mod.rs"]
mod stackd_common;
mod xproc_common;

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use ct_app_interface::wire::{AppMsg, SapiMsg, SessionRef, WireEndpoint};
use ct_stackd::{Stackd, StackdConfig, StackdCounters};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stackd_common::TestApp;
use xproc_common::*;

const MAX_STRIKES: u32 = 8;

fn custom(role: &str, args: &[String]) {
    match role {
        "streamer" => streamer(args),
        _ => unreachable!("role {role}"),
    }
}

fn strict_daemon(tag: &str) -> (Stackd, String) {
    let path = sock_path(tag);
    let mut cfg = StackdConfig::new(&path).with_workers(1);
    cfg.segment_size = 16 << 20;
    cfg.max_strikes = MAX_STRIKES;
    (
        Stackd::start(cfg).unwrap(),
        path.to_string_lossy().into_owned(),
    )
}

fn ep(port: u16) -> WireEndpoint {
    stackd_common::ep(port)
}

/// What the good pair alone holds in the daemon while it streams.
fn only_the_good_pair(c: &StackdCounters) -> bool {
    c.apps == 2 && c.stack_apps == 2 && c.sessions == 2 && c.listeners == 1 && c.app_workers == 2
}

/// Sends until the daemon closes the app's socket; true if it did.
fn detached(app: &TestApp) -> bool {
    app.socket_closed(Instant::now() + WAIT)
}

/// Garbage on both control queues: detached after `MAX_STRIKES`.
fn garbage_app(path: &Path, round: u32) {
    let mut a = TestApp::attach(path, &format!("garbage-{round}"));
    for i in 0..MAX_STRIKES {
        let junk = [0xee, i as u8, 0x13, 0x37, 0, 0, 0, 0xff];
        a.w.send_raw(i % 2, &junk);
    }
    assert!(detached(&a), "garbage app not detached");
}

/// The sessions the daemon holds (the good pair's), as the wire names
/// them: what a thief would have to guess.
fn live_sessions(d: &Stackd) -> Vec<SessionRef> {
    let main = d.stack().unwrap().main();
    (0..main.n_threads())
        .flat_map(|t| main.call_blocking(t, |w| w.sessions().handles()).unwrap())
        .map(|h| SessionRef::new(h.thread_index(), h.session_index(), h.generation()))
        .collect()
}

/// Stale sessions first (no fault: answered, counted as failed
/// requests), then disconnect, reset, IO events and accept replies for
/// the good pair's live sessions: each refused as a strike (had one been
/// obeyed, the good stream would break), so the thief is detached.
fn thief_app(d: &Stackd, path: &Path, round: u32, targets: &[SessionRef]) {
    let mut a = TestApp::attach(path, &format!("thief-{round}"));
    let failed0 = d.counters().failed_requests;
    for i in 0..3 {
        a.w.send_when_room(0, AppMsg::Disconnect(SessionRef::new(0, 4000 + i, 0)));
    }
    wait_counters(d, "stale refs answered", |c| {
        c.failed_requests >= failed0 + 3
    });
    assert_eq!(d.counters().strike_detaches, u64::from(3 * round + 1));
    let mut sent = 0;
    'all: loop {
        for &s in targets {
            let msgs = [
                AppMsg::Reset(s),
                AppMsg::Disconnect(s),
                AppMsg::IoTx(s),
                AppMsg::IoRxDequeue(s),
                AppMsg::AcceptReply {
                    session: s,
                    error: 0,
                },
            ];
            for m in msgs {
                a.w.send_when_room(s.thread(), m);
                sent += 1;
                if sent >= MAX_STRIKES {
                    break 'all;
                }
            }
        }
    }
    assert!(detached(&a), "thief not detached");
}

/// Malformed socket records (bad magic, version, kind, length, a record
/// only the stack sends, an fd where none belongs): refused, detached.
fn record_app(path: &Path, round: u32) {
    let a = TestApp::attach(path, &format!("records-{round}"));
    let good = SapiMsg::AddWorkerReq.encode().unwrap();
    let mut bad: Vec<Vec<u8>> = Vec::new();
    let mut b = good.clone();
    b[0] ^= 0xff; // magic
    bad.push(b);
    let mut b = good.clone();
    b[2] = 0x7f; // version
    bad.push(b);
    let mut b = good.clone();
    b[4] = 0xff; // kind
    b[5] = 0xff;
    bad.push(b);
    let mut b = good.clone();
    b[6] = b[6].wrapping_add(9); // length says more than there is
    bad.push(b);
    bad.push(good[..5].to_vec()); // truncated header
    bad.push(vec![0x42; 300]); // noise
    bad.push(
        SapiMsg::DetachReply { error: 0 }.encode().unwrap(), // a stack-to-app record
    );
    for (sent, b) in bad
        .iter()
        .cycle()
        .take(2 * MAX_STRIKES as usize)
        .enumerate()
    {
        let r = if sent == 3 {
            // An fd with a record that carries none.
            a.sock.send_raw(&good, &[a.w.app_evtfd.as_fd()])
        } else {
            a.sock.send_raw(b, &[])
        };
        if r.is_err() {
            break; // already detached
        }
    }
    assert!(detached(&a), "record app not detached");
}

/// A delete of a worker that is not the app's: an error reply, the app
/// stays attached and its own worker works.
fn foreign_worker_app(path: &Path, round: u32) {
    let mut a = TestApp::attach(path, &format!("worker-{round}"));
    let (r, _) = stackd_common::request(&a.sock, &SapiMsg::DelWorkerReq { wrk_index: 77 });
    assert!(
        matches!(r, SapiMsg::DelWorkerReply { error } if error != 0),
        "{r:?}"
    );
    // Still served: listening on the good pair's port is refused (in
    // use), on another port granted.
    a.w.send(
        0,
        AppMsg::Listen {
            opaque: 5,
            ep: ep(4500),
            backlog: 0,
        },
    );
    a.w.send(
        0,
        AppMsg::Listen {
            opaque: 6,
            ep: ep(4501 + round as u16),
            backlog: 0,
        },
    );
    let mut errors = [None, None];
    for _ in 0..2 {
        let (o, e) = a.wait_for("bound", |_, m| match *m {
            ct_app_interface::wire::StackMsg::Bound { opaque, error, .. } => Some((opaque, error)),
            _ => None,
        });
        errors[(o - 5) as usize] = Some(e);
    }
    assert!(errors[0].is_some_and(|e| e != 0), "{errors:?}");
    assert_eq!(errors[1], Some(0));
}

#[test]
fn hostile_apps_are_refused_or_detached_while_a_good_pair_streams() {
    const TEST: &str = "hostile_apps_are_refused_or_detached_while_a_good_pair_streams";
    if child_role(custom) {
        return;
    }
    let (d, sock) = strict_daemon("hostile");
    let path = Path::new(&sock);
    let pair = GoodPair::start(TEST, &sock, 4500);
    let before = wait_counters(&d, "good pair", only_the_good_pair);
    let targets = live_sessions(&d);
    assert_eq!(targets.len(), 2);
    let rounds = 3;
    for round in 0..rounds {
        garbage_app(path, round);
        thief_app(&d, path, round, &targets);
        record_app(path, round);
        foreign_worker_app(path, round);
        let c = wait_counters(&d, "hostile apps gone", only_the_good_pair);
        // The good pair's events kept flowing through it all, on the
        // same two sessions.
        assert!(c.evt_msgs > before.evt_msgs, "{c}");
        assert_eq!(live_sessions(&d), targets);
    }
    let c = d.counters();
    assert_eq!(c.strike_detaches, u64::from(3 * rounds), "{c}");
    assert!(c.bad_msgs >= u64::from(2 * MAX_STRIKES * rounds), "{c}");
    assert!(c.bad_records >= u64::from(MAX_STRIKES * rounds), "{c}");
    assert!(c.bad_msgs <= c.ctrl_msgs, "{c}");
    let bytes = pair.finish();
    assert!(bytes >= 1 << 20);
    wait_counters(&d, "everything freed", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

/// One fuzzed control message: random bytes, or a well-formed message with
/// random fields (so validation past decoding is exercised too).
#[derive(Debug, Clone)]
enum Fuzz {
    Bytes(u32, Vec<u8>),
    Msg(u32, AppMsg),
}

fn session_ref() -> impl Strategy<Value = SessionRef> {
    (0u32..3, 0u32..6, 0u32..3).prop_map(|(t, i, g)| SessionRef::new(t, i, g))
}

fn fuzz() -> impl Strategy<Value = Fuzz> {
    // Ports away from the good pair's (4600): a fuzz connect must not
    // reach its server.
    let port = 4601u16..4605;
    let msg = prop_oneof![
        (any::<u32>(), port.clone(), any::<u32>()).prop_map(|(opaque, p, backlog)| {
            AppMsg::Listen {
                opaque,
                ep: ep(p),
                backlog,
            }
        }),
        (any::<u32>(), port).prop_map(|(opaque, p)| AppMsg::Connect { opaque, ep: ep(p) }),
        (any::<u32>(), session_ref())
            .prop_map(|(opaque, listener)| AppMsg::Unlisten { opaque, listener }),
        session_ref().prop_map(AppMsg::Disconnect),
        session_ref().prop_map(AppMsg::Reset),
        session_ref().prop_map(AppMsg::IoTx),
        session_ref().prop_map(AppMsg::IoRxDequeue),
        (session_ref(), any::<i32>())
            .prop_map(|(session, error)| AppMsg::AcceptReply { session, error }),
    ];
    prop_oneof![
        (0u32..2, proptest::collection::vec(any::<u8>(), 1..200))
            .prop_map(|(t, b)| Fuzz::Bytes(t, b)),
        (0u32..2, msg).prop_map(|(t, m)| Fuzz::Msg(t, m)),
    ]
}

#[test]
fn fuzzed_control_queues_never_break_the_daemon_or_the_good_pair() {
    const TEST: &str = "fuzzed_control_queues_never_break_the_daemon_or_the_good_pair";
    if child_role(custom) {
        return;
    }
    let (d, sock) = strict_daemon("fuzz");
    let path = Path::new(&sock).to_path_buf();
    let pair = GoodPair::start(TEST, &sock, 4600);
    wait_counters(&d, "good pair", only_the_good_pair);
    let mut runner = TestRunner::new(Config {
        cases: if cfg!(debug_assertions) { 24 } else { 96 },
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(fuzz(), 1..24);
    let result = runner.run(&strategy, |msgs| {
        let c0 = d.counters();
        let mut app = TestApp::attach(&path, "fuzz");
        for m in &msgs {
            match m {
                Fuzz::Bytes(t, b) => app.w.send_raw(*t, b),
                Fuzz::Msg(t, m) => app.w.send_when_room(*t, *m),
            }
        }
        let n = msgs.len() as u64;
        // Everything read, or the app detached for its strikes.
        let deadline = Instant::now() + WAIT;
        loop {
            let c = d.counters();
            if c.ctrl_msgs >= c0.ctrl_msgs + n || c.strike_detaches > c0.strike_detaches {
                break;
            }
            prop_assert!(Instant::now() < deadline, "messages never read: {c}");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(app);
        // Whatever it did, once it is gone only the good pair is left,
        // and the daemon's books agree with themselves.
        // The fuzz app's sessions go before their fifos and ct connections
        // (freed by the cleanup that follows on a worker): wait for both.
        let c = wait_counters(&d, "fuzz app gone", |c| {
            only_the_good_pair(c) && c.fifos == 2 && c.ct_connections == 2
        });
        prop_assert!(c.bad_msgs <= c.ctrl_msgs, "{c}");
        prop_assert!(d.apps().iter().all(|a| a.name != "fuzz"));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let bytes = pair.finish();
    assert!(bytes >= 1 << 20);
    wait_counters(&d, "everything freed", |c| c.is_empty());
    assert!(d.stop().is_empty());
}
