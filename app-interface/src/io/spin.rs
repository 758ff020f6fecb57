//! [`SpinSpell`]: how long a blocking wait polls before it sleeps, adapted
//! wait by wait. Shared by app-worker's session waker (builtin apps) and
//! app-client's blocking waits (apps in other processes).
//!
//! A blocked app does not have to sleep at once: what it waits for is
//! usually in shared memory it can look at (a fifo's tail or free space),
//! and it usually lands before the event that announces it has gone
//! through the stack's worker. A sleep and a wake-up cost tens of
//! microseconds on the VMs this runs on, a look at a fifo well under one,
//! so a waiter whose peer answers quickly should never sleep, and one
//! whose peer is idle should not burn a core. The spell adapts like an
//! adaptive mutex: it doubles while waits end within [`MAX_SPIN`] and
//! halves while they do not (a wait that reaches its deadline counts as
//! one that did not end, whether the deadline passed while spinning or
//! while sleeping), so an idle peer soon costs its waiter only a few
//! dozen looks per wait.
//!
//! Past the first [`YIELD_AFTER`] of a spell the spinner yields its CPU
//! at every look at the clock: on a small machine the threads it waits
//! for (the peer app, the stack's worker) need the core it spins on.
//!
//! A wait that slept is judged by its whole length, wake-up included, and
//! the wake-up alone (an event through the stack's worker, then the
//! eventfd) can outlast [`MAX_SPIN`] on a busy VM: once a spell shrank to
//! nothing, every wait sleeps and every sleep shrinks it again, even when
//! the peer answers within microseconds (a stream's reader freeing room
//! every few). So every [`PROBE_EVERY`]th wait of a shrunken spell spins
//! the full [`MAX_SPIN`] once, and a spin that ends sets the spell to at
//! least twice what it took: a busy peer regains its spell in one wait, an
//! idle one costs one full spell per [`PROBE_EVERY`] waits.

use ct_sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest spell a waiter polls before it sleeps: about what a sleep and a
/// wake-up cost, so spinning never costs more than twice what sleeping at
/// once would have.
pub const MAX_SPIN: Duration = Duration::from_micros(50);

/// Pure spinning this long; past it the spinner yields its CPU at every
/// look at the clock.
pub const YIELD_AFTER: Duration = Duration::from_micros(2);

/// Smallest spell a waiter grows from after spinning was cut to nothing.
const MIN_SPIN_NS: u32 = 1_000;

/// A spell below [`MAX_SPIN`] spins the full [`MAX_SPIN`] once every this
/// many waits (a probe for a peer that became busy).
pub const PROBE_EVERY: u32 = 8;

/// Readiness checks between two looks at the clock.
const CHECKS_PER_CLOCK: u32 = 32;

/// [`MAX_SPIN`] in nanoseconds (fits: 50_000).
const MAX_SPIN_NS: u32 = MAX_SPIN.as_nanos() as u32;

/// How a [`SpinSpell::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpinWait<T> {
    /// `ready` said yes while spinning; the waiter never slept.
    Ready,
    /// The deadline passed while spinning; the waiter never slept.
    TimedOut,
    /// The spell ran out and the waiter slept: what its `sleep` returned.
    Slept(T),
}

/// One waiter's (or one kind of wait's) spin spell. `Sync`: several
/// threads waiting on the same thing may share it; the spell is a hint,
/// so their adaptations may interleave.
///
/// ```
/// use ct_sync::atomic::{AtomicBool, Ordering};
/// use ct_app_interface::io::{SpinSpell, SpinWait};
///
/// let spell = SpinSpell::new();
/// let data_ready = AtomicBool::new(true); // e.g. "the rx fifo has bytes"
/// let r = spell.wait(None, || data_ready.load(Ordering::Acquire), || {
///     // Sleep on the eventfd / condvar here; may return early.
/// });
/// assert_eq!(r, SpinWait::Ready);
/// ```
#[derive(Debug)]
pub struct SpinSpell {
    /// The current spell, nanoseconds (at most [`MAX_SPIN`]).
    spin_ns: AtomicU32,
    /// Waits that started with a spell below [`MAX_SPIN`], for the probes.
    short_waits: AtomicU32,
}

impl Default for SpinSpell {
    fn default() -> Self {
        Self::new()
    }
}

impl SpinSpell {
    /// A spell that starts at [`MAX_SPIN`] (a new session is usually busy).
    pub fn new() -> Self {
        Self::starting_at(MAX_SPIN)
    }

    /// A spell that starts at `spell` (at most [`MAX_SPIN`]).
    pub fn starting_at(spell: Duration) -> Self {
        let ns = u32::try_from(spell.as_nanos()).map_or(MAX_SPIN_NS, |n| n.min(MAX_SPIN_NS));
        SpinSpell {
            spin_ns: AtomicU32::new(ns),
            short_waits: AtomicU32::new(0),
        }
    }

