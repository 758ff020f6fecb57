//! Async app events: coalescing, the per-run cap, congestion, drain on app
//! worker delete, accept gating, determinism.

mod common;

use ct_sync::Mutex;
use ct_sync::atomic::Ordering;
use std::sync::Arc;

use common::{ready_session, stack};
use ct_session::{
    APP_EVENTS_PER_FLUSH, QueuedAppEvent, Runtime, SessionCleanupNtf, SessionError, SessionFlags,
    SessionState, SessionType, TransportProto,
};

#[test]
fn ten_enqueue_notifies_deliver_one_rx() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let h = ready_session(wrk, 1);
    for _ in 0..10 {
        wrk.session_enqueue_notify(h).unwrap();
    }
    assert_eq!(wrk.app_worker_pending_events(1), 1);
    assert!(
        wrk.session_get(h)
            .unwrap()
            .flags
            .contains(SessionFlags::RX_EVT)
    );
    assert_eq!(wrk.counters().rx_coalesced, 9);
    assert_eq!(wrk.session_input(), 1);
    assert_eq!(app.count("rx"), 1);
    // Delivery clears the flag: the next notify queues a new event.
    assert!(
        !wrk.session_get(h)
            .unwrap()
            .flags
            .contains(SessionFlags::RX_EVT)
    );
    wrk.session_enqueue_notify(h).unwrap();
    assert_eq!(wrk.session_input(), 1);
    assert_eq!(app.count("rx"), 2);
}

#[test]
fn enqueue_notify_without_app_worker_is_an_error() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let h = ready_session(wrk, 7);
    assert_eq!(
        wrk.session_enqueue_notify(h),
        Err(SessionError::InvalidAppWrk)
    );
    assert_eq!(
        wrk.session_dequeue_notify(h),
        Err(SessionError::InvalidAppWrk)
    );
    wrk.session_free(h).unwrap();
    assert_eq!(wrk.session_enqueue_notify(h), Err(SessionError::NoSession));
    assert_eq!(wrk.session_input(), 0);
    assert!(app.seen().is_empty());
}

#[test]
fn three_hundred_events_take_three_runs_in_order() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let sessions: Vec<_> = (0..300).map(|_| ready_session(wrk, 1)).collect();
    for h in &sessions {
        wrk.session_enqueue_notify(*h).unwrap();
    }
    assert_eq!(wrk.session_input(), APP_EVENTS_PER_FLUSH);
    assert_eq!(wrk.pending_app_workers(), vec![1]);
    assert_eq!(wrk.session_input(), APP_EVENTS_PER_FLUSH);
    assert_eq!(wrk.session_input(), 300 - 2 * APP_EVENTS_PER_FLUSH);
    assert_eq!(wrk.session_input(), 0);
    assert!(wrk.pending_app_workers().is_empty());
    let order: Vec<_> = app.seen().iter().map(|s| s.session.unwrap()).collect();
    assert_eq!(order, sessions);
}

#[test]
fn cap_is_per_app_worker_and_flush_goes_in_index_order() {
    let (_main, mut workers, _t, app) = stack(0, &[1, 2]);
    let wrk = &mut workers[0];
    for aw in [2, 1] {
        for _ in 0..200 {
            let h = ready_session(wrk, aw);
            wrk.session_enqueue_notify(h).unwrap();
        }
    }
    assert_eq!(wrk.session_input(), 2 * APP_EVENTS_PER_FLUSH);
    let seen = app.seen();
    assert!(seen[..APP_EVENTS_PER_FLUSH].iter().all(|s| s.app_wrk == 1));
    assert!(seen[APP_EVENTS_PER_FLUSH..].iter().all(|s| s.app_wrk == 2));
    assert_eq!(wrk.session_input(), 2 * (200 - APP_EVENTS_PER_FLUSH));
}

