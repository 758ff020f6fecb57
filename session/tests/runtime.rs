//! The worker runtime: stepping mode, `call`, RPCs between threads, the
//! threaded mode, listener and session pools through workers.

mod common;

use ct_sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{ready_session, stack};
use ct_session::{
    IoEvent, LISTENER_INDEX_BASE, Runtime, SessionConfig, SessionError, SessionHandle, SessionMain,
    SessionState, SessionType, ThreadedConfig, TransportProto,
};

fn st() -> SessionType {
    SessionType::new(TransportProto::Tcp, true)
}

#[test]
fn worker_pool_rejects_stale_and_foreign_handles() {
    let (_main, mut workers) = SessionMain::new(SessionConfig::new(1));
    let (w0, w1) = workers.split_at_mut(1);
    let (w0, w1) = (&mut w0[0], &mut w1[0]);
    let h = w1.session_alloc(st()).unwrap();
    assert_eq!(h.thread_index(), 1);
    assert!(w1.session_is_valid(h));
    assert_eq!(w0.session_get(h).err(), Some(SessionError::NoSession));
    w1.session_free(h).unwrap();
    let h2 = w1.session_alloc(st()).unwrap();
    assert_eq!(h2.session_index(), h.session_index());
    assert_eq!(
        w1.session_get_from_handle(h).err(),
        Some(SessionError::NoSession)
    );
    assert_eq!(w1.session_free(h).err(), Some(SessionError::NoSession));
    assert_eq!(w1.session_get(h2).unwrap().handle(), h2);
    assert_eq!(w1.counters().sessions_allocated, 2);
    assert_eq!(w1.counters().sessions_freed, 1);
}

#[test]
fn illegal_state_change_is_caught() {
    let (_main, mut workers) = SessionMain::new(SessionConfig::new(0));
    let h = ready_session(&mut workers[0], 0);
    let s = workers[0].session_get_mut(h).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.set_state(SessionState::Connecting)
    }));
    if cfg!(debug_assertions) {
        assert!(r.is_err(), "debug builds assert on illegal transitions");
    } else {
        assert_eq!(r.unwrap(), Err(SessionError::WrongState));
    }
    assert_eq!(
        workers[0].session_get(h).unwrap().state(),
        SessionState::Ready
    );
}

#[test]
fn listeners_share_thread_zero_without_colliding() {
    let (main, mut workers) = SessionMain::new(SessionConfig::new(0));
    let l = main.listen_session_alloc(st()).unwrap();
    let s = workers[0].session_alloc(st()).unwrap();
    assert_eq!(l.thread_index(), 0);
    assert!(l.session_index() >= LISTENER_INDEX_BASE);
    assert_ne!(l.as_u64(), s.as_u64());
    assert!(workers[0].session_get(l).is_err());
    assert!(main.listen_session_get(s).is_err());
    main.listen_session_update(l, |ls| ls.app_index = 3)
        .unwrap();
    assert_eq!(main.listen_session_get(l).unwrap().app_index, 3);
    assert_eq!(main.n_listeners(), 1);
    main.listen_session_free(l).unwrap();
    assert!(!main.listen_session_is_valid(l));
    assert_eq!(main.listen_session_free(l), Err(SessionError::NoSession));
}

