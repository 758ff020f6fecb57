//! A stream's async steps (the `tokio` feature): the blocking loop of
//! `stream_inner.rs` turned into a poll, on the same ends, locks and
//! status, so a std stream and an async one are one session.
//!
//! A step that finds nothing to do first spins cooperatively for the
//! direction's adaptive spell (app-interface's `SpinSpell`, shared with
//! the blocking waits): it asks to be polled again at once and returns
//! `Pending`, so the runtime runs other tasks between two looks at the
//! fifo. A read marks the rx fifo's reader-state word spinning meanwhile,
//! so the peer's writes send no event. Then it parks: registers its waker
//! with the session's readiness (`readiness.rs`), puts the word back to
//! idle (a read), looks again, and returns `Pending`; the worker's driver
//! (`tokio/driver.rs`) files the event that wakes it (ARCHITECTURE.md,
//! "Readiness in app-client"). A writer that finds the fifo full armed
//! the dequeue notification before (`TxEnd`), so the reader's side says
//! when room frees.

use std::io;
use std::task::{Context, Poll};

use ct_app_interface::io::{RxEnd, SpinSpell, TxEnd};
use ct_fifo_segment::ReaderState;
use ct_sync::atomic::Ordering;
use ct_sync::unmodeled::atomic::{AtomicU64, Ordering as StdOrdering};

use crate::error::{ClientError, end_err};
use crate::events::status;
use crate::readiness::WakerSlot;
use crate::stream_inner::{StreamInner, ended};

/// What one look at a direction found: `Some` ends the call.
type Step = Option<io::Result<usize>>;

impl StreamInner {
    /// An async read into `buf` (not empty): as a blocking read's result.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_dir(cx, true, |inner| {
            let mut g = inner.rx();
            inner.read_step(&mut g, buf)
        })
    }

    /// An async write of `buf` (not empty): as a blocking write's result.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_dir(cx, false, |inner| {
            let mut g = inner.tx();
            inner.write_step(&mut g, buf)
        })
    }

    /// One look at the rx side (`wait_for`'s loop body for reads).
    fn read_step(&self, end: &mut Option<RxEnd>, buf: &mut [u8]) -> Step {
        let flags = self.status.flags();
        let Some(e) = end.as_mut() else {
            return Some(Ok(0));
        };
        if self.read_shut.load(Ordering::SeqCst) {
            return Some(self.discard(e).map(|()| 0));
        }
        match e.read(buf, &mut self.sink()).map_err(end_err) {
            Ok(0) => {}
            r => return Some(r),
        }
        if flags & status::ENDED != 0 {
            // Everything sent before the close is in the fifo already.
            return Some(if flags & status::RESET != 0 {
                Err(ClientError::Reset.into_io())
            } else {
                Ok(0)
            });
        }
        if e.peer_shutdown().unwrap_or(false) {
            return Some(Ok(0));
        }
        self.client.wrk.check().err().map(|e| Err(e.into()))
    }

    /// One look at the tx side (`wait_for`'s loop body for writes).
    fn write_step(&self, end: &mut Option<TxEnd>, buf: &[u8]) -> Step {
        let flags = self.status.flags();
        let Some(e) = end.as_mut() else {
            return Some(Err(io::ErrorKind::BrokenPipe.into()));
        };
        if self.write_shut.load(Ordering::SeqCst) {
            return Some(Err(io::ErrorKind::BrokenPipe.into()));
        }
        // Data written once nobody carries it would be lost: say so.
        if let Err(e) = self.client.wrk.check() {
            return Some(Err(e.into()));
        }
        if flags & status::ENDED != 0 {
            return Some(Err(ended(flags)));
        }
        match e.write(buf, &mut self.sink()).map_err(end_err) {
            Ok(0) => None,
            r => Some(r),
        }
    }

    /// The poll every async step shares: `step` until it ends the call,
    /// spinning, then parking on the direction's waker slot.
    fn poll_dir(
        &self,
        cx: &mut Context<'_>,
        reading: bool,
        mut step: impl FnMut(&Self) -> Step,
    ) -> Poll<io::Result<usize>> {
        let (spell, slot): (&SpinSpell, &WakerSlot) = if reading {
            (&self.rx_spell, &self.status.ready.read)
        } else {
            (&self.tx_spell, &self.status.ready.write)
        };
        let since = &self.spin_since[usize::from(!reading)];
        let wrk = &self.client.wrk;
        let mut drained = false;
        let mut registered = false;
        // This poll began the wait (its first look found nothing).
        let mut began = false;
        loop {
            if let Some(r) = step(self) {
                if reading {
                    self.unmark_rx();
                }
                self.spun(since, spell);
                return Poll::Ready(r);
            }
            if registered {
                // Registered, then looked again: the filer wakes us.
                return Poll::Pending;
            }
            // What we wait for may be announced in the queues: take it
            // (this files the events the fd would have signalled).
            if wrk.poll_once(&mut drained).is_ok() {
                continue;
            }
            let now = self.clock_ns();
            let start = match since.load(StdOrdering::Relaxed) {
                0 => {
                    since.store(now, StdOrdering::Relaxed);
                    began = true;
                    now
                }
                t => t,
            };
            if u128::from(now - start) < spell.spell().as_nanos() {
                // Re-polled within the spell: the task really spins, so
                // mark it (the peer's writes need tell nobody); the look
                // after the mark takes data written before it. Not on the
                // wait's first poll: a task whose runtime takes longer
                // than its spell to come back (many sessions per thread)
                // parks at its next poll, and two stores on the word the
                // writer reads per wait would buy nothing.
                if reading && !began && !self.rx_marked.swap(true, StdOrdering::Relaxed) {
                    self.rx_fifo.set_reader_state(ReaderState::Spinning);
                    continue;
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            slot.register(cx.waker());
            crate::tokio::driver::ensure(wrk);
            if reading {
                // Registered, then idle (and a fence), then the look
                // below: a write the mark kept quiet is in the fifo by
                // then, and one after it takes the event path, whose
                // filing wakes the slot. Stored whatever the mark says:
                // another handle's task may have marked the word after
                // our mark was taken back, and a parked reader must not
                // leave it spinning.
                self.rx_marked.store(false, StdOrdering::Relaxed);
                self.rx_fifo.set_reader_state(ReaderState::Idle);
            }
            registered = true;
        }
    }

    /// Puts the rx fifo's reader-state word back to idle if an async read
    /// marked it spinning (a SeqCst fence follows the store); whoever waits
    /// next must look at the fifo after this.
    fn unmark_rx(&self) {
        // A load first: every completed read passes here, and most were
        // never marked (no locked instruction for them).
        if self.rx_marked.load(StdOrdering::Relaxed)
            && self.rx_marked.swap(false, StdOrdering::Relaxed)
        {
            self.rx_fifo.set_reader_state(ReaderState::Idle);
        }
    }

    /// A step ended: the spell learns how long the wait took, spin and
    /// park included.
    fn spun(&self, since: &AtomicU64, spell: &SpinSpell) {
        let start = since.swap(0, StdOrdering::Relaxed);
        if start != 0 {
            let waited = self.clock_ns().saturating_sub(start);
            spell.adapt(std::time::Duration::from_nanos(waited), false);
        }
    }

    /// Nanoseconds since the stream was made, plus one (never 0).
    fn clock_ns(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }
}
