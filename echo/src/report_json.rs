//! The `--json` form of an [`EchoReport`]: one object on one line, for
//! scripts, written by serde_json from a flat struct of plain values.

use std::time::Duration;

use serde::Serialize;

use crate::report::{EchoReport, Layout};

/// `report` as one JSON object on one line.
pub(crate) fn to_line(report: &EchoReport) -> String {
    // A struct of plain values cannot fail to serialize.
    serde_json::to_string(&JsonReport::of(report)).expect("report serializes")
}

/// What `--json` prints: flat, named for scripts (the table's rows, the
/// raw counts behind them, `ok`), stable across layouts (a field a layout
/// cannot know is still there: zero, or null for a missing latency).
/// Non-finite rates come out as null (serde_json's rendering of NaN).
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    mode: String,
    layout: &'static str,
    workers: u32,
    sessions: u32,
    echo: bool,
    tx_bytes: u64,
    rx_bytes: u64,
    server_rx_bytes: u64,
    seconds: f64,
    gbit_per_s: f64,
    connects_per_s: f64,
    connected: u64,
    connect_failed: u64,
    connect_refused: u64,
    round_trips: usize,
    rr_p50_ns: Option<u64>,
    rr_p99_ns: Option<u64>,
    verify: bool,
    verified: u64,
    verify_failed: u64,
    events_delivered: u64,
    tx_events: u64,
    rx_dequeue_events: u64,
    congested: u64,
    fifo_full_writes: u64,
    resets: u64,
    errors: u64,
    first_error: Option<&'a str>,
    leak_free: bool,
    show_session: &'a [String],
    ok: bool,
}

impl<'a> JsonReport<'a> {
    fn of(r: &'a EchoReport) -> Self {
        let nanos =
            |d: Option<Duration>| d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        JsonReport {
            mode: r.mode.to_string(),
            layout: match r.layout {
                Layout::Threads => "threads",
                Layout::Processes { poll: false } => "processes",
                Layout::Processes { poll: true } => "processes-polling",
                Layout::ClientOnly => "client-only",
            },
            workers: r.workers,
            sessions: r.sessions,
            echo: r.echo,
            tx_bytes: r.tx_bytes,
            rx_bytes: r.rx_bytes,
            server_rx_bytes: r.server_rx_bytes,
            seconds: r.seconds,
            gbit_per_s: r.gbit_per_s,
            connects_per_s: r.connects_per_s,
            connected: r.connected,
            connect_failed: r.connect_failed,
            connect_refused: r.connect_refused,
            round_trips: r.round_trips,
            rr_p50_ns: nanos(r.rr_p50),
            rr_p99_ns: nanos(r.rr_p99),
            verify: r.verify,
            verified: r.verified,
            verify_failed: r.verify_failed,
            events_delivered: r.counters.app_events_delivered,
            tx_events: r.counters.tx_events,
            rx_dequeue_events: r.counters.rx_dequeue_events,
            congested: r.counters.congested,
            fifo_full_writes: r.tx_full,
            resets: r.resets,
            errors: r.errors,
            first_error: r.first_error.as_deref(),
            leak_free: r.leaks.is_clean(),
            show_session: &r.show_session,
            ok: r.is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EchoConfig, EchoMode};
    use crate::report::Leaks;
    use crate::stats::EchoCounters;
    use ct_session::WorkerCounters;

    #[test]
    fn json_is_one_object_with_every_field() {
        let cfg = EchoConfig::small(EchoMode::Rr);
        let mut r = EchoReport::new(
            &cfg,
            &EchoCounters::default(),
            Duration::ZERO,
            WorkerCounters::default(),
            Leaks::default(),
            vec!["a\"b\\c\nd\u{1}".to_string()],
        );
        r.gbit_per_s = f64::NAN;
        r.first_error = Some("bad".to_string());
        let j = r.json();
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        // The fields, in the order scripts have always seen them.
        let order = [
            "mode",
            "layout",
            "workers",
            "sessions",
            "echo",
            "tx_bytes",
            "rx_bytes",
            "server_rx_bytes",
            "seconds",
            "gbit_per_s",
            "connects_per_s",
            "connected",
            "connect_failed",
            "connect_refused",
            "round_trips",
            "rr_p50_ns",
            "rr_p99_ns",
            "verify",
            "verified",
            "verify_failed",
            "events_delivered",
            "tx_events",
            "rx_dequeue_events",
            "congested",
            "fifo_full_writes",
            "resets",
            "errors",
            "first_error",
            "leak_free",
            "show_session",
            "ok",
        ];
        assert_eq!(v.as_object().unwrap().len(), order.len(), "{j}");
        let at: Vec<usize> = order
            .iter()
            .map(|k| {
                j.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("no {k}: {j}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{j}");
        assert_eq!(v["mode"], "rr");
        assert_eq!(v["layout"], "threads");
        assert!(v["gbit_per_s"].is_null(), "NaN is null: {j}");
        assert!(v["rr_p50_ns"].is_null());
        assert_eq!(v["first_error"], "bad");
        assert_eq!(v["show_session"][0], "a\"b\\c\nd\u{1}");
        assert!(j.contains(r#""show_session":["a\"b\\c\nd\u0001"]"#), "{j}");
        assert!(j.contains(r#""round_trips":0,"#), "{j}");
    }
}
