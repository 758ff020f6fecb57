//! The worker sleep/wake protocol and worker inputs: a send to a busy
//! worker costs no unpark, a send to a sleeping one wakes it; inputs are
//! polled (also ones added while workers run, and their producers can wake
//! a sleeping worker); an input whose `prepare_sleep` says no keeps the
//! worker awake.
//!
//! Threaded tests park with a 60 s timeout and wait at most 10 s for what
//! they expect: a lost wake-up fails them instead of being papered over by
//! the timeout.

use ct_sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_session::{
    Runtime, SessionConfig, SessionMain, ThreadParker, ThreadedConfig, Worker, WorkerInput,
    WorkerParker,
};
use ct_sync::Mutex;

const LONG_PARK: Duration = Duration::from_secs(60);
const PATIENCE: Duration = Duration::from_secs(10);

/// A thread parker that counts, and runs a probe before each park.
#[derive(Default)]
struct CountingParker {
    inner: ThreadParker,
    parks: AtomicUsize,
    unparks: AtomicUsize,
    probe: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl WorkerParker for CountingParker {
    fn bind(&self) {
        self.inner.bind();
    }
    fn park(&self, timeout: Duration) {
        if let Some(p) = self.probe.lock().as_ref() {
            p();
        }
        self.parks.fetch_add(1, Ordering::SeqCst);
        self.inner.park(timeout);
    }
    fn unpark(&self) {
        self.unparks.fetch_add(1, Ordering::SeqCst);
        self.inner.unpark();
    }
}

impl CountingParker {
    fn unparks(&self) -> usize {
        self.unparks.load(Ordering::SeqCst)
    }
    fn parks(&self) -> usize {
        self.parks.load(Ordering::SeqCst)
    }
}

fn cfg() -> ThreadedConfig {
    ThreadedConfig {
        poll: false,
        spin_polls: 1,
        park_timeout: LONG_PARK,
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One worker (thread 1) on a counting parker; main (thread 0) on its own.
fn threaded() -> (Arc<SessionMain>, Runtime, Arc<CountingParker>) {
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let p0 = Arc::new(CountingParker::default());
    let p1 = Arc::new(CountingParker::default());
    let rt =
        Runtime::threaded_with_parkers(main.clone(), workers, cfg(), vec![p0, p1.clone()]).unwrap();
    (main, rt, p1)
}

fn sleeping(main: &SessionMain, t: u32) -> bool {
    main.worker_wake(t).unwrap().is_sleeping()
}

#[test]
fn sender_unparks_only_a_worker_that_said_it_sleeps() {
    // Stepping: the flag is driven by hand, so the sender's side is exact.
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let p = Arc::new(CountingParker::default());
    let wake = main.worker_wake(1).unwrap();
    assert!(wake.set_parker(p.clone()));
    assert!(!wake.set_parker(p.clone()), "installed once");
    let mut rt = Runtime::stepping(main.clone(), workers);
    let ran = Arc::new(AtomicUsize::new(0));
    let send = || {
        let ran = ran.clone();
        main.send_rpc_evt_to_thread_force(1, move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    };
    send();
    assert_eq!(p.unparks(), 0, "awake worker: no unpark");
    wake.prepare_sleep();
    send();
    assert_eq!(p.unparks(), 1, "sleeping worker: unparked");
    wake.woke();
    send();
    assert_eq!(p.unparks(), 1);
    rt.run_until_idle().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}

#[test]
fn threaded_busy_worker_costs_no_unpark_and_sleeping_one_wakes() {
    let (main, rt, p) = threaded();
    wait_until("worker 1 asleep", || sleeping(&main, 1));

    // Busy: an RPC holds the worker; sends meanwhile see the flag clear.
    let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(1);
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(1);
    main.send_rpc_evt_to_thread_force(1, move |_| {
        started_tx.send(()).unwrap();
        gate_rx.recv().unwrap();
    })
    .unwrap();
    started_rx
        .recv_timeout(PATIENCE)
        .expect("rpc woke the worker");
    assert!(!sleeping(&main, 1));
    let before = p.unparks();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let ran = ran.clone();
        main.send_rpc_evt_to_thread_force(1, move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    assert_eq!(p.unparks(), before, "no unpark for a busy worker");
    gate_tx.send(()).unwrap();
    wait_until("the 100 rpcs", || ran.load(Ordering::SeqCst) == 100);

    // Sleeping: a call wakes it. A park can return spuriously (the flag is
    // then clear for a moment and the send needs no unpark), so look for
    // one round where the unpark was what woke it.
    let mut woken_by_unpark = false;
    for _ in 0..5 {
        wait_until("worker 1 asleep again", || sleeping(&main, 1));
        let before = p.unparks();
        let rx = main.call_blocking(1, |wrk: &mut Worker| wrk.thread_index());
        assert_eq!(rx, Ok(1), "the call ran");
        let n = p.unparks() - before;
        assert!(n <= 1, "one unpark per send at most: {n}");
        if n == 1 {
            woken_by_unpark = true;
            break;
        }
    }
    assert!(woken_by_unpark);
    drop(rt); // Shutdown wakes it too (or the join would take 60 s).
}

/// Work items per thread; each poll takes one.
struct Pending {
    items: Vec<AtomicUsize>,
    polls: Vec<AtomicUsize>,
}

impl Pending {
    fn new(n_threads: usize) -> Arc<Self> {
        Arc::new(Pending {
            items: (0..n_threads).map(|_| AtomicUsize::new(0)).collect(),
            polls: (0..n_threads).map(|_| AtomicUsize::new(0)).collect(),
        })
    }
    fn left(&self, t: u32) -> usize {
        self.items[t as usize].load(Ordering::SeqCst)
    }
}

impl WorkerInput for Pending {
    fn poll(&self, wrk: &mut Worker) -> bool {
        let t = wrk.thread_index() as usize;
        self.polls[t].fetch_add(1, Ordering::SeqCst);
        self.items[t]
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
    fn prepare_sleep(&self, wrk: &Worker) -> bool {
        self.left(wrk.thread_index()) == 0
    }
}

#[test]
fn inputs_are_polled_and_their_work_counts() {
    let (main, workers) = SessionMain::new(SessionConfig::new(1));
    let mut rt = Runtime::stepping(main.clone(), workers);
    let input = Pending::new(2);
    // Added after the workers exist.
    main.add_worker_input(input.clone());
    assert_eq!(main.n_worker_inputs(), 1);
    input.items[1].store(5, Ordering::SeqCst);
    let rounds = rt.run_until_idle().unwrap();
    assert_eq!(input.left(1), 0);
    assert!(rounds >= 5, "each item kept the stack busy: {rounds}");
    assert!(
        input.polls[0].load(Ordering::SeqCst) >= 6,
        "every worker polls"
    );
    assert!(input.polls[1].load(Ordering::SeqCst) >= 6);
    let as_dyn: Arc<dyn WorkerInput> = input.clone();
    assert!(main.remove_worker_input(&as_dyn));
    assert!(!main.remove_worker_input(&as_dyn));
    let polls = input.polls[1].load(Ordering::SeqCst);
    input.items[1].store(1, Ordering::SeqCst);
    rt.run_until_idle().unwrap();
    assert_eq!(input.polls[1].load(Ordering::SeqCst), polls, "removed");
    assert_eq!(input.left(1), 1);
}

#[test]
fn threaded_input_work_wakes_a_sleeping_worker() {
    let (main, rt, p) = threaded();
    wait_until("worker 1 asleep", || sleeping(&main, 1));
    // Added while asleep, with work already there: the add wakes it.
    let input = Pending::new(2);
    input.items[1].store(3, Ordering::SeqCst);
    main.add_worker_input(input.clone());
    wait_until("first batch", || input.left(1) == 0);
    // A producer publishes, then wakes the worker through the protocol.
    for round in 0..20 {
        wait_until("worker 1 asleep", || sleeping(&main, 1));
        input.items[1].fetch_add(1, Ordering::SeqCst);
        main.wake_worker(1);
        wait_until(&format!("item of round {round}"), || input.left(1) == 0);
    }
    assert!(p.unparks() >= 1);
    drop(rt);
}

/// Says "not quiet" a number of times before letting the worker sleep.
#[derive(Default)]
struct Stubborn {
    refusals_left: AtomicUsize,
    prepares: AtomicUsize,
    wokes: AtomicUsize,
}

impl WorkerInput for Stubborn {
    fn poll(&self, _wrk: &mut Worker) -> bool {
        false
    }
    fn prepare_sleep(&self, wrk: &Worker) -> bool {
        if wrk.thread_index() != 1 {
            return true;
        }
        self.prepares.fetch_add(1, Ordering::SeqCst);
        self.refusals_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
    }
    fn woke(&self, wrk: &Worker) {
        if wrk.thread_index() == 1 {
            self.wokes.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn prepare_sleep_false_keeps_the_worker_awake() {
    let (main, rt, p) = threaded();
    wait_until("worker 1 asleep", || sleeping(&main, 1));
    let input = Arc::new(Stubborn::default());
    input.refusals_left.store(200, Ordering::SeqCst);
    // Every park records how many refusals were left then: must be none.
    let seen = Arc::new(Mutex::new(Vec::new()));
    {
        let (input, seen) = (input.clone(), seen.clone());
        *p.probe.lock() = Some(Box::new(move || {
            seen.lock().push(input.refusals_left.load(Ordering::SeqCst));
        }));
    }
    let parks_before = p.parks();
    main.add_worker_input(input.clone());
    wait_until("the refusals used up", || {
        input.refusals_left.load(Ordering::SeqCst) == 0
    });
    wait_until("worker 1 asleep after them", || {
        sleeping(&main, 1) && p.parks() > parks_before
    });
    assert!(input.prepares.load(Ordering::SeqCst) >= 201);
    assert!(
        seen.lock().iter().all(|&left| left == 0),
        "parked while the input said it had work: {:?}",
        seen.lock()
    );
    // Every prepare_sleep is followed by woke, except the one it sleeps in.
    let (prepares, wokes) = (
        input.prepares.load(Ordering::SeqCst),
        input.wokes.load(Ordering::SeqCst),
    );
    assert_eq!(wokes + 1, prepares);
    drop(rt);
}
