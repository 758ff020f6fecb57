//! Session-layer event throughput: IO events from an app through a
//! worker's queue, the transport's `custom_tx`, `session_enqueue_notify`
//! and session-input to a builtin app callback (one queue event in, one app
//! event out), against crossbeam-channel send/recv of the same count in the
//! same run.
//!
//! - `BENCH session_events_per_s`: an app thread sends TX events to a
//!   threaded worker (main only, no other workers) that delivers RX events
//!   to the callback; `BENCH channel_2t_msgs_per_s`: one thread sends the
//!   same count on a crossbeam channel, another receives them;
//!   `BENCH session_vs_channel_ratio` = the first over the second.
//! - `BENCH session_events_stepping_per_s`: the same events sent then
//!   handled on one thread (stepping runtime); `BENCH channel_msgs_per_s`:
//!   send then receive on one thread;
//!   `BENCH session_stepping_vs_channel_ratio`.
//!
//! Events go round-robin over 1024 sessions and a poll takes at most as
//! many queue events as session-input delivers per run, so RX coalescing
//! does not fold them: the figure counts delivered events.

use ct_sync::atomic::{AtomicU64, Ordering};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_session::{
    AppEvent, AppLayer, Congested, IoEvent, QueuedAppEvent, Runtime, SessionConfig,
    SessionEndpointCfg, SessionError, SessionHandle, SessionMain, SessionState, SessionType,
    ThreadedConfig, Transport, TransportConnId, TransportConnection, TransportOptions,
    TransportProto, TransportServiceType, TransportTxType, Worker,
};
use test_harness::bench::{self, BenchArgs};

const N_SESSIONS: usize = 1024;
const APP_WRK: u32 = 0;
const PROTO: TransportProto = TransportProto::Tcp;

/// A transport whose tx is "the peer has data": every TX event becomes an
/// RX notification for the same session.
struct Loop;

impl Transport for Loop {
    fn options(&self) -> TransportOptions {
        TransportOptions {
            name: "loop",
            short_name: "L",
            tx_type: TransportTxType::Internal,
            service_type: TransportServiceType::Vc,
        }
    }
    fn start_listen(
        &self,
        _: &mut Worker,
        _: SessionHandle,
        _: &SessionEndpointCfg,
    ) -> Result<TransportConnId, SessionError> {
        Err(SessionError::NoSupport)
    }
    fn stop_listen(&self, _: &mut Worker, _: TransportConnId) -> Result<(), SessionError> {
        Err(SessionError::NoSupport)
    }
    fn connect(
        &self,
        _: &mut Worker,
        _: &SessionEndpointCfg,
        _: SessionHandle,
    ) -> Result<TransportConnId, SessionError> {
        Err(SessionError::NoSupport)
    }
    fn close(&self, _: &mut Worker, _: TransportConnId) {}
    fn cleanup(&self, _: &mut Worker, _: TransportConnId) {}
    fn cleanup_ho(&self, _: &mut Worker, _: TransportConnId) {}
    fn get_connection(&self, _: &Worker, _: TransportConnId) -> Option<TransportConnection> {
        None
    }
    fn get_listener(&self, _: &Worker, _: TransportConnId) -> Option<TransportConnection> {
        None
    }
    fn get_half_open(&self, _: &Worker, _: TransportConnId) -> Option<TransportConnection> {
        None
    }
    fn custom_tx(&self, wrk: &mut Worker, session: SessionHandle) -> Result<u32, SessionError> {
        wrk.session_enqueue_notify(session)?;
        Ok(1)
    }
}

/// A builtin app whose rx callback counts.
struct Counter(AtomicU64);

