//! Bench plumbing shared by every `benches/*.rs`: the `--quick` flag,
//! median-of-3 measurement and the `BENCH <name> <value> <unit>` lines that
//! `cargo xtask bench` collects.
//!
//! A figure is only meaningful next to an anchor measured in the same run
//! (see [`crate::anchors`]), because this 2-core machine is shared and its
//! speed drifts: report the figure, the anchor and their ratio.
//!
//! ```
//! use std::time::Duration;
//! use test_harness::bench;
//!
//! let args = bench::BenchArgs::parse_from(["fifo_stream", "--bench", "--quick"]);
//! assert!(args.quick);
//! let gbps = bench::median_of_3(|| bench::gbps(1 << 30, Duration::from_millis(40)));
//! assert_eq!(bench::format_line("fifo_stream_GBps", gbps, "GB/s"), "BENCH fifo_stream_GBps 26.84 GB/s");
//! ```

use std::time::Duration;

/// Command-line options every bench understands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BenchArgs {
    /// `--quick`: smaller sizes, for smoke runs and CI.
    pub quick: bool,
}

impl BenchArgs {
    /// Reads the process arguments.
    pub fn from_env() -> Self {
        Self::parse_from(std::env::args())
    }

    /// Reads `args` (the first is the program name). `cargo bench` adds
    /// `--bench`; that and anything unknown are ignored so a bench never
    /// fails on an argument meant for another harness.
    pub fn parse_from<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let quick = args.into_iter().skip(1).any(|a| a.as_ref() == "--quick");
        BenchArgs { quick }
    }

    /// `full` normally, `quick` under `--quick`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// Median of `values` (the lower middle one for an even count); NaN-safe
/// ordering via `total_cmp`. Panics on an empty slice: a bench with no
/// sample is a bug in the bench.
pub fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "median of no samples");
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

/// Runs `f` three times and returns the median of its results.
pub fn median_of_3(mut f: impl FnMut() -> f64) -> f64 {
    let mut v = [f(), f(), f()];
    median(&mut v)
}

/// Runs every measurement once per round for three rounds and returns
/// each one's median. Interleaving spreads the machine's drift (other jobs
/// on the 2 cores, frequency changes) over subject and anchors alike instead
/// of charging it to whichever ran last.
pub fn medians_of_3_interleaved<const N: usize>(mut fs: [&mut dyn FnMut() -> f64; N]) -> [f64; N] {
    let mut samples = [[0.0f64; 3]; N];
    for round in 0..3 {
        for (f, s) in fs.iter_mut().zip(samples.iter_mut()) {
            s[round] = f();
        }
    }
    samples.map(|mut s| median(&mut s))
}

/// Decimal gigabytes (1e9 bytes) per second.
pub fn gbps(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e9
}

/// Nanoseconds per operation.
pub fn ns_per_op(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_nanos() as f64 / ops.max(1) as f64
}

/// `subject / anchor`; NaN when the anchor is zero (never a panic: the line
/// still prints and the reader sees the anchor failed).
pub fn ratio(subject: f64, anchor: f64) -> f64 {
    if anchor == 0.0 {
        f64::NAN
    } else {
        subject / anchor
    }
}

/// Four significant digits, no exponent: `26.84`, `0.9312`, `1234`, `87.50`.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 9) as usize;
    format!("{v:.decimals$}")
}

/// The machine-readable line: `BENCH <name> <value> <unit>`.
pub fn format_line(name: &str, value: f64, unit: &str) -> String {
    format!("BENCH {name} {} {unit}", format_value(value))
}

/// Prints [`format_line`] on stdout.
pub fn report(name: &str, value: f64, unit: &str) {
    println!("{}", format_line(name, value, unit));
}

/// Prints a figure in GB/s.
pub fn report_gbps(name: &str, value: f64) {
    report(name, value, "GB/s");
}

/// Prints a figure in ns per operation.
pub fn report_ns(name: &str, value: f64) {
    report(name, value, "ns");
}

/// Prints `subject / anchor` as a ratio and returns it.
pub fn report_ratio(name: &str, subject: f64, anchor: f64) -> f64 {
    let r = ratio(subject, anchor);
    report(name, r, "ratio");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_flag_is_found_among_cargo_args() {
        assert!(BenchArgs::parse_from(["b", "--bench", "--quick"]).quick);
        assert!(!BenchArgs::parse_from(["b", "--bench"]).quick);
        // The program name is never taken as a flag.
        assert!(!BenchArgs::parse_from(["--quick"]).quick);
        assert_eq!(BenchArgs { quick: true }.pick(1 << 30, 1 << 28), 1 << 28);
        assert_eq!(BenchArgs { quick: false }.pick(1 << 30, 1 << 28), 1 << 30);
    }

    #[test]
    fn median_picks_the_middle_run() {
        let mut runs = [3.0, 1.0, 2.0].into_iter();
        assert_eq!(median_of_3(|| runs.next().unwrap()), 2.0);
        assert_eq!(median(&mut [5.0, f64::NAN, 1.0]), 5.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.0);
    }

    #[test]
    fn interleaved_medians_run_in_rounds() {
        let order = std::cell::RefCell::new(String::new());
        let (mut a, mut b) = (0.0, 10.0);
        let mut fa = || {
            order.borrow_mut().push('a');
            a += 1.0;
            a
        };
        let mut fb = || {
            order.borrow_mut().push('b');
            b -= 1.0;
            b
        };
        let [ma, mb] = medians_of_3_interleaved([&mut fa, &mut fb]);
        assert_eq!((ma, mb), (2.0, 8.0));
        assert_eq!(order.into_inner(), "ababab");
    }

    #[test]
    fn units() {
        assert_eq!(gbps(2_000_000_000, Duration::from_secs(1)), 2.0);
        assert_eq!(ns_per_op(Duration::from_micros(1), 10), 100.0);
        assert_eq!(ns_per_op(Duration::from_micros(1), 0), 1000.0);
        assert_eq!(ratio(1.0, 4.0), 0.25);
        assert!(ratio(1.0, 0.0).is_nan());
    }

    #[test]
    fn values_print_with_four_significant_digits() {
        assert_eq!(format_value(26.8435), "26.84");
        assert_eq!(format_value(0.93123), "0.9312");
        assert_eq!(format_value(1234.6), "1235");
        assert_eq!(format_value(87.5), "87.50");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(123_456_789.0), "123456789");
        assert_eq!(format_line("x_ns", 12.346, "ns"), "BENCH x_ns 12.35 ns");
    }
}
