//! The simulated world: a stepped stack with ct, in-process apps in slots,
//! and the model of what the apps did (session ends, bytes written and
//! read per direction, how each side closed), updated by the steps and by
//! the messages the apps receive.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ct_app_worker::{
    AppEvent, AppHandle, AppKind, AppListenerHandle, AppQueue, AppSession, AppWorkerHandle,
    AttachOptions, NamespaceConfig, Scope, SessionFifos, Stack,
};
use ct_session::{SessionCleanupNtf, SessionError, SessionHandle};
use ct_transport_ct::{CtConfig, CtMain};

use crate::sim::linger::{LingerCounts, LingerWatch};
use crate::sim::op::Op;
use ct_echo::{Pattern, loopback};

/// A broken invariant or an unexpected error: what the simulator reports.
pub type SimResult = Result<(), String>;

/// The namespace of slot 3 (the others are in the default one).
const OTHER_NS: (&str, u64) = ("sim-ns", 42);

pub(crate) struct SimApp {
    pub(crate) app: AppHandle,
    pub(crate) wrk: AppWorkerHandle,
    pub(crate) q: AppQueue,
    pub(crate) listeners: BTreeMap<u8, AppListenerHandle>,
}

/// How one side of a pair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// Closed with nothing unread.
    Graceful,
    /// Closed with unread data, or reset.
    Reset,
    /// Its app detached.
    Detached,
}

/// One direction of a pair: the writer's stream and how far the reader got.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stream {
    pub(crate) base: u64,
    pub(crate) written: u64,
    pub(crate) read: u64,
}

/// A server end and (once connected) its client end.
#[derive(Debug, Default)]
pub(crate) struct Pair {
    /// Client to server, server to client.
    pub(crate) c2s: Stream,
    pub(crate) s2c: Stream,
    /// How the server side and the client side closed.
    pub(crate) closed: [Option<CloseKind>; 2],
    /// The server's tx fifo until the client end shows up: a client is
    /// matched to its pair by it (ct crosses the server's fifos), even when
    /// the server end is already gone.
    pub(crate) server_tx: Option<ct_fifo_segment::Fifo>,
}

impl Pair {
    /// The stream an end writes: client to server for the client end.
    pub(crate) fn outgoing(&mut self, is_client: bool) -> &mut Stream {
        if is_client {
            &mut self.c2s
        } else {
            &mut self.s2c
        }
    }

    /// The stream an end reads.
    pub(crate) fn incoming(&mut self, is_client: bool) -> &mut Stream {
        self.outgoing(!is_client)
    }
}

pub(crate) struct End {
    pub(crate) h: SessionHandle,
    pub(crate) slot: u8,
    pub(crate) pair: usize,
    pub(crate) is_client: bool,
    pub(crate) io: AppSession,
    /// Server ends: `None` until the accept reply.
    pub(crate) accepted: Option<bool>,
    pub(crate) closed_by_app: bool,
}

impl End {
    fn side(&self) -> usize {
        usize::from(self.is_client)
    }
}

/// The world one schedule runs in.
pub struct World {
    pub(crate) stack: Stack,
    pub(crate) ct: Arc<CtMain>,
    pub(crate) apps: [Option<SimApp>; 4],
    pub(crate) ends: Vec<End>,
    pub(crate) pairs: Vec<Pair>,
    /// ct's segment linger (zero: emptied segments go at once).
    pub(crate) linger: Duration,
    /// The emptied segments seen after each step.
    pub(crate) linger_watch: LingerWatch,
    pattern: Pattern,
    attaches: u64,
    /// Errors the stack returned that are allowed (counted, not failures).
    pub errors_allowed: u64,
    /// What happened, for the report.
    pub counters: SimCounters,
}

/// What a schedule did (to see that schedules exercise something).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Sessions accepted (pairs).
    pub pairs: u64,
    /// Clients connected.
    pub connected: u64,
    /// Bytes read and checked.
    pub bytes_read: u64,
    /// Writes that found the fifo full.
    pub full_writes: u64,
    /// Graceful closes heard by a peer.
    pub disconnects: u64,
    /// Resets heard by a peer.
    pub resets: u64,
    /// Failed connects (refused, or the server went away).
    pub connect_failures: u64,
    /// Detaches.
    pub detaches: u64,
    /// Emptied ct segments that lingered, were revived, went.
    pub linger: LingerCounts,
}

