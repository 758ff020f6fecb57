//! Registry dispatch through a test transport: listen, connect (half-open
//! migrating to another thread), IO events, close, reset, formatting.

mod common;

use ct_sync::atomic::Ordering;
use std::sync::Arc;

use common::{PROTO, TestTransport, ep, ready_session, stack};
use ct_session::{
    IoEvent, Runtime, SessionConfig, SessionEndpointCfg, SessionError, SessionFlags, SessionMain,
    SessionState, SessionType, Transport, TransportProto, TransportServiceType,
};

const CLIENT: u32 = 1;
const SERVER: u32 = 2;

#[test]
fn registry_dispatches_by_protocol_and_ip_version() {
    let (main, _workers) = SessionMain::new(SessionConfig::new(0));
    let t = TestTransport::new();
    let reg = main.transports();
    assert_eq!(reg.get(PROTO).err(), Some(SessionError::TransportNoReg));
    reg.register(PROTO, true, t.clone()).unwrap();
    assert!(reg.get_for(SessionType::new(PROTO, true)).is_ok());
    assert_eq!(
        reg.get_for(SessionType::new(PROTO, false)).err(),
        Some(SessionError::TransportNoReg)
    );
    reg.register(PROTO, false, t.clone()).unwrap();
    assert!(reg.get_for(SessionType::new(PROTO, false)).is_ok());
    // Another transport cannot take a registered protocol.
    let other = TestTransport::new();
    assert_eq!(
        reg.register(PROTO, true, other.clone()),
        Err(SessionError::Invalid)
    );
    reg.register(TransportProto::Udp, true, other).unwrap();
    let names: Vec<_> = reg.iter().map(|(p, _)| p).collect();
    assert_eq!(names, vec![TransportProto::Tcp, TransportProto::Udp]);
    assert_eq!(reg.service_type(PROTO), Ok(TransportServiceType::Vc));
    assert!(!reg.is_registered(TransportProto::Quic));
    main.enable_transports(true).unwrap();
}

#[test]
fn workers_poll_transports_registered_after_they_started() {
    let (main, mut workers) = SessionMain::new(SessionConfig::new(0));
    let w = &mut workers[0];
    assert!(!w.poll());
    let t = TestTransport::new();
    main.transports().register(PROTO, true, t.clone()).unwrap();
    w.poll();
    assert_eq!(t.polls.load(Ordering::Relaxed), 1);
    // The same transport for the other ip version is still polled once.
    main.transports().register(PROTO, false, t.clone()).unwrap();
    w.poll();
    assert_eq!(t.polls.load(Ordering::Relaxed), 2);
    let udp = TestTransport::new();
    main.transports()
        .register(TransportProto::Udp, true, udp.clone())
        .unwrap();
    w.poll();
    w.poll();
    assert_eq!(t.polls.load(Ordering::Relaxed), 4);
    assert_eq!(udp.polls.load(Ordering::Relaxed), 2);
}

#[test]
fn listen_and_stop_listen_go_to_the_transport_on_main() {
    let (main, workers, t, _app) = stack(1, &[SERVER]);
    let mut rt = Runtime::stepping(main.clone(), workers);
    let lh = main
        .listen_session_alloc(SessionType::new(PROTO, true))
        .unwrap();
    assert_eq!(lh.thread_index(), 0);
    let mut sep = SessionEndpointCfg::new(ep("127.0.0.1", 80), SERVER);
    sep.opaque = 42;
    rt.call(0, move |w| w.session_listen(lh, &sep))
        .unwrap()
        .unwrap();
    let ls = main.listen_session_get(lh).unwrap();
    assert_eq!(ls.state(), SessionState::Listening);
    assert_eq!(ls.opaque, 42);
    let line = rt
        .call(0, move |w| w.format_listener(lh, 1))
        .unwrap()
        .unwrap();
    assert!(line.contains("127.0.0.1:80"), "{line}");
    assert!(line.trim_end().ends_with("LISTEN"), "{line}");
    // Listening is thread 0's job.
    let r = rt.call(1, move |w| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.session_stop_listen(lh))).ok()
    });
    if !cfg!(debug_assertions) {
        assert_eq!(r.unwrap(), Some(Err(SessionError::Invalid)));
    }
    rt.call(0, move |w| w.session_stop_listen(lh))
        .unwrap()
        .unwrap();
    main.listen_session_free(lh).unwrap();
    assert_eq!(
        main.listen_session_get(lh).err(),
        Some(SessionError::NoSession)
    );
    assert_eq!(t.calls(), vec!["start_listen 0", "stop_listen 0"]);
}