    /// The current spell: how long the next [`SpinSpell::wait`] polls at
    /// most before it sleeps.
    pub fn spell(&self) -> Duration {
        Duration::from_nanos(u64::from(self.spin_ns.load(Ordering::Relaxed)))
    }

    /// Polls `ready` for the current spell (or until `deadline`), then, if
    /// it never said yes, calls `sleep` (unless the deadline passed), and
    /// adapts the spell to how the wait went.
    ///
    /// `ready` must be cheap and must not consume what it looks at (a
    /// waiter that finds its data by polling reads it afterwards, and
    /// treats the late event that announces it as spurious); it may do
    /// bounded work of its own, such as draining an event queue every so
    /// many calls. `sleep` is the waiter's ordinary blocking wait: it must
    /// honour `deadline` itself and may return early.
    pub fn wait<T>(
        &self,
        deadline: Option<Instant>,
        ready: impl FnMut() -> bool,
        sleep: impl FnOnce() -> T,
    ) -> SpinWait<T> {
        self.wait_on_clock(Instant::now, deadline, ready, sleep)
    }

    /// [`SpinSpell::wait`] with the clock a parameter, so tests can step
    /// time instead of depending on it.
    pub(crate) fn wait_on_clock<T>(
        &self,
        mut now: impl FnMut() -> Instant,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
        sleep: impl FnOnce() -> T,
    ) -> SpinWait<T> {
        let start = now();
        let spin_until = start + self.spell_for_this_wait();
        let spin_until = deadline.map_or(spin_until, |d| d.min(spin_until));
        let mut checks = 0u32;
        let t = loop {
            if ready() {
                self.adapt_ready(now() - start);
                return SpinWait::Ready;
            }
            checks = checks.wrapping_add(1);
            if checks.is_multiple_of(CHECKS_PER_CLOCK) {
                let t = now();
                if t >= spin_until {
                    break t;
                }
                if t - start >= YIELD_AFTER {
                    std::thread::yield_now();
                    continue;
                }
            }
            std::hint::spin_loop();
        };
        // Nothing came within the spell. A deadline that passed while
        // spinning (or while preempted) ends the wait like one that passed
        // while sleeping: both shrink the spell.
        if deadline.is_some_and(|d| t >= d) {
            self.adapt(t - start, true);
            return SpinWait::TimedOut;
        }
        let r = sleep();
        let end = now();
        self.adapt(end - start, deadline.is_some_and(|d| end >= d));
        SpinWait::Slept(r)
    }

    /// The current spell, or [`MAX_SPIN`] when this wait is a probe.
    fn spell_for_this_wait(&self) -> Duration {
        let spell = self.spell();
        if spell >= MAX_SPIN {
            return spell;
        }
        let n = self.short_waits.fetch_add(1, Ordering::Relaxed);
        if n % PROBE_EVERY == PROBE_EVERY - 1 {
            MAX_SPIN
        } else {
            spell
        }
    }

    /// A spin that ended after `waited`: the spell grows as
    /// [`SpinSpell::adapt`] grows it, and to at least twice `waited`, so
    /// a probe that caught a busy peer restores a spell that catches it
    /// again (doubling from the minimum would take several waits, each of
    /// which a too-short spell may lose to a sleep).
    fn adapt_ready(&self, waited: Duration) {
        self.adapt(waited, false);
        if waited > MAX_SPIN {
            // Preempted while spinning: no measure of the peer.
            return;
        }
        let want = u32::try_from(waited.as_nanos().saturating_mul(2)).unwrap_or(u32::MAX);
        let want = want.min(MAX_SPIN_NS);
        if want > self.spin_ns.load(Ordering::Relaxed) {
            self.spin_ns.store(want, Ordering::Relaxed);
        }
    }

