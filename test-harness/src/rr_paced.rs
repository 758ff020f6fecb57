//! Paced request/response and CPU accounting between processes, for the
//! `xproc` bench's "fast when busy, free when idle" figures.
//!
//! - [`paced_rounds`]: 1-byte round trips, one per `pace` slot on
//!   absolute deadlines (a late round does not push the next ones back),
//!   returning the median and 99th percentile latency of the measured
//!   rounds: the same loop drives the ct client and the Unix anchor;
//! - [`unix_rr_paced`]: that loop over a Unix socketpair between two
//!   processes (blocking reads), with the CPU both used per round trip;
//! - [`process_cpu_ns`]: a process's CPU time so far (every live thread's
//!   `/proc/<pid>/task/<tid>/schedstat`, nanoseconds), for the children's
//!   own accounting and the parent's look at stackd.
//!
//! CPU figures are totals over a role's window divided by its round
//! trips; children report them as `cpu <ns>` lines after their result.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::anchors_xproc::{RoleArgs, RoleChild, print_line, print_result};

/// CPU time of process `pid` so far, in nanoseconds: the sum over its
/// live threads (a thread that exited no longer counts; the roles measured
/// here keep theirs).
pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(s) = std::fs::read_to_string(t?.path().join("schedstat")) else {
            continue;
        };
        total += s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// This process's CPU time so far, in nanoseconds.
pub fn self_cpu_ns() -> io::Result<u64> {
    process_cpu_ns(std::process::id())
}

/// Median and 99th percentile of `lat` (sorted in place), in ns.
fn percentiles(lat: &mut [u64]) -> (f64, f64) {
    if lat.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    lat.sort_unstable();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize] as f64;
    (at(0.5), at(0.99))
}

/// `warm + rounds` 1-byte round trips on `s`, round `i` starting at
/// `start + i * pace` (sleeping until then when early); returns the p50
/// and p99 latency of the last `rounds`, in ns.
pub fn paced_rounds<S: Read + Write>(
    s: &mut S,
    warm: u64,
    rounds: u64,
    pace: Duration,
) -> io::Result<(f64, f64)> {
    let mut lat = Vec::with_capacity(rounds as usize);
    let mut b = [7u8; 1];
    let start = Instant::now();
    for i in 0..warm + rounds {
        let slot = start + pace * u32::try_from(i).unwrap_or(u32::MAX);
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
        let t = Instant::now();
        s.write_all(&b)?;
        s.read_exact(&mut b)?;
        if i >= warm {
            lat.push(t.elapsed().as_nanos() as u64);
        }
    }
    Ok(percentiles(&mut lat))
}

/// Echoes bytes until end of stream; returns the CPU this process used
/// from the first byte on (ns).
pub fn echo_counting<S: Read + Write>(s: &mut S) -> io::Result<u64> {
    let mut b = [0u8; 1];
    let mut from = None;
    loop {
        let n = s.read(&mut b)?;
        let t0 = *from.get_or_insert(self_cpu_ns()?);
        if n == 0 {
            return Ok(self_cpu_ns()?.saturating_sub(t0));
        }
        s.write_all(&b)?;
    }
}

/// One paced run's figures: latency and the CPU of every process involved
/// per round trip (warm-up rounds included in the CPU, which covers every
/// round each side served).
#[derive(Debug, Clone, Copy)]
pub struct PacedRun {
    /// Median latency of a round trip.
    pub p50_ns: f64,
    /// 99th percentile latency.
    pub p99_ns: f64,
    /// CPU of every process of the run per round trip.
    pub cpu_ns_per_rr: f64,
}

/// The warm-up rounds before `rounds` measured ones.
pub fn warm_rounds(rounds: u64) -> u64 {
    rounds.min(1000)
}

