//! Smaller behaviours: segment notification refused by an app (undo),
//! cleanups in batches of 100, listener and half-open `show` lines, the
//! listener endpoint.

mod common;

use std::sync::Arc;

use common::*;
use ct_app_worker::{Apps, Scope, Stack};
use ct_segment_manager::{SegmentHandle, SegmentManager, SegmentManagers};
use ct_session::{
    ListenerHandle, LocalTableId, Session, SessionEndpoint, SessionError, Transport,
    TransportConnId, TransportDisplay, Verbosity, Worker,
};
use ct_sync::Arc as SmArc;
use ct_transport_ct::{CtAppLayer, CtConfig, CtMain};

/// The real app layer, except that one app worker refuses new segments.
struct Refusing {
    apps: Arc<Apps>,
    refuse: u32,
}

impl CtAppLayer for Refusing {
    fn app_index(&self, w: u32) -> Option<u32> {
        self.apps.app_index(w)
    }
    fn app_worker_generation(&self, w: u32) -> Option<u32> {
        self.apps.app_worker_generation(w)
    }
    fn has_global_scope(&self, a: u32) -> bool {
        CtAppLayer::has_global_scope(&*self.apps, a)
    }
    fn local_table(&self, a: u32) -> Option<LocalTableId> {
        self.apps.local_table(a)
    }
    fn app_listener(&self, a: u32, sep: &SessionEndpoint) -> Option<ListenerHandle> {
        CtAppLayer::app_listener(&*self.apps, a, sep)
    }
    fn listener_select_worker(&self, l: &Session) -> Option<u32> {
        self.apps.listener_select_worker(l)
    }
    fn listen_segment_manager(&self, w: u32, l: &Session) -> Option<SmArc<SegmentManager>> {
        CtAppLayer::listen_segment_manager(&*self.apps, w, l)
    }
    fn connect_segment_manager(&self, w: u32) -> Option<SmArc<SegmentManager>> {
        CtAppLayer::connect_segment_manager(&*self.apps, w)
    }
    fn segment_managers(&self) -> &SegmentManagers {
        CtAppLayer::segment_managers(&*self.apps)
    }
    fn add_segment_notify(
        &self,
        wrk: &mut Worker,
        app_wrk: u32,
        seg: SegmentHandle,
    ) -> Result<(), SessionError> {
        if app_wrk == self.refuse {
            return Err(SessionError::SegCreate);
        }
        self.apps.add_segment_notify(wrk, app_wrk, seg)
    }
    fn flush_segment_notifications(&self, wrk: &mut Worker) {
        self.apps.flush_segment_notes(wrk);
    }
}

#[test]
fn segment_refused_by_the_client_is_undone() {
    let stack = Stack::new(0).unwrap();
    let ct = CtMain::new(CtConfig {
        min_segment_size: TEST_SEGMENT,
        ..Default::default()
    });
    let mut env = Env { stack, ct };
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    let layer = Refusing {
        apps: env.stack.apps().clone(),
        refuse: client.wrk.index(),
    };
    env.ct.register(env.stack.main(), Arc::new(layer)).unwrap();
    env.listen(&server, 80);
    drain(&server.q);
    let sm_segments = |env: &Env| -> usize {
        env.stack
            .segment_managers()
            .handles()
            .into_iter()
            .filter_map(|h| env.stack.segment_managers().get(h).ok())
            .map(|sm| sm.num_segments())
            .sum()
    };
    let before = sm_segments(&env);
    env.connect(&client, 80, 1);
    env.idle();
    assert_eq!(
        connected(&client.q).map(|r| r.map(|_| ())),
        Some(Err(SessionError::Alloc))
    );
    // The server was told of the segment, then of its removal.
    let n = names(&drain(&server.q));
    assert!(
        n.contains(&"add-segment") && n.contains(&"del-segment"),
        "{n:?}"
    );
    assert!(!n.contains(&"accepted"));
    assert_eq!(sm_segments(&env), before);
    env.assert_clean();
}

#[test]
fn cleanups_run_in_batches_of_100() {
    let mut env = Env::new(0);
    let mut o = ct_app_worker::AttachOptions::new("server", ct_app_worker::AppKind::InProcess)
        .with_scope(Scope::LOCAL);
    o.evt_q_size = 1 << 14;
    let server = env.attach_opts(o.clone());
    o.name = "client".into();
    let client = env.attach_opts(o);
    env.listen(&server, 80);
    let mut clients = Vec::new();
    for _ in 0..250 {
        clients.push(env.establish(&server, &client, 80).1.session);
    }
    env.stack
        .call(0, move |w| {
            for h in clients {
                w.session_close(h).unwrap();
            }
        })
        .unwrap();
    let ct = env.ct.clone();
    let mut pending = Vec::new();
    for _ in 0..10 {
        env.stack.step();
        let w = env.stack.runtime_mut().worker_mut(0).unwrap();
        pending.push(ct.worker_state(w).unwrap().n_pending_cleanups());
    }
    assert!(
        pending.contains(&150) && pending.contains(&50),
        "{pending:?}"
    );
    assert_eq!(*pending.last().unwrap(), 0);
    assert_eq!(ct_transport_ct::MAX_CLEANUPS_PER_RUN, 100);
}

