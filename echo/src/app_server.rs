//! The echo server as a program of its own: the same job as
//! [`EchoServer`](crate::EchoServer) (echo or discard, checksum,
//! count), written against app-client's `std::net`-shaped API for a stack
//! in another process. One thread runs every session in non-blocking
//! mode and sleeps on the app's event fd when none can move.

use ct_sync::atomic::{AtomicBool, Ordering};
use std::io::{self, Read, Write};

use ct_app_client::{AppClient, CtListener, CtStream};

use crate::app_wait::{wait_events, would_block};
use crate::pattern::Checksum;
use crate::stats::{EchoCounters, bump, get};

/// Largest piece moved per read.
const SCRATCH: usize = 64 << 10;

/// What the server does with what it reads.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Write back what arrives; else discard it.
    pub echo: bool,
    /// (bytes, checksum) every session's stream must have, checked when
    /// the client closes (discard streams start at pattern offset 0).
    pub expected: Option<(u64, u64)>,
    /// Spin on the queues instead of sleeping on the event fd.
    pub busy_poll: bool,
    /// Return once this many sessions have ended.
    pub max_sessions: Option<u64>,
}

struct Conn {
    s: CtStream,
    sum: Checksum,
    received: u64,
}

/// What one look at a session found.
enum Step {
    /// Bytes moved.
    Moved,
    /// Nothing to do until the stack says so.
    Idle,
    /// The client closed and everything was read.
    Closed,
    /// The client reset (or the session broke).
    Reset(io::Error),
}

/// Serves `listener` until `stop` is set and no session is open (each
/// one read to its end), `max_sessions` sessions have ended, or the stack
/// goes away (an error). Every accepted session counts
/// in `stats` (accepted, server bytes, verified, resets, server_closed).
pub fn serve(
    client: &AppClient,
    listener: &CtListener,
    opts: &ServeOptions,
    stats: &EchoCounters,
    stop: &AtomicBool,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut conns: Vec<Conn> = Vec::new();
    let mut buf = vec![0u8; SCRATCH];
    loop {
        let mut moved = false;
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(true)?;
                    conns.push(Conn {
                        s,
                        sum: Checksum::new(),
                        received: 0,
                    });
                    bump(&stats.accepted, 1);
                    moved = true;
                }
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e),
            }
        }
        let mut i = 0;
        while i < conns.len() {
            match pump(&mut conns[i], opts, stats, &mut buf) {
                Step::Moved => {
                    moved = true;
                    i += 1;
                }
                Step::Idle => i += 1,
                Step::Closed => {
                    let c = conns.swap_remove(i);
                    check(&c, opts, stats);
                    bump(&stats.server_closed, 1);
                    moved = true;
                }
                Step::Reset(e) => {
                    if e.kind() == io::ErrorKind::ConnectionReset {
                        bump(&stats.resets, 1);
                    } else {
                        stats.error(format!("server session: {e}"));
                    }
                    conns.swap_remove(i);
                    bump(&stats.server_closed, 1);
                    moved = true;
                }
            }
        }
        let ended = get(&stats.server_closed);
        // A stop request waits for the sessions open now: a client may
        // have closed with bytes still in flight to us.
        let stopping = stop.load(Ordering::Relaxed) && conns.is_empty() && !moved;
        if stopping || opts.max_sessions.is_some_and(|m| ended >= m) {
            return Ok(());
        }
        if !moved {
            wait_events(client, opts.busy_poll)?;
        }
    }
}

/// Moves what can move on one session.
fn pump(c: &mut Conn, opts: &ServeOptions, stats: &EchoCounters, buf: &mut [u8]) -> Step {
    let mut moved = false;
    loop {
        // Echo: read only what fits in tx, so a full tx leaves the rest
        // in rx, where the writer's flow control sees it.
        let room = if opts.echo {
            match c.s.max_enqueue() {
                Ok(0) => {
                    // Arms a dequeue notification: the stack says when
                    // the client has read.
                    return match c.s.writable() {
                        Ok(_) => Step::Moved,
                        Err(e) if would_block(&e) => idle_or_moved(moved),
                        Err(e) => Step::Reset(e),
                    };
                }
                Ok(n) => (n as usize).min(buf.len()),
                Err(e) => return Step::Reset(e),
            }
        } else {
            buf.len()
        };
        let n = match c.s.read(&mut buf[..room]) {
            Ok(0) => return Step::Closed,
            Ok(n) => n,
            Err(e) if would_block(&e) => return idle_or_moved(moved),
            Err(e) => return Step::Reset(e),
        };
        moved = true;
        c.sum.update(&buf[..n]);
        c.received += n as u64;
        bump(&stats.server_rx_bytes, n as u64);
        if opts.echo {
            match c.s.write(&buf[..n]) {
                Ok(w) if w == n => bump(&stats.server_tx_bytes, n as u64),
                Ok(w) => {
                    stats.error(format!("server echo: {w} of {n} bytes fitted"));
                    return Step::Reset(io::ErrorKind::WriteZero.into());
                }
                Err(e) => return Step::Reset(e),
            }
        }
    }
}

fn idle_or_moved(moved: bool) -> Step {
    if moved { Step::Moved } else { Step::Idle }
}

/// A closed session's stream against what it should have been.
fn check(c: &Conn, opts: &ServeOptions, stats: &EchoCounters) {
    let Some((len, sum)) = opts.expected else {
        return;
    };
    if c.received == len && c.sum.finish() == sum {
        bump(&stats.verified, 1);
    } else {
        bump(&stats.verify_failed, 1);
        stats.error(format!(
            "server session: {} of {len} bytes, checksum {}",
            c.received,
            if c.sum.finish() == sum {
                "ok"
            } else {
                "differs"
            }
        ));
    }
}
