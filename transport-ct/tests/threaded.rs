//! ct with workers on their own threads and apps on the test thread: many
//! sessions connected, data both ways, closed, and nothing left.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use ct_app_worker::{AppEvent, AppKind, AppSession, AttachOptions, Scope};
use ct_session::ThreadedConfig;

const WAIT: Duration = Duration::from_secs(20);

fn opts(name: &str) -> AttachOptions {
    let mut o = AttachOptions::new(name, AppKind::InProcess).with_scope(Scope::LOCAL);
    o.evt_q_size = 1 << 14;
    o
}

fn recv_until(app: &App, mut done: impl FnMut(&AppEvent) -> bool, want: usize) -> Vec<AppEvent> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut n = 0;
    while n < want {
        assert!(Instant::now() < deadline, "timed out with {n}/{want}");
        if let Ok(m) = app.q.recv_timeout(Duration::from_millis(50)) {
            if done(&m) {
                n += 1;
            }
            got.push(m);
        }
    }
    got
}

fn run(n_workers: u32, n: usize) {
    let mut env = Env::new(n_workers);
    env.stack.start_threads(ThreadedConfig::default()).unwrap();
    let server = env.attach_opts(opts("server"));
    let client = env.attach_opts(opts("client"));
    env.stack.listen(server.wrk, lo(80)).unwrap();
    for i in 0..n {
        env.stack.connect(client.wrk, lo(80), i as u32).unwrap();
    }
    let mut servers = HashMap::new();
    for m in recv_until(&server, |m| matches!(m, AppEvent::Accepted { .. }), n) {
        if let AppEvent::Accepted { session: fifos, .. } = m {
            env.stack
                .accept_reply(server.wrk, fifos.session, Ok(()))
                .unwrap();
            let io = AppSession::from_fifos(env.stack.main().clone(), &fifos).unwrap();
            servers.insert(fifos.session, io);
        }
    }
    let mut clients = Vec::new();
    for m in recv_until(&client, |m| matches!(m, AppEvent::Connected { .. }), n) {
        if let AppEvent::Connected { result, .. } = m {
            let f = result.expect("connect failed");
            clients.push(AppSession::from_fifos(env.stack.main().clone(), &f).unwrap());
        }
    }
    // Both ends of every session on one worker; main takes none.
    for c in &clients {
        let peer = env.ct.clone();
        let h = c.handle();
        let p = env
            .stack
            .call(h.thread_index(), move |w| peer.get_peer(w, h))
            .unwrap()
            .unwrap();
        assert!(servers.contains_key(&p));
        assert!(n_workers == 0 || h.thread_index() != 0);
    }
    for c in &mut clients {
        assert_eq!(c.write(b"0123456789").unwrap(), 10);
    }
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + WAIT;
    let mut left: usize = 10 * n;
    while left > 0 {
        assert!(Instant::now() < deadline, "{left} bytes never arrived");
        for s in servers.values_mut() {
            let k = s.read(&mut buf).unwrap();
            if k > 0 {
                left -= k;
                s.write(&buf[..k]).unwrap();
            }
        }
    }
    let deadline = Instant::now() + WAIT;
    let mut left = 10 * n;
    while left > 0 {
        assert!(
            Instant::now() < deadline,
            "{left} echoed bytes never arrived"
        );
        for c in &mut clients {
            left -= c.read(&mut buf).unwrap();
        }
    }
    for c in &clients {
        env.stack.disconnect(client.wrk, c.handle()).unwrap();
    }
    recv_until(&server, |m| matches!(m, AppEvent::Disconnected(_)), n);
    for h in servers.keys() {
        env.stack.disconnect(server.wrk, *h).unwrap();
    }
    drop((servers, clients));
    let deadline = Instant::now() + WAIT;
    while !env.ct.segments().is_empty() {
        // Apps keep reading their queues: cleanups wait behind a full one.
        server.q.drain();
        client.q.drain();
        assert!(
            Instant::now() < deadline,
            "{} ct segments left",
            env.ct.segments().len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let threads = env.stack.main().n_threads();
    for t in 0..threads {
        let ct = env.ct.clone();
        let deadline = Instant::now() + WAIT;
        loop {
            let ct = ct.clone();
            let (conns, sessions) = env
                .stack
                .call(t, move |w| {
                    (
                        ct.worker_state(w).map_or(0, |s| s.n_connections()),
                        w.sessions().len(),
                    )
                })
                .unwrap();
            if (conns, sessions) == (0, 0) {
                break;
            }
            server.q.drain();
            client.q.drain();
            assert!(
                Instant::now() < deadline,
                "thread {t}: {conns} conns, {sessions} sessions"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(env.ct.n_segment_contexts(), 0);
    assert_eq!(env.ct.n_half_opens(), 0);
    env.stack.detach(server.app).unwrap();
    env.stack.detach(client.app).unwrap();
    let _ = env.stack.shutdown();
}

#[test]
fn threaded_four_workers_sessions_data_close() {
    run(4, 200);
}

#[test]
fn threaded_main_only() {
    run(0, 50);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
fn stress_threaded_ten_thousand_sessions() {
    run(4, 10_000);
}
