//! What every handle of one stream shares (a [`CtStream`] and its
//! clones, its halves): the session's status, one lock per direction over
//! that direction's fifo end, the options, the counters, and the blocking
//! loop. The fifos are single-producer single-consumer: the rx lock makes
//! concurrent readers take turns, the tx lock concurrent writers, and
//! neither lock waits for the other. The last handle to go closes the
//! session, as the last of a socket's dup'd fds does.
//!
//! [`CtStream`]: crate::CtStream

use ct_sync::atomic::{AtomicBool, AtomicU64, Ordering};
use ct_sync::{Mutex, MutexGuard};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ct_app_interface::io::{RxEnd, SpinSpell, TxEnd};
use ct_app_interface::wire::{AppMsg, SessionRef};
use ct_fifo_segment::{Fifo, FifoError};

use crate::app_worker::AppWorkerShared;
use crate::client::ClientInner;
use crate::ctrl_sink::CtrlSink;
use crate::error::{ClientError, end_err};
use crate::events::{NewSession, SessionStatus, status};
use crate::stream::StreamCounters;
use crate::timeout::Timeout;

/// The wait counters, as atomics: any handle's calls add to them (the
/// event counts are the sink's).
#[derive(Debug, Default)]
struct Stats {
    waits: AtomicU64,
    sleeps: AtomicU64,
}

/// One direction's end, locked: `None` once closed or cleaned up.
pub(crate) type EndGuard<'a, E> = MutexGuard<'a, Option<E>>;

pub(crate) struct StreamInner {
    pub(crate) client: Arc<ClientInner>,
    pub(crate) status: Arc<SessionStatus>,
    pub(crate) lcl: SocketAddr,
    pub(crate) rmt: SocketAddr,
    pub(crate) rx: Mutex<Option<RxEnd>>,
    pub(crate) tx: Mutex<Option<TxEnd>>,
    /// The two fifos again, for looks that take no lock (`max_dequeue`,
    /// `max_enqueue`: a polling reader calls them in a spin, and a lock
    /// per look made every poll a locked instruction).
    pub(crate) rx_fifo: Fifo,
    tx_fifo: Fifo,
    /// Both ends' events go here (each end's lock held, not this).
    sink: CtrlSink,
    /// This side closed (shutdown, reset, last handle): a waiter holding
    /// an end lets it go.
    closing: AtomicBool,
    /// `shutdown(Read)`: reads return 0 at once (what arrives is dropped).
    pub(crate) read_shut: AtomicBool,
    /// `shutdown(Write)`: writes fail `BrokenPipe`; the tx fifo carries the
    /// end of our stream to the peer, which can still write back.
    pub(crate) write_shut: AtomicBool,
    pub(crate) nonblocking: AtomicBool,
    pub(crate) read_timeout: Timeout,
    pub(crate) write_timeout: Timeout,
    /// How long a blocking call spins on its fifo before it sleeps, per
    /// direction (a reader and a writer wait for different things).
    pub(crate) rx_spell: SpinSpell,
    pub(crate) tx_spell: SpinSpell,
    stats: Stats,
    /// When an async read (write) first found nothing to do, in
    /// nanoseconds since `born` plus one (0: it did not): the start of its
    /// cooperative spin (`stream_poll.rs`).
    #[cfg(feature = "tokio")]
    pub(crate) spin_since: [ct_sync::unmodeled::atomic::AtomicU64; 2],
    #[cfg(feature = "tokio")]
    pub(crate) born: Instant,
    /// An async read marked the rx fifo's reader-state word spinning and
    /// has not put it back to idle (`stream_poll.rs`).
    #[cfg(feature = "tokio")]
    pub(crate) rx_marked: ct_sync::unmodeled::atomic::AtomicBool,
}

