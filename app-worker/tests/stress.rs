//! Threaded churn: apps attach, listen, connect, close and detach over and
//! over on a threaded stack; afterwards nothing is left.

mod common;

use std::time::{Duration, Instant};

use common::{Recorder, env, ep};
use ct_app_worker::{AppKind, AttachOptions, Scope};
use ct_session::ThreadedConfig;

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
fn stress_threaded_attach_connect_close_detach() {
    let mut e = env(2);
    // Accepts go to worker 2 while connects start on worker 1.
    e.tcp
        .accept_thread
        .store(2, ct_sync::atomic::Ordering::Relaxed);
    e.stack.start_threads(ThreadedConfig::default()).unwrap();
    let mut h = e.stack.handle();
    const ROUNDS: usize = 20;
    const SESSIONS: u32 = 50;
    for round in 0..ROUNDS {
        let srv = Recorder::new();
        let cli = Recorder::new();
        let scope = if round % 2 == 0 {
            Scope::GLOBAL
        } else {
            Scope::LOCAL | Scope::GLOBAL
        };
        let s = h
            .attach(
                AttachOptions::new(format!("srv{round}"), AppKind::Builtin(srv.clone()))
                    .with_scope(scope),
            )
            .unwrap();
        let c = h
            .attach(
                AttachOptions::new(format!("cli{round}"), AppKind::Builtin(cli.clone()))
                    .with_scope(scope),
            )
            .unwrap();
        let port = 2000 + round as u16;
        h.listen(s.app_wrk, ep("0.0.0.0", port)).unwrap();
        for i in 0..SESSIONS {
            h.connect(c.app_wrk, ep("10.0.0.1", port), i).unwrap();
        }
        wait("connects", || {
            cli.connected.lock().len() == SESSIONS as usize
        });
        let sessions: Vec<_> = cli
            .connected
            .lock()
            .iter()
            .map(|(_, r)| r.unwrap())
            .collect();
        // Close half, leave half for the detach to clean up.
        for s in &sessions[..sessions.len() / 2] {
            h.disconnect(c.app_wrk, *s).unwrap();
        }
        if round % 2 == 0 {
            h.detach(s.app).unwrap();
            h.detach(c.app).unwrap();
        } else {
            h.detach(c.app).unwrap();
            h.detach(s.app).unwrap();
        }
    }
    let sms = e.stack.segment_managers().clone();
    wait("segment managers freed", || sms.is_empty());
    assert_eq!(e.stack.apps().n_apps(), 0);
    assert_eq!(e.stack.main().n_listeners(), 0);
    assert_eq!(e.stack.main().lookup().listener_count(), 0);
    let workers = e.stack.shutdown();
    for w in &workers {
        assert_eq!(w.sessions().len(), 0, "sessions on {}", w.thread_index());
        assert!(w.pending_app_workers().is_empty());
    }
}