    /// Grows the spell after a wait that ended within [`MAX_SPIN`]
    /// (spinning that long would have caught it); shrinks it after one that
    /// took longer or reached its deadline.
    pub fn adapt(&self, waited: Duration, timed_out: bool) {
        let cur = self.spin_ns.load(Ordering::Relaxed);
        let next = if !timed_out && waited <= MAX_SPIN {
            cur.saturating_mul(2).clamp(MIN_SPIN_NS, MAX_SPIN_NS)
        } else {
            cur / 2
        };
        if next != cur {
            self.spin_ns.store(next, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A clock the test steps: `base + ns`.
    struct Clock {
        base: Instant,
        ns: Cell<u64>,
        reads: Cell<u32>,
    }

    impl Clock {
        fn new() -> Self {
            Clock {
                base: Instant::now(),
                ns: Cell::new(0),
                reads: Cell::new(0),
            }
        }
        fn now(&self) -> Instant {
            self.reads.set(self.reads.get() + 1);
            self.at(self.ns.get())
        }
        fn at(&self, ns: u64) -> Instant {
            self.base + Duration::from_nanos(ns)
        }
        fn advance(&self, d: Duration) {
            self.ns.set(self.ns.get() + d.as_nanos() as u64);
        }
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// One wait on the stepped clock: each look advances it `look` and says
    /// ready at look `ready_at` (never when `None`); `sleep` is the sleep.
    /// Returns the looks and how the wait ended.
    fn looks<T>(
        c: &Clock,
        s: &SpinSpell,
        look: Duration,
        ready_at: Option<u32>,
        deadline: Option<Instant>,
        sleep: impl FnOnce() -> T,
    ) -> (u32, SpinWait<T>) {
        let mut calls = 0u32;
        let r = s.wait_on_clock(
            || c.now(),
            deadline,
            || {
                calls += 1;
                c.advance(look);
                Some(calls) == ready_at
            },
            sleep,
        );
        (calls, r)
    }

    const NS100: Duration = Duration::from_nanos(100);

    #[test]
    fn ready_at_once_never_sleeps_and_grows_the_spell() {
        let c = Clock::new();
        let s = SpinSpell::starting_at(us(4));
        let r = s.wait_on_clock(|| c.now(), None, || true, || unreachable!());
        assert_eq!(r, SpinWait::<()>::Ready);
        assert_eq!(s.spell(), us(8));
    }

    #[test]
    fn ready_late_in_the_spell_still_grows_it() {
        let c = Clock::new();
        let s = SpinSpell::starting_at(us(20));
        let (calls, r) = looks(&c, &s, NS100, Some(150), None, || unreachable!());
        assert_eq!(r, SpinWait::<()>::Ready);
        assert_eq!(calls, 150);
        assert_eq!(s.spell(), us(40));
    }

    #[test]
    fn a_spell_that_runs_out_sleeps_once_then_grows_if_the_sleep_was_short() {
        let c = Clock::new();
        let s = SpinSpell::starting_at(us(10));
        let mut slept = 0;
        let (calls, r) = looks(&c, &s, Duration::from_nanos(50), None, None, || {
            slept += 1;
            c.advance(us(5));
            7
        });
        assert_eq!(r, SpinWait::Slept(7));
        assert_eq!(slept, 1);
        // 10 us at 50 ns a look: 200 looks, the clock read every 32 of them.
        assert_eq!(calls, 224);
        assert_eq!(s.spell(), us(20));
    }

    #[test]
    fn a_long_sleep_halves_the_spell_and_spells_shrink_to_nothing() {
        let c = Clock::new();
        let s = SpinSpell::new();
        let mut spells = Vec::new();
        for _ in 0..20 {
            let (_, r) = looks(&c, &s, NS100, None, None, || c.advance(us(1000)));
            assert_eq!(r, SpinWait::Slept(()));
            spells.push(s.spell());
        }
        assert_eq!(spells[0], MAX_SPIN / 2);
        assert_eq!(spells[1], MAX_SPIN / 4);
        assert_eq!(*spells.last().unwrap(), Duration::ZERO);
        // With no spell left the waiter still looks a few times, then sleeps.
        let (calls, r) = looks(&c, &s, Duration::ZERO, None, None, || ());
        assert_eq!(r, SpinWait::Slept(()));
        assert_eq!(calls, CHECKS_PER_CLOCK);
        // A quick wake-up regrows it from the minimum.
        assert_eq!(s.spell(), Duration::from_nanos(u64::from(MIN_SPIN_NS)));
    }

    #[test]
    fn a_deadline_that_passes_while_spinning_times_out_and_shrinks_the_spell() {
        // Within the spell (the spinner's clock reaches the deadline), and
        // past it in one step (the spinner was preempted): neither sleeps,
        // both shrink the spell even though less than MAX_SPIN went by in
        // the first case.
        for step in [Duration::from_nanos(100), us(1000)] {
            let c = Clock::new();
            let s = SpinSpell::new();
            let deadline = c.at(10_000);
            let (_, r) = looks(&c, &s, step, None, Some(deadline), || unreachable!());
            assert_eq!(r, SpinWait::<()>::TimedOut, "step {step:?}");
            assert_eq!(s.spell(), MAX_SPIN / 2, "step {step:?}");
        }
    }

    #[test]
    fn a_deadline_already_passed_looks_once_round_then_times_out() {
        let c = Clock::new();
        c.advance(us(3));
        let s = SpinSpell::new();
        let (calls, r) = looks(
            &c,
            &s,
            Duration::ZERO,
            None,
            Some(c.at(0)),
            || unreachable!(),
        );
        assert_eq!(r, SpinWait::<()>::TimedOut);
        assert_eq!(calls, CHECKS_PER_CLOCK);
        assert_eq!(s.spell(), MAX_SPIN / 2);
        // Ready wins over a passed deadline: the data is there.
        let r = s.wait_on_clock(|| c.now(), Some(c.at(0)), || true, || unreachable!());
        assert_eq!(r, SpinWait::<()>::Ready);
    }

    #[test]
    fn a_deadline_that_passes_while_sleeping_shrinks_a_short_wait_too() {
        let c = Clock::new();
        let s = SpinSpell::starting_at(us(2));
        let deadline = c.at(20_000);
        // The sleep ends at the deadline, 20 us in: short, but nothing came.
        let (_, r) = looks(&c, &s, NS100, None, Some(deadline), || c.ns.set(20_000));
        assert_eq!(r, SpinWait::Slept(()));
        assert_eq!(s.spell(), us(1));
    }

    #[test]
    fn spells_stay_within_bounds() {
        let s = SpinSpell::starting_at(Duration::from_secs(1));
        assert_eq!(s.spell(), MAX_SPIN);
        for _ in 0..64 {
            s.adapt(Duration::ZERO, false);
        }
        assert_eq!(s.spell(), MAX_SPIN);
        for _ in 0..64 {
            s.adapt(MAX_SPIN + Duration::from_nanos(1), false);
        }
        assert_eq!(s.spell(), Duration::ZERO);
        s.adapt(MAX_SPIN, false);
        assert_eq!(s.spell(), Duration::from_nanos(u64::from(MIN_SPIN_NS)));
        for _ in 0..16 {
            s.adapt(Duration::ZERO, false);
        }
        assert_eq!(s.spell(), MAX_SPIN);
    }

    /// [`looks`] at 100 ns a look, a sleep taking 1 ms.
    fn wait_looks(c: &Clock, s: &SpinSpell, ready_at: Option<u32>) -> (u32, SpinWait<()>) {
        looks(c, s, NS100, ready_at, None, || c.advance(us(1000)))
    }

    #[test]
    fn a_collapsed_spell_probes_and_a_busy_peer_restores_it_at_once() {
        let c = Clock::new();
        let s = SpinSpell::starting_at(Duration::ZERO);
        // Waits that miss: a few looks each, then a sleep, the spell stays
        // nothing; every PROBE_EVERY-th one spins the full MAX_SPIN.
        for i in 1..=2 * PROBE_EVERY {
            let (looks, r) = wait_looks(&c, &s, None);
            assert_eq!(r, SpinWait::Slept(()), "wait {i}");
            if i % PROBE_EVERY == 0 {
                // 50 us at 100 ns a look, the clock read every 32 looks.
                assert_eq!(looks, 512, "wait {i}");
            } else {
                assert_eq!(looks, CHECKS_PER_CLOCK, "wait {i}");
            }
            assert_eq!(s.spell(), Duration::ZERO, "wait {i}");
        }
        // The peer got busy, answering 10 us into each wait (past the few
        // looks of a collapsed spell): the next probe catches it, and the
        // spell becomes twice that, not the minimum.
        for _ in 1..PROBE_EVERY {
            assert_eq!(wait_looks(&c, &s, Some(100)).1, SpinWait::Slept(()));
        }
        assert_eq!(wait_looks(&c, &s, Some(100)), (100, SpinWait::Ready));
        assert_eq!(s.spell(), us(20));
        // Which catches the next answer, and the spell grows on.
        assert_eq!(wait_looks(&c, &s, Some(100)), (100, SpinWait::Ready));
        assert_eq!(s.spell(), us(40));
    }

    #[test]
    fn a_full_spell_never_probes_and_a_preempted_spin_is_no_measure() {
        let c = Clock::new();
        let s = SpinSpell::new();
        for _ in 0..2 * PROBE_EVERY {
            assert_eq!(wait_looks(&c, &s, Some(1)), (1, SpinWait::Ready));
            assert_eq!(s.spell(), MAX_SPIN);
        }
        // Ready, but only after the spinner lost its CPU for 1 ms: the
        // spell halves as before, not back up to twice the wait.
        let r = s.wait_on_clock(
            || c.now(),
            None,
            || {
                c.advance(us(1000));
                true
            },
            || unreachable!(),
        );
        assert_eq!(r, SpinWait::<()>::Ready);
        assert_eq!(s.spell(), MAX_SPIN / 2);
    }

    #[test]
    fn the_clock_is_read_only_every_so_many_looks() {
        let c = Clock::new();
        let s = SpinSpell::starting_at(us(10));
        let (calls, _) = wait_looks(&c, &s, None);
        assert!(calls > 2 * CHECKS_PER_CLOCK, "{calls}");
        // start, one per CHECKS_PER_CLOCK looks, end.
        assert_eq!(c.reads.get(), 2 + calls / CHECKS_PER_CLOCK);
    }
}
