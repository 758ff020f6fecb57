//! Counters the echo apps update from worker threads and a driver reads
//! while they run (progress) and at the end (report).

use ct_sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ct_sync::Mutex;

use crate::kv::{KvLine, KvRecord};

/// Client and server counters, shared by the apps and the driver.
#[derive(Debug, Default)]
pub struct EchoCounters {
    /// Connects the client asked for.
    pub connects_started: AtomicU64,
    /// Connects that gave a session.
    pub connected: AtomicU64,
    /// Connects that failed.
    pub connect_failed: AtomicU64,
    /// Of those, connects refused (nothing listening, a full backlog).
    pub connect_refused: AtomicU64,
    /// Sessions the server accepted.
    pub accepted: AtomicU64,
    /// Bytes the client wrote.
    pub client_tx_bytes: AtomicU64,
    /// Bytes the client read back.
    pub client_rx_bytes: AtomicU64,
    /// Bytes the server read.
    pub server_rx_bytes: AtomicU64,
    /// Bytes the server wrote back.
    pub server_tx_bytes: AtomicU64,
    /// Client sessions whose data is done.
    pub sessions_done: AtomicU64,
    /// Client sessions cleaned up (after close, or a failed connect).
    pub sessions_closed: AtomicU64,
    /// Server sessions cleaned up.
    pub server_closed: AtomicU64,
    /// Sessions whose checksum matched (client side for echo, server side
    /// for discard).
    pub verified: AtomicU64,
    /// Sessions whose checksum or length did not match.
    pub verify_failed: AtomicU64,
    /// Writes that found the fifo full (each arms a dequeue notification).
    pub tx_full: AtomicU64,
    /// Resets seen by either app.
    pub resets: AtomicU64,
    /// Unexpected events (peer closed early, stray data, unknown session).
    pub errors: AtomicU64,
    /// Rr round-trip times in nanoseconds.
    latencies: Mutex<Vec<u64>>,
    /// The first error worth printing.
    first_error: Mutex<Option<String>>,
}

/// Adds to a counter.
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl EchoCounters {
    /// Records an unexpected event (the first one's text is kept).
    pub fn error(&self, what: impl Into<String>) {
        bump(&self.errors, 1);
        let mut e = self.first_error.lock();
        if e.is_none() {
            *e = Some(what.into());
        }
    }

    /// The first unexpected event.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().clone()
    }

    /// Records round-trip times.
    pub(crate) fn add_latencies(&self, ns: &[u64]) {
        self.latencies.lock().extend_from_slice(ns);
    }

    /// Round trips recorded.
    pub fn n_latencies(&self) -> usize {
        self.latencies.lock().len()
    }

    /// The `q` quantile (0..=1) of the round-trip times.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        let mut v = self.latencies.lock().clone();
        quantile(&mut v, q).map(Duration::from_nanos)
    }

    fn counters(&self) -> [(&'static str, &AtomicU64); 17] {
        [
            ("connects_started", &self.connects_started),
            ("connected", &self.connected),
            ("connect_failed", &self.connect_failed),
            ("connect_refused", &self.connect_refused),
            ("accepted", &self.accepted),
            ("client_tx_bytes", &self.client_tx_bytes),
            ("client_rx_bytes", &self.client_rx_bytes),
            ("server_rx_bytes", &self.server_rx_bytes),
            ("server_tx_bytes", &self.server_tx_bytes),
            ("sessions_done", &self.sessions_done),
            ("sessions_closed", &self.sessions_closed),
            ("server_closed", &self.server_closed),
            ("verified", &self.verified),
            ("verify_failed", &self.verify_failed),
            ("tx_full", &self.tx_full),
            ("resets", &self.resets),
            ("errors", &self.errors),
        ]
    }

    /// The counters as a `tag` record (another process's figures travel
    /// this way; round trips as their count and p50/p99).
    pub fn to_kv(&self, tag: &str) -> KvLine {
        let mut l = KvLine::new(tag);
        for (k, c) in self.counters() {
            l.put(k, get(c));
        }
        l.put("round_trips", self.n_latencies());
        for (k, q) in [("rr_p50_ns", 0.5), ("rr_p99_ns", 0.99)] {
            if let Some(d) = self.latency_quantile(q) {
                l.put(k, d.as_nanos());
            }
        }
        if let Some(e) = self.first_error() {
            l.put("first_error", e);
        }
        l
    }

    /// Adds the counters of a record made by [`EchoCounters::to_kv`] (its
    /// round-trip figures are read with [`RoundTrips::from_kv`]).
    pub fn add_kv(&self, r: &KvRecord) {
        for (k, c) in self.counters() {
            bump(c, r.num(k));
        }
        if let Some(e) = r.get("first_error") {
            let mut f = self.first_error.lock();
            if f.is_none() {
                *f = Some(e.to_string());
            }
        }
    }
}

/// Round-trip figures another process measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundTrips {
    /// Round trips measured.
    pub count: usize,
    /// Median.
    pub p50: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
}

impl RoundTrips {
    /// From a record made by [`EchoCounters::to_kv`].
    pub fn from_kv(r: &KvRecord) -> Self {
        let d = |k| {
            r.get(k)
                .and_then(|v| v.parse().ok())
                .map(Duration::from_nanos)
        };
        RoundTrips {
            count: r.num("round_trips") as usize,
            p50: d("rr_p50_ns"),
            p99: d("rr_p99_ns"),
        }
    }
}

/// The `q` quantile of `v` (nearest rank); `None` when empty.
pub fn quantile(v: &mut [u64], q: f64) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50));
        assert_eq!(quantile(&mut v, 0.99), Some(99));
        assert_eq!(quantile(&mut v, 1.0), Some(100));
        assert_eq!(quantile(&mut v, 0.0), Some(1));
        assert_eq!(quantile(&mut [], 0.5), None);
        let s = EchoCounters::default();
        s.error("first");
        s.error("second");
        assert_eq!(s.first_error().as_deref(), Some("first"));
        assert_eq!(get(&s.errors), 2);
    }

    #[test]
    fn counters_travel_as_a_record() {
        let a = EchoCounters::default();
        bump(&a.client_tx_bytes, 7);
        bump(&a.verified, 2);
        a.add_latencies(&[10, 20, 30]);
        a.error("broken pipe: x");
        let line = a.to_kv("CLIENT");
        let r = KvRecord::parse("CLIENT", line.as_str()).unwrap();
        let b = EchoCounters::default();
        bump(&b.verified, 1);
        b.add_kv(&r);
        assert_eq!((get(&b.client_tx_bytes), get(&b.verified)), (7, 3));
        assert_eq!(get(&b.errors), 1);
        assert_eq!(b.first_error().as_deref(), Some("broken pipe: x"));
        let rt = RoundTrips::from_kv(&r);
        assert_eq!(rt.count, 3);
        assert_eq!(rt.p50, Some(Duration::from_nanos(20)));
        assert_eq!(rt.p99, Some(Duration::from_nanos(30)));
    }
}
