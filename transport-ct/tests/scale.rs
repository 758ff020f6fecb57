//! Many sessions: segment sharing and accounting, removal of every ct
//! segment when the sessions go, segment reuse, detach with live sessions,
//! and connects spread over workers.

mod common;

use common::*;
use ct_app_worker::{AppEvent, AppKind, AttachOptions, Scope};

fn big_queue(name: &str) -> AttachOptions {
    let mut o = AttachOptions::new(name, AppKind::InProcess).with_scope(Scope::LOCAL);
    o.evt_q_size = 1 << 16;
    o
}

/// Opens `n` sessions from `client` to `server`'s port 80; returns the
/// (server, client) session handles.
fn open_many(
    env: &mut Env,
    server: &App,
    client: &App,
    n: usize,
) -> Vec<(ct_session::SessionHandle, ct_session::SessionHandle)> {
    for i in 0..n {
        env.connect(client, 80, i as u32);
    }
    env.idle();
    let mut servers = Vec::new();
    for m in drain(&server.q) {
        if let AppEvent::Accepted { session: fifos, .. } = m {
            env.stack
                .accept_reply(server.wrk, fifos.session, Ok(()))
                .unwrap();
            servers.push(fifos.session);
        }
    }
    env.idle();
    let mut by_opaque = vec![None; n];
    for m in drain(&client.q) {
        if let AppEvent::Connected {
            opaque,
            result: Ok(f),
        } = m
        {
            by_opaque[opaque as usize] = Some(f.session);
        }
    }
    assert_eq!(servers.len(), n);
    let clients: Vec<_> = by_opaque.into_iter().map(Option::unwrap).collect();
    servers.into_iter().zip(clients).collect()
}

fn count(msgs: &[AppEvent], what: &str) -> usize {
    names(msgs).iter().filter(|m| **m == what).count()
}

#[test]
fn ten_thousand_sessions_share_segments_and_free_them_twice() {
    let mut env = Env::new(0);
    let server = env.attach_opts(big_queue("server"));
    let client = env.attach_opts(big_queue("client"));
    env.listen(&server, 80);
    drain(&server.q);
    const N: usize = 10_000;
    for round in 0..2 {
        let sessions = open_many(&mut env, &server, &client, N);
        let segs = env.ct.segments();
        assert!(
            segs.len() > 1 && segs.len() < N / 10,
            "{} segments",
            segs.len()
        );
        let total: u32 = segs.iter().map(|s| s.client_n_sessions).sum();
        assert_eq!(total as usize, N);
        assert!(
            segs.iter()
                .all(|s| s.client_n_sessions == s.server_n_sessions)
        );
        assert_eq!(env.ct.n_segment_contexts(), 1);
        let n_segs = segs.len();

        for (ss, cs) in &sessions {
            env.stack.disconnect(client.wrk, *cs).unwrap();
            env.stack.disconnect(server.wrk, *ss).unwrap();
        }
        env.idle();
        let (sm, cm) = (drain(&server.q), drain(&client.q));
        assert_eq!(count(&cm, "del-segment"), n_segs, "round {round}");
        assert_eq!(count(&sm, "del-segment"), n_segs, "round {round}");
        assert_eq!(count(&cm, "cleanup"), 2 * N);
        assert_eq!(count(&sm, "cleanup"), 2 * N);
        env.assert_clean();
    }
}

#[test]
fn detach_server_with_live_sessions_then_client() {
    let mut env = Env::new(1);
    let server = env.attach_opts(big_queue("server"));
    let client = env.attach_opts(big_queue("client"));
    env.listen(&server, 80);
    let sessions = open_many(&mut env, &server, &client, 50);
    env.stack.detach(server.app).unwrap();
    env.idle();
    let cm = drain(&client.q);
    assert_eq!(count(&cm, "disconnected") + count(&cm, "reset"), 50);
    for (_, cs) in &sessions {
        env.stack.disconnect(client.wrk, *cs).unwrap();
    }
    env.idle();
    assert!(count(&drain(&client.q), "del-segment") >= 1);
    env.assert_clean();
    env.stack.detach(client.app).unwrap();
    env.idle();
    assert!(
        env.stack.segment_managers().is_empty(),
        "{:?}",
        env.stack.segment_managers().handles()
    );
}

#[test]
fn detach_client_with_live_sessions_then_server() {
    let mut env = Env::new(1);
    let server = env.attach_opts(big_queue("server"));
    let client = env.attach_opts(big_queue("client"));
    env.listen(&server, 80);
    let sessions = open_many(&mut env, &server, &client, 50);
    env.stack.detach(client.app).unwrap();
    env.idle();
    let sm = drain(&server.q);
    assert_eq!(count(&sm, "disconnected") + count(&sm, "reset"), 50);
    for (ss, _) in &sessions {
        env.stack.disconnect(server.wrk, *ss).unwrap();
    }
    env.assert_clean();
    env.stack.detach(server.app).unwrap();
    env.idle();
    assert!(env.stack.segment_managers().is_empty());
}

#[test]
fn detach_both_with_live_sessions() {
    let mut env = Env::new(2);
    let server = env.attach_opts(big_queue("server"));
    let client = env.attach_opts(big_queue("client"));
    env.listen(&server, 80);
    open_many(&mut env, &server, &client, 40);
    env.stack.detach(server.app).unwrap();
    env.stack.detach(client.app).unwrap();
    env.assert_clean();
    assert!(env.stack.segment_managers().is_empty());
}

#[test]
fn four_workers_round_robin_both_ends_on_one_worker() {
    let mut env = Env::new(4);
    let server = env.attach_opts(big_queue("server"));
    let client = env.attach_opts(big_queue("client"));
    env.listen(&server, 80);
    let sessions = open_many(&mut env, &server, &client, 8);
    let mut per_thread = [0usize; 5];
    for (ss, cs) in &sessions {
        assert_eq!(ss.thread_index(), cs.thread_index());
        per_thread[ss.thread_index() as usize] += 1;
    }
    // Main (0) takes none; each worker two.
    assert_eq!(per_thread, [0, 2, 2, 2, 2]);
    assert_eq!(env.ct.n_connects_programmed(), 8);
    for (ss, cs) in &sessions {
        env.stack.disconnect(client.wrk, *cs).unwrap();
        env.stack.disconnect(server.wrk, *ss).unwrap();
    }
    env.assert_clean();
}

#[test]
fn more_than_a_burst_of_connects_per_worker() {
    // 100 connects at once towards one worker: accepted 32 per run, the
    // accept RPC rescheduling itself for the rest.
    let mut env = Env::new(1);
    let server = env.attach_opts(big_queue("server"));
    let client = env.attach_opts(big_queue("client"));
    env.listen(&server, 80);
    drain(&server.q);
    let apps = env.stack.apps().clone();
    let cw = client.wrk;
    env.stack
        .call(1, move |w| {
            for i in 0..100 {
                apps.connect_from_worker(w, cw, lo(80), i).unwrap();
            }
        })
        .unwrap();
    let mut per_step = Vec::new();
    for _ in 0..20 {
        env.stack.step();
        let n = drain(&server.q)
            .iter()
            .filter(|m| matches!(m, AppEvent::Accepted { .. }))
            .count();
        if n > 0 {
            per_step.push(n);
        }
    }
    assert_eq!(per_step.iter().sum::<usize>(), 100, "{per_step:?}");
    assert!(
        per_step
            .iter()
            .all(|&n| n <= ct_transport_ct::MAX_CONNECTS_PER_RUN),
        "{per_step:?}"
    );
    assert!(per_step.len() >= 4, "{per_step:?}");
}
