//! The builtin echo server (the role of VPP's hs_apps `echo_server`): reads
//! what arrives; echoes it back (`echo`) or discards it, counting and, when
//! verifying, checksumming the stream to compare with what the client sent.

use std::sync::Arc;

use ct_app_worker::{AppCallbacks, AppCtx, AppSession};
use ct_session::{SessionCleanupNtf, SessionError, SessionHandle};
use ct_sync::Mutex;
use hashbrown::HashMap;

use crate::pattern::Checksum;
use crate::stats::{EchoCounters, bump};

/// Largest piece moved per read.
const SCRATCH: usize = 64 << 10;

#[derive(Debug)]
struct ServerSession {
    io: AppSession,
    sum: Checksum,
    received: u64,
}

/// The echo server's callbacks; attach it as `AppKind::Builtin`.
#[derive(Debug)]
pub struct EchoServer {
    echo: bool,
    /// Discard mode with verification: (bytes, checksum) every session's
    /// stream must have.
    expected: Option<(u64, u64)>,
    /// Each session is touched only by its worker: the map lock is held
    /// just to find it, so workers do not serialize on it.
    sessions: Mutex<HashMap<SessionHandle, Arc<Mutex<ServerSession>>>>,
    stats: Arc<EchoCounters>,
}

impl EchoServer {
    /// A server that echoes (`echo`) or discards. In discard mode with
    /// `expected = Some((len, sum))` each session's stream is checked
    /// against that length and checksum when the client closes.
    pub fn new(echo: bool, expected: Option<(u64, u64)>, stats: Arc<EchoCounters>) -> Arc<Self> {
        Arc::new(EchoServer {
            echo,
            expected,
            sessions: Mutex::new(HashMap::new()),
            stats,
        })
    }

    /// Sessions the server holds.
    pub fn n_sessions(&self) -> usize {
        self.sessions.lock().len()
    }

    fn session(&self, h: SessionHandle) -> Option<Arc<Mutex<ServerSession>>> {
        self.sessions.lock().get(&h).cloned()
    }

    /// Moves what can move on one session; returns an error if the session
    /// is unknown. Echo: peek, write back what fits, drop exactly that from
    /// rx (so nothing waits in a side buffer and a full tx leaves the rest
    /// in rx, where the writer's flow control sees it). Discard: read all.
    fn pump(&self, h: SessionHandle) -> Result<(), SessionError> {
        let s = self.session(h).ok_or(SessionError::NoSession)?;
        let mut s = s.lock();
        let mut buf = [0u8; SCRATCH];
        loop {
            if self.echo {
                let k = s.io.peek(0, &mut buf)?;
                if k == 0 {
                    break;
                }
                let n = s.io.write(&buf[..k])?;
                if n == 0 {
                    // A dequeue notification is armed: tx() resumes.
                    bump(&self.stats.tx_full, 1);
                    break;
                }
                s.io.drop_bytes(n as u32)?;
                s.received += n as u64;
                bump(&self.stats.server_rx_bytes, n as u64);
                bump(&self.stats.server_tx_bytes, n as u64);
            } else {
                let n = s.io.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                if self.expected.is_some() {
                    s.sum.update(&buf[..n]);
                }
                s.received += n as u64;
                bump(&self.stats.server_rx_bytes, n as u64);
            }
        }
        Ok(())
    }

    /// The client closed: take the rest, check the stream, close.
    fn finish(&self, ctx: &mut AppCtx<'_>, h: SessionHandle) {
        if !self.echo {
            let _ = self.pump(h);
        }
        if let Some((len, sum)) = self.expected
            && !self.echo
            && let Some(s) = self.session(h)
        {
            let s = s.lock();
            if s.received == len && s.sum.finish() == sum {
                bump(&self.stats.verified, 1);
            } else {
                bump(&self.stats.verify_failed, 1);
                self.stats.error(format!(
                    "server session {h}: {} of {len} bytes, checksum {}",
                    s.received,
                    if s.sum.finish() == sum {
                        "ok"
                    } else {
                        "differs"
                    }
                ));
            }
        }
        // Echo mode may leave bytes the client no longer reads: a close with
        // unread data is a reset, as it should be.
        if let Err(e) = ctx.disconnect(h) {
            self.stats.error(format!("server close {h}: {e}"));
        }
    }
}

impl AppCallbacks for EchoServer {
    fn accept(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) -> Result<(), SessionError> {
        let io = ctx.session_io(session)?;
        self.sessions.lock().insert(
            session,
            Arc::new(Mutex::new(ServerSession {
                io,
                sum: Checksum::new(),
                received: 0,
            })),
        );
        bump(&self.stats.accepted, 1);
        Ok(())
    }

    fn rx(&self, _ctx: &mut AppCtx<'_>, session: SessionHandle) {
        if let Err(e) = self.pump(session) {
            self.stats.error(format!("server rx {session}: {e}"));
        }
    }

    fn tx(&self, _ctx: &mut AppCtx<'_>, session: SessionHandle) {
        if let Err(e) = self.pump(session) {
            self.stats.error(format!("server tx {session}: {e}"));
        }
    }

    fn disconnect(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        self.finish(ctx, session);
    }

    fn reset(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        bump(&self.stats.resets, 1);
        let _ = ctx.disconnect(session);
    }

    fn cleanup(&self, _ctx: &mut AppCtx<'_>, session: SessionHandle, ntf: SessionCleanupNtf) {
        if ntf == SessionCleanupNtf::Session && self.sessions.lock().remove(&session).is_some() {
            bump(&self.stats.server_closed, 1);
        }
    }
}
