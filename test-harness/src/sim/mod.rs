//! The deterministic simulator: seeded random schedules of attach, listen,
//! connect, accept, write, read, close, reset, detach and clock advances
//! across several in-process apps (one in another namespace) and 0-2
//! workers, on a stepped stack with ct. For half the seeds ct keeps an
//! emptied segment a few milliseconds ([`linger_for`]) on the workers'
//! clock, which moves only when a schedule advances it. After every step it
//! checks what always holds (counters agree, no byte read that was not
//! written, every byte read equals the byte written at that place of that
//! session's stream); after every settle, that nothing leaked (sessions, ct
//! connections, half-opens, segments and their accounting, segment
//! managers, listeners, queued events), where an empty segment is allowed
//! only while it lingers: on ct's retiring list and not past its linger. A
//! schedule ends by detaching everyone, moving the clock past the linger
//! and settling: then nothing may be left at all. A failing schedule is
//! shrunk to the shortest step list that still fails, and printed with its
//! seed.
//!
//! ```
//! use test_harness::sim;
//!
//! let counters = sim::run_seed(7, sim::DEFAULT_STEPS).unwrap_or_else(|f| panic!("{f}"));
//! assert!(counters.pairs > 0);
//! ```

mod check;
mod linger;
#[cfg(test)]
mod linger_tests;
mod op;
mod rng;
mod world;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

pub use linger::LingerCounts;
pub use op::{APP_SLOTS, Op, PORTS};
pub use rng::Rng;
pub use world::{SimCounters, SimResult, World};

/// Steps a seed's schedule has by default.
pub const DEFAULT_STEPS: usize = 150;

/// A failing schedule.
#[derive(Debug, Clone)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// Workers of the stack.
    pub workers: u32,
    /// ct's segment linger.
    pub linger: Duration,
    /// What broke.
    pub message: String,
    /// The shortest failing step list found.
    pub steps: Vec<Op>,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "sim seed {} ({} workers, segment linger {:?}) failed: {}",
            self.seed, self.workers, self.linger, self.message
        )?;
        writeln!(f, "shortest failing schedule ({} steps):", self.steps.len())?;
        for (i, op) in self.steps.iter().enumerate() {
            writeln!(f, "  {i:>3}: {op}")?;
        }
        Ok(())
    }
}

/// Workers a seed runs with.
pub fn workers_for(seed: u64) -> u32 {
    (seed % 3) as u32
}

/// ct's segment linger a seed runs with: none for half the seeds (the
/// reference's removal at once), a few milliseconds of the workers' clock
/// for the others; independent of [`workers_for`], so every worker count
/// meets both.
pub fn linger_for(seed: u64) -> Duration {
    const LINGERS: [Duration; 4] = [
        Duration::ZERO,
        Duration::from_millis(2),
        Duration::ZERO,
        Duration::from_millis(5),
    ];
    LINGERS[((seed / 3) % 4) as usize]
}

/// Runs `steps` on a fresh world with `workers` and ct's segment `linger`;
/// a panic anywhere counts as a failure. Returns the index of the failing
/// step with the message.
pub fn run_schedule(
    workers: u32,
    linger: Duration,
    steps: &[Op],
) -> Result<SimCounters, (usize, String)> {
    let r = catch_unwind(AssertUnwindSafe(
        || -> Result<SimCounters, (usize, String)> {
            let mut w = World::new(workers, linger).map_err(|e| (0, e))?;
            for (i, op) in steps.iter().enumerate() {
                w.apply(*op).map_err(|e| (i, e))?;
                w.check_always().map_err(|e| (i, e))?;
                if *op == Op::Settle {
                    w.check_settled().map_err(|e| (i, e))?;
                }
            }
            let end = steps.len();
            w.settle().map_err(|e| (end, e))?;
            w.check_settled()
                .map_err(|e| (end, format!("at the end: {e}")))?;
            w.detach_all().map_err(|e| (end, e))?;
            w.check_settled()
                .map_err(|e| (end, format!("after detaching all: {e}")))?;
            // Lingering segments go once their linger passed, apps or not.
            w.expire_linger().map_err(|e| (end, e))?;
            w.check_nothing_lingers()
                .map_err(|e| (end, format!("after detaching all, past the linger: {e}")))?;
            if !w.ct.segments().is_empty() || w.ct.n_segment_contexts() > 0 {
                return Err((
                    end,
                    format!(
                        "ct segments left after detaching all: {:?}",
                        w.ct.segments()
                    ),
                ));
            }
            if !w.stack.segment_managers().is_empty() {
                return Err((end, "segment managers left after detaching all".into()));
            }
            Ok(w.counters)
        },
    ));
    match r {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err((usize::MAX, format!("panicked: {msg}")))
        }
    }
}

