//! The `ct-stackd` program: options, and a clean stop on SIGTERM/SIGINT
//! with an app attached.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rustix::process::{Pid, Signal, kill_process};

fn stackd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ct-stackd"))
}

#[test]
fn bad_options_exit_2() {
    for args in [
        &["--bogus"][..],
        &["--namespace", "no-secret-or-path"],
        &["--workers", "x"],
        &["--fifo-size", "10"],
        &["--segment-size", "12Q"],
    ] {
        let out = stackd().args(args).stderr(Stdio::piped()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "ct-stackd did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stops_cleanly_on(sig: Signal) {
    let path = sock_path("bin");
    let blue = sock_path("bin-blue");
    let mut child = stackd()
        .args(["--workers", "2", "--segment-size", "4M", "--socket"])
        .arg(&path)
        .arg("--namespace")
        .arg(format!("blue:7:{}", blue.display()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !(path.exists() && blue.exists()) {
        assert!(Instant::now() < deadline, "sockets never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    let app = TestApp::attach(&path, "bin-app");
    assert_eq!(app.w.reply.n_threads, 3);
    let mut req = attach_req("blue-app");
    req.namespace_secret = 7;
    let blue_app = TestApp::attach_with(&blue, req).unwrap();
    let pid = Pid::from_child(&child);
    kill_process(pid, sig).unwrap();
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    assert!(app.socket_closed(Instant::now() + WAIT));
    assert!(blue_app.socket_closed(Instant::now() + WAIT));
    assert!(!path.exists() && !blue.exists(), "socket files removed");
}

#[test]
fn sigterm_detaches_and_exits_0() {
    stops_cleanly_on(Signal::TERM);
}

#[test]
fn sigint_detaches_and_exits_0() {
    stops_cleanly_on(Signal::INT);
}
