//! The echo client as a program of its own: the same job as
//! [`EchoClient`](crate::EchoClient) (stream, request/response or
//! connect/close per [`EchoMode`], checksums of what comes back), written
//! against app-client for a stack in another process.
//!
//! Throughput and rr: one thread runs every session in non-blocking mode
//! and sleeps on the app's event fd when none can move. Cps: one thread
//! keeps `concurrency` connects in flight ([`crate::cps_pipeline`]) and
//! sends, then closes, each session as soon as it is connected.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use ct_app_client::{AppClient, CtStream};

use crate::app_wait::{wait_events, would_block};
use crate::config::{EchoConfig, EchoMode};
use crate::cps_pipeline::{CpsHandler, CpsPipeline, Failure};
use crate::pattern::{Checksum, Pattern};
use crate::stats::{EchoCounters, bump, get};

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
    stats: &EchoCounters,
) -> io::Result<Duration> {
    let pattern = Pattern::new();
    match cfg.mode {
        EchoMode::Cps => run_cps(client, addr, cfg, &pattern, busy_poll, stats),
        _ => run_streams(client, addr, cfg, &pattern, busy_poll, stats),
    }
}

fn timed_out(what: &str, stats: &EchoCounters) -> io::Error {
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
    stats: &EchoCounters,
) -> io::Result<Duration> {
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let echoed = cfg.server_echoes();
    let mut sessions = Vec::with_capacity(cfg.sessions as usize);
    for id in 0..u64::from(cfg.sessions) {
        bump(&stats.connects_started, 1);
        match CtStream::connect(client, addr) {
            Ok(s) => {
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
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    bump(&stats.connect_refused, 1);
                }
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
    for s in sessions {
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
    stats: &'a EchoCounters,
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
    busy_poll: bool,
    stats: &EchoCounters,
) -> io::Result<Duration> {
    let start = Instant::now();
    let mut pipeline = CpsPipeline::new(cfg.window() as usize);
    pipeline.busy_poll = busy_poll;
    pipeline.deadline = Some(start + cfg.timeout);
    let mut h = CpsEcho {
        cfg,
        bytes: cfg.bytes_per_session(),
        pattern,
        stats,
    };
    match pipeline.run(client, addr, u64::from(cfg.sessions), &mut h) {
        Ok(_) => Ok(start.elapsed()),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(timed_out("connecting", stats)),
        Err(e) => Err(e),
    }
}

/// Cps: each connected session sends its bytes and closes; a failed
/// connect counts as one (never retried), a failure after it is an error.
struct CpsEcho<'a> {
    cfg: &'a EchoConfig,
    bytes: u64,
    pattern: &'a Pattern,
    stats: &'a EchoCounters,
}

impl CpsEcho<'_> {
    fn send_and_close(&self, mut s: CtStream) -> io::Result<()> {
        let mut sent = 0u64;
        while sent < self.bytes {
            let want = ((self.bytes - sent) as usize).min(self.cfg.write_size);
            let chunk = self.pattern.chunk(sent, want);
            s.write_all(chunk)?;
            sent += chunk.len() as u64;
            bump(&self.stats.client_tx_bytes, chunk.len() as u64);
        }
        s.shutdown(Shutdown::Both)
    }
}

impl CpsHandler for CpsEcho<'_> {
    fn started(&mut self, _attempt: u64) {
        bump(&self.stats.connects_started, 1);
    }

    fn connected(&mut self, attempt: u64, s: CtStream) -> io::Result<()> {
        bump(&self.stats.connected, 1);
        if let Err(e) = self.send_and_close(s) {
            if e.kind() == io::ErrorKind::ConnectionReset {
                bump(&self.stats.resets, 1);
            }
            self.stats.error(format!("connect {attempt}: {e}"));
        }
        bump(&self.stats.sessions_closed, 1);
        Ok(())
    }

    fn failed(&mut self, attempt: u64, e: io::Error) -> io::Result<Failure> {
        bump(&self.stats.connect_failed, 1);
        if e.kind() == io::ErrorKind::ConnectionRefused {
            bump(&self.stats.connect_refused, 1);
        }
        self.stats.error(format!("connect {attempt}: {e}"));
        bump(&self.stats.sessions_closed, 1);
        Ok(Failure::Counted)
    }
}