/// Shrinks a failing schedule: drops chunks of steps (halves, quarters, ...
/// single steps) while it still fails, within `budget`.
pub fn shrink(
    workers: u32,
    linger: Duration,
    steps: Vec<Op>,
    budget: Duration,
) -> (Vec<Op>, String) {
    shrink_by(steps, budget, |s| {
        run_schedule(workers, linger, s).map(drop)
    })
}

/// [`shrink`] against any check that fails with (step index, message).
pub fn shrink_by(
    steps: Vec<Op>,
    budget: Duration,
    mut run: impl FnMut(&[Op]) -> Result<(), (usize, String)>,
) -> (Vec<Op>, String) {
    let start = Instant::now();
    let mut best = steps;
    let mut msg = match run(&best) {
        Err((i, m)) => {
            if i < best.len() {
                best.truncate(i + 1);
            }
            m
        }
        Ok(()) => return (best, "did not fail again".into()),
    };
    let mut chunk = best.len().div_ceil(2).max(1);
    while start.elapsed() < budget {
        let mut removed = false;
        let mut at = 0;
        while at < best.len() && start.elapsed() < budget {
            let mut cand = best.clone();
            let end = (at + chunk).min(cand.len());
            cand.drain(at..end);
            match run(&cand) {
                Err((i, m)) => {
                    if i < cand.len() {
                        cand.truncate(i + 1);
                    }
                    best = cand;
                    msg = m;
                    removed = true;
                }
                Ok(()) => at += chunk,
            }
        }
        if chunk == 1 && !removed {
            break;
        }
        if !removed {
            chunk = chunk.div_ceil(2).max(1);
        }
    }
    (best, msg)
}

