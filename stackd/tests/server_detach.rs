//! A server app that goes away with connects in flight: a client keeps 64
//! connects going (as the xproc cps bench does) while the server accepts
//! `n` of them and then detaches (asks to, or hangs up) at once. Every
//! connect gets exactly one answer (Connected or a connect error) within a
//! few seconds, and nothing is left in the daemon once both apps are gone.
//!
//! Before the fix, connects that were still travelling to their accepting
//! worker, or accepted by ct but not yet by the app, were never answered.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ct_app_interface::wire::{AppMsg, SapiMsg, StackMsg};
use hashbrown::HashMap;

/// Connects the client keeps in flight.
const IN_FLIGHT: u32 = 64;
/// How long the client waits for any answer before calling it a hang.
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// How the server goes.
#[derive(Debug, Clone, Copy)]
enum Going {
    /// A detach request on the socket.
    Request,
    /// The socket closes (the process died).
    Hangup,
}

/// The server: accepts `n` connects, then goes at once, with whatever
/// else is on its queues unread.
fn serve(mut server: TestApp, n: u32, going: Going) {
    let mut accepted = 0;
    while accepted < n {
        let (t, m) = server
            .next(Instant::now() + WAIT)
            .expect("server: no accept to take");
        if let StackMsg::Accepted { session, .. } = m {
            server
                .w
                .send_when_room(t, AppMsg::AcceptReply { session, error: 0 });
            accepted += 1;
        }
    }
    match going {
        Going::Request => match request(&server.sock, &SapiMsg::DetachReq).0 {
            SapiMsg::DetachReply { error } => assert_eq!(error, 0),
            other => panic!("{other:?}"),
        },
        Going::Hangup => drop(server),
    }
}

/// The client: `total` connects, [`IN_FLIGHT`] at a time; each connected
/// session is closed at once. Returns (connected, refused). Fails on a
/// second answer to one connect or when answers stop coming.
fn client_run(client: &mut TestApp, total: u32) -> (u32, u32) {
    // opaque -> answered
    let mut open: HashMap<u32, ()> = HashMap::new();
    let (mut started, mut connected, mut refused) = (0u32, 0u32, 0u32);
    let mut answered_at = Instant::now();
    while started < total || !open.is_empty() {
        while started < total && (open.len() as u32) < IN_FLIGHT {
            client.w.send_when_room(
                0,
                AppMsg::Connect {
                    opaque: started,
                    ep: ep(7500),
                },
            );
            open.insert(started, ());
            started += 1;
        }
        let Some((_, m)) = client.next(Instant::now() + Duration::from_millis(50)) else {
            let mut left: Vec<_> = open.keys().copied().collect();
            left.sort_unstable();
            assert!(
                answered_at.elapsed() < ANSWER_WAIT,
                "{} connects never answered ({connected} connected, {refused} refused): {left:?}",
                left.len()
            );
            continue;
        };
        if let StackMsg::Connected {
            opaque,
            error,
            session,
            ..
        } = m
        {
            assert!(
                open.remove(&opaque).is_some(),
                "connect {opaque} answered twice (or never asked)"
            );
            answered_at = Instant::now();
            if error == 0 {
                connected += 1;
                client
                    .w
                    .send_when_room(session.thread(), AppMsg::Disconnect(session));
            } else {
                refused += 1;
            }
        }
    }
    (connected, refused)
}

fn server_goes_with_connects_in_flight(workers: u32, going: Going, rounds: u32) {
    let (d, path) = daemon(workers, "srv-detach");
    let mut client = TestApp::attach(&path, "client");
    for round in 0..rounds {
        let mut server = TestApp::attach(&path, &format!("server-{round}"));
        server.listen(7500);
        // Vary where the server stops, so the connects it leaves behind
        // are caught at different stages.
        let n = 40 + 13 * round;
        let srv = std::thread::spawn(move || serve(server, n, going));
        let (connected, refused) = client_run(&mut client, n + 3 * IN_FLIGHT);
        srv.join().unwrap();
        // The stack accepts for the server (each session the client
        // closes frees its backlog slot), so every session the server was
        // told of connected, and more may have; the connects after it went
        // are refused.
        let total = n + 3 * IN_FLIGHT;
        assert!(connected >= n, "round {round}: {connected} < {n} connected");
        assert_eq!(connected + refused, total, "round {round}");
        // The client's sessions go (their server side was reset or closed).
        wait_counters(&d, "sessions gone", |c| {
            c.apps == 1 && c.sessions == 0 && c.ct_connections == 0 && c.fifos == 0
        });
        client.backlog.clear();
    }
    drop(client);
    wait_counters(&d, "all gone", |c| c.is_empty());
    let left = d.stop();
    assert!(left.is_empty(), "left after stop: {left}");
}

#[test]
fn server_detach_request_answers_every_connect() {
    server_goes_with_connects_in_flight(2, Going::Request, 6);
}

#[test]
fn server_hangup_answers_every_connect() {
    server_goes_with_connects_in_flight(2, Going::Hangup, 6);
}

#[test]
fn server_detach_one_worker_answers_every_connect() {
    server_goes_with_connects_in_flight(1, Going::Request, 4);
}
