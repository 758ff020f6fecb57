//! A ct segment whose last session went lingers when `segment_linger` is
//! set: the next accept between the same two app workers revives it (no
//! segment removed and added again, no notifications), and a worker's poll
//! removes it once the linger passed, as a last release would have: both
//! apps are told, the server's segment manager deletes it. A listener or
//! app going meanwhile leaves nothing behind.

mod common;

use std::time::Duration;

use common::*;
use ct_app_worker::Scope;
use ct_transport_ct::CtConfig;

const LINGER: Duration = Duration::from_millis(30);

fn env(n_workers: u32, linger: Duration) -> Env {
    Env::with_config(
        n_workers,
        CtConfig {
            min_segment_size: TEST_SEGMENT,
            segment_linger: linger,
        },
    )
}

/// Closes both ends of a session and steps until idle.
fn close(
    env: &mut Env,
    server: &App,
    client: &App,
    sf: &ct_app_worker::SessionFifos,
    cf: &ct_app_worker::SessionFifos,
) {
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.idle();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
}

/// A server listening on port 80 and a client; `sessions` sessions made
/// and closed one after the other. Returns the stack, both apps, the
/// listener and, per session, its segment and the server's thread.
#[allow(clippy::type_complexity)]
fn closed_sessions(
    n_workers: u32,
    sessions: usize,
) -> (
    Env,
    App,
    App,
    ct_app_worker::AppListenerHandle,
    Vec<(ct_segment_manager::SegmentHandle, u32)>,
) {
    let mut env = env(n_workers, LINGER);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    let l = env.listen(&server, 80);
    drain(&server.q);
    let mut segs = Vec::new();
    for _ in 0..sessions {
        let (sf, cf) = env.establish(&server, &client, 80);
        segs.push((env.ct.segments()[0].segment, sf.session.thread_index()));
        close(&mut env, &server, &client, &sf, &cf);
    }
    (env, server, client, l, segs)
}

/// Moves the workers' clock past the linger and steps them.
fn wait_out_linger(env: &mut Env) {
    env.stack
        .runtime_mut()
        .advance_clock(LINGER + Duration::from_millis(1));
    env.idle();
}

/// The linger follows the workers' clock, not the wall clock: real time
/// passing leaves the segment, the stepped clock reaching the linger
/// removes it.
#[test]
fn linger_follows_the_worker_clock_not_wall_time() {
    let (mut env, _server, client, _, _) = closed_sessions(1, 1);
    assert_eq!(env.ct.n_lingering_segments(), 1);
    std::thread::sleep(LINGER * 2);
    env.idle();
    assert_eq!(env.ct.n_lingering_segments(), 1, "wall time moved nothing");
    env.stack
        .runtime_mut()
        .advance_clock(LINGER - Duration::from_millis(1));
    env.idle();
    assert_eq!(env.ct.n_lingering_segments(), 1, "short of the linger");
    env.stack
        .runtime_mut()
        .advance_clock(Duration::from_millis(1));
    env.idle();
    assert_eq!(env.ct.n_lingering_segments(), 0, "linger reached");
    assert!(names(&drain(&client.q)).contains(&"del-segment"));
    env.assert_clean();
}

#[test]
fn an_emptied_segment_lingers_then_goes_with_both_apps_told() {
    let (mut env, server, client, _, segs) = closed_sessions(1, 1);
    let seg = segs[0].0;
    // Both sides gone: the segment stays, empty, both sides detached.
    let snap = env.ct.segments();
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!(
        (snap[0].client_n_sessions, snap[0].server_n_sessions),
        (0, 0)
    );
    assert_eq!(snap[0].segment, seg);
    assert_eq!(env.ct.n_lingering_segments(), 1);
    assert!(!names(&drain(&server.q)).contains(&"del-segment"));
    assert!(!names(&drain(&client.q)).contains(&"del-segment"));
    assert!(!env.stack.segment_managers().is_empty());

    wait_out_linger(&mut env);
    assert!(names(&drain(&server.q)).contains(&"del-segment"));
    assert!(names(&drain(&client.q)).contains(&"del-segment"));
    assert_eq!(env.ct.n_lingering_segments(), 0);
    env.assert_clean();
}

