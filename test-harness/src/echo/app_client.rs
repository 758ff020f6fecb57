//! The echo client as a program of its own: the same job as
//! [`EchoClient`](crate::echo::EchoClient) (stream, request/response or
//! connect/close per [`EchoMode`], checksums of what comes back), written
//! against app-client for a stack in another process.
//!
//! Throughput and rr: one thread runs every session in non-blocking mode
//! and sleeps on the app's event fd when none can move. Cps: `concurrency`
//! threads each connect, send, close, again (a connect waits for the
//! stack's answer, so concurrency is threads).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app_client::{AppClient, CtStream};

use crate::echo::app_wait::{wait_events, would_block};
use crate::echo::config::{EchoConfig, EchoMode};
use crate::echo::pattern::{Checksum, Pattern};
use crate::echo::stats::{EchoStats, bump, get};

/// Largest piece read at once.
const SCRATCH: usize = 64 << 10;

struct Sess {
    s: CtStream,
    offset: u64,
    sent: u64,
    received: u64,
    tx_sum: Checksum,
    rx_sum: Checksum,
    rounds_done: u64,
    round_start: Option<Instant>,
    done: bool,
}

/// Runs the client side of `cfg` against the server at `addr`; returns the
/// time from the first connect to the last session's data (cps: the last
/// close). Figures go to `stats`; a timeout is an error.
pub fn run_client(
    client: &AppClient,
    addr: SocketAddr,
    cfg: &EchoConfig,
    busy_poll: bool,
    stats: &EchoStats,
) -> io::Result<Duration> {
    let pattern = Pattern::new();
    match cfg.mode {
        EchoMode::Cps => run_cps(client, addr, cfg, &pattern, stats),
        _ => run_streams(client, addr, cfg, &pattern, busy_poll, stats),
    }
}

fn timed_out(what: &str, stats: &EchoStats) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "timed out while {what}: connected {} done {} tx {} rx {}",
            get(&stats.connected),
            get(&stats.sessions_done),
            get(&stats.client_tx_bytes),
            get(&stats.client_rx_bytes)
        ),
    )
}

fn run_streams(
    client: &AppClient,
    addr: SocketAddr,
    cfg: &EchoConfig,
    pattern: &Pattern,
    busy_poll: bool,
    stats: &EchoStats,
) -> io::Result<Duration> {
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let echoed = cfg.server_echoes();
    let mut sessions = Vec::with_capacity(cfg.sessions as usize);
    for id in 0..u64::from(cfg.sessions) {
        bump(&stats.connects_started, 1);
        match CtStream::connect(client, addr) {
            Ok(mut s) => {
                s.set_nonblocking(true)?;
                bump(&stats.connected, 1);
                sessions.push(Sess {
                    s,
                    // As the builtin client: echo streams start at
                    // different places, discard streams at 0.
                    offset: if echoed { id.wrapping_mul(7919) } else { 0 },
                    sent: 0,
                    received: 0,
                    tx_sum: Checksum::new(),
                    rx_sum: Checksum::new(),
                    rounds_done: 0,
                    round_start: None,
                    done: false,
                });
            }
            Err(e) => {
                bump(&stats.connect_failed, 1);
                bump(&stats.sessions_closed, 1);
                stats.error(format!("connect {id}: {e}"));
            }
        }
    }
    let run = Stream {
        cfg,
        total: cfg.bytes_per_session(),
        request: u64::from(cfg.request_size.max(1)),
        echoed,
        pattern,
        stats,
    };
    let mut buf = vec![0u8; SCRATCH];
    let mut latencies = Vec::new();
    let mut left = sessions.len();
    while left > 0 {
        let mut moved = false;
        for s in sessions.iter_mut().filter(|s| !s.done) {
            match run.pump(s, &mut buf, &mut latencies) {
                Ok(m) => moved |= m,
                Err(e) => {
                    if e.kind() == io::ErrorKind::ConnectionReset {
                        bump(&stats.resets, 1);
                    }
                    stats.error(format!("client session: {e}"));
                    s.done = true;
                    moved = true;
                }
            }
            if s.done {
                left -= 1;
            }
        }
        if Instant::now() >= deadline {
            return Err(timed_out("transferring", stats));
        }
        if !moved && left > 0 {
            wait_events(client, busy_poll)?;
        }
    }
    let elapsed = start.elapsed();
    stats.add_latencies(&latencies);
    for mut s in sessions {
        let _ = s.s.shutdown(Shutdown::Both);
        bump(&stats.sessions_closed, 1);
    }
    Ok(elapsed)
}

