//! An app in a real child process (this test binary, run again as the
//! app) killed with SIGKILL mid-transfer: the server app is told, the
//! daemon frees everything of the dead app.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ct_app_interface::wire::{AppMsg, StackMsg};
use rustix::process::{Pid, Signal, kill_process};

const CHILD_ENV: &str = "STACKD_TEST_CHILD_SOCKET";

/// A child process that a failing test does not leave behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child: connects to port 7600 and writes until killed. Run only by
/// the test below, in a child process (`--ignored --exact`).
#[test]
#[ignore = "the child process of killed_client_process_resets_the_server_and_frees_everything"]
fn child_app_entry() {
    let path = std::env::var(CHILD_ENV).expect("run by the kill test, with its socket");
    let mut app = TestApp::attach(path.as_ref(), "doomed-child");
    app.w.send(
        0,
        AppMsg::Connect {
            opaque: 1,
            ep: ep(7600),
        },
    );
    let (s, rx, tx) = app.wait_for("connected", |_, m| match *m {
        StackMsg::Connected {
            error: 0,
            session,
            rx,
            tx,
            ..
        } => Some((session, rx, tx)),
        _ => None,
    });
    let mut io = app.open(rx, tx);
    let data = [0x5au8; 4096];
    // Never outlive the test: stop when the daemon goes or after a minute.
    let give_up = Instant::now() + Duration::from_secs(60);
    while Instant::now() < give_up && !app.socket_closed(Instant::now()) {
        let n = io.write(&data).unwrap();
        app.pay(&mut io, s);
        if n == 0 {
            // Full: wait for room (or anything) a little.
            let _ = app.next(Instant::now() + Duration::from_millis(5));
            app.backlog.clear();
        }
    }
}

#[test]
fn killed_client_process_resets_the_server_and_frees_everything() {
    let (d, path) = daemon(2, "kill9");
    let mut server = TestApp::attach(&path, "survivor");
    server.listen(7600);
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child_app_entry", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (_, ss, rx, tx) = server.accept_next();
    let mut io = server.open(rx, tx);
    // Data flows from the child.
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0usize;
    let deadline = Instant::now() + WAIT;
    while got < 1 << 20 {
        assert!(Instant::now() < deadline, "only {got} bytes from the child");
        let n = io.read(&mut buf).unwrap();
        assert!(buf[..n].iter().all(|&b| b == 0x5a));
        got += n;
        server.pay(&mut io, ss);
        if n == 0 {
            let _ = server.next(Instant::now() + Duration::from_millis(5));
        }
    }
    let c = wait_counters(&d, "two apps", |c| c.apps == 2);
    assert_eq!(
        d.apps()
            .iter()
            .filter(|a| a.peer.pid == child.0.id() as i32)
            .count(),
        1
    );
    assert_eq!(c.sessions, 2);
    kill_process(Pid::from_child(&child.0), Signal::KILL).unwrap();
    let _ = child.0.wait();
    server.wait_for("peer gone", |_, m| {
        matches!(m, StackMsg::Reset(x) | StackMsg::Disconnected(x) if *x == ss).then_some(())
    });
    server.w.send(ss.thread(), AppMsg::Disconnect(ss));
    let c = wait_counters(&d, "child's app freed", |c| {
        c.apps == 1
            && c.sessions == 0
            && c.ct_connections == 0
            && c.ct_segments == 0
            && c.ct_segment_contexts == 0
    });
    assert!(c.hangup_detaches >= 1);
    drop((io, server));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}