impl StreamInner {
    pub(crate) fn new(client: Arc<ClientInner>, s: NewSession) -> Self {
        StreamInner {
            rx_fifo: s.rx.fifo().clone(),
            tx_fifo: s.tx.fifo().clone(),
            rx: Mutex::new(Some(RxEnd::new(s.rx))),
            tx: Mutex::new(Some(TxEnd::new(s.tx))),
            sink: CtrlSink::new(client.wrk.clone(), s.status.sref),
            client,
            status: s.status,
            lcl: s.lcl.socket_addr(),
            rmt: s.rmt.socket_addr(),
            closing: AtomicBool::new(false),
            read_shut: AtomicBool::new(false),
            write_shut: AtomicBool::new(false),
            nonblocking: AtomicBool::new(false),
            read_timeout: Timeout::default(),
            write_timeout: Timeout::default(),
            rx_spell: SpinSpell::new(),
            tx_spell: SpinSpell::new(),
            stats: Stats::default(),
            #[cfg(feature = "tokio")]
            spin_since: Default::default(),
            #[cfg(feature = "tokio")]
            born: Instant::now(),
            #[cfg(feature = "tokio")]
            rx_marked: Default::default(),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        !self.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn counters(&self) -> StreamCounters {
        let s = &self.stats;
        StreamCounters {
            tx_events: self.sink.tx_events.load(Ordering::Relaxed),
            rx_events: self.sink.rx_events.load(Ordering::Relaxed),
            waits: s.waits.load(Ordering::Relaxed),
            sleeps: s.sleeps.load(Ordering::Relaxed),
        }
    }

    /// Whether the session's fifos are still ours to look at.
    fn fifos_ours(&self) -> bool {
        self.status.flags() & status::CLEANED == 0 && self.is_open()
    }

    /// Bytes waiting in the rx fifo, without the rx lock: 0 once the
    /// session is over for us. A read in progress may take them first.
    pub(crate) fn peek_max_dequeue(&self) -> Result<u32, FifoError> {
        if !self.fifos_ours() {
            return Ok(0);
        }
        self.rx_fifo.max_dequeue()
    }

    /// Room in the tx fifo, without the tx lock: 0 once the session is
    /// over for us.
    pub(crate) fn peek_max_enqueue(&self) -> Result<u32, FifoError> {
        if !self.fifos_ours() {
            return Ok(0);
        }
        self.tx_fifo.max_enqueue()
    }

    /// `end`, locked, let go first if the session is over for us.
    fn lock<'a, E>(&self, end: &'a Mutex<Option<E>>) -> EndGuard<'a, E> {
        let mut g = end.lock();
        if self.status.flags() & status::CLEANED != 0 || !self.is_open() {
            // The stack freed the session and may reuse its fifos (or we
            // closed it): nothing in them is ours any more.
            *g = None;
        }
        g
    }

    /// Where both ends send their events.
    pub(crate) fn sink(&self) -> &CtrlSink {
        &self.sink
    }

