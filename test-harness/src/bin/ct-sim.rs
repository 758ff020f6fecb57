//! `ct-sim`: runs the deterministic simulator over a range of seeds
//! (`cargo xtask sim --seeds N` runs it in release). A failure prints the
//! seed and the shortest failing step list found; the exit status is 1.
//!
//! ```text
//! ct-sim --seeds 500                 seeds 0..500, 150 steps each
//! ct-sim --seed 1234 --steps 400     one seed (replay a failure)
//! ```

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use test_harness::sim;

/// The deterministic simulator of ct-stack.
#[derive(Debug, Parser)]
#[command(name = "ct-sim", version, about)]
struct Args {
    /// How many seeds.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed (with --seeds 1: the one seed to replay).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Replay one seed (same as --first SEED --seeds 1).
    #[arg(long)]
    seed: Option<u64>,
    /// Steps per schedule.
    #[arg(long, default_value_t = sim::DEFAULT_STEPS)]
    steps: usize,
    /// Stop after this many failures.
    #[arg(long, default_value_t = 3)]
    max_failures: usize,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let (first, n) = match a.seed {
        Some(s) => (s, 1),
        None => (a.first, a.seeds),
    };
    let t = Instant::now();
    let (counters, failures) = sim::run_seeds(first, n, a.steps, a.max_failures.max(1));
    for f in &failures {
        println!("{f}");
    }
    println!(
        "sim: seeds {first}..{} ({} steps each): {} failed, {:.1}s; {} sessions accepted, {} connected, {} bytes checked, {} full writes, {} disconnects, {} resets, {} failed connects, {} detaches; ct segments: {} lingered, {} revived, {} removed after lingering",
        first + n,
        a.steps,
        failures.len(),
        t.elapsed().as_secs_f64(),
        counters.pairs,
        counters.connected,
        counters.bytes_read,
        counters.full_writes,
        counters.disconnects,
        counters.resets,
        counters.connect_failures,
        counters.detaches,
        counters.linger.lingered,
        counters.linger.revived,
        counters.linger.removed
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
