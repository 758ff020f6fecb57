//! The command-line options of an echo run, shared by `ct-echo`'s
//! in-process run, `--processes` and the `client` role.

use std::time::Duration;

use crate::config::{EchoConfig, EchoMode, RunMode, parse_size};

fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s)
}

/// What an echo run does (the client's view; the server follows `--echo`).
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Sessions open together (cps: connects in total; default 10000 there).
    #[arg(long)]
    pub sessions: Option<u32>,
    /// Bytes per session, e.g. 64m, 1g (default 8g; cps 0).
    #[arg(long, value_parser = size_arg)]
    pub bytes: Option<u64>,
    /// Fifo size of each session, each way.
    #[arg(long, value_parser = size_arg, default_value = "4m")]
    pub fifo_size: u64,
    /// Segment size (apps' and ct's smallest).
    #[arg(long, value_parser = size_arg, default_value = "128m")]
    pub segment_size: u64,
    /// throughput | cps | rr.
    #[arg(long, default_value = "throughput")]
    pub mode: EchoMode,
    /// The server echoes and the client verifies what comes back.
    #[arg(long)]
    pub echo: bool,
    /// No checksums.
    #[arg(long)]
    pub no_verify: bool,
    /// Rr: request size.
    #[arg(long, value_parser = size_arg, default_value = "1")]
    pub request_size: u64,
    /// Rr: round trips per session (default 100000; overrides --bytes).
    #[arg(long)]
    pub rounds: Option<u64>,
    /// Cps: connects in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Listen port of the server.
    #[arg(long, default_value_t = 1234)]
    pub port: u16,
    /// Machine-readable output (one JSON object).
    #[arg(long)]
    pub json: bool,
}

impl RunOptions {
    /// The run these options describe, with `workers` stack workers; the
    /// message says what is wrong.
    pub fn config(&self, workers: u32) -> Result<EchoConfig, String> {
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
            workers,
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
            run: RunMode::Threaded,
            timeout: Duration::from_secs(self.timeout),
            port: self.port,
            ..EchoConfig::default()
        };
        if workers > 64 {
            return Err("--workers must be at most 64".into());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The options that give `cfg` back (for a child process).
    pub fn args_of(cfg: &EchoConfig) -> Vec<String> {
        let mut a: Vec<String> = [
            ("--mode", cfg.mode.to_string()),
            ("--sessions", cfg.sessions.to_string()),
            ("--bytes", cfg.bytes.to_string()),
            ("--fifo-size", cfg.fifo_size.to_string()),
            ("--segment-size", cfg.segment_size.to_string()),
            ("--request-size", cfg.request_size.to_string()),
            ("--concurrency", cfg.concurrency.to_string()),
            ("--timeout", cfg.timeout.as_secs().max(1).to_string()),
            ("--port", cfg.port.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect();
        if cfg.echo {
            a.push("--echo".into());
        }
        if !cfg.verify {
            a.push("--no-verify".into());
        }
        a
    }
}
