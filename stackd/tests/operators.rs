//! What an operator relies on: app names scoped per namespace and uid, the
//! sockets' mode, group and allow lists, errors that name the socket, and
//! a stop that does not count lingering ct segments as a leak.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use common::*;
use ct_app_interface::SessionError;
use ct_app_interface::sapi::SapiSocket;
use ct_app_interface::wire::{AppMsg, SapiMsg, StackMsg};
use ct_stackd::{AccessRules, NamespaceCfg, STOP_DRAIN_TIMEOUT, Stackd, StackdConfig};

#[test]
fn names_are_per_namespace_and_a_clash_is_app_attached() {
    let (dflt, blue) = (sock_path("names"), sock_path("names-blue"));
    let cfg = StackdConfig::new(&dflt).with_namespace(NamespaceCfg::new("blue", 5, &blue));
    let d = Stackd::start(cfg).unwrap();
    let a = TestApp::attach(&dflt, "same");
    assert_eq!(
        TestApp::attach_with(&dflt, attach_req("same")).err(),
        Some(SessionError::AppAttached.code())
    );
    let mut req = attach_req("same");
    req.namespace_secret = 5;
    let b = TestApp::attach_with(&blue, req).expect("the name is free in another namespace");
    // The longest name the wire carries attaches too (its mq segment's
    // memfd name is cut to fit).
    let long = TestApp::attach(&dflt, &"n".repeat(255));
    let c = wait_counters(&d, "three apps", |c| c.apps == 3);
    assert_eq!(c.stack_apps, 3);
    drop((a, b, long));
    wait_counters(&d, "detached", |c| c.apps == 0);
    assert!(d.stop().is_empty());
}

#[test]
fn sockets_are_0660_with_the_configured_group() {
    let path = sock_path("mode");
    let mut cfg = StackdConfig::new(&path);
    cfg.access.socket_group = Some(4242);
    let d = Stackd::start(cfg).unwrap();
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o660);
    assert_eq!(m.gid(), 4242);
    assert!(d.stop().is_empty());
}

fn attach_error(path: &std::path::Path) -> i32 {
    let sock = SapiSocket::connect(path).unwrap();
    match request(&sock, &SapiMsg::AttachReq(attach_req("who"))).0 {
        SapiMsg::AttachReply(r) => r.error,
        other => panic!("{other:?}"),
    }
}

#[test]
fn allow_lists_are_checked_against_the_peer_credentials() {
    let me = rustix::process::getuid().as_raw();
    let my_gid = rustix::process::getgid().as_raw();
    let path = sock_path("allow");
    let mut cfg = StackdConfig::new(&path);
    cfg.access = AccessRules {
        allow_uids: vec![me.wrapping_add(1)],
        ..AccessRules::default()
    };
    let d = Stackd::start(cfg).unwrap();
    assert_eq!(attach_error(&path), SessionError::NotPermitted.code());
    let c = d.counters();
    assert_eq!((c.apps, c.access_refused), (0, 1));
    assert!(d.stop().is_empty());
    // Allowed by primary gid.
    let mut cfg = StackdConfig::new(&path);
    cfg.access.allow_gids = vec![my_gid];
    let d = Stackd::start(cfg).unwrap();
    assert_eq!(attach_error(&path), 0);
    assert!(d.stop().is_empty());
}

#[test]
fn socket_errors_name_the_path_once() {
    let (d, path) = daemon(1, "in-use");
    let e = Stackd::start(StackdConfig::new(&path))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("bind"), "{e}");
    assert_eq!(e.matches("app socket").count(), 1, "{e}");
    assert!(d.stop().is_empty());

    let file = sock_path("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under = file.join("x.sock");
    let e = Stackd::start(StackdConfig::new(&under))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&file.display().to_string()) && e.contains("not a directory"),
        "{e}"
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_ct_segment_linger_longer_than_the_stop_drain_is_no_leak() {
    let path = sock_path("linger");
    let mut cfg = StackdConfig::new(&path);
    cfg.ct_segment_linger = STOP_DRAIN_TIMEOUT * 4;
    let d = Stackd::start(cfg).unwrap();
    let mut server = TestApp::attach(&path, "linger-server");
    let mut client = TestApp::attach(&path, "linger-client");
    server.listen(7300);
    client.w.send(
        0,
        AppMsg::Connect {
            opaque: 1,
            ep: ep(7300),
        },
    );
    let (_, ss, _, _) = server.accept_next();
    let cs = client.wait_for("connected", |_, m| match *m {
        StackMsg::Connected {
            error: 0, session, ..
        } => Some(session),
        _ => None,
    });
    // Both ends close; the segment lingers while both apps stay.
    client.w.send(cs.thread(), AppMsg::Disconnect(cs));
    server.wait_for("disconnected", |_, m| {
        matches!(m, StackMsg::Disconnected(x) if *x == ss).then_some(())
    });
    server.w.send(ss.thread(), AppMsg::Disconnect(ss));
    let c = wait_counters(&d, "the session gone, its segment lingering", |c| {
        c.apps == 2 && c.sessions == 0 && c.ct_connections == 0 && c.ct_segments >= 1
    });
    // One segment between the two app workers, and ct's one context for
    // it, each counted as itself.
    assert_eq!((c.ct_segments, c.ct_segment_contexts), (1, 1), "{c}");
    let started = Instant::now();
    let left = d.stop();
    assert!(left.is_empty(), "{left}");
    assert!(started.elapsed() < STOP_DRAIN_TIMEOUT + Duration::from_secs(1));
    drop((server, client));
}

/// Connects to `path` with effective uid `uid` (only this thread's, and
/// back to root after): `SO_PEERCRED` records the uid at connect time.
fn connect_as(path: &std::path::Path, uid: u32) -> SapiSocket {
    let path = path.to_owned();
    std::thread::spawn(move || {
        use rustix::process::Uid;
        rustix::thread::set_thread_res_uid(None, Some(Uid::from_raw(uid)), None).unwrap();
        let s = SapiSocket::connect(&path);
        rustix::thread::set_thread_res_uid(None, Some(Uid::ROOT), None).unwrap();
        s.unwrap()
    })
    .join()
    .unwrap()
}

fn attach_on(sock: SapiSocket, name: &str) -> Result<SapiSocket, i32> {
    match request(&sock, &SapiMsg::AttachReq(attach_req(name))).0 {
        SapiMsg::AttachReply(r) if r.error == 0 => Ok(sock),
        SapiMsg::AttachReply(r) => Err(r.error),
        other => panic!("{other:?}"),
    }
}

/// One uid can neither take nor block another uid's app name: names are
/// keyed by uid, so each gets its own app and a clash is only within one
/// uid. Needs root (to connect as another uid); as another user it checks
/// nothing and says so.
#[test]
fn one_uid_cannot_take_or_block_another_uids_name() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to connect as another uid");
        return;
    }
    let (d, path) = daemon(1, "uids");
    // The socket's group (root's, 0660) lets a uid of that group connect.
    let other = 4321;
    let taken_first = attach_on(connect_as(&path, other), "svc").unwrap();
    let root_svc = attach_on(SapiSocket::connect(&path).unwrap(), "svc")
        .expect("another uid's app does not block root's name");
    assert_eq!(
        attach_on(connect_as(&path, other), "svc").err(),
        Some(SessionError::AppAttached.code())
    );
    let mut uids: Vec<_> = d.apps().iter().map(|a| a.peer.uid).collect();
    uids.sort_unstable();
    assert_eq!(uids, [0, other]);
    drop((taken_first, root_svc));
    wait_counters(&d, "detached", |c| c.apps == 0);
    assert!(d.stop().is_empty());
}