/// Connects through the test transport: the half-open lives on the connect
/// thread (1), the connection is accepted on thread 2.
fn connected(
    n_workers: u32,
    accept_thread: u32,
) -> (
    Runtime,
    Arc<TestTransport>,
    Arc<common::TestApp>,
    ct_session::SessionHandle,
    ct_session::SessionHandle,
) {
    let (main, workers, t, app) = stack(n_workers, &[CLIENT, SERVER]);
    t.accept_thread
        .store(accept_thread as usize, Ordering::Relaxed);
    t.server_wrk.store(SERVER as usize, Ordering::Relaxed);
    let mut rt = Runtime::stepping(main.clone(), workers);
    let mut sep = SessionEndpointCfg::new(ep("127.0.0.1", 80), CLIENT);
    sep.opaque = 9;
    let cl = main.transport_cl_thread();
    let ho = rt.call(cl, move |w| w.session_open(&sep)).unwrap().unwrap();
    assert_eq!(ho.thread_index(), cl);
    rt.run_until_idle().unwrap();
    let seen = app.seen();
    let accepted = seen
        .iter()
        .find(|s| s.event == "accepted")
        .unwrap()
        .session
        .unwrap();
    let connected = seen
        .iter()
        .find(|s| s.event == "connected")
        .unwrap()
        .session
        .unwrap();
    (rt, t, app, connected, accepted)
}

#[test]
fn connect_accept_and_half_open_cleanup_across_threads() {
    let (mut rt, t, app, cs, ss) = connected(2, 2);
    assert_eq!(cs.thread_index(), 2);
    assert_eq!(ss.thread_index(), 2);
    // The half-open was freed on its own thread after the app heard of it.
    let names = app.names();
    // Flushes go in app worker order: the client (1) before the server (2).
    assert_eq!(names, vec!["connected", "accepted", "half-cleanup"]);
    let ho_thread = app.seen()[2].thread;
    assert_eq!(ho_thread, 1);
    assert_eq!(rt.worker_mut(1).unwrap().sessions().len(), 0);
    assert_eq!(rt.worker_mut(2).unwrap().sessions().len(), 2);
    // The app accepted: the server session is Ready.
    let w2 = rt.worker_mut(2).unwrap();
    assert_eq!(w2.session_get(ss).unwrap().state(), SessionState::Ready);
    assert_eq!(w2.session_get(cs).unwrap().state(), SessionState::Ready);
    let tc = w2.session_get_transport(cs).unwrap();
    assert_eq!((tc.thread_index, tc.session), (2, Some(cs)));
    let line = w2.format_session(cs, 1).unwrap();
    assert!(line.contains("[2:1][X:T]"), "{line}");
    assert!(line.contains("ESTABLISHED"), "{line}");
    assert_eq!(t.calls(), vec!["connect 0"]);
}

#[test]
fn connect_on_a_thread_other_than_the_connect_thread_is_refused() {
    let (main, workers, _t, _app) = stack(2, &[CLIENT]);
    let mut rt = Runtime::stepping(main, workers);
    let sep = SessionEndpointCfg::new(ep("127.0.0.1", 80), CLIENT);
    let r = rt.call(2, move |w| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.session_open(&sep))).ok()
    });
    if !cfg!(debug_assertions) {
        assert_eq!(r.unwrap(), Some(Err(SessionError::Invalid)));
    }
}

#[test]
fn failed_connect_frees_the_half_open() {
    let (main, workers, t, _app) = stack(0, &[CLIENT]);
    let mut rt = Runtime::stepping(main, workers);
    // Connecting to the zero address is refused by the transport.
    let sep = SessionEndpointCfg::new(ep("0.0.0.0", 80), CLIENT);
    let r = rt.call(0, move |w| w.session_open(&sep)).unwrap();
    assert_eq!(r, Err(SessionError::InvalidRmtIp));
    assert_eq!(rt.worker_mut(0).unwrap().sessions().len(), 0);
    assert!(t.calls().is_empty());
    // A protocol nobody registered.
    let mut sep = SessionEndpointCfg::new(ep("127.0.0.1", 80), CLIENT);
    sep.endpoint.transport_proto = TransportProto::Quic;
    let r = rt.call(0, move |w| w.session_open(&sep)).unwrap();
    assert_eq!(r, Err(SessionError::TransportNoReg));
}

