//! Detach with live sessions, listeners and pending events leaves nothing
//! behind: sessions, fifos, segments, segment managers, table entries,
//! events.

mod common;

use common::{Recorder, assert_nothing_left, env, ep, ext_pair, wait_msg};
use ct_app_worker::{AppEvent, AppKind, AttachOptions, Scope};

#[test]
fn detach_server_then_client_with_live_sessions() {
    for n_workers in [0, 2] {
        let mut e = env(n_workers);
        let st = &mut e.stack;
        let mut p = ext_pair(st, 90, 4096, 64);
        // Data in flight both ways and unread events pending.
        p.cs.write(b"to server").unwrap();
        p.ss.write(b"to client").unwrap();
        st.run_until_idle().unwrap();
        p.cs.write(b"more").unwrap();
        let cq = p.client.queue.clone().unwrap();
        drop((p.ss, p.cs));
        st.detach(p.server.app).unwrap();
        // The client hears its peer went away (a reset: unread data).
        let m = wait_msg(st, &cq, |m| {
            matches!(m, AppEvent::Reset(_) | AppEvent::Disconnected(_))
        });
        assert!(matches!(m, AppEvent::Reset(_)), "{m:?}");
        st.detach(p.client.app).unwrap();
        assert_nothing_left(st);
    }
}

#[test]
fn detach_client_then_server_with_listener_and_pending_events() {
    let mut e = env(1);
    let st = &mut e.stack;
    let mut p = ext_pair(st, 91, 4096, 64);
    // A second connect whose accept the server never answers.
    st.connect(p.client.app_wrk, ep("10.0.0.1", 91), 5).unwrap();
    st.run_until_idle().unwrap();
    p.cs.write(b"pending rx event for the server").unwrap();
    st.run_until_idle().unwrap();
    // The server never reads its queue: events pile up for it.
    let pending: usize = st
        .runtime_mut()
        .workers_mut()
        .unwrap()
        .iter()
        .map(|w| w.app_worker_pending_events(p.server.app_wrk.index()))
        .sum();
    let queued = p.server.queue.as_ref().unwrap().len();
    assert!(pending + queued > 0);
    drop((p.ss, p.cs));
    st.detach(p.client.app).unwrap();
    st.run_until_idle().unwrap();
    assert_eq!(st.apps().n_apps(), 1);
    st.detach(p.server.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn detach_with_half_open_and_local_listeners() {
    let mut e = env(2);
    let st = &mut e.stack;
    let srv = Recorder::new();
    let cli = Recorder::new();
    let s = st
        .attach(
            AttachOptions::new("srv", AppKind::Builtin(srv.clone()))
                .with_scope(Scope::LOCAL | Scope::GLOBAL),
        )
        .unwrap();
    let c = st
        .attach(AttachOptions::new("cli", AppKind::Builtin(cli.clone())).with_scope(Scope::LOCAL))
        .unwrap();
    st.listen(s.app_wrk, ep("0.0.0.0", 7000)).unwrap();
    st.listen(s.app_wrk, ep("127.0.0.1", 7001)).unwrap();
    for port in [7000, 7001, 7000] {
        st.connect(c.app_wrk, ep("127.0.0.1", port), u32::from(port))
            .unwrap();
    }
    st.run_until_idle().unwrap();
    assert_eq!(cli.connected.lock().len(), 3);
    assert!(cli.connected.lock().iter().all(|(_, r)| r.is_ok()));
    // A half-open left hanging: the accept RPC has not run yet.
    let ho = st.connect(c.app_wrk, ep("127.0.0.1", 7000), 1).unwrap();
    let w = st.apps().app_worker(c.app_wrk).unwrap();
    assert_eq!(w.half_opens(), vec![ho]);
    st.detach(s.app).unwrap();
    st.detach(c.app).unwrap();
    assert_nothing_left(st);
    // The client was told its sessions went away before it left.
    assert!(
        cli.count("disconnect") + cli.count("reset") >= 1,
        "{:?}",
        cli.names()
    );
}

#[test]
fn delete_one_worker_of_an_app_with_a_session() {
    use ct_session::SessionError;
    let mut e = env(1);
    let st = &mut e.stack;
    let srv = st
        .attach(AttachOptions::new("del-srv", AppKind::InProcess).with_scope(Scope::GLOBAL))
        .unwrap();
    let multi = st
        .attach(AttachOptions::new("del-multi", AppKind::InProcess).with_scope(Scope::GLOBAL))
        .unwrap();
    let w1 = st.apps().add_worker(multi.app).unwrap();
    let (sq, q1) = (srv.queue.clone().unwrap(), w1.queue.clone().unwrap());
    st.listen(srv.app_wrk, ep("10.0.0.1", 7100)).unwrap();
    // Worker 1 listens too, and has a session.
    let alh = st.listen(w1.app_wrk, ep("10.0.0.1", 7101)).unwrap();
    st.connect(w1.app_wrk, ep("10.0.0.1", 7100), 1).unwrap();
    let m = wait_msg(st, &sq, |m| matches!(m, AppEvent::Accepted { .. }));
    let AppEvent::Accepted { session: fifos, .. } = m else {
        unreachable!()
    };
    st.accept_reply(srv.app_wrk, fifos.session, Ok(())).unwrap();
    wait_msg(st, &q1, |m| {
        matches!(m, AppEvent::Connected { result: Ok(_), .. })
    });
    let apps = st.apps().clone();
    // Still listening: refused; the app's last worker: refused.
    assert_eq!(
        apps.worker_del_invalidate(w1.app_wrk),
        Err(SessionError::Invalid)
    );
    st.unlisten(w1.app_wrk, alh).unwrap();
    apps.worker_del_invalidate(w1.app_wrk).unwrap();
    let idx = w1.app_wrk.index();
    for t in 0..st.main().n_threads() {
        let a = apps.clone();
        st.call(t, move |w| a.detach_on_thread(w, &[idx])).unwrap();
    }
    apps.worker_del_finish(w1.app_wrk).unwrap();
    assert_eq!(apps.n_app_workers(), 2);
    assert_eq!(
        apps.worker_del_finish(w1.app_wrk),
        Err(SessionError::InvalidAppWrk)
    );
    assert_eq!(
        apps.worker_del_invalidate(multi.app_wrk),
        Err(SessionError::Invalid)
    );
    // The peer hears the deleted worker's session went away.
    wait_msg(st, &sq, |m| {
        matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_))
    });
    st.detach(multi.app).unwrap();
    st.detach(srv.app).unwrap();
    assert_nothing_left(st);
}
