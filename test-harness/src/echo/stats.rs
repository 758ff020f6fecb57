//! Counters the echo apps update from worker threads and a driver reads
//! while they run (progress) and at the end (report).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// Client and server counters, shared by the apps and the driver.
#[derive(Debug, Default)]
pub struct EchoStats {
    /// Connects the client asked for.
    pub connects_started: AtomicU64,
    /// Connects that gave a session.
    pub connected: AtomicU64,
    /// Connects that failed.
    pub connect_failed: AtomicU64,
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

impl EchoStats {
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
        let s = EchoStats::default();
        s.error("first");
        s.error("second");
        assert_eq!(s.first_error().as_deref(), Some("first"));
        assert_eq!(get(&s.errors), 2);
    }
}