impl std::ops::AddAssign for SimCounters {
    fn add_assign(&mut self, o: SimCounters) {
        self.pairs += o.pairs;
        self.connected += o.connected;
        self.bytes_read += o.bytes_read;
        self.full_writes += o.full_writes;
        self.disconnects += o.disconnects;
        self.resets += o.resets;
        self.connect_failures += o.connect_failures;
        self.detaches += o.detaches;
        self.linger.lingered += o.linger.lingered;
        self.linger.revived += o.linger.revived;
        self.linger.removed += o.linger.removed;
    }
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("ends", &self.ends.len())
            .field("pairs", &self.pairs.len())
            .finish_non_exhaustive()
    }
}

fn ok<T>(what: impl std::fmt::Display, r: Result<T, SessionError>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: unexpected error {e}"))
}

impl World {
    /// A world with `workers` workers whose ct keeps emptied segments
    /// `linger` on the workers' clock (zero: the reference's removal at
    /// once).
    pub fn new(workers: u32, linger: Duration) -> Result<World, String> {
        let stack = ok("stack", Stack::new(workers))?;
        let ct = CtMain::new(CtConfig {
            min_segment_size: 1 << 20,
            segment_linger: linger,
        });
        ok(
            "register ct",
            ct.register(stack.main(), stack.apps().clone()),
        )?;
        ok(
            "namespace",
            stack
                .apps()
                .namespace_add(NamespaceConfig::new(OTHER_NS.0, OTHER_NS.1)),
        )?;
        Ok(World {
            stack,
            ct,
            apps: [None, None, None, None],
            ends: Vec::new(),
            pairs: Vec::new(),
            linger,
            linger_watch: LingerWatch::default(),
            pattern: Pattern::new(),
            attaches: 0,
            errors_allowed: 0,
            counters: SimCounters::default(),
        })
    }

    fn ns_of(slot: u8) -> u8 {
        u8::from(slot == 3)
    }

    fn end_index(&self, h: SessionHandle) -> Option<usize> {
        self.ends.iter().position(|e| e.h == h)
    }

    /// Someone in `slot`'s namespace listens on `port`.
    fn listened_in_ns(&self, slot: u8, port: u8) -> bool {
        self.apps.iter().enumerate().any(|(s, a)| {
            a.as_ref().is_some_and(|a| {
                Self::ns_of(s as u8) == Self::ns_of(slot) && a.listeners.contains_key(&port)
            })
        })
    }

    /// Ends that may still read and write.
    fn live_ends(&self) -> Vec<usize> {
        (0..self.ends.len())
            .filter(|&i| {
                let e = &self.ends[i];
                !e.closed_by_app && (e.is_client || e.accepted == Some(true))
            })
            .collect()
    }

