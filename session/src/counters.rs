//! Per-worker counters: what a worker did, for `show`-style output, tests
//! and the deterministic simulator's leak checks.

use std::fmt;

/// Counters of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Sessions allocated on this worker.
    pub sessions_allocated: u64,
    /// Sessions freed on this worker.
    pub sessions_freed: u64,
    /// RPCs run.
    pub rpcs: u64,
    /// TX events handled (transport custom_tx).
    pub tx_events: u64,
    /// RX-dequeue events handled (transport app_rx_evt).
    pub rx_dequeue_events: u64,
    /// Close/reset control events handled.
    pub ctrl_events: u64,
    /// Queue events for sessions that no longer exist.
    pub stale_events: u64,
    /// Events queued for app workers.
    pub app_events_queued: u64,
    /// Events delivered to app workers.
    pub app_events_delivered: u64,
    /// Enqueue notifies folded into an RX event already queued.
    pub rx_coalesced: u64,
    /// RX events dropped because the session was still accepting or gone.
    pub rx_skipped: u64,
    /// Flushes cut short by a congested app queue.
    pub congested: u64,
    /// Session-input runs that delivered something.
    pub input_runs: u64,
}

impl fmt::Display for WorkerCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: [(&str, u64); 13] = [
            ("sessions allocated", self.sessions_allocated),
            ("sessions freed", self.sessions_freed),
            ("rpcs", self.rpcs),
            ("tx events", self.tx_events),
            ("rx dequeue events", self.rx_dequeue_events),
            ("ctrl events", self.ctrl_events),
            ("stale events", self.stale_events),
            ("app events queued", self.app_events_queued),
            ("app events delivered", self.app_events_delivered),
            ("rx coalesced", self.rx_coalesced),
            ("rx skipped", self.rx_skipped),
            ("congested flushes", self.congested),
            ("session-input runs", self.input_runs),
        ];
        for (name, v) in rows {
            writeln!(f, "{name:<24}{v}")?;
        }
        Ok(())
    }
}