impl AppLayer for Counter {
    fn app_worker_is_valid(&self, app_wrk: u32) -> bool {
        app_wrk == APP_WRK
    }
    fn init_accepted(&self, _: &mut Worker, _: SessionHandle) -> Result<(), SessionError> {
        Ok(())
    }
    fn init_connected(&self, _: &mut Worker, _: u32, _: SessionHandle) -> Result<(), SessionError> {
        Ok(())
    }
    fn deliver(&self, _: &mut Worker, _: u32, e: &QueuedAppEvent) -> Result<(), Congested> {
        if let AppEvent::Rx(h) = e {
            black_box(h);
            self.0.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }
    fn dealloc_fifos(
        &self,
        _: &mut Worker,
        _: Option<ct_fifo_segment::Fifo>,
        _: Option<ct_fifo_segment::Fifo>,
    ) {
    }
}

fn stack() -> (
    Arc<SessionMain>,
    Vec<Worker>,
    Arc<Counter>,
    Vec<SessionHandle>,
) {
    // A poll takes no more queue events than one session-input run
    // delivers, so RX events never back up and coalesce.
    let cfg = SessionConfig {
        event_batch: ct_session::APP_EVENTS_PER_FLUSH,
        ..SessionConfig::new(0)
    };
    let (main, mut workers) = SessionMain::new(cfg);
    main.transports()
        .register(PROTO, true, Arc::new(Loop))
        .expect("register");
    let app = Arc::new(Counter(AtomicU64::new(0)));
    main.set_app_layer(app.clone()).expect("app");
    let wrk = &mut workers[0];
    let sessions = (0..N_SESSIONS)
        .map(|_| {
            let h = wrk
                .session_alloc(SessionType::new(PROTO, true))
                .expect("alloc");
            let s = wrk.session_get_mut(h).expect("session");
            s.app_wrk_index = APP_WRK;
            s.set_state(SessionState::Ready).expect("state");
            h
        })
        .collect();
    (main, workers, app, sessions)
}

/// Events per second, app thread -> threaded worker -> callback.
fn session_threaded(n: u64) -> f64 {
    let (main, workers, app, sessions) = stack();
    let rt = Runtime::threaded(main.clone(), workers, ThreadedConfig::default()).expect("runtime");
    let start = Instant::now();
    for i in 0..n {
        main.send_io_evt_to_thread(sessions[i as usize % N_SESSIONS], IoEvent::Tx)
            .expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while app.0.load(Ordering::Acquire) < n {
        assert!(
            Instant::now() < deadline,
            "events lost: {} of {n}",
            app.0.load(Ordering::Acquire)
        );
        std::hint::spin_loop();
    }
    let elapsed = start.elapsed();
    let ws = rt.shutdown();
    assert_eq!(
        ws[0].counters().app_events_delivered,
        n,
        "every event delivered"
    );
    n as f64 / elapsed.as_secs_f64()
}

/// Events per second, sent then handled on one thread.
fn session_stepping(n: u64) -> f64 {
    let (main, workers, app, sessions) = stack();
    let mut rt = Runtime::stepping(main.clone(), workers);
    let start = Instant::now();
    for i in 0..n {
        main.send_io_evt_to_thread(sessions[i as usize % N_SESSIONS], IoEvent::Tx)
            .expect("send");
    }
    rt.run_until_idle().expect("idle");
    let elapsed = start.elapsed();
    assert_eq!(app.0.load(Ordering::Acquire), n, "every event delivered");
    n as f64 / elapsed.as_secs_f64()
}

fn channel_1t(n: u64) -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded::<SessionHandle>();
    let h = SessionHandle::new(0, 1, 0);
    let start = Instant::now();
    for _ in 0..n {
        tx.send(black_box(h)).expect("send");
    }
    for _ in 0..n {
        black_box(rx.recv().expect("recv"));
    }
    n as f64 / elapsed_secs(start.elapsed())
}

fn channel_2t(n: u64) -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded::<SessionHandle>();
    let consumer = std::thread::spawn(move || {
        for _ in 0..n {
            black_box(rx.recv().expect("recv"));
        }
    });
    let h = SessionHandle::new(0, 1, 0);
    let start = Instant::now();
    for _ in 0..n {
        tx.send(black_box(h)).expect("send");
    }
    consumer.join().expect("consumer");
    n as f64 / elapsed_secs(start.elapsed())
}

fn elapsed_secs(d: Duration) -> f64 {
    d.as_secs_f64().max(1e-9)
}

fn main() {
    let args = BenchArgs::from_env();
    let n: u64 = args.pick(2_000_000, 200_000);
    let [sess_2t, chan_2t, sess_1t, chan_1t] = bench::medians_of_3_interleaved([
        &mut || session_threaded(n),
        &mut || channel_2t(n),
        &mut || session_stepping(n),
        &mut || channel_1t(n),
    ]);
    bench::report("session_events_per_s", sess_2t, "events/s");
    bench::report("channel_2t_msgs_per_s", chan_2t, "msgs/s");
    bench::report_ratio("session_vs_channel_ratio", sess_2t, chan_2t);
    bench::report("session_events_stepping_per_s", sess_1t, "events/s");
    bench::report("channel_msgs_per_s", chan_1t, "msgs/s");
    bench::report_ratio("session_stepping_vs_channel_ratio", sess_1t, chan_1t);
}
