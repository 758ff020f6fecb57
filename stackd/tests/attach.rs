//! Attach, namespaces, workers and detach over the app socket.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ct_app_interface::SessionError;
use ct_app_interface::sapi::SapiSocket;
use ct_app_interface::wire::SapiMsg;
use ct_fifo_segment::MsgQueue;
use ct_stackd::{NamespaceCfg, Stackd, StackdConfig};

#[test]
fn attach_replies_with_queues_and_fds() {
    let (d, path) = daemon(2, "attach");
    let app = TestApp::attach(&path, "a");
    let r = &app.w.reply;
    assert_eq!(r.n_threads, 3);
    assert_eq!(r.queues.len(), 3);
    assert_eq!(r.wrk_index, 0);
    assert_eq!(app.w.wrk_evtfds.len(), 3);
    assert_eq!(app.w.mq.size() as u64, r.mq_segment_size);
    // The queues are where the reply says, and a second attach of the
    // same queue by offset is refused a taken role only per object tree.
    for &(e, c) in &r.queues {
        assert!(MsgQueue::attach(&app.w.mq, e).is_ok());
        assert!(MsgQueue::attach(&app.w.mq, c).is_ok());
    }
    let c = wait_counters(&d, "attached", |c| c.apps == 1);
    assert_eq!((c.stack_apps, c.app_workers), (1, 1));
    let info = d.apps();
    assert_eq!(info.len(), 1);
    assert_eq!((info[0].name.as_str(), info[0].workers), ("a", 1));
    assert_eq!(info[0].app_index, r.app_index);
    assert_eq!(info[0].namespace, "default");
    // SO_PEERCRED: this very process.
    assert_eq!(info[0].peer.pid, std::process::id() as i32);
    assert!(c.segments >= 2, "mq segment and the first app segment: {c}");
    // A second app with the same name is refused, the first stays.
    assert_eq!(
        TestApp::attach_with(&path, attach_req("a")).err(),
        Some(SessionError::AppAttached.code())
    );
    drop(app);
    let c = wait_counters(&d, "hangup detach", |c| c.apps == 0);
    assert!(c.hangup_detaches >= 1);
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
    assert!(!path.exists(), "socket file removed on stop");
}