    /// Applies one step.
    pub fn apply(&mut self, op: Op) -> SimResult {
        match op {
            Op::Attach { slot } => self.attach(slot),
            Op::Detach { slot } => self.detach(slot),
            Op::Listen { slot, port } => {
                let taken = self.listened_in_ns(slot, port);
                let Some(a) = self.apps[slot as usize].as_ref() else {
                    return Ok(());
                };
                if a.listeners.contains_key(&port) {
                    return Ok(());
                }
                let wrk = a.wrk;
                match self.stack.listen(wrk, loopback(5000 + u16::from(port))) {
                    Ok(l) => {
                        if taken {
                            return Err(format!("app{slot} listened on a taken port {port}"));
                        }
                        if let Some(a) = self.apps[slot as usize].as_mut() {
                            a.listeners.insert(port, l);
                        }
                        Ok(())
                    }
                    Err(e) if taken => {
                        self.errors_allowed += 1;
                        let _ = e;
                        Ok(())
                    }
                    Err(e) => Err(format!("app{slot} listen :{port} refused: {e}")),
                }
            }
            Op::Unlisten { slot, port } => {
                let Some(a) = self.apps[slot as usize].as_mut() else {
                    return Ok(());
                };
                let Some(l) = a.listeners.remove(&port) else {
                    return Ok(());
                };
                let wrk = a.wrk;
                ok(format!("app{slot} unlisten"), self.stack.unlisten(wrk, l))
            }
            Op::Connect { slot, port } => {
                let listened = self.listened_in_ns(slot, port);
                let Some(a) = self.apps[slot as usize].as_ref() else {
                    return Ok(());
                };
                let wrk = a.wrk;
                match self.stack.connect(wrk, loopback(5000 + u16::from(port)), 0) {
                    Ok(_) if !listened => Err(format!(
                        "app{slot} connected to :{port} where nobody listens"
                    )),
                    Ok(_) => Ok(()),
                    Err(e) if listened => {
                        Err(format!("app{slot} connect to a listener failed: {e}"))
                    }
                    Err(_) => {
                        self.errors_allowed += 1;
                        Ok(())
                    }
                }
            }
            Op::AcceptReply { pick, ok: accept } => {
                let pending: Vec<usize> = (0..self.ends.len())
                    .filter(|&i| !self.ends[i].is_client && self.ends[i].accepted.is_none())
                    .collect();
                if pending.is_empty() {
                    return Ok(());
                }
                let i = pending[pick as usize % pending.len()];
                let (slot, h) = (self.ends[i].slot, self.ends[i].h);
                let Some(wrk) = self.apps[slot as usize].as_ref().map(|a| a.wrk) else {
                    return Ok(());
                };
                let result = if accept {
                    Ok(())
                } else {
                    Err(SessionError::Refused)
                };
                self.ends[i].accepted = Some(accept);
                if !accept {
                    self.ends[i].closed_by_app = true;
                }
                ok(
                    format!("accept reply {h}"),
                    self.stack.accept_reply(wrk, h, result),
                )
            }
            Op::Write { pick, len } => {
                let live = self.live_ends();
                if live.is_empty() {
                    return Ok(());
                }
                let i = live[pick as usize % live.len()];
                let e = &mut self.ends[i];
                let pair = &mut self.pairs[e.pair];
                let st = pair.outgoing(e.is_client);
                let chunk = self.pattern.chunk(st.base + st.written, len as usize);
                match e.io.write(chunk) {
                    Ok(n) => {
                        st.written += n as u64;
                        if n < chunk.len() {
                            self.counters.full_writes += 1;
                        }
                        Ok(())
                    }
                    Err(_) if pair.closed[1 - e.side()].is_some() => {
                        self.errors_allowed += 1;
                        Ok(())
                    }
                    Err(err) => Err(format!("write on {}: {err}", e.h)),
                }
            }
            Op::Read { pick, max } => {
                let live = self.live_ends();
                if live.is_empty() {
                    return Ok(());
                }
                let i = live[pick as usize % live.len()];
                self.read(i, max as usize)
            }
            Op::Close { pick } | Op::Reset { pick } => {
                let live = self.live_ends();
                if live.is_empty() {
                    return Ok(());
                }
                let i = live[pick as usize % live.len()];
                self.close(i, matches!(op, Op::Reset { .. }))
            }
            Op::Step { n } => {
                for _ in 0..n {
                    self.stack.step();
                }
                self.deliver().map(drop)
            }
            Op::Settle => self.settle(),
            Op::Advance { us } => {
                self.stack
                    .runtime_mut()
                    .advance_clock(Duration::from_micros(u64::from(us)));
                Ok(())
            }
        }
    }