#[test]
fn tx_event_runs_custom_tx_and_peer_gets_rx() {
    let (mut rt, t, app, cs, ss) = connected(1, 1);
    let main = rt.main().clone();
    for _ in 0..5 {
        main.send_io_evt_to_thread(cs, IoEvent::Tx).unwrap();
    }
    rt.run_until_idle().unwrap();
    // Five TX events, one custom_tx each, coalesced into one RX for the peer.
    assert_eq!(
        t.calls()
            .iter()
            .filter(|c| c.starts_with("custom_tx"))
            .count(),
        5
    );
    let rx: Vec<_> = app.seen().into_iter().filter(|s| s.event == "rx").collect();
    assert_eq!(rx.len(), 1);
    assert_eq!(rx[0].session, Some(ss));
    assert_eq!(rx[0].app_wrk, SERVER);
    // The reverse direction: the server's dequeue notifies the client (TX).
    main.send_io_evt_to_thread(ss, IoEvent::RxDequeue).unwrap();
    rt.run_until_idle().unwrap();
    let tx: Vec<_> = app.seen().into_iter().filter(|s| s.event == "tx").collect();
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].session, Some(cs));
    assert_eq!(rt.worker_mut(1).unwrap().counters().rx_dequeue_events, 1);
}

#[test]
fn io_event_for_a_stale_session_is_counted_and_dropped() {
    let (mut rt, t, _app, cs, _ss) = connected(1, 1);
    let main = rt.main().clone();
    let stale =
        ct_session::SessionHandle::new(cs.thread_index(), cs.session_index(), cs.generation() + 1);
    main.send_io_evt_to_thread(stale, IoEvent::Tx).unwrap();
    main.send_io_evt_to_thread(stale, IoEvent::RxDequeue)
        .unwrap();
    rt.run_until_idle().unwrap();
    assert_eq!(rt.worker_mut(1).unwrap().counters().stale_events, 2);
    assert!(!t.calls().iter().any(|c| c.starts_with("custom_tx")));
    // A thread that does not exist.
    let nowhere = ct_session::SessionHandle::new(9, 0, 0);
    assert_eq!(
        main.send_io_evt_to_thread(nowhere, IoEvent::Tx),
        Err(SessionError::Invalid)
    );
}

#[test]
fn app_close_reaches_transport_and_both_sessions_are_freed() {
    let (mut rt, t, app, cs, ss) = connected(1, 1);
    rt.call(1, move |w| {
        w.session_close(cs)?;
        // Closing twice is harmless.
        w.session_close(cs)
    })
    .unwrap()
    .unwrap();
    rt.run_until_idle().unwrap();
    assert_eq!(
        t.calls().iter().filter(|c| c.starts_with("close")).count(),
        1
    );
    assert!(t.calls().contains(&"close 1:1".to_string()));
    let w = rt.worker_mut(1).unwrap();
    // The client's session was freed through its cleanup event; the server
    // was told the peer closed and still holds its session.
    assert!(!w.session_is_valid(cs));
    let s = w.session_get(ss).unwrap();
    assert_eq!(s.state(), SessionState::TransportClosing);
    let names = app.names();
    assert!(names.contains(&"disconnected".to_string()), "{names:?}");
    assert!(names.contains(&"transport-closed".to_string()), "{names:?}");
    assert_eq!(app.count("cleanup"), 2, "{names:?}");
    // The server closes in turn.
    rt.call(1, move |w| w.session_close(ss)).unwrap().unwrap();
    rt.run_until_idle().unwrap();
    let w = rt.worker_mut(1).unwrap();
    assert!(!w.session_is_valid(ss));
    assert_eq!(w.sessions().len(), 0);
    assert_eq!(w.counters().sessions_allocated, w.counters().sessions_freed);
}

#[test]
fn app_reset_resets_the_peer() {
    let (mut rt, t, app, cs, ss) = connected(1, 1);
    rt.call(1, move |w| w.session_reset(cs)).unwrap().unwrap();
    rt.run_until_idle().unwrap();
    assert!(t.calls().contains(&"reset 1:1".to_string()));
    let reset: Vec<_> = app
        .seen()
        .into_iter()
        .filter(|s| s.event == "reset")
        .collect();
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].session, Some(ss));
    // A reset after close is a no-op.
    let w = rt.worker_mut(1).unwrap();
    assert_eq!(w.session_reset(ss), Ok(()));
    assert_eq!(w.session_reset(cs), Err(SessionError::NoSession));
}