    /// The rx end, locked (waits for a read in progress).
    pub(crate) fn rx(&self) -> EndGuard<'_, RxEnd> {
        self.lock(&self.rx)
    }

    /// The tx end, locked (waits for a write in progress).
    pub(crate) fn tx(&self) -> EndGuard<'_, TxEnd> {
        self.lock(&self.tx)
    }

    /// A blocking read step: `op` until it makes progress; 0 at end of
    /// stream (the peer closed, or shut its direction and everything it
    /// wrote was read) and after our `shutdown(Read)`, `ConnectionReset`
    /// after a reset.
    pub(crate) fn wait_rx(
        &self,
        op: impl FnMut(&mut RxEnd, &CtrlSink) -> io::Result<u32>,
    ) -> io::Result<usize> {
        // The peer's shutdown flag wakes a spinning reader as data does.
        let ready = |e: &RxEnd| e.max_dequeue().map_or(true, |n| n > 0) || e.fifo().is_shut();
        let eof = |e: &RxEnd| e.peer_shutdown().unwrap_or(false);
        // After shutdown(Read), what arrived since goes too, so the peer's
        // writes go on succeeding.
        let when_shut = |e: &mut RxEnd| self.discard(e).map(|()| 0);
        self.wait_for(&self.rx, true, op, ready, eof, when_shut)
    }

    /// A blocking write step: `op` until it makes progress; `BrokenPipe`
    /// once the session ended (`ConnectionReset` after a reset) or after
    /// our `shutdown(Write)`.
    pub(crate) fn wait_tx(
        &self,
        op: impl FnMut(&mut TxEnd, &CtrlSink) -> io::Result<u32>,
    ) -> io::Result<usize> {
        let ready = |e: &TxEnd| e.max_enqueue().map_or(true, |n| n > 0);
        let when_shut = |_: &mut TxEnd| Err(io::ErrorKind::BrokenPipe.into());
        self.wait_for(&self.tx, false, op, ready, |_| false, when_shut)
    }

    /// Whether reads were shut (`shutdown(Read)`).
    pub(crate) fn read_is_shut(&self) -> bool {
        self.read_shut.load(Ordering::SeqCst)
    }

    /// `shutdown(Read)`: from now on reads return 0 at once, in every
    /// handle (a read blocked in another thread returns 0). What the peer
    /// sent and sends is dropped, here and by each later read, with the
    /// notifications a read sends, so the peer's writes go on succeeding
    /// (as a kernel keeps taking a half-closed reader's data).
    pub(crate) fn shutdown_read(&self) -> io::Result<()> {
        self.read_shut.store(true, Ordering::SeqCst);
        self.status.ready.read.wake();
        // A reader asleep on the fifo's futex word sees the flag and lets go.
        self.rx_fifo.wake_reader();
        let mut g = lock_waking(&self.rx, &self.client.wrk);
        if self.status.flags() & status::CLEANED != 0 || !self.is_open() {
            *g = None;
        }
        match g.as_mut() {
            Some(e) => self.discard(e),
            None => Ok(()),
        }
    }

    /// Drops what the rx fifo holds (after `shutdown(Read)`).
    pub(crate) fn discard(&self, e: &mut RxEnd) -> io::Result<()> {
        e.drop_bytes(u32::MAX, &mut self.sink())
            .map(drop)
            .map_err(end_err)
    }

    /// `shutdown(Write)`: a half-close. The tx fifo's shutdown flag tells
    /// the peer, which reads what we wrote, then the end of the stream,
    /// and can still write back; our reads go on. Writes fail
    /// `BrokenPipe` from now on, in every handle (a write blocked in
    /// another thread returns so). Shutting again, or after a close, does
    /// nothing.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        self.write_shut.store(true, Ordering::SeqCst);
        self.status.ready.write.wake();
        let mut g = lock_waking(&self.tx, &self.client.wrk);
        if self.status.flags() & status::CLEANED != 0 || !self.is_open() {
            *g = None;
        }
        match g.as_mut() {
            Some(e) => e.shutdown(&mut self.sink()).map_err(end_err),
            None => Ok(()),
        }
    }

    /// The loop every blocking call shares, holding its direction's lock
    /// throughout (the other direction goes on). `ready` looks at the
    /// fifo in shared memory while spinning; an error is for `op` to
    /// report, so it counts as ready.
    fn wait_for<E>(
        &self,
        end: &Mutex<Option<E>>,
        reading: bool,
        mut op: impl FnMut(&mut E, &CtrlSink) -> io::Result<u32>,
        ready: impl Fn(&E) -> bool,
        eof: impl Fn(&E) -> bool,
        when_shut: impl FnOnce(&mut E) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let (timeout, spell, shut) = if reading {
            (self.read_timeout.get(), &self.rx_spell, &self.read_shut)
        } else {
            (self.write_timeout.get(), &self.tx_spell, &self.write_shut)
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let wrk = &*self.client.wrk;
        let mut polled = false;
        let mut end = end.lock();
        loop {
            let seen = wrk.seq();
            let flags = self.status.flags();
            if flags & status::CLEANED != 0 || !self.is_open() {
                *end = None;
            }
            let Some(e) = end.as_mut() else {
                return if reading {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::BrokenPipe.into())
                };
            };
            if shut.load(Ordering::SeqCst) {
                return when_shut(e);
            }
            if !reading {
                // Nobody would carry the data: data written after the app
                // is detached (or the daemon went) is lost, so say so
                // rather than take it.
                wrk.check()?;
                if flags & status::ENDED != 0 {
                    return Err(ended(flags));
                }
            }
            let n = op(e, &self.sink)?;
            if n > 0 {
                return Ok(n as usize);
            }
            if reading && flags & status::ENDED != 0 {
                // Everything sent before the close is in the fifo already.
                return if flags & status::RESET != 0 {
                    Err(ClientError::Reset.into_io())
                } else {
                    Ok(0)
                };
            }
            if eof(e) {
                return Ok(0);
            }
            wrk.check()?;
            if self.nonblocking.load(Ordering::Relaxed) {
                wrk.poll_once(&mut polled)?;
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // std on Unix: an expired socket timeout is EAGAIN.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // The data (or the room) usually lands in the fifo before the
            // event that announces it: look there while spinning. The late
            // event is a spurious wake-up of a later wait. A close by
            // another handle ends the wait too (it wakes the worker, and a
            // reader's fifo word). A reader's writer skips that event
            // altogether while we wait on the fifo (`wait_on_fifo`).
            self.stats.waits.fetch_add(1, Ordering::Relaxed);
            let e = end.as_ref();
            let done = || !self.is_open() || shut.load(Ordering::Relaxed) || e.is_none_or(&ready);
            let slept = if reading {
                // On the fifo itself: the writer wakes us, not the daemon.
                wrk.wait_on_fifo(seen, deadline, spell, &self.rx_fifo, done)?
            } else {
                wrk.wait_or(seen, deadline, spell, done)?
            };
            self.stats
                .sleeps
                .fetch_add(u64::from(slept), Ordering::Relaxed);
        }
    }

    /// Closes the session once, for every handle: `msg` tells the stack
    /// how (disconnect or reset).
    pub(crate) fn close(&self, msg: fn(SessionRef) -> AppMsg) -> io::Result<()> {
        if self.closing.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.status.ready.wake_both();
        // A reader of another handle may sleep on the rx fifo's futex
        // word rather than on the worker: it sees `closing` and lets go.
        self.rx_fifo.wake_reader();
        // A task that spun on the fifo and was never polled again left the
        // word spinning: the word goes back to idle with the stream.
        #[cfg(feature = "tokio")]
        self.rx_fifo
            .set_reader_state(ct_fifo_segment::ReaderState::Idle);
        let wrk = &*self.client.wrk;
        // Our fifo handles go before the stack may free (and reuse) them.
        drop(take_end(&self.rx, wrk));
        drop(take_end(&self.tx, wrk));
        let sref = self.status.sref;
        wrk.events().forget_session(sref);
        if self.status.flags() & status::CLEANED != 0 || wrk.app.is_closed() {
            return Ok(());
        }
        wrk.ctrl
            .send(sref.thread(), &msg(sref))
            .map_err(ClientError::into_io)
    }
}