#[test]
fn the_next_accept_revives_a_lingering_segment() {
    let (mut env, server, client, _, segs) = closed_sessions(1, 1);
    let seg = segs[0].0;
    drain(&server.q);
    drain(&client.q);

    // The next session reuses the segment: no segment added or removed.
    let (sf, cf) = env.establish(&server, &client, 80);
    assert_eq!(sf.rx_fifo.segment_index(), seg.segment_index());
    let snap = env.ct.segments();
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!(snap[0].segment, seg);
    assert_eq!(
        (snap[0].client_n_sessions, snap[0].server_n_sessions),
        (1, 1)
    );
    assert!(snap[0].flags.is_empty());
    // Past the linger the revived segment stays: it holds a session.
    wait_out_linger(&mut env);
    assert_eq!(env.ct.n_lingering_segments(), 0);
    assert_eq!(env.ct.segments().len(), 1);
    let (s_names, c_names) = (names(&drain(&server.q)), names(&drain(&client.q)));
    for n in [&s_names, &c_names] {
        assert!(
            !n.contains(&"del-segment") && !n.contains(&"add-segment"),
            "{n:?}"
        );
    }

    // Emptied again, it lingers again, and goes once the new linger passed.
    close(&mut env, &server, &client, &sf, &cf);
    assert_eq!(env.ct.n_lingering_segments(), 1);
    wait_out_linger(&mut env);
    assert!(names(&drain(&client.q)).contains(&"del-segment"));
    env.assert_clean();
}

#[test]
fn zero_linger_removes_at_once() {
    let mut env = env(0, Duration::ZERO);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    close(&mut env, &server, &client, &sf, &cf);
    assert_eq!(env.ct.n_lingering_segments(), 0);
    assert!(names(&drain(&client.q)).contains(&"del-segment"));
    env.assert_clean();
}

#[test]
fn a_listener_stopped_while_its_segment_lingers_leaves_nothing() {
    let (mut env, server, client, l, _) = closed_sessions(1, 1);
    assert_eq!(env.ct.n_lingering_segments(), 1);
    drain(&client.q);
    // The listen segment manager holds no fifos: it goes with the
    // listener, and the lingering segment with it.
    env.stack.unlisten(server.wrk, l).unwrap();
    env.idle();
    wait_out_linger(&mut env);
    // The client still hears of the segment's end.
    assert!(names(&drain(&client.q)).contains(&"del-segment"));
    env.assert_clean();
    assert_eq!(
        env.stack.segment_managers().len(),
        2,
        "the apps' own managers only"
    );
}

#[test]
fn apps_detaching_while_a_segment_lingers_leave_nothing() {
    for detach_server_first in [true, false] {
        let (mut env, server, client, _, _) = closed_sessions(1, 1);
        assert_eq!(env.ct.n_lingering_segments(), 1);
        let order = if detach_server_first {
            [&server, &client]
        } else {
            [&client, &server]
        };
        for app in order {
            env.stack.detach(app.app).unwrap();
            env.idle();
        }
        wait_out_linger(&mut env);
        env.assert_clean();
        assert_eq!(env.stack.segment_managers().len(), 0);
    }
}

#[test]
fn sessions_on_several_threads_share_a_lingering_segment() {
    let (mut env, _, _, _, segs) = closed_sessions(2, 4);
    let threads: Vec<u32> = segs.iter().map(|s| s.1).collect();
    // The accepts ran on both workers, and all used the first segment
    // (a segment made again would have a new generation).
    assert!(threads.contains(&1) && threads.contains(&2), "{threads:?}");
    assert!(segs.iter().all(|s| s.0 == segs[0].0), "{segs:?}");
    wait_out_linger(&mut env);
    env.assert_clean();
}
