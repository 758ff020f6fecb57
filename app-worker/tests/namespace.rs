//! The scope/namespace combinations of VPP's `session_test_namespace`:
//! which table a listener lands in, which connects succeed and which error
//! each failing one gets.

mod common;

use common::{Recorder, assert_nothing_left, env, ep};
use ct_app_worker::{AppKind, AttachOptions, NamespaceConfig, Scope};
use ct_session::{LocalLookup, SessionError};

const SECRET: u64 = 1234;

fn opts(name: &str, rec: &std::sync::Arc<Recorder>, scope: Scope) -> AttachOptions {
    AttachOptions::new(name, AppKind::Builtin(rec.clone())).with_scope(scope)
}

#[test]
fn namespace_scopes_like_vpp_session_test() {
    let mut e = env(0);
    let st = &mut e.stack;
    let main = st.main().clone();
    st.apps()
        .namespace_add(NamespaceConfig::new("appns1", SECRET))
        .unwrap();
    let ns = st.apps().namespace("appns1").unwrap();
    assert_eq!(ns.cfg.secret, SECRET);
    assert_eq!(ns.cfg.sw_if_index, None);
    let server_sep = ep("0.0.0.0", 1234);
    let srv = Recorder::new();
    let cli = Recorder::new();

    // Wrong secret.
    let bad =
        opts("server", &srv, Scope::GLOBAL | Scope::LOCAL).with_namespace("appns1", SECRET - 1);
    assert_eq!(st.attach(bad).unwrap_err(), SessionError::WrongNsSecret);
    let unknown = opts("server", &srv, Scope::GLOBAL).with_namespace("nope", 0);
    assert_eq!(st.attach(unknown).unwrap_err(), SessionError::InvalidNs);

    // Server with the default (global) scope in the default namespace.
    let s = st.attach(opts("server", &srv, Scope::empty())).unwrap();
    let app = st.apps().application(s.app).unwrap();
    assert!(app.has_global_scope() && !app.has_local_scope());
    assert_eq!(app.ns_index(), 0);
    let l = st.listen(s.app_wrk, server_sep).unwrap();
    let lh = main
        .lookup()
        .lookup_listener(&server_sep)
        .expect("in global table");
    assert_eq!(
        main.listen_session_get(lh).unwrap().app_wrk_index,
        s.app_wrk.index()
    );
    assert_eq!(
        app.local_session_table(),
        None,
        "no access to the local table"
    );
    st.unlisten(s.app_wrk, l).unwrap();
    assert_eq!(main.lookup().lookup_listener(&server_sep), None);
    st.detach(s.app).unwrap();

    // Server with local and global scope in appns1.
    let s = st
        .attach(opts("server", &srv, Scope::GLOBAL | Scope::LOCAL).with_namespace("appns1", SECRET))
        .unwrap();
    let app = st.apps().application(s.app).unwrap();
    assert_eq!(
        app.ns_index(),
        st.apps().namespace("appns1").map(|_| 1).unwrap()
    );
    let n_segments_before = srv.count("add-segment");
    let l = st.listen(s.app_wrk, server_sep).unwrap();
    assert!(
        main.lookup().lookup_listener(&server_sep).is_some(),
        "in global table"
    );
    let local = app.local_session_table().unwrap();
    assert!(matches!(
        main.lookup()
            .lookup_local_endpoint(local, &server_sep)
            .unwrap(),
        LocalLookup::Listener(_)
    ));
    st.run_until_idle().unwrap();
    assert_eq!(
        srv.count("add-segment") - n_segments_before,
        2,
        "one listen segment per listen session"
    );

    // Client with local scope in appns1: zero ip refused, loopback connects.
    let c = st
        .attach(opts("client", &cli, Scope::LOCAL).with_namespace("appns1", SECRET))
        .unwrap();
    assert_eq!(
        st.connect(c.app_wrk, ep("0.0.0.0", 1234), 0).unwrap_err(),
        SessionError::InvalidRmtIp
    );
    assert_eq!(cli.count("add-segment"), 0);
    st.connect(c.app_wrk, ep("127.0.0.1", 1234), 4321).unwrap();
    st.run_until_idle().unwrap();
    assert_eq!(srv.count("accept"), 1, "server accepted");
    let conn = cli.connected.lock().clone();
    assert_eq!(conn.len(), 1);
    assert_eq!(conn[0].0, 4321);
    let h = conn[0].1.unwrap();
    assert_eq!(h.thread_index(), 0);
    // Served by the local transport, not the global one.
    assert_eq!(
        st.call(0, move |w| w.session_get(h).map(|s| s.transport_proto()))
            .unwrap()
            .unwrap(),
        ct_session::TransportProto::Ct
    );
    st.detach(c.app).unwrap();
    st.run_until_idle().unwrap();

    // Client with global scope only: nothing in its (global) scope serves
    // 127.0.0.1, the transport has no interface for it.
    let c = st
        .attach(opts("client", &cli, Scope::GLOBAL).with_namespace("appns1", SECRET))
        .unwrap();
    assert_eq!(
        st.connect(c.app_wrk, ep("127.0.0.1", 1234), 0).unwrap_err(),
        SessionError::NoIntf
    );
    st.detach(c.app).unwrap();

    // Unlisten removes the listener from both tables.
    st.unlisten(s.app_wrk, l).unwrap();
    assert_eq!(main.lookup().lookup_listener(&server_sep), None);
    assert!(
        main.lookup()
            .lookup_local_endpoint(local, &server_sep)
            .unwrap()
            .is_none()
    );
    st.detach(s.app).unwrap();

    // Server with local scope only: local table, not global.
    let s = st
        .attach(opts("server", &srv, Scope::LOCAL).with_namespace("appns1", SECRET))
        .unwrap();
    let l = st.listen(s.app_wrk, server_sep).unwrap();
    assert_eq!(
        main.lookup().lookup_listener(&server_sep),
        None,
        "not global"
    );
    assert!(matches!(
        main.lookup()
            .lookup_local_endpoint(local, &server_sep)
            .unwrap(),
        LocalLookup::Listener(_)
    ));
    // A local-only client in the default namespace finds nothing: its
    // namespace's table is another one, and a loopback address is not
    // routed globally.
    let c = st.attach(opts("client", &cli, Scope::LOCAL)).unwrap();
    assert_eq!(
        st.connect(c.app_wrk, ep("127.0.0.1", 1234), 0).unwrap_err(),
        SessionError::NoRoute
    );
    st.detach(c.app).unwrap();
    st.unlisten(s.app_wrk, l).unwrap();
    assert!(
        main.lookup()
            .lookup_local_endpoint(local, &server_sep)
            .unwrap()
            .is_none()
    );
    st.detach(s.app).unwrap();

    // The namespace goes once no app uses it.
    st.apps().namespace_del("appns1").unwrap();
    assert!(st.apps().namespace("appns1").is_none());
    assert_nothing_left(st);
}