impl std::fmt::Debug for StreamInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamInner")
            .field("session", &self.status.sref)
            .field("lcl", &self.lcl)
            .field("rmt", &self.rmt)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let _ = self.close(AppMsg::Disconnect);
    }
}

/// Takes a closing stream's end. A reader or writer blocked in another
/// thread holds it: woken, it sees the close and lets go. Only then is
/// the worker woken (every waiter re-checks), not on every close.
fn take_end<E>(end: &Mutex<Option<E>>, wrk: &AppWorkerShared) -> Option<E> {
    if let Some(mut g) = end.try_lock() {
        return g.take();
    }
    wrk.wake();
    end.lock().take()
}

/// `end`, locked: a call blocked in another thread holds it, so the
/// worker is woken (every waiter re-checks its flags and lets go) when
/// the lock is busy.
fn lock_waking<'a, E>(end: &'a Mutex<Option<E>>, wrk: &AppWorkerShared) -> EndGuard<'a, E> {
    if let Some(g) = end.try_lock() {
        return g;
    }
    wrk.wake();
    end.lock()
}

/// The error a write sees once the session ended.
pub(crate) fn ended(flags: u32) -> io::Error {
    if flags & status::RESET != 0 {
        ClientError::Reset.into_io()
    } else {
        io::ErrorKind::BrokenPipe.into()
    }
}
