//! The builtin echo client (the role of VPP's hs_apps `echo_client`):
//! opens sessions to the echo server and, per mode, streams bytes
//! (throughput), plays request/response rounds (rr) or just connects and
//! closes (cps). What it sends comes from the [`Pattern`]; with
//! verification on, what comes back is checksummed and compared with what
//! went out.

use ct_sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ct_app_worker::{AppCallbacks, AppCtx, AppSession, AppWorkerHandle, Stack};
use ct_session::{SessionCleanupNtf, SessionEndpoint, SessionError, SessionHandle};
use ct_sync::Mutex;
use hashbrown::HashMap;

use crate::config::{EchoConfig, EchoMode};
use crate::pattern::{Checksum, Pattern};
use crate::stats::{EchoCounters, bump};

/// Largest piece read at once.
const SCRATCH: usize = 64 << 10;

#[derive(Debug)]
struct ClientSession {
    io: AppSession,
    /// Where in the pattern this session's stream starts.
    offset: u64,
    sent: u64,
    received: u64,
    tx_sum: Checksum,
    rx_sum: Checksum,
    rounds_done: u64,
    round_start: Option<Instant>,
    latencies: Vec<u64>,
    done: bool,
}

/// The echo client's callbacks; attach it as `AppKind::Builtin`, then
/// [`EchoClient::start`].
#[derive(Debug)]
pub struct EchoClient {
    mode: EchoMode,
    total: u64,
    request: u64,
    echoed: bool,
    verify: bool,
    hold_open: bool,
    write_size: usize,
    connects: u64,
    window: u32,
    target: SessionEndpoint,
    pattern: Arc<Pattern>,
    next_id: AtomicU64,
    sessions: Mutex<HashMap<SessionHandle, Arc<Mutex<ClientSession>>>>,
    stats: Arc<EchoCounters>,
}

impl EchoClient {
    /// A client for `cfg` that connects to `target`.
    pub fn new(
        cfg: &EchoConfig,
        target: SessionEndpoint,
        pattern: Arc<Pattern>,
        stats: Arc<EchoCounters>,
    ) -> Arc<Self> {
        Arc::new(EchoClient {
            mode: cfg.mode,
            total: cfg.bytes_per_session(),
            request: u64::from(cfg.request_size.max(1)),
            echoed: cfg.server_echoes(),
            verify: cfg.verify,
            // A cps client opens the next session when one closes.
            hold_open: cfg.hold_open && cfg.mode != EchoMode::Cps,
            write_size: cfg.write_size.max(1),
            connects: u64::from(cfg.sessions),
            window: cfg.window(),
            target,
            pattern,
            next_id: AtomicU64::new(0),
            sessions: Mutex::new(HashMap::new()),
            stats,
        })
    }

    /// Issues the first connects (all sessions; cps: the window), from
    /// outside the workers. Returns how many failed at once.
    pub fn start(&self, stack: &mut Stack, app_wrk: AppWorkerHandle) -> u32 {
        let mut failed = 0;
        for _ in 0..self.window {
            let Some(id) = self.take_connect_id() else {
                break;
            };
            if let Err(e) = stack.connect(app_wrk, self.target, id as u32) {
                self.connect_failed(id, e);
                failed += 1;
            }
        }
        failed
    }