#[test]
fn local_only_client_connecting_a_global_address_is_out_of_scope() {
    let mut e = env(1);
    let st = &mut e.stack;
    let srv = Recorder::new();
    let cli = Recorder::new();
    let s = st.attach(opts("server", &srv, Scope::GLOBAL)).unwrap();
    st.listen(s.app_wrk, ep("0.0.0.0", 80)).unwrap();
    let c = st.attach(opts("client", &cli, Scope::LOCAL)).unwrap();
    assert_eq!(
        st.connect(c.app_wrk, ep("10.0.0.1", 80), 0).unwrap_err(),
        SessionError::Scope
    );
    // With global scope too, the local step finds the other app's wildcard
    // listener.
    st.detach(c.app).unwrap();
    let c = st
        .attach(opts("client", &cli, Scope::LOCAL | Scope::GLOBAL))
        .unwrap();
    st.connect(c.app_wrk, ep("10.0.0.1", 80), 7).unwrap();
    st.run_until_idle().unwrap();
    assert!(matches!(cli.connected.lock()[0], (7, Ok(_))));
    // Own listener: not a local connect; the global transport serves it.
    let own = st.listen(c.app_wrk, ep("0.0.0.0", 81)).unwrap();
    st.connect(c.app_wrk, ep("10.0.0.1", 81), 8).unwrap();
    st.run_until_idle().unwrap();
    let last = cli.connected.lock().last().cloned().unwrap();
    assert_eq!(last.0, 8);
    let h = last.1.unwrap();
    let proto = st
        .call(h.thread_index(), move |w| {
            w.session_get(h).map(|s| s.transport_proto())
        })
        .unwrap()
        .unwrap();
    assert_eq!(proto, ct_session::TransportProto::Tcp);
    st.unlisten(c.app_wrk, own).unwrap();
    st.detach(c.app).unwrap();
    st.detach(s.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn attach_errors_and_stale_handles() {
    let mut e = env(0);
    let st = &mut e.stack;
    let rec = Recorder::new();
    let a = st.attach(opts("a", &rec, Scope::GLOBAL)).unwrap();
    // Same name twice.
    assert_eq!(
        st.attach(opts("a", &rec, Scope::GLOBAL)).unwrap_err(),
        SessionError::AppAttached
    );
    // Same endpoint twice by another app.
    let b = st.attach(opts("b", &rec, Scope::GLOBAL)).unwrap();
    st.listen(a.app_wrk, ep("0.0.0.0", 9)).unwrap();
    assert_eq!(
        st.listen(b.app_wrk, ep("0.0.0.0", 9)).unwrap_err(),
        SessionError::AlreadyListening
    );
    // Same worker twice on its listener.
    assert_eq!(
        st.listen(a.app_wrk, ep("0.0.0.0", 9)).unwrap_err(),
        SessionError::AlreadyListening
    );
    // Unlisten of another app's listener.
    let la = st.listen(a.app_wrk, ep("0.0.0.0", 10)).unwrap();
    assert_eq!(st.unlisten(b.app_wrk, la).unwrap_err(), SessionError::Owner);
    st.detach(a.app).unwrap();
    // Stale handles after detach.
    assert_eq!(st.detach(a.app).unwrap_err(), SessionError::NoApp);
    assert_eq!(
        st.listen(a.app_wrk, ep("0.0.0.0", 11)).unwrap_err(),
        SessionError::InvalidAppWrk
    );
    assert_eq!(
        st.unlisten(b.app_wrk, la).unwrap_err(),
        SessionError::NoListen
    );
    // A new app reusing the slot does not make the old handles valid.
    let c = st.attach(opts("c", &rec, Scope::GLOBAL)).unwrap();
    assert_eq!(c.app.index(), a.app.index());
    assert_ne!(c.app, a.app);
    assert!(st.apps().application(a.app).is_err());
    assert!(st.apps().app_worker(a.app_wrk).is_err());
    // Namespace in use cannot go; default never.
    assert_eq!(
        st.apps()
            .namespace_del(ct_app_worker::DEFAULT_NAMESPACE)
            .unwrap_err(),
        SessionError::Invalid
    );
    st.detach(b.app).unwrap();
    st.detach(c.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn local_rules_filter_and_control_calls_check_their_thread() {
    use ct_session::{IpPrefix, RuleAction, SessionRule, TableId, TransportProto};
    let mut e = env(1);
    let st = &mut e.stack;
    let srv = Recorder::new();
    let cli = Recorder::new();
    let s = st.attach(opts("srv", &srv, Scope::LOCAL)).unwrap();
    st.listen(s.app_wrk, ep("0.0.0.0", 5555)).unwrap();
    // Local scope only cannot listen on a non-local address.
    assert_eq!(
        st.listen(s.app_wrk, ep("10.0.0.1", 5555)).unwrap_err(),
        SessionError::Scope
    );
    assert_eq!(st.apps().n_listeners(), 1);
    let c = st.attach(opts("cli", &cli, Scope::LOCAL)).unwrap();
    let table = st
        .apps()
        .application(c.app)
        .unwrap()
        .local_session_table()
        .unwrap();
    let rule = SessionRule::remote(
        TransportProto::Tcp,
        IpPrefix::new("127.0.0.0".parse().unwrap(), 8).unwrap(),
        5555,
    );
    st.main()
        .lookup()
        .add_rule(TableId::Local(table), rule, RuleAction::Drop)
        .unwrap();
    assert_eq!(
        st.connect(c.app_wrk, ep("127.0.0.1", 5555), 0).unwrap_err(),
        SessionError::Filtered
    );
    st.main()
        .lookup()
        .del_rule(TableId::Local(table), &rule)
        .unwrap();
    st.connect(c.app_wrk, ep("127.0.0.1", 5555), 1).unwrap();
    st.run_until_idle().unwrap();
    assert!(matches!(cli.connected.lock()[0], (1, Ok(_))));

    // Listens belong on thread 0, connects on the connect thread (1 here):
    // elsewhere they are refused, not a panic.
    let apps = st.apps().clone();
    let (sw, cw) = (s.app_wrk, c.app_wrk);
    let r = st
        .call(1, move |w| apps.listen(w, sw, ep("0.0.0.0", 5556)))
        .unwrap();
    assert_eq!(r.unwrap_err(), SessionError::Invalid);
    let apps = st.apps().clone();
    let r = st
        .call(0, move |w| apps.connect(w, cw, ep("127.0.0.1", 5555), 2))
        .unwrap();
    assert_eq!(r.unwrap_err(), SessionError::Invalid);

    // An in-process app's queue reports the detach.
    let x = st
        .attach(AttachOptions::new("ext", AppKind::InProcess))
        .unwrap();
    let q = x.queue.clone().unwrap();
    st.detach(x.app).unwrap();
    assert_eq!(q.recv().unwrap_err(), SessionError::NoApp);
    st.detach(c.app).unwrap();
    st.detach(s.app).unwrap();
    assert_nothing_left(st);
}

/// Names are unique per namespace and owner: the same name attaches once
/// in each namespace and once per owner, a second attach under one key is
/// `AppAttached`, and the name is free again after a detach.
#[test]
fn app_names_are_scoped_by_namespace_and_owner() {
    let mut e = env(0);
    let st = &mut e.stack;
    st.apps()
        .namespace_add(NamespaceConfig::new("blue", SECRET))
        .unwrap();
    let rec = Recorder::new();
    let a = st.attach(opts("same", &rec, Scope::LOCAL)).unwrap();
    assert_eq!(
        st.attach(opts("same", &rec, Scope::LOCAL)).unwrap_err(),
        SessionError::AppAttached
    );
    let blue = st
        .attach(opts("same", &rec, Scope::LOCAL).with_namespace("blue", SECRET))
        .unwrap();
    let u1 = st
        .attach(opts("same", &rec, Scope::LOCAL).with_owner(1000))
        .unwrap();
    let u2 = st
        .attach(opts("same", &rec, Scope::LOCAL).with_owner(1001))
        .unwrap();
    assert_eq!(
        st.attach(opts("same", &rec, Scope::LOCAL).with_owner(1000))
            .unwrap_err(),
        SessionError::AppAttached
    );
    let apps = st.apps().clone();
    assert_eq!(
        apps.application_by_name(Some("blue"), None, "same")
            .unwrap()
            .handle(),
        blue.app
    );
    assert_eq!(
        apps.application_by_name(None, Some(1001), "same")
            .unwrap()
            .handle(),
        u2.app
    );
    assert!(apps.application_by_name(None, Some(7), "same").is_none());
    st.detach(a.app).unwrap();
    let again = st.attach(opts("same", &rec, Scope::LOCAL)).unwrap();
    for h in [again.app, blue.app, u1.app, u2.app] {
        st.detach(h).unwrap();
    }
    assert_nothing_left(st);
}
