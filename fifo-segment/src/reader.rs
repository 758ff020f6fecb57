//! The reader-state word: a consumer that waits on the fifo itself says
//! so in the fifo's shared header, so the producer can skip the event path
//! (ARCHITECTURE.md, "Event flow", direct wake-ups).
//!
//! States: [`ReaderState::Idle`] (nobody waits on the fifo: the producer
//! sets the event flag and tells the worker, as always), `Spinning` (a
//! consumer polls the fifo now: it sees the data, nothing to send) and
//! `Sleeping` (a consumer sleeps on a futex on this word: the producer
//! moves it to `Spinning` and wakes it, one wake-up and no worker).
//!
//! The hand-off is Dekker's: the producer publishes tail, fences (SeqCst),
//! then reads the state ([`Fifo::notify_reader`]); the consumer stores a
//! state, fences, then re-checks the fifo ([`Fifo::set_reader_state`]).
//! Either the producer sees the new state or the consumer's re-check sees
//! the data. A waker moves `Sleeping` to `Spinning` with a compare-exchange
//! before the futex wake, so a wake that lands before the consumer's
//! futex wait still ends it (the wait sleeps only while the word says
//! `Sleeping`), and of several wakers one makes the system call.
//!
//! The word is in memory a peer writes: any value but spinning or sleeping
//! reads as idle, which costs only events; the futex wait is bounded by a
//! timeout, so a peer that never wakes us costs only latency.

use std::time::Duration;

use crate::fifo::Fifo;
use ct_sync::atomic::{Ordering, fence};

const IDLE: u32 = 0;
const SPINNING: u32 = 1;
const SLEEPING: u32 = 2;

/// Whether, and how, the consumer waits on the fifo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReaderState {
    /// Nobody waits on the fifo itself: writes take the event path.
    Idle,
    /// A consumer polls the fifo: writes need tell nobody.
    Spinning,
    /// A consumer sleeps on the header's futex word: writes wake it.
    Sleeping,
}

impl ReaderState {
    fn word(self) -> u32 {
        match self {
            ReaderState::Idle => IDLE,
            ReaderState::Spinning => SPINNING,
            ReaderState::Sleeping => SLEEPING,
        }
    }

    fn from_word(w: u32) -> Self {
        match w {
            SPINNING => ReaderState::Spinning,
            SLEEPING => ReaderState::Sleeping,
            _ => ReaderState::Idle,
        }
    }
}

/// What a producer's [`Fifo::notify_reader`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReaderWake {
    /// The consumer polls the fifo (or was just woken): nothing to send.
    Watching,
    /// The consumer slept; this call woke it.
    Woken,
    /// Nobody waits on the fifo: the caller takes the event path
    /// (`set_event`, then the event if the flag was clear).
    Idle,
}

/// What a write owes after [`Fifo::notify_write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteNotice {
    /// The consumer polls the fifo (or was just woken): nothing to send.
    Watching,
    /// The consumer slept; this call woke it.
    Woken,
    /// Nobody waits on the fifo and the event flag was clear: send the
    /// event.
    EventOwed,
    /// Nobody waits on the fifo; an event is pending already.
    EventPending,
}