    fn take_connect_id(&self) -> Option<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if id < self.connects {
            bump(&self.stats.connects_started, 1);
            Some(id)
        } else {
            None
        }
    }

    fn connect_failed(&self, id: u64, e: SessionError) {
        bump(&self.stats.connect_failed, 1);
        if e == SessionError::Refused {
            bump(&self.stats.connect_refused, 1);
        }
        bump(&self.stats.sessions_closed, 1);
        self.stats.error(format!("connect {id}: {e}"));
    }

    /// Cps: the next connect, from a callback.
    fn connect_next(&self, ctx: &mut AppCtx<'_>) {
        while let Some(id) = self.take_connect_id() {
            match ctx.connect(self.target, id as u32) {
                Ok(()) => return,
                Err(e) => self.connect_failed(id, e),
            }
        }
    }

    /// Client sessions open now.
    pub fn session_handles(&self) -> Vec<SessionHandle> {
        self.sessions.lock().keys().copied().collect()
    }

    fn session(&self, h: SessionHandle) -> Option<Arc<Mutex<ClientSession>>> {
        self.sessions.lock().get(&h).cloned()
    }

    /// How far this session may have sent: everything, or in rr mode the
    /// current round's request.
    fn send_limit(&self, s: &ClientSession) -> u64 {
        match self.mode {
            EchoMode::Rr => self.total.min((s.rounds_done + 1) * self.request),
            _ => self.total,
        }
    }

    /// Writes what the mode allows until the fifo is full.
    fn pump_tx(&self, s: &mut ClientSession) -> Result<(), SessionError> {
        let limit = self.send_limit(s);
        if self.mode == EchoMode::Rr && s.sent < limit && s.round_start.is_none() {
            s.round_start = Some(Instant::now());
        }
        while s.sent < limit {
            let want = ((limit - s.sent) as usize).min(self.write_size);
            let chunk = self.pattern.chunk(s.offset + s.sent, want);
            let n = s.io.write(chunk)?;
            if n == 0 {
                // Full: a dequeue notification is armed, tx() resumes.
                bump(&self.stats.tx_full, 1);
                break;
            }
            if self.verify {
                s.tx_sum.update(&chunk[..n]);
            }
            s.sent += n as u64;
            bump(&self.stats.client_tx_bytes, n as u64);
        }
        Ok(())
    }

    /// Reads everything waiting; closes rr rounds.
    fn pump_rx(&self, h: SessionHandle, s: &mut ClientSession) -> Result<(), SessionError> {
        let mut buf = [0u8; SCRATCH];
        loop {
            let n = s.io.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if !self.echoed || s.received + n as u64 > s.sent {
                self.stats
                    .error(format!("client {h}: {n} bytes nobody sent"));
            }
            if self.verify {
                s.rx_sum.update(&buf[..n]);
            }
            s.received += n as u64;
            bump(&self.stats.client_rx_bytes, n as u64);
            if self.mode == EchoMode::Rr {
                while s.received >= (s.rounds_done + 1) * self.request {
                    s.rounds_done += 1;
                    if let Some(t) = s.round_start.take() {
                        s.latencies.push(t.elapsed().as_nanos() as u64);
                    }
                }
            }
        }
        Ok(())
    }

    fn data_done(&self, s: &ClientSession) -> bool {
        if self.echoed {
            s.received >= self.total
        } else {
            s.sent >= self.total
        }
    }

    /// Runs the session forward after any event; closes it when done.
    fn progress(&self, ctx: &mut AppCtx<'_>, h: SessionHandle) {
        let Some(s) = self.session(h) else {
            self.stats
                .error(format!("client: event for unknown session {h}"));
            return;
        };
        let mut s = s.lock();
        if s.done {
            return;
        }
        let r = self.pump_rx(h, &mut s).and_then(|()| self.pump_tx(&mut s));
        if let Err(e) = r {
            self.stats.error(format!("client {h}: {e}"));
            return;
        }
        if !self.data_done(&s) {
            return;
        }
        s.done = true;
        bump(&self.stats.sessions_done, 1);
        if self.echoed && self.verify {
            if s.received == s.sent && s.tx_sum.finish() == s.rx_sum.finish() {
                bump(&self.stats.verified, 1);
            } else {
                bump(&self.stats.verify_failed, 1);
                self.stats.error(format!(
                    "client {h}: sent {} received {} checksum mismatch",
                    s.sent, s.received
                ));
            }
        }
        if !s.latencies.is_empty() {
            self.stats.add_latencies(&s.latencies);
            s.latencies.clear();
        }
        drop(s);
        if !self.hold_open
            && let Err(e) = ctx.disconnect(h)
        {
            self.stats.error(format!("client close {h}: {e}"));
        }
    }
}

impl AppCallbacks for EchoClient {
    fn connected(
        &self,
        ctx: &mut AppCtx<'_>,
        opaque: u32,
        result: Result<SessionHandle, SessionError>,
    ) {
        let h = match result {
            Ok(h) => h,
            Err(e) => {
                self.connect_failed(u64::from(opaque), e);
                if self.mode == EchoMode::Cps {
                    self.connect_next(ctx);
                }
                return;
            }
        };
        let io = match ctx.session_io(h) {
            Ok(io) => io,
            Err(e) => {
                self.stats.error(format!("client {h}: no fifos: {e}"));
                let _ = ctx.disconnect(h);
                return;
            }
        };
        bump(&self.stats.connected, 1);
        // Echo streams start at different places, so a byte delivered to
        // the wrong session fails its checksum; discard streams all start
        // at 0 because the server checks them against one expected sum.
        let offset = if self.echoed {
            u64::from(opaque).wrapping_mul(7919)
        } else {
            0
        };
        self.sessions.lock().insert(
            h,
            Arc::new(Mutex::new(ClientSession {
                io,
                offset,
                sent: 0,
                received: 0,
                tx_sum: Checksum::new(),
                rx_sum: Checksum::new(),
                rounds_done: 0,
                round_start: None,
                latencies: Vec::new(),
                done: false,
            })),
        );
        self.progress(ctx, h);
    }

    fn rx(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        self.progress(ctx, session);
    }

    fn tx(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        self.progress(ctx, session);
    }

    fn disconnect(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        if self.session(session).is_some_and(|s| !s.lock().done) {
            self.stats
                .error(format!("client {session}: server closed before the end"));
        }
        let _ = ctx.disconnect(session);
    }

    fn reset(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        bump(&self.stats.resets, 1);
        if self.session(session).is_some_and(|s| !s.lock().done) {
            self.stats
                .error(format!("client {session}: reset before the end"));
        }
        let _ = ctx.disconnect(session);
    }

    fn cleanup(&self, ctx: &mut AppCtx<'_>, session: SessionHandle, ntf: SessionCleanupNtf) {
        if ntf != SessionCleanupNtf::Session {
            return;
        }
        if self.sessions.lock().remove(&session).is_some() {
            bump(&self.stats.sessions_closed, 1);
            if self.mode == EchoMode::Cps {
                self.connect_next(ctx);
            }
        }
    }
}
