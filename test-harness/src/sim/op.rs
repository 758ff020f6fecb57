//! The simulator's steps: abstract choices (app slots, ports, picks among
//! the sessions alive at the time), so any subset of a schedule still
//! replays, which is what shrinking needs.

use std::fmt;
use std::time::Duration;

use crate::sim::rng::Rng;

/// App slots a schedule uses.
pub const APP_SLOTS: u8 = 4;
/// Ports a schedule uses (5000..5000+PORTS).
pub const PORTS: u8 = 3;

/// One step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Attach an app in `slot` (if free).
    Attach {
        /// App slot.
        slot: u8,
    },
    /// Detach the app in `slot`.
    Detach {
        /// App slot.
        slot: u8,
    },
    /// The app in `slot` listens on `port`.
    Listen {
        /// App slot.
        slot: u8,
        /// Port index.
        port: u8,
    },
    /// The app in `slot` stops listening on `port`.
    Unlisten {
        /// App slot.
        slot: u8,
        /// Port index.
        port: u8,
    },
    /// The app in `slot` connects to `port`.
    Connect {
        /// App slot.
        slot: u8,
        /// Port index.
        port: u8,
    },
    /// Answer the `pick`-th accept waiting for a reply.
    AcceptReply {
        /// Which pending accept.
        pick: u32,
        /// Accept or refuse.
        ok: bool,
    },
    /// The `pick`-th session writes `len` bytes.
    Write {
        /// Which session end.
        pick: u32,
        /// Bytes.
        len: u32,
    },
    /// The `pick`-th session reads up to `max` bytes.
    Read {
        /// Which session end.
        pick: u32,
        /// Bytes at most.
        max: u32,
    },
    /// The `pick`-th session's app closes it.
    Close {
        /// Which session end.
        pick: u32,
    },
    /// The `pick`-th session's app resets it.
    Reset {
        /// Which session end.
        pick: u32,
    },
    /// Poll every worker `n` times (events half way through).
    Step {
        /// Polls.
        n: u8,
    },
    /// Run until idle and let the apps answer until nothing moves; then
    /// check the quiescent invariants (nothing leaked).
    Settle,
    /// Move the stepped workers' clock `us` microseconds forward (nothing
    /// runs until the next step or settle): what lets ct's segment linger
    /// pass, or not, between a close and the next connect.
    Advance {
        /// Microseconds.
        us: u32,
    },
}

/// Clock advances a schedule draws from: below and above the lingers
/// [`crate::sim::linger_for`] picks, so a segment sometimes outlives a
/// short wait and sometimes not.
const ADVANCES_US: [u32; 6] = [100, 500, 1_000, 2_000, 5_000, 20_000];

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Attach { slot } => write!(f, "attach app{slot}"),
            Op::Detach { slot } => write!(f, "detach app{slot}"),
            Op::Listen { slot, port } => write!(f, "app{slot} listen :{}", 5000 + u16::from(*port)),
            Op::Unlisten { slot, port } => {
                write!(f, "app{slot} unlisten :{}", 5000 + u16::from(*port))
            }
            Op::Connect { slot, port } => {
                write!(f, "app{slot} connect :{}", 5000 + u16::from(*port))
            }
            Op::AcceptReply { pick, ok } => {
                write!(f, "accept #{pick} {}", if *ok { "ok" } else { "refuse" })
            }
            Op::Write { pick, len } => write!(f, "session #{pick} write {len}"),
            Op::Read { pick, max } => write!(f, "session #{pick} read {max}"),
            Op::Close { pick } => write!(f, "session #{pick} close"),
            Op::Reset { pick } => write!(f, "session #{pick} reset"),
            Op::Step { n } => write!(f, "step x{n}"),
            Op::Settle => write!(f, "settle"),
            Op::Advance { us } => write!(f, "clock +{:?}", Duration::from_micros(u64::from(*us))),
        }
    }
}

impl Op {
    /// A random step; weights favour traffic over control.
    pub fn random(rng: &mut Rng) -> Op {
        let slot = rng.below(u64::from(APP_SLOTS)) as u8;
        let port = rng.below(u64::from(PORTS)) as u8;
        let pick = rng.below(64) as u32;
        let sizes = [1u32, 100, 1000, 4096, 9000];
        let len = sizes[rng.below(sizes.len() as u64) as usize];
        match rng.below(104) {
            0..=7 => Op::Attach { slot },
            8 => Op::Detach { slot },
            9..=14 => Op::Listen { slot, port },
            15 => Op::Unlisten { slot, port },
            16..=29 => Op::Connect { slot, port },
            30..=41 => Op::AcceptReply {
                pick,
                ok: rng.chance(9, 10),
            },
            42..=61 => Op::Write { pick, len },
            62..=79 => Op::Read { pick, max: len },
            80..=84 => Op::Close { pick },
            85..=86 => Op::Reset { pick },
            87..=93 => Op::Step {
                n: 1 + rng.below(4) as u8,
            },
            94..=99 => Op::Settle,
            // About one step in 26: a 150-step schedule moves the clock
            // past a linger a few times, with closes and connects between.
            _ => Op::Advance {
                us: ADVANCES_US[rng.below(ADVANCES_US.len() as u64) as usize],
            },
        }
    }

    /// A schedule of `n` steps for `seed`.
    pub fn schedule(seed: u64, n: usize) -> Vec<Op> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| Op::random(&mut rng)).collect()
    }
}