impl Fifo {
    /// Consumer side: announces how it waits, then a SeqCst fence. The
    /// caller must re-check the fifo (and anything else a waker would
    /// announce) after this and before it spins or sleeps, and again after
    /// going back to [`ReaderState::Idle`]: data published before the
    /// producer read the old state is not announced.
    pub fn set_reader_state(&self, state: ReaderState) {
        let ctl = &self.inner().shared().ctl.0;
        ctl.reader.store(state.word(), Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The consumer's state as the header says (a peer's value other than
    /// spinning or sleeping reads as idle).
    pub fn reader_state(&self) -> ReaderState {
        ReaderState::from_word(self.inner().shared().ctl.0.reader.load(Ordering::SeqCst))
    }

    /// Producer side, after publishing data: a SeqCst fence, then the
    /// consumer's state decides who tells it (see [`ReaderWake`]). A
    /// sleeping consumer is woken here; [`ReaderWake::Idle`] leaves the
    /// event path to the caller ([`Fifo::notify_write`] takes it too).
    ///
    /// # Examples
    ///
    /// ```
    /// use ct_fifo_segment::{FifoSegment, ReaderState, ReaderWake, SegmentFlags};
    ///
    /// let seg = FifoSegment::create_heap(64 << 10, 1, SegmentFlags::empty())?;
    /// let fifo = seg.alloc_fifo_w_slice(0, 4096)?;
    /// let mut tx = fifo.producer()?;
    /// tx.enqueue(b"a")?;
    /// assert_eq!(fifo.notify_reader(), ReaderWake::Idle); // send the event
    ///
    /// fifo.set_reader_state(ReaderState::Spinning); // a reader polls
    /// tx.enqueue(b"b")?;
    /// assert_eq!(fifo.notify_reader(), ReaderWake::Watching); // it sees the data
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notify_reader(&self) -> ReaderWake {
        fence(Ordering::SeqCst);
        self.reader_after_fence()
    }

    /// [`Fifo::notify_reader`] and the event path in one, under one fence
    /// (every write runs it): [`WriteNotice::EventOwed`] when nobody waits
    /// on the fifo and its event flag was clear (the caller sends the
    /// event, as after [`Fifo::set_event`]).
    pub fn notify_write(&self) -> WriteNotice {
        fence(Ordering::SeqCst);
        match self.reader_after_fence() {
            ReaderWake::Watching => WriteNotice::Watching,
            ReaderWake::Woken => WriteNotice::Woken,
            ReaderWake::Idle => {
                // The fence above orders the publish before the flag,
                // as `set_event`'s own fence does.
                let flag = &self.inner().shared().ctl.0.has_event;
                if flag.swap(1, Ordering::AcqRel) == 0 {
                    WriteNotice::EventOwed
                } else {
                    WriteNotice::EventPending
                }
            }
        }
    }

    fn reader_after_fence(&self) -> ReaderWake {
        let ctl = &self.inner().shared().ctl.0;
        match ctl.reader.load(Ordering::SeqCst) {
            SPINNING => ReaderWake::Watching,
            SLEEPING => {
                if self.wake_reader() {
                    ReaderWake::Woken
                } else {
                    // Another waker moved it on, or the consumer stopped
                    // waiting: its re-check (after its fence) sees the data.
                    ReaderWake::Watching
                }
            }
            _ => ReaderWake::Idle,
        }
    }

    /// Wakes a consumer that sleeps on the fifo (anyone may: a producer,
    /// the daemon filing a session event, another handle closing the
    /// stream). The word goes from sleeping to spinning first, so a wake
    /// before the consumer's futex wait is not lost. Returns whether a
    /// consumer was asleep (and this call woke it).
    pub fn wake_reader(&self) -> bool {
        fence(Ordering::SeqCst);
        let word = &self.inner().shared().ctl.0.reader;
        if word
            .compare_exchange(SLEEPING, SPINNING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        futex_wake(word);
        true
    }

    /// Consumer side, after [`Fifo::set_reader_state`]`(Sleeping)` and its
    /// re-check: sleeps while the word says sleeping, at most `timeout`
    /// (may return early). The caller then sets its next state and
    /// re-checks.
    pub fn reader_sleep(&self, timeout: Duration) {
        futex_wait(&self.inner().shared().ctl.0.reader, timeout);
    }
}

#[cfg(not(loom))]
fn futex_wait(word: &ct_sync::atomic::AtomicU32, timeout: Duration) {
    use rustix::thread::futex;
    let ts = futex::Timespec::try_from(timeout).unwrap_or(futex::Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    // Shared (not PRIVATE): the word is in a segment another process maps.
    // Every outcome (woken, the word changed already, timed out,
    // interrupted) means the same to the caller: re-check.
    let _ = futex::wait(word, futex::Flags::empty(), SLEEPING, Some(&ts));
}

#[cfg(not(loom))]
fn futex_wake(word: &ct_sync::atomic::AtomicU32) {
    use rustix::thread::futex;
    // One consumer per fifo (SPSC): one waiter at most.
    let _ = futex::wake(word, futex::Flags::empty(), 1);
}

/// Under loom a futex wait is a yield loop on the word (what the system
/// call guarantees: it sleeps only while the word holds the value), with
/// no timeout, so a lost wake-up shows as a model that never ends.
#[cfg(loom)]
fn futex_wait(word: &ct_sync::atomic::AtomicU32, _timeout: Duration) {
    while word.load(Ordering::SeqCst) == SLEEPING {
        loom::thread::yield_now();
    }
}

#[cfg(loom)]
fn futex_wake(_word: &ct_sync::atomic::AtomicU32) {}

#[cfg(all(test, not(loom)))]
#[path = "reader_tests.rs"]
mod tests;
