//! The result of an echo run: figures, counters, verification and leak
//! checks, as a table for people or JSON for scripts.

use std::fmt::Write as _;
use std::time::Duration;

use ct_session::WorkerCounters;

use crate::config::{EchoConfig, EchoMode};
use crate::stats::{EchoCounters, get};

/// What was left after both apps detached (all zero when clean).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leaks {
    /// Sessions on any worker.
    pub sessions: usize,
    /// ct connections on any worker.
    pub connections: usize,
    /// ct segments and segment contexts.
    pub ct_segments: usize,
    /// ct half-opens.
    pub half_opens: usize,
    /// Segment managers.
    pub segment_managers: usize,
    /// Events still queued on workers.
    pub pending_events: usize,
    /// Apps still attached (a daemon's view).
    pub apps: usize,
    /// Listeners still open (a daemon's view).
    pub listeners: usize,
    /// Segments still mapped by the stack (a daemon's view).
    pub segments: usize,
    /// Fifos still allocated (a daemon's view).
    pub fifos: usize,
}

/// Where an echo run's pieces ran, which decides what its report can say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Layout {
    /// Stack and both apps as threads of one process.
    #[default]
    Threads,
    /// Three processes: a stackd (its workers polling or sleeping), the
    /// server and the client, over app-client.
    Processes {
        /// The daemon's workers poll instead of sleeping when idle.
        poll: bool,
    },
    /// Only the client, against a daemon someone else runs: the stack's
    /// counters and the server's figures are not seen.
    ClientOnly,
}

impl Leaks {
    /// Nothing left?
    pub fn is_clean(&self) -> bool {
        *self == Leaks::default()
    }
}

/// Figures of one echo run.
#[derive(Debug, Clone)]
pub struct EchoReport {
    /// Mode.
    pub mode: EchoMode,
    /// Workers besides main.
    pub workers: u32,
    /// Sessions (throughput, rr) or connects (cps).
    pub sessions: u32,
    /// Whether the server echoed.
    pub echo: bool,
    /// Bytes the client wrote.
    pub tx_bytes: u64,
    /// Bytes the client read back.
    pub rx_bytes: u64,
    /// Bytes the server read.
    pub server_rx_bytes: u64,
    /// Time from the first connect to the last session's data (cps: to the
    /// last close).
    pub seconds: f64,
    /// (tx + rx) bits per second / 1e9.
    pub gbit_per_s: f64,
    /// Connects finished per second (cps: connects that gave a session
    /// and closed; refused and failed ones do not count).
    pub connects_per_s: f64,
    /// Connects that gave a session, and that failed.
    pub connected: u64,
    /// Connects that failed.
    pub connect_failed: u64,
    /// Of those, connects refused.
    pub connect_refused: u64,
    /// Rr: round trips measured.
    pub round_trips: usize,
    /// Rr: median round trip.
    pub rr_p50: Option<Duration>,
    /// Rr: 99th percentile round trip.
    pub rr_p99: Option<Duration>,
    /// Verification on?
    pub verify: bool,
    /// Sessions whose checksum matched.
    pub verified: u64,
    /// Sessions whose checksum or length did not.
    pub verify_failed: u64,
    /// Writes that found a full fifo.
    pub tx_full: u64,
    /// Resets seen.
    pub resets: u64,
    /// Unexpected events, and the first one.
    pub errors: u64,
    /// The first unexpected event.
    pub first_error: Option<String>,
    /// Workers' counters, summed.
    pub counters: WorkerCounters,
    /// Leak check after detach.
    pub leaks: Leaks,
    /// `show session` lines (when the run held its sessions open).
    pub show_session: Vec<String>,
    /// Where the run's pieces ran.
    pub layout: Layout,
}

impl EchoReport {
    /// Collects the figures.
    pub fn new(
        cfg: &EchoConfig,
        stats: &EchoCounters,
        elapsed: Duration,
        counters: WorkerCounters,
        leaks: Leaks,
        show_session: Vec<String>,
    ) -> Self {
        let (tx, rx) = (get(&stats.client_tx_bytes), get(&stats.client_rx_bytes));
        let finished = match cfg.mode {
            // A failed connect closes its slot too: not a connect made.
            EchoMode::Cps => get(&stats.sessions_closed).saturating_sub(get(&stats.connect_failed)),
            _ => get(&stats.connected),
        };
        EchoReport {
            mode: cfg.mode,
            workers: cfg.workers,
            sessions: cfg.sessions,
            echo: cfg.server_echoes(),
            tx_bytes: tx,
            rx_bytes: rx,
            server_rx_bytes: get(&stats.server_rx_bytes),
            seconds: elapsed.as_secs_f64(),
            gbit_per_s: per_second((tx + rx) as f64 * 8.0, elapsed) / 1e9,
            connects_per_s: per_second(finished as f64, elapsed),
            connected: get(&stats.connected),
            connect_failed: get(&stats.connect_failed),
            connect_refused: get(&stats.connect_refused),
            round_trips: stats.n_latencies(),
            rr_p50: stats.latency_quantile(0.5),
            rr_p99: stats.latency_quantile(0.99),
            verify: cfg.verify,
            verified: get(&stats.verified),
            verify_failed: get(&stats.verify_failed),
            tx_full: get(&stats.tx_full),
            resets: get(&stats.resets),
            errors: get(&stats.errors),
            first_error: stats.first_error(),
            counters,
            leaks,
            show_session,
            layout: Layout::Threads,
        }
    }