    fn attach(&mut self, slot: u8) -> SimResult {
        if self.apps[slot as usize].is_some() {
            return Ok(());
        }
        self.attaches += 1;
        let fifo = if slot.is_multiple_of(2) { 4096 } else { 8192 };
        let mut o = AttachOptions::new(format!("app{slot}-{}", self.attaches), AppKind::InProcess)
            .with_scope(Scope::LOCAL)
            .with_fifo_sizes(fifo, fifo);
        o.segment_size = 1 << 20;
        if Self::ns_of(slot) == 1 {
            o = o.with_namespace(OTHER_NS.0, OTHER_NS.1);
        }
        let r = ok(format!("attach app{slot}"), self.stack.attach(o))?;
        let q = r.queue.ok_or("in-process app without a queue")?;
        self.apps[slot as usize] = Some(SimApp {
            app: r.app,
            wrk: r.app_wrk,
            q,
            listeners: BTreeMap::new(),
        });
        Ok(())
    }

    fn detach(&mut self, slot: u8) -> SimResult {
        let Some(a) = self.apps[slot as usize].take() else {
            return Ok(());
        };
        self.counters.detaches += 1;
        // The app is gone: its ends with it (the stack cleans them up).
        let mut i = 0;
        while i < self.ends.len() {
            if self.ends[i].slot == slot {
                let e = self.ends.remove(i);
                let side = e.side();
                let c = &mut self.pairs[e.pair].closed[side];
                c.get_or_insert(CloseKind::Detached);
            } else {
                i += 1;
            }
        }
        ok(format!("detach app{slot}"), self.stack.detach(a.app))
    }

    /// Reads and checks every byte against what the peer wrote.
    fn read(&mut self, i: usize, max: usize) -> SimResult {
        let mut buf = vec![0u8; max.max(1)];
        let e = &mut self.ends[i];
        let pair = &mut self.pairs[e.pair];
        let st = pair.incoming(e.is_client);
        let n = match e.io.read(&mut buf) {
            Ok(n) => n,
            Err(_) if pair.closed[1 - e.side()].is_some() => {
                self.errors_allowed += 1;
                return Ok(());
            }
            Err(err) => return Err(format!("read on {}: {err}", e.h)),
        };
        if st.read + n as u64 > st.written {
            return Err(format!(
                "{} read {} bytes but only {} were written",
                e.h,
                st.read + n as u64,
                st.written
            ));
        }
        let mut off = 0;
        while off < n {
            let want = self.pattern.chunk(st.base + st.read + off as u64, n - off);
            if buf[off..off + want.len()] != *want {
                return Err(format!(
                    "{} read wrong bytes at stream offset {}",
                    e.h,
                    st.read + off as u64
                ));
            }
            off += want.len();
        }
        st.read += n as u64;
        self.counters.bytes_read += n as u64;
        Ok(())
    }

    fn close(&mut self, i: usize, reset: bool) -> SimResult {
        let e = &mut self.ends[i];
        if e.closed_by_app {
            return Ok(());
        }
        let unread = e.io.has_unread();
        e.closed_by_app = true;
        let (slot, h, side, pair) = (e.slot, e.h, e.side(), e.pair);
        self.pairs[pair].closed[side].get_or_insert(if reset || unread {
            CloseKind::Reset
        } else {
            CloseKind::Graceful
        });
        let Some(wrk) = self.apps[slot as usize].as_ref().map(|a| a.wrk) else {
            return Ok(());
        };
        let r = if reset {
            self.stack.reset(wrk, h)
        } else {
            self.stack.disconnect(wrk, h)
        };
        ok(format!("close {h}"), r)
    }

    /// Lets every app handle its messages; returns how many there were.
    pub(crate) fn deliver(&mut self) -> Result<usize, String> {
        let mut n = 0;
        for slot in 0..4u8 {
            let msgs = match self.apps[slot as usize].as_ref() {
                Some(a) => a.q.drain(),
                None => continue,
            };
            n += msgs.len();
            for m in msgs {
                self.handle(slot, m)?;
            }
        }
        Ok(n)
    }

    fn new_end(&self, slot: u8, f: &SessionFifos) -> Result<AppSession, String> {
        AppSession::from_fifos(self.stack.main().clone(), f)
            .map_err(|e| format!("app{slot}: fifos of {}: {e}", f.session))
    }