#[test]
fn rpc_to_self_runs_next_poll_and_unforced_runs_now() {
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let mut rt = Runtime::stepping(main.clone(), workers);
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let ran_now = rt
        .call(1, move |w| {
            let h2 = h.clone();
            w.send_rpc_evt_to_thread(1, move |_| {
                h2.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            let now = h.load(Ordering::Relaxed);
            let h3 = h.clone();
            w.send_rpc_evt_to_thread_force(1, move |_| {
                h3.fetch_add(10, Ordering::Relaxed);
            })
            .unwrap();
            (now, h.load(Ordering::Relaxed))
        })
        .unwrap();
    assert_eq!(ran_now, (1, 1));
    rt.run_until_idle().unwrap();
    assert_eq!(hits.load(Ordering::Relaxed), 11);
}

#[test]
fn self_rescheduling_rpc_yields_between_polls() {
    // An RPC that keeps re-queuing itself runs once per poll, so other work
    // is not starved; run_until_idle reports the livelock instead of hanging.
    fn again(w: &mut ct_session::Worker, left: Arc<AtomicUsize>) {
        if left.fetch_sub(1, Ordering::Relaxed) > 1 {
            let l = left.clone();
            w.send_rpc_evt_to_thread_force(w.thread_index(), move |w| again(w, l))
                .unwrap();
        }
    }
    let (main, workers) = SessionMain::new(SessionConfig::new(0));
    let mut rt = Runtime::stepping(main.clone(), workers);
    let left = Arc::new(AtomicUsize::new(5));
    let l = left.clone();
    main.send_rpc_evt_to_thread_force(0, move |w| again(w, l))
        .unwrap();
    assert!(rt.step());
    assert_eq!(left.load(Ordering::Relaxed), 4);
    assert_eq!(rt.run_until_idle().unwrap(), 4);
    assert_eq!(left.load(Ordering::Relaxed), 0);
    assert_eq!(rt.worker_mut(0).unwrap().counters().rpcs, 5);
}

#[test]
fn call_to_unknown_thread_is_an_error() {
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let mut rt = Runtime::stepping(main, workers);
    assert_eq!(
        rt.call(5, |w| w.thread_index()).err(),
        Some(SessionError::Invalid)
    );
}

#[test]
fn threaded_smoke() {
    let (main, workers, _t, app) = stack(2, &[1]);
    let rt = Runtime::threaded(main.clone(), workers, ThreadedConfig::default()).unwrap();
    assert!(rt.is_threaded());
    let mut handles = Vec::new();
    for t in 0..3u32 {
        let h = main.call_blocking(t, move |w| ready_session(w, 1)).unwrap();
        assert_eq!(h.thread_index(), t);
        handles.push(h);
    }
    // A hop across every worker, then an event to the app on each thread.
    let done = Arc::new(AtomicUsize::new(0));
    for h in &handles {
        let h = *h;
        let d = done.clone();
        main.send_rpc_evt_to_thread_force((h.thread_index() + 1) % 3, move |w| {
            w.send_rpc_evt_to_thread_force(h.thread_index(), move |w| {
                w.session_enqueue_notify(h).unwrap();
                d.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        })
        .unwrap();
    }
    // Parked workers wake up for app IO events too.
    std::thread::sleep(Duration::from_millis(30));
    main.send_io_evt_to_thread(handles[1], IoEvent::Tx).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.count("rx") < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(done.load(Ordering::Relaxed), 3);
    assert_eq!(app.count("rx"), 3);
    let mut rt = rt;
    let tx = rt.call(1, |w| w.counters().tx_events).unwrap();
    assert_eq!(tx, 1);
    let workers = rt.shutdown();
    assert_eq!(workers.len(), 3);
    let threads: Vec<_> = app.seen().iter().map(|s| s.thread).collect();
    let mut sorted = threads.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2]);
    for (t, w) in workers.iter().enumerate() {
        assert_eq!(w.thread_index(), t as u32);
        assert_eq!(w.sessions().len(), 1);
    }
}

#[test]
fn threaded_poll_mode_runs_and_stops() {
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let cfg = ThreadedConfig {
        poll: true,
        ..ThreadedConfig::default()
    };
    let mut rt = Runtime::threaded(main.clone(), workers, cfg).unwrap();
    let sum: u32 = (0..100)
        .map(|i| rt.call(i % 2, move |w| w.thread_index() + i).unwrap())
        .sum();
    assert_eq!(sum, 50 + (0..100).sum::<u32>());
    assert!(rt.workers_mut().is_none());
    assert!(!rt.step());
    let ws = rt.shutdown();
    assert_eq!(ws.len(), 2);
    let _ = SessionHandle::new(0, 0, 0);
}

#[test]
fn dropping_a_threaded_runtime_stops_its_workers() {
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let rt = Runtime::threaded(main.clone(), workers, ThreadedConfig::default()).unwrap();
    assert_eq!(main.call_blocking(1, |w| w.thread_index()).unwrap(), 1);
    drop(rt);
    // The workers are gone with their queues' receivers: nothing runs a call.
    assert!(Arc::strong_count(&main) == 1);
    assert_eq!(
        main.call_blocking(1, |w| w.thread_index()),
        Err(SessionError::NoSession)
    );
}

/// Many sessions, each bounced across all threads many times by RPCs
/// while IO events arrive from an outside thread: every hop and every event
/// is accounted for, and nothing is left queued.
#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
fn stress_threaded_rpc_hops_and_io_events() {
    const HOPS: usize = 2_000;
    const SESSIONS: usize = 64;
    let (main, workers, _t, app) = stack(2, &[1]);
    let rt = Runtime::threaded(main.clone(), workers, ThreadedConfig::default()).unwrap();
    let handles: Vec<_> = (0..SESSIONS)
        .map(|i| {
            main.call_blocking((i % 3) as u32, move |w| ready_session(w, 1))
                .unwrap()
        })
        .collect();
    fn hop(w: &mut ct_session::Worker, left: usize, done: Arc<AtomicUsize>) {
        if left == 0 {
            done.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let next = (w.thread_index() + 1) % 3;
        w.send_rpc_evt_to_thread_force(next, move |w| hop(w, left - 1, done))
            .unwrap();
    }
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..SESSIONS {
        let d = done.clone();
        main.send_rpc_evt_to_thread_force((i % 3) as u32, move |w| hop(w, HOPS, d))
            .unwrap();
    }
    for _ in 0..100 {
        for h in &handles {
            main.send_io_evt_to_thread(*h, IoEvent::RxDequeue).unwrap();
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while done.load(Ordering::Relaxed) < SESSIONS && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(done.load(Ordering::Relaxed), SESSIONS);
    let workers = rt.shutdown();
    let rpcs: u64 = workers.iter().map(|w| w.counters().rpcs).sum();
    assert_eq!(rpcs as usize, SESSIONS * (HOPS + 1) + SESSIONS);
    let rx_deq: u64 = workers.iter().map(|w| w.counters().rx_dequeue_events).sum();
    assert_eq!(rx_deq as usize, SESSIONS * 100);
    assert!(workers.iter().all(|w| w.queued_events() == 0));
    let _ = app;
}

/// A stepped runtime's clock stands still until the caller moves it, and
/// every worker reads the same time; it never goes back.
#[test]
fn stepped_clock_moves_only_when_told() {
    use ct_session::StackTime;
    let (main, workers) = SessionMain::new(SessionConfig::new(2));
    let mut rt = Runtime::stepping(main, workers);
    assert_eq!(rt.now(), StackTime::ZERO);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(rt.call(1, |w| w.now()).unwrap(), StackTime::ZERO);
    rt.advance_clock(Duration::from_millis(7));
    let t = StackTime::from_origin(Duration::from_millis(7));
    for thread in 0..3 {
        assert_eq!(rt.call(thread, |w| w.now()).unwrap(), t);
    }
    rt.set_clock(StackTime::ZERO);
    assert_eq!(rt.now(), t, "a stepped clock never goes back");
}

/// Threaded workers read the stack's real monotonic clock.
#[test]
fn threaded_clock_is_real_time() {
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let mut rt = Runtime::threaded(main, workers, ThreadedConfig::default()).unwrap();
    let a = rt.call(1, |w| w.now()).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let b = rt.call(1, |w| w.now()).unwrap();
    assert!(b.saturating_duration_since(a) >= Duration::from_millis(5));
    assert!(rt.now() >= b);
}