#[test]
fn congestion_keeps_everything_and_delivers_after_it_clears() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let a = ready_session(wrk, 1);
    let b = ready_session(wrk, 1);
    wrk.session_enqueue_notify(a).unwrap();
    wrk.app_worker_close_notify(1, b).unwrap();
    wrk.session_enqueue_notify(b).unwrap();
    app.congested.store(true, Ordering::Relaxed);
    for _ in 0..3 {
        assert_eq!(wrk.session_input(), 0);
        assert!(wrk.app_worker_is_congested(1));
        assert_eq!(wrk.app_worker_pending_events(1), 3);
        assert!(wrk.has_pending_work());
    }
    // While congested, RX stays coalesced: a new notify adds nothing.
    wrk.session_enqueue_notify(a).unwrap();
    assert_eq!(wrk.app_worker_pending_events(1), 3);
    app.congested.store(false, Ordering::Relaxed);
    assert_eq!(wrk.session_input(), 3);
    assert!(!wrk.app_worker_is_congested(1));
    assert_eq!(app.names(), vec!["rx", "disconnected", "rx"]);
    assert_eq!(wrk.counters().congested, 3);
}

#[test]
fn rx_for_a_session_still_accepting_is_not_delivered() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let h = wrk
        .session_alloc(SessionType::new(TransportProto::Tcp, true))
        .unwrap();
    {
        let s = wrk.session_get_mut(h).unwrap();
        s.app_wrk_index = 1;
        s.set_state(SessionState::Accepting).unwrap();
    }
    wrk.session_enqueue_notify(h).unwrap();
    assert_eq!(wrk.session_input(), 0);
    assert!(app.seen().is_empty());
    assert_eq!(wrk.counters().rx_skipped, 1);
    assert!(
        !wrk.session_get(h)
            .unwrap()
            .flags
            .contains(SessionFlags::RX_EVT)
    );
}

#[test]
fn deleting_an_app_worker_drains_and_runs_cleanups() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let st = SessionType::new(TransportProto::Tcp, true);
    let default_cleanup = ready_session(wrk, 1);
    let custom_cleanup = ready_session(wrk, 1);
    let ho = wrk.session_alloc(st).unwrap();
    wrk.session_enqueue_notify(default_cleanup).unwrap();
    wrk.app_worker_cleanup_notify(1, default_cleanup, SessionCleanupNtf::Session)
        .unwrap();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r = ran.clone();
    wrk.app_worker_cleanup_notify_custom(
        1,
        custom_cleanup,
        SessionCleanupNtf::Session,
        move |w, h| {
            r.lock().push(h);
            w.session_free(h).unwrap();
        },
    )
    .unwrap();
    wrk.app_worker_del_half_open(1, ho).unwrap();
    let kept = ready_session(wrk, 1);
    wrk.app_worker_cleanup_notify(1, kept, SessionCleanupNtf::Transport)
        .unwrap();
    assert_eq!(wrk.sessions().len(), 4);

    app.valid.lock().remove(&1);
    assert_eq!(wrk.app_worker_del_all_events(1), 5);
    assert_eq!(*ran.lock(), vec![custom_cleanup]);
    // Session cleanups and the half-open freed; the transport-only cleanup
    // leaves its session alone.
    assert_eq!(wrk.sessions().len(), 1);
    assert!(wrk.session_is_valid(kept));
    assert!(!wrk.session_is_valid(default_cleanup));
    assert!(!wrk.session_is_valid(custom_cleanup));
    assert!(!wrk.session_is_valid(ho));
    assert!(wrk.pending_app_workers().is_empty());
    assert_eq!(wrk.session_input(), 0);
    assert!(app.seen().is_empty());
    assert_eq!(wrk.app_worker_del_all_events(1), 0);
}

#[test]
fn events_for_an_app_worker_deleted_without_drain_still_clean_up() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let h = ready_session(wrk, 1);
    wrk.app_worker_cleanup_notify(1, h, SessionCleanupNtf::Session)
        .unwrap();
    app.valid.lock().remove(&1);
    assert_eq!(wrk.session_input(), 0);
    assert!(!wrk.session_is_valid(h));
    assert!(wrk.pending_app_workers().is_empty());
}

#[test]
fn cleanup_event_frees_the_session_after_delivery() {
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let h = ready_session(wrk, 1);
    wrk.app_worker_cleanup_notify(1, h, SessionCleanupNtf::Session)
        .unwrap();
    assert!(wrk.session_is_valid(h));
    assert_eq!(wrk.session_input(), 1);
    assert!(!wrk.session_is_valid(h));
    assert_eq!(app.names(), vec!["cleanup"]);
    assert_eq!(wrk.counters().sessions_freed, 1);
}