#[test]
fn namespace_secret_is_checked_and_the_connection_stays_usable() {
    let (dflt, blue) = (sock_path("ns-default"), sock_path("ns-blue"));
    let cfg = StackdConfig::new(&dflt).with_namespace(NamespaceCfg::new("blue", 42, &blue));
    let d = Stackd::start(cfg).unwrap();
    let sock = SapiSocket::connect(&blue).unwrap();
    let mut req = attach_req("blue-app");
    req.namespace_secret = 41;
    let (r, fds) = request(&sock, &SapiMsg::AttachReq(req.clone()));
    assert!(fds.is_empty());
    match r {
        SapiMsg::AttachReply(r) => assert_eq!(r.error, SessionError::WrongNsSecret.code()),
        other => panic!("{other:?}"),
    }
    // Another namespace's id on this socket is refused too.
    let mut other_ns = req.clone();
    other_ns.namespace_id = "default".into();
    other_ns.namespace_secret = 42;
    match request(&sock, &SapiMsg::AttachReq(other_ns)).0 {
        SapiMsg::AttachReply(r) => assert_eq!(r.error, SessionError::InvalidNs.code()),
        other => panic!("{other:?}"),
    }
    // The right secret works on the same connection.
    req.namespace_secret = 42;
    match request(&sock, &SapiMsg::AttachReq(req)) {
        (SapiMsg::AttachReply(r), fds) => {
            assert_eq!(r.error, 0);
            assert_eq!(fds.len(), 2 + r.n_threads as usize);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.counters().apps, 1);
    drop(sock);
    wait_counters(&d, "detach", |c| c.apps == 0);
    assert!(d.stop().is_empty());
}

#[test]
fn malformed_records_are_errors_and_the_daemon_keeps_serving() {
    let (d, path) = daemon(1, "malformed");
    let bad = SapiSocket::connect(&path).unwrap();
    // Garbage, a bad version, a truncated attach, a stack-only record.
    bad.send_raw(b"\xde\xad\xbe\xef", &[]).unwrap();
    let mut rec = SapiMsg::DetachReq.encode().unwrap();
    rec[2] = 99;
    bad.send_raw(&rec, &[]).unwrap();
    let mut att = SapiMsg::AttachReq(attach_req("x")).encode().unwrap();
    att.truncate(att.len() - 3);
    bad.send_raw(&att, &[]).unwrap();
    bad.send(&SapiMsg::DetachReply { error: 0 }, &[]).unwrap();
    let c = wait_counters(&d, "bad records", |c| c.bad_records >= 4);
    assert_eq!(c.apps, 0);
    // The same connection still attaches, and so does another app.
    let (r, _) = request(&bad, &SapiMsg::AttachReq(attach_req("after-garbage")));
    assert!(
        matches!(r, SapiMsg::AttachReply(ref r) if r.error == 0),
        "{r:?}"
    );
    let other = TestApp::attach(&path, "other");
    assert_eq!(wait_counters(&d, "two apps", |c| c.apps == 2).apps, 2);
    drop((bad, other));
    wait_counters(&d, "both detached", |c| c.apps == 0);
    assert!(d.stop().is_empty());
}

#[test]
fn too_many_bad_records_close_the_connection() {
    let path = sock_path("strikes-sock");
    let mut cfg = StackdConfig::new(&path);
    cfg.max_strikes = 3;
    let d = Stackd::start(cfg).unwrap();
    let app = TestApp::attach(&path, "noisy");
    for _ in 0..3 {
        app.sock.send_raw(b"garbage!!!!!", &[]).unwrap();
    }
    assert!(app.socket_closed(Instant::now() + WAIT));
    let c = wait_counters(&d, "detached", |c| c.apps == 0);
    assert_eq!(c.bad_records, 3);
    assert!(d.stop().is_empty());
}

#[test]
fn detach_request_and_worker_add_del() {
    let (d, path) = daemon(1, "workers");
    let app = TestApp::attach(&path, "multi");
    let (r, fds) = request(&app.sock, &SapiMsg::AddWorkerReq);
    let SapiMsg::AddWorkerReply(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.wrk_index, 1);
    assert_ne!(r.app_wrk, app.w.reply.app_wrk);
    let w1 = WorkerQueues::map(r, fds);
    assert_eq!(
        wait_counters(&d, "two workers", |c| c.app_workers == 2).apps,
        1
    );
    // Worker 0 goes only with the app; an unknown worker is an error.
    for (i, e) in [(0, SessionError::Invalid), (7, SessionError::InvalidAppWrk)] {
        match request(&app.sock, &SapiMsg::DelWorkerReq { wrk_index: i }).0 {
            SapiMsg::DelWorkerReply { error } => assert_eq!(error, e.code()),
            other => panic!("{other:?}"),
        }
    }
    match request(&app.sock, &SapiMsg::DelWorkerReq { wrk_index: 1 }).0 {
        SapiMsg::DelWorkerReply { error } => assert_eq!(error, 0),
        other => panic!("{other:?}"),
    }
    let c = wait_counters(&d, "one worker", |c| c.app_workers == 1);
    assert_eq!(c.apps, 1);
    assert_eq!(d.stack().unwrap().apps().n_app_workers(), 1);
    assert_eq!(d.apps()[0].workers, 1);
    drop(w1);
    // At most MAX_WORKERS_PER_APP workers.
    let mut more = Vec::new();
    let refused = loop {
        match request(&app.sock, &SapiMsg::AddWorkerReq) {
            (SapiMsg::AddWorkerReply(r), fds) if r.error == 0 => {
                more.push(WorkerQueues::map(r, fds));
            }
            (SapiMsg::AddWorkerReply(r), _) => break r.error,
            other => panic!("{other:?}"),
        }
        assert!(more.len() < ct_stackd::MAX_WORKERS_PER_APP, "no limit");
    };
    assert_eq!(refused, SessionError::Alloc.code());
    assert_eq!(more.len() + 1, ct_stackd::MAX_WORKERS_PER_APP);
    drop(more);
    match request(&app.sock, &SapiMsg::DetachReq).0 {
        SapiMsg::DetachReply { error } => assert_eq!(error, 0),
        other => panic!("{other:?}"),
    }
    let c = wait_counters(&d, "detached", |c| c.is_empty());
    assert_eq!(c.hangup_detaches, 0);
    // Detached: a second detach or an add-worker is an error, not a crash.
    match request(&app.sock, &SapiMsg::AddWorkerReq).0 {
        SapiMsg::AddWorkerReply(r) => assert_eq!(r.error, SessionError::NoApp.code()),
        other => panic!("{other:?}"),
    }
    assert!(d.stop().is_empty());
}

#[test]
fn stop_detaches_attached_apps() {
    let (d, path) = daemon(1, "stop");
    let a = TestApp::attach(&path, "a");
    let b = TestApp::attach(&path, "b");
    wait_counters(&d, "attached", |c| c.apps == 2);
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
    assert!(a.socket_closed(Instant::now() + Duration::from_secs(5)));
    assert!(b.socket_closed(Instant::now() + Duration::from_secs(5)));
}

#[test]
fn start_refuses_a_path_that_is_not_a_socket_and_leaves_nothing() {
    let (good, bad) = (sock_path("good"), sock_path("not-a-socket"));
    std::fs::write(&bad, b"keep me").unwrap();
    let cfg = StackdConfig::new(&good).with_namespace(NamespaceCfg::new("blue", 1, &bad));
    match Stackd::start(cfg) {
        Err(ct_stackd::StackdError::Config(m)) => assert!(m.contains("not a socket"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&bad).unwrap(), b"keep me");
    assert!(!good.exists(), "the first socket is removed again");
    std::fs::remove_file(&bad).unwrap();
    // A bad configuration is refused before anything starts.
    let mut cfg = StackdConfig::new(&good);
    cfg.segment_size = 1000;
    assert!(matches!(
        Stackd::start(cfg),
        Err(ct_stackd::StackdError::Config(_))
    ));
}
