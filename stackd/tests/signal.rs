//! When stackd wakes an app: a delivery that finds the app asleep only
//! records the wake-up, and the worker signals the app's eventfd once, at
//! the end of its poll. Inside the poll the app is never signalled (a woken
//! app would take the worker's core mid-batch), and a poll that finds the
//! app asleep twice still signals it once.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, WAIT, daemon, wait_counters};
use ct_session::{SessionError, SessionHandle};

/// Messages per delivery round: all go out in one session-input run
/// (below `APP_EVENTS_PER_FLUSH`, and below the event queue's size).
const N: u32 = 100;

/// What the app saw inside the worker's poll.
#[derive(Default)]
struct InPoll {
    /// Messages each session-input run delivered.
    delivered: Vec<usize>,
    /// Signals on the app's eventfd after each run.
    signals: Vec<u64>,
    /// Messages the app read between the runs.
    read: u32,
    /// Whether it then went back to sleep (the queue was empty).
    slept_again: bool,
}

#[test]
fn a_poll_of_many_deliveries_signals_the_sleeping_app_once_at_its_end() {
    let (d, path) = daemon(1, "signal");
    let mut app = TestApp::attach(&path, "sleeper");
    // Whatever the attach sent first, read; then the app is quiet.
    while app
        .next(Instant::now() + Duration::from_millis(200))
        .is_some()
    {}
    let before = d.counters();
    app.w.app_evtfd.drain();
    let app_wrk = app.w.reply.app_wrk;
    let evtfd = app.w.app_evtfd.try_clone().unwrap();
    let mut evt = std::mem::take(&mut app.w.evt);
    let consumer = evt.remove(0);
    // The app goes to sleep on its eventfd.
    assert!(consumer.prepare_sleep().unwrap());

    let main = d.stack().unwrap().main().clone();
    let (consumer, run) = main
        .call_blocking(0, move |wrk| {
            let mut consumer = consumer;
            let mut run = InPoll::default();
            let mut buf = [0u8; ct_app_interface::wire::CTRL_MSG_SIZE];
            for round in 0..2 {
                for i in 0..N {
                    wrk.app_worker_listened_notify(
                        app_wrk,
                        SessionHandle::new(0, 0, 0),
                        round * N + i,
                        Some(SessionError::NoListen),
                    );
                }
                run.delivered.push(wrk.session_input());
                run.signals.push(evtfd.drain());
                if round == 0 {
                    // The app (woken by anything) reads the round and
                    // sleeps again: the queue reports that new sleep too.
                    consumer.woke();
                    while let Ok(Some(_)) = consumer.try_recv(&mut buf) {
                        run.read += 1;
                    }
                    run.slept_again = matches!(consumer.prepare_sleep(), Ok(true));
                }
            }
            (consumer, run)
        })
        .unwrap();
    assert_eq!(run.delivered, [N as usize; 2]);
    assert_eq!((run.read, run.slept_again), (N, true));
    assert_eq!(run.signals, [0, 0], "the app was signalled inside the poll");

    // The poll ends: one signal for both sleeps, and the second round
    // waits on the queue.
    assert!(app.w.app_evtfd.wait(Some(WAIT)).unwrap(), "no wake-up");
    consumer.woke();
    assert_eq!(consumer.len(), N as usize);
    let c = wait_counters(&d, "both rounds delivered", |c| {
        c.evt_msgs == before.evt_msgs + 2 * u64::from(N)
    });
    assert_eq!(c.app_signals, before.app_signals + 1, "{c}");
    assert_eq!(app.w.app_evtfd.drain(), 1);

    evt.insert(0, consumer);
    app.w.evt = evt;
    drop(app);
    wait_counters(&d, "detached", |c| c.is_empty());
    assert!(d.stop().is_empty());
}
