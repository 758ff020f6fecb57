//! Connect / accept / close churn: client apps on their own threads
//! connect and close over and over against one server app thread; at the
//! end nothing is left in the daemon.

mod common;

use ct_sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ct_app_interface::wire::{AppMsg, StackMsg};

/// The server: accepts everything, closes what its peers close, until told
/// to stop.
fn serve(mut server: TestApp, stop: Arc<AtomicBool>) -> (TestApp, u64) {
    let mut cleaned = 0;
    while !stop.load(Ordering::Acquire) {
        let Some((t, m)) = server.next(Instant::now() + Duration::from_millis(20)) else {
            continue;
        };
        match m {
            StackMsg::Accepted { session, .. } => {
                server
                    .w
                    .send_when_room(t, AppMsg::AcceptReply { session, error: 0 });
            }
            StackMsg::Disconnected(s) | StackMsg::Reset(s) => {
                server.w.send_when_room(t, AppMsg::Disconnect(s));
            }
            StackMsg::Cleanup { ntf: 1, .. } => cleaned += 1,
            _ => {}
        }
    }
    (server, cleaned)
}

fn churn(workers: u32, clients: u32, rounds: u32) {
    let (d, path) = daemon(workers, "churn");
    let mut server = TestApp::attach(&path, "churn-server");
    server.listen(7400);
    let stop = Arc::new(AtomicBool::new(false));
    let srv = {
        let stop = stop.clone();
        std::thread::spawn(move || serve(server, stop))
    };
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut app = TestApp::attach(&path, &format!("churn-client-{c}"));
                for i in 0..rounds {
                    app.w.send_when_room(
                        0,
                        AppMsg::Connect {
                            opaque: i,
                            ep: ep(7400),
                        },
                    );
                    let s = app.wait_for("connected", |_, m| match *m {
                        StackMsg::Connected {
                            opaque,
                            error: 0,
                            session,
                            ..
                        } if opaque == i => Some(session),
                        _ => None,
                    });
                    app.w.send_when_room(s.thread(), AppMsg::Disconnect(s));
                    app.wait_for("cleanup", |_, m| {
                        matches!(m, StackMsg::Cleanup { session, ntf: 1 } if *session == s)
                            .then_some(())
                    });
                    // Events for finished sessions may stay behind: drop them.
                    app.backlog.clear();
                }
                app
            })
        })
        .collect();
    let apps: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let n = u64::from(clients * rounds);
    wait_counters(&d, "sessions closed", |c| {
        c.sessions == 0 && c.ct_connections == 0
    });
    stop.store(true, Ordering::Release);
    let (server, cleaned) = srv.join().unwrap();
    assert_eq!(cleaned, n, "server cleanups");
    let c = d.counters();
    assert_eq!((c.bad_msgs, c.bad_records), (0, 0), "{c}");
    drop((apps, server));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}

#[test]
fn connect_close_churn() {
    churn(2, 2, 25);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
fn stress_connect_close_churn() {
    churn(2, 4, 1000);
}
