//! The echo apps end to end over ct: every mode, stepping and threaded,
//! with data verified and the stack clean afterwards.

use ct_echo::{EchoConfig, EchoMode, EchoReport, EchoRun, RunMode};

fn run(cfg: EchoConfig) -> EchoReport {
    let r = EchoRun::run(cfg, &mut |_| {}).expect("echo run");
    assert!(r.is_ok(), "{}", r.table());
    r
}

#[test]
fn throughput_discard_stepping_is_verified_by_the_server() {
    let mut cfg = EchoConfig::small(EchoMode::Throughput);
    cfg.sessions = 3;
    cfg.bytes = 1 << 20;
    let r = run(cfg);
    assert_eq!(r.tx_bytes, 3 << 20);
    assert_eq!(r.server_rx_bytes, 3 << 20);
    assert_eq!(r.rx_bytes, 0);
    assert_eq!(r.verified, 3);
    // 1 MiB through 64 KiB fifos: the writer was blocked and woken.
    assert!(r.tx_full > 0);
    assert!(r.counters.rx_dequeue_events > 0);
}

#[test]
fn throughput_echo_stepping_verifies_what_comes_back() {
    let mut cfg = EchoConfig::small(EchoMode::Throughput);
    cfg.echo = true;
    cfg.sessions = 4;
    cfg.bytes = 700_001;
    cfg.workers = 2;
    let r = run(cfg);
    assert_eq!((r.tx_bytes, r.rx_bytes), (4 * 700_001, 4 * 700_001));
    assert_eq!(r.verified, 4);
}

#[test]
fn rr_stepping_counts_every_round() {
    let mut cfg = EchoConfig::small(EchoMode::Rr);
    cfg.sessions = 2;
    cfg.request_size = 100;
    cfg.bytes = 100 * 50;
    let r = run(cfg);
    assert_eq!(r.round_trips, 100);
    assert!(r.rr_p50.is_some() && r.rr_p99 >= r.rr_p50);
}

#[test]
fn cps_stepping_opens_and_closes_every_connect() {
    let mut cfg = EchoConfig::small(EchoMode::Cps);
    cfg.sessions = 200;
    cfg.concurrency = 8;
    cfg.workers = 1;
    let r = run(cfg);
    assert_eq!(r.connected, 200);
    assert!(r.connects_per_s > 0.0);
}

#[test]
fn hold_open_shows_the_sessions() {
    let mut cfg = EchoConfig::small(EchoMode::Throughput);
    cfg.sessions = 2;
    cfg.bytes = 4096;
    cfg.hold_open = true;
    let r = run(cfg);
    let text = r.show_session.join("\n");
    assert!(text.contains("LISTEN"), "{text}");
    assert_eq!(text.matches("ESTABLISHED").count(), 4, "{text}");
    assert!(text.contains("[CT:T] 127.0.0.1:1234->"), "{text}");
}

#[test]
fn threaded_throughput_echo_and_rr() {
    let mut cfg = EchoConfig::small(EchoMode::Throughput);
    cfg.run = RunMode::Threaded;
    cfg.workers = 2;
    cfg.sessions = 4;
    cfg.echo = true;
    cfg.bytes = 2 << 20;
    let r = run(cfg);
    assert_eq!(r.verified, 4);
    let mut cfg = EchoConfig::small(EchoMode::Rr);
    cfg.run = RunMode::Threaded;
    cfg.workers = 1;
    cfg.bytes = 64 * 500;
    let r = run(cfg);
    assert_eq!(r.round_trips, 500);
}

#[test]
fn threaded_cps() {
    let mut cfg = EchoConfig::small(EchoMode::Cps);
    cfg.run = RunMode::Threaded;
    cfg.workers = 2;
    cfg.sessions = 500;
    // Segments large enough that neither worker's slice runs dry (see the
    // ignored test below for what happens when one does).
    cfg.segment_size = 32 << 20;
    let r = run(cfg);
    assert_eq!(r.connected, 500);
}

/// With two workers and small segments, chunks freed on one worker's slice
/// are no room for the other: ct must add a segment, never fail a connect
/// with `Alloc` (it did while its free-space check counted every slice).
#[test]
fn cps_two_workers_small_segments_never_fail_a_connect() {
    for _ in 0..5 {
        let mut cfg = EchoConfig::small(EchoMode::Cps);
        cfg.run = RunMode::Threaded;
        cfg.workers = 2;
        cfg.sessions = 5000;
        cfg.segment_size = 4 << 20;
        let r = run(cfg);
        assert_eq!(r.connected, 5000);
    }
}

#[test]
fn hold_open_does_not_stall_cps() {
    let mut cfg = EchoConfig::small(EchoMode::Cps);
    cfg.sessions = 40;
    cfg.hold_open = true;
    let r = run(cfg);
    assert_eq!(r.connected, 40);
    assert!(r.show_session.iter().any(|l| l.contains("LISTEN")));
}