#[test]
fn transport_cleanup_frees_session_and_connection() {
    let (mut rt, t, _app, cs, _ss) = connected(1, 1);
    let w = rt.worker_mut(1).unwrap();
    w.session_transport_cleanup(cs).unwrap();
    assert!(!w.session_is_valid(cs));
    assert!(t.calls().contains(&"cleanup 1:1".to_string()));
}

#[test]
fn closing_notify_waits_for_accept_reply() {
    let (main, mut workers, _t, app) = stack(0, &[SERVER]);
    let _ = main;
    let w = &mut workers[0];
    let h = w.session_alloc(SessionType::new(PROTO, true)).unwrap();
    {
        let s = w.session_get_mut(h).unwrap();
        s.app_wrk_index = SERVER;
        s.set_state(SessionState::Accepting).unwrap();
    }
    let mut tc =
        ct_session::TransportConnection::new(PROTO, 0, ct_session::TransportConnId::new(0, 0));
    tc.session = Some(h);
    w.session_transport_closing_notify(&tc).unwrap();
    assert_eq!(
        w.session_get(h).unwrap().state(),
        SessionState::TransportClosing
    );
    w.session_transport_reset_notify(&tc).unwrap();
    assert_eq!(w.session_input(), 0);
    assert!(app.seen().is_empty());
    // No session attached: typed error.
    let bare =
        ct_session::TransportConnection::new(PROTO, 0, ct_session::TransportConnId::new(0, 0));
    assert_eq!(
        w.session_transport_closing_notify(&bare),
        Err(SessionError::NoSession)
    );
}

#[test]
fn delete_notify_of_a_created_session_frees_it_now() {
    let (_main, mut workers, _t, app) = stack(0, &[SERVER]);
    let w = &mut workers[0];
    let h = w.session_alloc(SessionType::new(PROTO, true)).unwrap();
    let mut tc =
        ct_session::TransportConnection::new(PROTO, 0, ct_session::TransportConnId::new(0, 0));
    tc.session = Some(h);
    w.session_transport_delete_notify(&tc).unwrap();
    assert!(!w.session_is_valid(h));
    // Again: the session is gone, nothing to do.
    w.session_transport_delete_notify(&tc).unwrap();
    assert!(app.seen().is_empty());
}

#[test]
fn migrating_half_open_given_up_is_deleted_on_migration() {
    let (main, mut workers, t, app) = stack(1, &[CLIENT]);
    let _ = (&main, &t);
    let w = &mut workers[1];
    let ho = w.session_alloc(SessionType::new(PROTO, true)).unwrap();
    {
        let s = w.session_get_mut(ho).unwrap();
        s.flags.insert(SessionFlags::HALF_OPEN);
        s.app_wrk_index = CLIENT;
    }
    let mut tc =
        ct_session::TransportConnection::new(PROTO, 1, ct_session::TransportConnId::new(0, 0));
    tc.session = Some(ho);
    tc.flags = ct_session::TransportConnectionFlags::NO_LOOKUP;
    w.session_half_open_migrate_notify(&tc).unwrap();
    assert!(
        w.session_get(ho)
            .unwrap()
            .flags
            .contains(SessionFlags::IS_MIGRATING)
    );
    // The app gives up while the connection moves.
    w.session_cleanup_half_open(ho).unwrap();
    assert_eq!(w.session_get(ho).unwrap().state(), SessionState::Closed);
    let mut moved = tc;
    moved.thread_index = 0;
    moved.conn_id = ct_session::TransportConnId::new(5, 0);
    w.session_half_open_migrated_notify(&moved).unwrap();
    assert_eq!(w.session_input(), 1);
    assert_eq!(app.names(), vec!["half-cleanup"]);
    assert!(!w.session_is_valid(ho));
}