    /// Everything went as it should: no failed connect, no verification
    /// failure, no unexpected event, nothing leaked.
    pub fn is_ok(&self) -> bool {
        self.connect_failed == 0
            && self.verify_failed == 0
            && self.errors == 0
            && self.leaks.is_clean()
    }

    fn verification(&self) -> String {
        if !self.verify {
            "off".to_string()
        } else if self.verify_failed > 0 {
            format!(
                "FAILED ({} of {})",
                self.verify_failed,
                self.verify_failed + self.verified
            )
        } else {
            format!("ok ({} sessions, checksum)", self.verified)
        }
    }

    fn leak_text(&self) -> String {
        if self.leaks.is_clean() {
            "none".to_string()
        } else {
            format!("{:?}", self.leaks)
        }
    }

    /// The report as a two-column table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("mode", self.mode.to_string()),
            ("workers", self.workers.to_string()),
            (
                if self.mode == EchoMode::Cps {
                    "connects"
                } else {
                    "sessions"
                },
                self.sessions.to_string(),
            ),
            (
                "server",
                if self.echo { "echo" } else { "discard" }.to_string(),
            ),
            ("bytes sent", human_bytes(self.tx_bytes)),
            ("bytes echoed back", human_bytes(self.rx_bytes)),
            ("seconds", format!("{:.3}", self.seconds)),
        ];
        match self.layout {
            Layout::Threads => {}
            Layout::Processes { poll } => rows.insert(
                1,
                (
                    "processes",
                    format!(
                        "stackd ({}), server, client",
                        if poll { "polling" } else { "sleeping" }
                    ),
                ),
            ),
            Layout::ClientOnly => rows.insert(1, ("processes", "client only".to_string())),
        }
        let stack_seen = self.layout != Layout::ClientOnly;
        if self.mode == EchoMode::Cps {
            rows.push(("connects/s", format!("{:.0}", self.connects_per_s)));
        } else {
            rows.push(("Gbit/s (tx+rx)", format!("{:.2}", self.gbit_per_s)));
        }
        if self.mode == EchoMode::Rr {
            rows.push(("round trips", self.round_trips.to_string()));
            rows.push(("RR latency p50", fmt_dur(self.rr_p50)));
            rows.push(("RR latency p99", fmt_dur(self.rr_p99)));
        }
        if stack_seen {
            rows.extend([
                (
                    "events delivered",
                    self.counters.app_events_delivered.to_string(),
                ),
                (
                    "tx / rx-dequeue events",
                    format!(
                        "{} / {}",
                        self.counters.tx_events, self.counters.rx_dequeue_events
                    ),
                ),
                ("congested flushes", self.counters.congested.to_string()),
            ]);
        }
        rows.extend([
            ("fifo-full writes", self.tx_full.to_string()),
            ("connect failures", self.connect_failed.to_string()),
            ("of them refused", self.connect_refused.to_string()),
            ("resets", self.resets.to_string()),
            ("verification", self.verification()),
            (
                "errors",
                match &self.first_error {
                    Some(e) => format!("{} (first: {e})", self.errors),
                    None => "0".to_string(),
                },
            ),
        ]);
        if stack_seen {
            rows.push(("leaks after detach", self.leak_text()));
        }
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let vw = rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        let mut out = String::new();
        let rule = format!("+{}+{}+\n", "-".repeat(w + 2), "-".repeat(vw + 2));
        out.push_str(&rule);
        for (k, v) in rows {
            let _ = writeln!(out, "| {k:<w$} | {v:>vw$} |");
        }
        out.push_str(&rule);
        out
    }

    /// The report as one JSON object on one line: mode and layout, the
    /// figures, the counts behind the table, `leak_free` and `ok` (the
    /// fields and order scripts have always read).
    pub fn json(&self) -> String {
        crate::report_json::to_line(self)
    }
}

fn fmt_dur(d: Option<Duration>) -> String {
    match d {
        Some(d) if d < Duration::from_micros(10) => format!("{} ns", d.as_nanos()),
        Some(d) if d < Duration::from_millis(10) => format!("{:.2} us", d.as_nanos() as f64 / 1e3),
        Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        None => "-".to_string(),
    }
}

/// `1.00 GiB`, `64.0 MiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// `n` per second of `elapsed`; 0 for a run that never started its clock
/// (it failed before: no rate, rather than `n` over a nanosecond).
fn per_second(n: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { n / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_time_has_no_rate() {
        assert_eq!(per_second(600.0, Duration::ZERO), 0.0);
        assert_eq!(per_second(600.0, Duration::from_millis(500)), 1200.0);
    }

    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1 << 30), "1.00 GiB");
        assert_eq!(human_bytes(3 << 19), "1.50 MiB");
    }
}