#[test]
fn events_must_be_queued_on_the_sessions_thread() {
    let (_main, mut workers, _t, _app) = stack(1, &[1]);
    let h = ready_session(&mut workers[1], 1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        workers[0].app_worker_accept_notify(1, h)
    }));
    if cfg!(debug_assertions) {
        assert!(r.is_err());
    } else {
        assert_eq!(r.unwrap(), Err(SessionError::Invalid));
    }
}

/// A scenario mixing RPCs across threads, IO events and app events.
fn scenario() -> Vec<String> {
    let (main, workers, _t, app) = stack(2, &[1, 2, 3]);
    let mut rt = Runtime::stepping(main.clone(), workers);
    let mut handles = Vec::new();
    for t in 0..3u32 {
        for aw in 1..=3u32 {
            let h = rt.call(t, move |w| ready_session(w, aw)).unwrap();
            handles.push(h);
        }
    }
    for (i, h) in handles.iter().enumerate() {
        let h = *h;
        let hops = (i % 3) as u32;
        main.send_rpc_evt_to_thread_force(hops, move |w| {
            let target = h.thread_index();
            w.send_rpc_evt_to_thread_force(target, move |w| {
                w.session_enqueue_notify(h).unwrap();
                w.session_dequeue_notify(h).unwrap();
                w.app_worker_reset_notify(w.session_get(h).unwrap().app_wrk_index, h)
                    .unwrap();
            })
            .unwrap();
        })
        .unwrap();
    }
    rt.run_until_idle().unwrap();
    app.seen()
        .iter()
        .map(|s| format!("{} {} {} {:?}", s.thread, s.app_wrk, s.event, s.session))
        .collect()
}

#[test]
fn same_scenario_same_event_order() {
    let first = scenario();
    assert_eq!(first.len(), 27);
    for _ in 0..5 {
        assert_eq!(scenario(), first);
    }
}

#[test]
fn event_debug_and_names() {
    let h = ct_session::SessionHandle::new(1, 2, 0);
    let e = QueuedAppEvent::Connected {
        opaque: 7,
        result: Err(SessionError::Refused),
    };
    assert_eq!(e.name(), "connected");
    assert!(format!("{e:?}").contains("opaque 7"));
    assert_eq!(QueuedAppEvent::Rx(h).session(), Some(h));
}

#[test]
fn dequeue_notify_clears_the_fifo_request_before_queuing_tx() {
    use ct_fifo_segment::{DeqNtf, FifoSegment, SegmentFlags};
    let (_main, mut workers, _t, app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let seg = FifoSegment::create_heap(1 << 20, 1, SegmentFlags::empty()).unwrap();
    let tx = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    tx.add_want_deq_ntf(DeqNtf::NOTIF);
    let h = ready_session(wrk, 1);
    wrk.session_get_mut(h).unwrap().tx_fifo = Some(tx.clone());
    wrk.session_dequeue_notify(h).unwrap();
    assert!(!tx.want_deq_ntf().contains(DeqNtf::NOTIF));
    assert_eq!(wrk.session_input(), 1);
    assert_eq!(app.names(), vec!["tx"]);
    // The session's cleanup hands the fifos back to the app layer.
    wrk.session_cleanup(h).unwrap();
    assert_eq!(app.deallocs.load(Ordering::Relaxed), 1);
    seg.free_fifo(&tx).unwrap();
}

#[test]
fn session_display_and_format() {
    let (_main, mut workers, _t, _app) = stack(0, &[1]);
    let wrk = &mut workers[0];
    let h = ready_session(wrk, 1);
    wrk.session_enqueue_notify(h).unwrap();
    let s = wrk.session_get(h).unwrap();
    assert_eq!(s.to_string(), "[0:0][T] ready flags: rx-event");
    // No transport connection behind it: the transport says so.
    assert!(
        wrk.format_session(h, 1)
            .unwrap()
            .starts_with("empty\n0         0")
    );
    let s = wrk.session_get_mut(h).unwrap();
    s.set_state(SessionState::TransportDeleted).unwrap();
    assert_eq!(wrk.format_session(h, 1).unwrap(), "[0:0] CLOSED");
    assert_eq!(wrk.session_get(h).unwrap().to_string(), "[0:0] CLOSED");
}