/// The driving side's report after its round trips: `result <p50>`,
/// `p99 <ns>`, then `cpu <ns>` of this process over the loop.
pub fn paced_driver_report<S: Read + Write>(
    s: &mut S,
    rounds: u64,
    pace: Duration,
) -> io::Result<()> {
    let c0 = self_cpu_ns()?;
    let (p50, p99) = paced_rounds(s, warm_rounds(rounds), rounds, pace)?;
    let cpu = self_cpu_ns()?.saturating_sub(c0);
    print_result(p50)?;
    print_line(&format!("p99 {p99}"))?;
    print_line(&format!("cpu {cpu}"))
}

/// The parent's side of [`paced_driver_report`]: p50, p99, the driver's
/// CPU (ns).
pub fn read_driver_report(driver: &mut RoleChild) -> io::Result<(f64, f64, f64)> {
    let p50 = driver.result()?;
    let p99 = num(driver, "p99")?;
    let cpu = num(driver, "cpu")?;
    Ok((p50, p99, cpu))
}

/// The number on the child's next `word <n>` line.
pub fn num(child: &mut RoleChild, word: &str) -> io::Result<f64> {
    let v = child.expect(word)?;
    v.parse()
        .map_err(|_| io::Error::other(format!("bad `{word}` value `{v}`")))
}

/// Role `anchor-rr-paced-driver`: [`paced_driver_report`] on the socket
/// in stdin.
pub(crate) fn paced_driver(args: &RoleArgs) -> io::Result<()> {
    let mut s = stdin_socket()?;
    let pace = Duration::from_nanos(args.num("pace_ns")?);
    paced_driver_report(&mut s, args.num("rounds")?, pace)
}

/// Role `anchor-rr-counting-echo`: echoes, then `cpu <ns>`.
pub(crate) fn counting_echo(_args: &RoleArgs) -> io::Result<()> {
    let mut s = stdin_socket()?;
    let cpu = echo_counting(&mut s)?;
    print_line(&format!("cpu {cpu}"))
}

/// The paced 1-byte ping-pong over a Unix socketpair between two
/// processes (blocking reads and writes).
pub fn unix_rr_paced(exe: &Path, rounds: u64, pace: Duration) -> io::Result<PacedRun> {
    let (a, b) = UnixStream::pair()?;
    let args = [
        ("rounds", rounds.to_string()),
        ("pace_ns", pace.as_nanos().to_string()),
    ];
    let mut echo = RoleChild::spawn(exe, "anchor-rr-counting-echo", &args, Some(b.into()))?;
    let mut driver = RoleChild::spawn(exe, "anchor-rr-paced-driver", &args, Some(a.into()))?;
    let (p50, p99, cpu_d) = read_driver_report(&mut driver)?;
    driver.finish()?;
    let cpu_e = num(&mut echo, "cpu")?;
    echo.finish()?;
    let total = (rounds + warm_rounds(rounds)) as f64;
    Ok(PacedRun {
        p50_ns: p50,
        p99_ns: p99,
        cpu_ns_per_rr: (cpu_d + cpu_e) / total,
    })
}

/// The socket the parent handed over as stdin.
fn stdin_socket() -> io::Result<UnixStream> {
    use std::os::fd::AsFd;
    Ok(UnixStream::from(io::stdin().as_fd().try_clone_to_owned()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_set() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let (p50, p99) = percentiles(&mut v);
        assert_eq!((p50, p99), (51.0, 99.0));
        assert!(percentiles(&mut []).0.is_nan());
    }

    #[test]
    fn own_cpu_grows_with_work() {
        // The kernel updates a running thread's total at ticks and
        // switches: spin until it moved, for at most a few seconds.
        let a = self_cpu_ns().unwrap();
        let t = Instant::now();
        let mut x = 0u64;
        while self_cpu_ns().unwrap() <= a {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "no CPU time accounted"
            );
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }

    #[test]
    fn paced_rounds_over_a_socketpair() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let echo = std::thread::spawn(move || echo_counting(&mut b).unwrap());
        let (p50, p99) = paced_rounds(&mut a, 2, 20, Duration::from_micros(100)).unwrap();
        drop(a);
        echo.join().unwrap();
        assert!(p50 > 0.0 && p99 >= p50);
    }
}
