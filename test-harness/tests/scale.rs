//! Many sequential sessions: connect, accept, close, one after another,
//! with the accounting back to zero at the end (sessions allocated ==
//! freed, no ct segment, connection, half-open or segment manager left).

use ct_echo::{EchoConfig, EchoMode, EchoRun, RunMode};

fn sequential(n: u32, run: RunMode, workers: u32) {
    let mut cfg = EchoConfig::small(EchoMode::Cps);
    cfg.sessions = n;
    cfg.concurrency = 1;
    cfg.workers = workers;
    cfg.run = run;
    cfg.timeout = std::time::Duration::from_secs(600);
    let r = EchoRun::run(cfg, &mut |_| {}).unwrap();
    assert!(r.is_ok(), "{}", r.table());
    assert_eq!(r.connected, u64::from(n));
    // Listen sessions live in their own pool: every other session allocated
    // was freed.
    assert_eq!(
        r.counters.sessions_allocated, r.counters.sessions_freed,
        "{}",
        r.counters
    );
    // Client and server session per connect.
    assert!(r.counters.sessions_allocated >= 2 * u64::from(n));
    assert!(r.leaks.is_clean(), "{:?}", r.leaks);
}

#[test]
fn thousand_sequential_sessions_stepping() {
    sequential(1000, RunMode::Stepping, 1);
}

#[test]
fn thousand_sequential_sessions_threaded() {
    sequential(1000, RunMode::Threaded, 2);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
fn stress_100k_sequential_sessions() {
    sequential(100_000, RunMode::Stepping, 1);
    sequential(100_000, RunMode::Threaded, 2);
}
