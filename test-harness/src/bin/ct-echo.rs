//! `ct-echo`: an echo server and an echo client in one process, over the
//! ct transport of a stack started here, and a report of what they did.
//!
//! ```text
//! cargo run --release --bin ct-echo                         # 8 GiB, 1 session
//! cargo run --release --bin ct-echo -- --mode rr --workers 1
//! cargo run --release --bin ct-echo -- --mode cps --sessions 100000
//! cargo run --release --bin ct-echo -- --sessions 8 --bytes 256m --echo --json
//! ```
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use test_harness::echo::{EchoConfig, EchoMode, EchoRun, Progress, RunMode, parse_size};

/// Echo server and client over ct in one process.
#[derive(Debug, Parser)]
#[command(name = "ct-echo", version, about, long_about = None)]
struct Args {
    /// Workers besides main.
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// Sessions open together (cps: connects in total; default 10000 there).
    #[arg(long)]
    sessions: Option<u32>,
    /// Bytes per session, e.g. 64m, 1g (default 8g; cps 0).
    #[arg(long, value_parser = size_arg)]
    bytes: Option<u64>,
    /// Fifo size of each session, each way.
    #[arg(long, value_parser = size_arg, default_value = "4m")]
    fifo_size: u64,
    /// Segment size (apps' and ct's smallest).
    #[arg(long, value_parser = size_arg, default_value = "128m")]
    segment_size: u64,
    /// throughput | cps | rr.
    #[arg(long, default_value = "throughput")]
    mode: EchoMode,
    /// The server echoes and the client verifies what comes back.
    #[arg(long)]
    echo: bool,
    /// No checksums.
    #[arg(long)]
    no_verify: bool,
    /// Rr: request size.
    #[arg(long, value_parser = size_arg, default_value = "1")]
    request_size: u64,
    /// Rr: round trips per session (default 100000; overrides --bytes).
    #[arg(long)]
    rounds: Option<u64>,
    /// Cps: connects in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Machine-readable output (one JSON object).
    #[arg(long)]
    json: bool,
    /// Also print the `show session` view (sessions held open for it).
    #[arg(long)]
    verbose: bool,
}

fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s)
}

impl Args {
    fn config(&self) -> Result<EchoConfig, String> {
        let to_u32 = |v: u64, what: &str| {
            u32::try_from(v).map_err(|_| format!("--{what} {v} is too large (max 4g - 1)"))
        };
        let request_size = to_u32(self.request_size, "request-size")?;
        let bytes = match (self.mode, self.rounds, self.bytes) {
            (EchoMode::Rr, Some(r), _) => r
                .checked_mul(self.request_size)
                .ok_or("--rounds times --request-size is too large")?,
            (_, Some(_), _) => return Err("--rounds only applies to --mode rr".into()),
            (_, None, Some(b)) => b,
            (EchoMode::Throughput, None, None) => 8 << 30,
            (EchoMode::Rr, None, None) => 100_000 * self.request_size,
            (EchoMode::Cps, None, None) => 0,
        };
        let cfg = EchoConfig {
            workers: self.workers,
            sessions: self.sessions.unwrap_or(match self.mode {
                EchoMode::Cps => 10_000,
                _ => 1,
            }),
            concurrency: self.concurrency,
            bytes,
            request_size,
            fifo_size: to_u32(self.fifo_size, "fifo-size")?,
            segment_size: usize::try_from(self.segment_size)
                .map_err(|_| "--segment-size is too large".to_string())?,
            mode: self.mode,
            echo: self.echo,
            verify: !self.no_verify,
            hold_open: self.verbose,
            run: RunMode::Threaded,
            timeout: Duration::from_secs(self.timeout),
            ..EchoConfig::default()
        };
        if self.workers > 64 {
            return Err("--workers must be at most 64".into());
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// A progress bar that appears once a run has lasted a moment.
struct Bar {
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Bar {
    fn update(&mut self, p: &Progress) {
        if !self.enabled || p.elapsed < Duration::from_millis(500) {
            return;
        }
        let bytes = p.total_bytes > 0;
        let bar = self.bar.get_or_insert_with(|| {
            let (len, tpl) = if bytes {
                (
                    p.total_bytes,
                    "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
            } else {
                (
                    p.sessions,
                    "{elapsed_precise} [{bar:40}] {pos}/{len} connects {per_sec}",
                )
            };
            let b = ProgressBar::new(len);
            if let Ok(style) = ProgressStyle::with_template(tpl) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        bar.set_position(if bytes { p.bytes } else { p.sessions_done });
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match args.config() {
        Ok(c) => c,
        // Exits with status 2, as for any bad option.
        Err(msg) => Args::command()
            .error(ErrorKind::ValueValidation, msg)
            .exit(),
    };
    let mut bar = Bar {
        bar: None,
        enabled: !args.json,
    };
    let result = EchoRun::run(cfg, &mut |p| bar.update(p));
    bar.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ct-echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", report.json());
    } else {
        if args.verbose {
            println!("show session verbose:");
            for l in &report.show_session {
                println!("  {l}");
            }
            println!();
            print!("{}", report.counters);
            println!();
        }
        print!("{}", report.table());
    }
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