/// One throughput or rr run's fixed parts.
struct Stream<'a> {
    cfg: &'a EchoConfig,
    total: u64,
    request: u64,
    echoed: bool,
    pattern: &'a Pattern,
    stats: &'a EchoStats,
}

impl Stream<'_> {
    /// How far `s` may have sent: everything, or the current rr round.
    fn send_limit(&self, s: &Sess) -> u64 {
        match self.cfg.mode {
            EchoMode::Rr => self.total.min((s.rounds_done + 1) * self.request),
            _ => self.total,
        }
    }

    /// Reads what came back, writes what may go; marks the session done
    /// (and checks it) once its data is. Returns whether bytes moved.
    fn pump(&self, s: &mut Sess, buf: &mut [u8], lat: &mut Vec<u64>) -> io::Result<bool> {
        let mut moved = false;
        loop {
            let n = match s.s.read(buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed before the end",
                    ));
                }
                Ok(n) => n,
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e),
            };
            moved = true;
            if !self.echoed || s.received + n as u64 > s.sent {
                self.stats.error(format!("client: {n} bytes nobody sent"));
            }
            if self.cfg.verify {
                s.rx_sum.update(&buf[..n]);
            }
            s.received += n as u64;
            bump(&self.stats.client_rx_bytes, n as u64);
            if self.cfg.mode == EchoMode::Rr {
                while s.received >= (s.rounds_done + 1) * self.request {
                    s.rounds_done += 1;
                    if let Some(t) = s.round_start.take() {
                        lat.push(t.elapsed().as_nanos() as u64);
                    }
                }
            }
        }
        let limit = self.send_limit(s);
        if self.cfg.mode == EchoMode::Rr && s.sent < limit && s.round_start.is_none() {
            s.round_start = Some(Instant::now());
        }
        while s.sent < limit {
            let want = ((limit - s.sent) as usize).min(self.cfg.write_size);
            let chunk = self.pattern.chunk(s.offset + s.sent, want);
            let n = match s.s.write(chunk) {
                Ok(n) => n,
                Err(e) if would_block(&e) => {
                    // Full: a dequeue notification is armed.
                    bump(&self.stats.tx_full, 1);
                    break;
                }
                Err(e) => return Err(e),
            };
            moved = true;
            if self.cfg.verify {
                s.tx_sum.update(&chunk[..n]);
            }
            s.sent += n as u64;
            bump(&self.stats.client_tx_bytes, n as u64);
        }
        let data_done = if self.echoed {
            s.received >= self.total
        } else {
            s.sent >= self.total
        };
        if data_done {
            s.done = true;
            bump(&self.stats.sessions_done, 1);
            if self.echoed && self.cfg.verify {
                if s.received == s.sent && s.tx_sum.finish() == s.rx_sum.finish() {
                    bump(&self.stats.verified, 1);
                } else {
                    bump(&self.stats.verify_failed, 1);
                    self.stats.error(format!(
                        "client: sent {} received {} checksum mismatch",
                        s.sent, s.received
                    ));
                }
            }
        }
        Ok(moved)
    }
}

fn run_cps(
    client: &AppClient,
    addr: SocketAddr,
    cfg: &EchoConfig,
    pattern: &Pattern,
    stats: &EchoStats,
) -> io::Result<Duration> {
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let next = AtomicU64::new(0);
    let total = u64::from(cfg.sessions);
    let bytes = cfg.bytes_per_session();
    // A failed connect counts as such; a failure after it is an error.
    let one = |id: u64| -> Result<(), (bool, io::Error)> {
        let mut s = CtStream::connect(client, addr).map_err(|e| (true, e))?;
        bump(&stats.connected, 1);
        let mut sent = 0u64;
        while sent < bytes {
            let want = ((bytes - sent) as usize).min(cfg.write_size);
            let chunk = pattern.chunk(sent, want);
            s.write_all(chunk).map_err(|e| (false, e))?;
            sent += chunk.len() as u64;
            bump(&stats.client_tx_bytes, chunk.len() as u64);
        }
        let _ = id;
        s.shutdown(Shutdown::Both).map_err(|e| (false, e))
    };
    std::thread::scope(|sc| {
        for _ in 0..cfg.window() {
            sc.spawn(|| {
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= total || Instant::now() >= deadline {
                        return;
                    }
                    bump(&stats.connects_started, 1);
                    if let Err((connecting, e)) = one(id) {
                        if connecting {
                            bump(&stats.connect_failed, 1);
                        }
                        stats.error(format!("connect {id}: {e}"));
                    }
                    bump(&stats.sessions_closed, 1);
                }
            });
        }
    });
    if get(&stats.sessions_closed) < total {
        return Err(timed_out("connecting", stats));
    }
    Ok(start.elapsed())
}