    fn handle(&mut self, slot: u8, m: AppEvent) -> SimResult {
        match m {
            AppEvent::Accepted { session: fifos, .. } => {
                self.counters.pairs += 1;
                let io = self.new_end(slot, &fifos)?;
                let id = self.pairs.len() as u64;
                self.pairs.push(Pair {
                    c2s: Stream {
                        base: id * 7919,
                        ..Stream::default()
                    },
                    s2c: Stream {
                        base: id * 7919 + 3001,
                        ..Stream::default()
                    },
                    closed: [None, None],
                    server_tx: Some(fifos.tx_fifo.clone()),
                });
                self.ends.push(End {
                    h: fifos.session,
                    slot,
                    pair: id as usize,
                    is_client: false,
                    io,
                    accepted: None,
                    closed_by_app: false,
                });
            }
            AppEvent::Connected {
                result: Ok(fifos), ..
            } => {
                self.counters.connected += 1;
                let io = self.new_end(slot, &fifos)?;
                // ct crosses the server's fifos: find the server end.
                let pair = self
                    .pairs
                    .iter()
                    .rposition(|p| p.server_tx.as_ref().is_some_and(|f| f.same(&fifos.rx_fifo)))
                    .ok_or_else(|| format!("client {} has no server end", fifos.session))?;
                self.pairs[pair].server_tx = None;
                let accepted = self
                    .ends
                    .iter()
                    .find(|e| e.pair == pair && !e.is_client)
                    .map(|e| e.accepted);
                if matches!(accepted, Some(None) | Some(Some(false))) {
                    return Err(format!(
                        "client {} connected but its server did not accept",
                        fifos.session
                    ));
                }
                let pair = (pair, ());
                self.ends.push(End {
                    h: fifos.session,
                    slot,
                    pair: pair.0,
                    is_client: true,
                    io,
                    accepted: Some(true),
                    closed_by_app: false,
                });
            }
            AppEvent::Disconnected(h) | AppEvent::Reset(h) => {
                let was_reset = matches!(m, AppEvent::Reset(_));
                if was_reset {
                    self.counters.resets += 1;
                } else {
                    self.counters.disconnects += 1;
                }
                let Some(i) = self.end_index(h) else {
                    return Ok(());
                };
                let peer = self.pairs[self.ends[i].pair].closed[1 - self.ends[i].side()];
                if !was_reset && peer == Some(CloseKind::Reset) {
                    return Err(format!(
                        "{h} told of a graceful close where the peer reset or left data unread"
                    ));
                }
                if self.ends[i].closed_by_app {
                    return Ok(());
                }
                if !was_reset {
                    // Take what is left, then close like VPP's apps do.
                    self.read(i, 1 << 20)?;
                }
                self.close(i, false)?;
            }
            AppEvent::Connected { result: Err(_), .. } => {
                self.counters.connect_failures += 1;
            }
            AppEvent::Cleanup {
                session,
                ntf: SessionCleanupNtf::Session,
            } => {
                if let Some(i) = self.end_index(session) {
                    let e = self.ends.remove(i);
                    let side = e.side();
                    let pair = &mut self.pairs[e.pair];
                    pair.closed[side].get_or_insert(CloseKind::Graceful);
                    if !e.is_client && e.accepted != Some(true) {
                        // Never accepted: no client will show up for it.
                        pair.server_tx = None;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Runs until idle and lets the apps answer, until nothing moves.
    pub fn settle(&mut self) -> SimResult {
        for _ in 0..1000 {
            ok("run until idle", self.stack.run_until_idle())?;
            if self.deliver()? == 0 {
                return Ok(());
            }
        }
        Err("apps and stack never settled".into())
    }

    /// Detaches every app.
    pub fn detach_all(&mut self) -> SimResult {
        for slot in 0..4 {
            self.detach(slot)?;
        }
        self.settle()
    }

    /// Moves the clock past the linger and settles: every segment that
    /// lingers is then due, and a worker's poll removes it.
    pub fn expire_linger(&mut self) -> SimResult {
        self.stack
            .runtime_mut()
            .advance_clock(self.linger + Duration::from_millis(1));
        self.settle()
    }
}