#[test]
fn listener_and_half_open_lines_and_endpoint() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let table = env
        .stack
        .apps()
        .application_get(server.app.index())
        .unwrap()
        .local_session_table()
        .unwrap();
    let lh = env
        .stack
        .main()
        .lookup()
        .lookup_local_endpoint(table, &lo(80))
        .unwrap()
        .listener()
        .unwrap();
    let ls = env.stack.main().listen_session_get(lh).unwrap();
    let ep = env.ct.endpoint(ls.connection_id).unwrap();
    assert_eq!(ep, lo(80));
    assert_eq!(
        env.ct.endpoint(TransportConnId::new(999, 0)),
        Err(SessionError::NoListen)
    );
    let stale = TransportConnId::new(ls.connection_id.index, ls.connection_id.generation + 1);
    assert_eq!(env.ct.endpoint(stale), Err(SessionError::NoListen));

    let (ct, apps, cw) = (env.ct.clone(), env.stack.apps().clone(), client.wrk);
    let (listen_line, ho_line) = env
        .stack
        .call(0, move |w| {
            let l = w.format_listener(lh, 1).unwrap();
            apps.connect_from_worker(w, cw, lo(80), 3).unwrap();
            let ho = apps.app_worker(cw).unwrap().half_opens()[0];
            let ci = w.session_get(ho).unwrap().connection_id;
            let ho_line = TransportDisplay::half_open(&*ct, w, ci, Verbosity::Verbose);
            (l, ho_line.to_string())
        })
        .unwrap();
    assert!(listen_line.starts_with("[0:"), "{listen_line}");
    assert!(
        listen_line.contains("[CT:T] 127.0.0.1:80->0.0.0.0:0"),
        "{listen_line}"
    );
    assert!(listen_line.trim_end().ends_with("LISTEN"), "{listen_line}");
    // The reference shows a ct half-open's local end as 0.0.0.0:0; here
    // the client has its own address and an ephemeral port from the start.
    assert!(
        ho_line.contains("[CT:T] 127.0.0.1:32768->127.0.0.1:80"),
        "{ho_line}"
    );
    assert!(ho_line.trim_end().ends_with("HALF-OPEN"), "{ho_line}");
    assert_eq!(listen_line.len(), 75);
    env.idle();
}

/// The session layer cleans a server session up itself (transport error):
/// its fifos still go back with server accounting.
#[test]
fn session_layer_cleanup_of_a_server_session_returns_its_fifos() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let h = sf.session;
    env.stack
        .call(0, move |w| w.session_transport_cleanup(h))
        .unwrap()
        .unwrap();
    let segs = env.ct.segments();
    assert_eq!(
        (segs[0].client_n_sessions, segs[0].server_n_sessions),
        (1, 0)
    );
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.assert_clean();
}

/// Unknown or stale indices and handles are errors or no-ops, never panics.
#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.assert_clean();
    let ct = env.ct.clone();
    let stale = cf.session;
    let r = env
        .stack
        .call(0, move |w| {
            let bad = TransportConnId::new(999, 0);
            ct.close(w, bad);
            ct.reset(w, bad);
            ct.cleanup(w, bad);
            ct.cleanup_ho(w, bad);
            assert!(ct.get_connection(w, bad).is_none());
            assert!(ct.get_listener(w, bad).is_none());
            assert!(ct.get_half_open(w, bad).is_none());
            let line = TransportDisplay::connection(&*ct, w, bad, Verbosity::Verbose);
            assert_eq!(line.to_string(), "empty\n");
            (
                ct.stop_listen(w, bad),
                ct.custom_tx(w, stale),
                ct.get_peer(w, stale),
            )
        })
        .unwrap();
    assert_eq!(r.0, Err(SessionError::NoListen));
    assert_eq!(r.1, Err(SessionError::NoSession));
    assert_eq!(r.2, Err(SessionError::NoSession));
    // One app layer per transport.
    assert_eq!(
        env.ct.register(env.stack.main(), env.stack.apps().clone()),
        Err(SessionError::Invalid)
    );
}

/// A closed connection's id, kept past its close, names nothing once a
/// new connection took its pool slot: the transport checks the generation,
/// so a late close with the old id leaves the new connection alone.
#[test]
fn a_stale_connection_id_never_reaches_the_connection_that_reused_its_slot() {
    let mut env = Env::new(0);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let conn_of = |env: &mut Env, h| {
        env.stack
            .call(0, move |w| w.session_get(h).unwrap().connection_id)
            .unwrap()
    };
    let old = conn_of(&mut env, sf.session);
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
    let (sf2, cf2) = env.establish(&server, &client, 80);
    let new = [
        conn_of(&mut env, sf2.session),
        conn_of(&mut env, cf2.session),
    ];
    let reused = new
        .into_iter()
        .find(|id| id.index == old.index)
        .expect("the slot is reused");
    assert_ne!(reused, old);
    let ct = env.ct.clone();
    let (stale, line, live) = env
        .stack
        .call(0, move |w| {
            ct.close(w, old);
            ct.cleanup(w, old);
            let line = TransportDisplay::connection(&*ct, w, old, Verbosity::Verbose).to_string();
            (
                ct.get_connection(w, old),
                line,
                ct.get_connection(w, reused).and_then(|tc| tc.session),
            )
        })
        .unwrap();
    assert_eq!(stale, None);
    assert_eq!(line, "empty\n");
    assert!(live == Some(sf2.session) || live == Some(cf2.session));
    env.stack.disconnect(client.wrk, cf2.session).unwrap();
    env.stack.disconnect(server.wrk, sf2.session).unwrap();
    env.assert_clean();
}
