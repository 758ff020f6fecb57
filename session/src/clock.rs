//! Worker time: what transports read instead of the wall clock, so a
//! stepped stack (tests, the simulator) decides when time passes (the
//! sans-IO style: the caller brings the time).

use std::ops::Add;
use std::time::{Duration, Instant};

/// A point on a stack's clock: the time since the clock's origin. Every
/// worker of a stack reads the same clock, so times taken on one worker
/// compare with times taken on another (ct's segment linger is shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StackTime(Duration);

impl StackTime {
    /// The clock's origin.
    pub const ZERO: StackTime = StackTime(Duration::ZERO);

    /// The time `d` after the origin.
    pub const fn from_origin(d: Duration) -> Self {
        StackTime(d)
    }

    /// Time since the origin.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// Nanoseconds since the origin (saturating at `u64::MAX`, some 584
    /// years in).
    pub fn as_nanos(self) -> u64 {
        u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX)
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn saturating_duration_since(self, earlier: StackTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for StackTime {
    type Output = StackTime;

    /// Saturating: a far-off time stays far off instead of panicking.
    fn add(self, d: Duration) -> StackTime {
        StackTime(self.0.saturating_add(d))
    }
}

/// Where a worker's time comes from; the runtime sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerClock {
    /// Real monotonic time since `origin` (threaded workers; every worker
    /// of a stack shares the origin [`crate::SessionMain`] took). Read on
    /// use, so a worker that never asks pays nothing.
    Monotonic {
        /// The stack's origin.
        origin: Instant,
    },
    /// A time someone else moves (stepped workers: the test or simulator
    /// advances it through [`crate::Runtime::advance_clock`]).
    Manual(StackTime),
}

impl WorkerClock {
    /// The time now.
    pub fn now(&self) -> StackTime {
        match *self {
            WorkerClock::Monotonic { origin } => StackTime(origin.elapsed()),
            WorkerClock::Manual(t) => t,
        }
    }
}