/// Runs one seed's schedule of `steps` steps; on failure shrinks it (with
/// the panic hook silenced meanwhile) and returns the report.
pub fn run_seed(seed: u64, steps: usize) -> Result<SimCounters, SimFailure> {
    let (workers, linger) = (workers_for(seed), linger_for(seed));
    let schedule = Op::schedule(seed, steps);
    let first = match run_schedule(workers, linger, &schedule) {
        Ok(counters) => return Ok(counters),
        Err((_, first)) => first,
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (steps, message) = shrink(workers, linger, schedule, Duration::from_secs(30));
    std::panic::set_hook(hook);
    Err(SimFailure {
        seed,
        workers,
        linger,
        message: if message == first {
            message
        } else {
            format!("{first} (shrunk schedule: {message})")
        },
        steps,
    })
}

/// Runs seeds `first..first + n`; returns what they did together and the
/// failures (at most `max_failures`, then it stops).
pub fn run_seeds(
    first: u64,
    n: u64,
    steps: usize,
    max_failures: usize,
) -> (SimCounters, Vec<SimFailure>) {
    let mut out = Vec::new();
    let mut total = SimCounters::default();
    for seed in first..first + n {
        match run_seed(seed, steps) {
            Ok(s) => total += s,
            Err(f) => {
                out.push(f);
                if out.len() >= max_failures {
                    break;
                }
            }
        }
    }
    (total, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_replay() {
        assert_eq!(Op::schedule(3, 50), Op::schedule(3, 50));
        assert_ne!(Op::schedule(3, 50), Op::schedule(4, 50));
    }

    #[test]
    fn shrinking_finds_the_two_steps_that_fail_together() {
        // Fails once a schedule holds two resets, reporting the second.
        let check = |s: &[Op]| {
            let mut n = 0;
            for (i, op) in s.iter().enumerate() {
                if matches!(op, Op::Reset { .. }) {
                    n += 1;
                    if n == 2 {
                        return Err((i, "two resets".to_string()));
                    }
                }
            }
            Ok(())
        };
        let mut steps: Vec<Op> = Op::schedule(11, 80)
            .into_iter()
            .filter(|o| !matches!(o, Op::Reset { .. }))
            .collect();
        steps.insert(3, Op::Reset { pick: 1 });
        steps.push(Op::Reset { pick: 0 });
        let (best, msg) = shrink_by(steps, Duration::from_secs(10), check);
        assert_eq!(best, vec![Op::Reset { pick: 1 }, Op::Reset { pick: 0 }]);
        assert_eq!(msg, "two resets");
        let (same, msg) = shrink_by(vec![Op::Settle], Duration::from_secs(1), check);
        assert_eq!(
            (same, msg.as_str()),
            (vec![Op::Settle], "did not fail again")
        );
    }

    /// Two apps, one established session, settled.
    fn world_with_a_session() -> World {
        let mut w = World::new(1, Duration::ZERO).unwrap();
        for op in super::linger_tests::ESTABLISH {
            w.apply(op).unwrap();
        }
        w.check_settled().unwrap();
        assert_eq!(w.ends.len(), 2);
        w
    }

    #[test]
    fn the_checks_see_a_leaked_session() {
        let mut w = world_with_a_session();
        // An app that forgets a session it holds: the stack still has it.
        w.ends.pop();
        let e = w.check_settled().unwrap_err();
        assert!(e.contains("leaked"), "{e}");
    }

    #[test]
    fn the_checks_see_a_byte_nobody_wrote() {
        let mut w = world_with_a_session();
        w.apply(Op::Write { pick: 0, len: 100 }).unwrap();
        w.apply(Op::Settle).unwrap();
        // The model forgets the last byte was written: reading it is a
        // byte nobody wrote.
        let (pair, client) = (w.ends[0].pair, w.ends[0].is_client);
        let st = w.pairs[pair].outgoing(client);
        st.written -= 1;
        let e = w.apply(Op::Read { pick: 1, max: 1000 }).unwrap_err();
        assert!(e.contains("only 99 were written"), "{e}");
    }

    #[test]
    fn the_checks_see_wrong_bytes() {
        let mut w = world_with_a_session();
        w.apply(Op::Write { pick: 0, len: 100 }).unwrap();
        w.apply(Op::Settle).unwrap();
        // Shift the stream the reader expects by one byte.
        let (pair, client) = (w.ends[0].pair, w.ends[0].is_client);
        let st = w.pairs[pair].outgoing(client);
        st.base += 1;
        let e = w.apply(Op::Read { pick: 1, max: 1000 }).unwrap_err();
        assert!(e.contains("wrong bytes"), "{e}");
    }

    #[test]
    fn a_few_seeds_pass_and_exercise_every_path() {
        let (counters, failures) = run_seeds(0, 24, DEFAULT_STEPS, 1);
        assert!(failures.is_empty(), "{}", failures[0]);
        // Schedules that do nothing would pass too: make sure they do.
        assert!(
            counters.pairs > 20 && counters.connected > 10,
            "{counters:?}"
        );
        assert!(
            counters.bytes_read > 10_000 && counters.full_writes > 0,
            "{counters:?}"
        );
        assert!(
            counters.disconnects > 0 && counters.resets > 0,
            "{counters:?}"
        );
        assert!(
            counters.connect_failures > 0 && counters.detaches > 0,
            "{counters:?}"
        );
        // Half the seeds linger: segments linger, are revived, and go.
        let l = counters.linger;
        assert!(
            l.lingered > 0 && l.revived > 0 && l.removed > 0,
            "{counters:?}"
        );
    }
}