#[test]
fn transport_trait_defaults() {
    use ct_session::{TransportConnId as Id, TransportDisplay, Verbosity, format_cli_line};
    struct Minimal;
    impl Transport for Minimal {
        fn options(&self) -> ct_session::TransportOptions {
            ct_session::TransportOptions {
                name: "min",
                short_name: "M",
                tx_type: ct_session::TransportTxType::Peek,
                service_type: TransportServiceType::Cl,
            }
        }
        fn start_listen(
            &self,
            _: &mut ct_session::Worker,
            _: ct_session::SessionHandle,
            _: &SessionEndpointCfg,
        ) -> Result<Id, SessionError> {
            Ok(Id::new(0, 0))
        }
        fn stop_listen(&self, _: &mut ct_session::Worker, _: Id) -> Result<(), SessionError> {
            Ok(())
        }
        fn connect(
            &self,
            _: &mut ct_session::Worker,
            _: &SessionEndpointCfg,
            _: ct_session::SessionHandle,
        ) -> Result<Id, SessionError> {
            Ok(Id::new(0, 0))
        }
        fn close(&self, _: &mut ct_session::Worker, _: Id) {}
        fn cleanup(&self, _: &mut ct_session::Worker, _: Id) {}
        fn cleanup_ho(&self, _: &mut ct_session::Worker, _: Id) {}
        fn get_connection(
            &self,
            _: &ct_session::Worker,
            id: Id,
        ) -> Option<ct_session::TransportConnection> {
            // One live connection, for the default `show session` row.
            (id == Id::new(1, 0))
                .then(|| ct_session::TransportConnection::new(TransportProto::Udp, 0, id))
        }
        fn get_listener(
            &self,
            _: &ct_session::Worker,
            _: Id,
        ) -> Option<ct_session::TransportConnection> {
            None
        }
        fn get_half_open(
            &self,
            _: &ct_session::Worker,
            _: Id,
        ) -> Option<ct_session::TransportConnection> {
            None
        }
    }
    let (main, mut workers) = SessionMain::new(SessionConfig::new(0));
    main.transports()
        .register(TransportProto::Udp, true, Arc::new(Minimal))
        .unwrap();
    let w = &mut workers[0];
    let h = ready_session(w, 0);
    let t = main.transports().get(TransportProto::Udp).unwrap().clone();
    assert_eq!(t.custom_tx(w, h), Err(SessionError::NoSupport));
    let tc = ct_session::TransportConnection::new(
        TransportProto::Udp,
        0,
        ct_session::TransportConnId::new(0, 0),
    );
    assert_eq!(t.app_rx_evt(w, &tc), Err(SessionError::NoSupport));
    assert!(!t.worker_poll(w));
    // The default rows: the id, the state when verbose, nothing for an id
    // the transport does not know.
    let live = Id::new(1, 0);
    let id = t.get_connection(w, live).unwrap().to_string();
    let shown = |id, v| TransportDisplay::connection(&*t, w, id, v).to_string();
    assert_eq!(shown(live, Verbosity::Brief), format_cli_line(&id, None));
    assert_eq!(
        shown(live, Verbosity::Verbose),
        format_cli_line(&id, Some("ESTABLISHED"))
    );
    assert_eq!(shown(Id::new(1, 1), Verbosity::Verbose), "");
    assert_eq!(
        TransportDisplay::listener(&*t, w, live, Verbosity::Verbose).to_string(),
        ""
    );
    // Connectionless transports are not opened through session_open.
    let mut sep = SessionEndpointCfg::new(ep("127.0.0.1", 53), 0);
    sep.endpoint.transport_proto = TransportProto::Udp;
    assert_eq!(w.session_open(&sep), Err(SessionError::NoSupport));
}

/// A listener id kept after its listener stopped names nothing, even once
/// a new listener took the same slot: the transport checks the generation.
#[test]
fn a_stale_transport_id_finds_nothing_after_its_slot_is_reused() {
    let (main, workers, t, _app) = stack(0, &[SERVER]);
    let mut rt = Runtime::stepping(main.clone(), workers);
    let listen = |rt: &mut Runtime, port| {
        let lh = main
            .listen_session_alloc(SessionType::new(PROTO, true))
            .unwrap();
        let sep = SessionEndpointCfg::new(ep("127.0.0.1", port), SERVER);
        rt.call(0, move |w| w.session_listen(lh, &sep))
            .unwrap()
            .unwrap();
        (lh, main.listen_session_get(lh).unwrap().connection_id)
    };
    let (old_lh, old) = listen(&mut rt, 80);
    rt.call(0, move |w| w.session_stop_listen(old_lh))
        .unwrap()
        .unwrap();
    let (_, new) = listen(&mut rt, 81);
    assert_eq!(old.index, new.index, "the slot is reused");
    assert_ne!(old, new);
    let tt = t.clone();
    let (stale, live, stop, shown) = rt
        .call(0, move |w| {
            let stale = tt.get_listener(w, old);
            let live = tt.get_listener(w, new).map(|tc| tc.lcl_port);
            let shown = ct_session::TransportDisplay::listener(
                &*tt,
                w,
                old,
                ct_session::Verbosity::Verbose,
            )
            .to_string();
            (stale, live, tt.stop_listen(w, old), shown)
        })
        .unwrap();
    assert_eq!(stale, None);
    assert_eq!(live, Some(81));
    assert_eq!(stop, Err(SessionError::NoListen));
    assert_eq!(shown, "");
}
