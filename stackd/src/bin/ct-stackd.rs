//! `ct-stackd`: the ct-stack daemon. Serves apps on one socket per app
//! namespace until SIGINT or SIGTERM, then detaches every app and exits.
//! A bad option exits with status 2, a failure to start with 1.
//!
//! ```text
//! ct-stackd --workers 2 --socket /run/ct-stack/stackd.sock \
//!           --namespace blue:1234:/run/ct-stack/blue.sock
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ct_stackd::{
    DEFAULT_CT_SEGMENT_LINGER, DEFAULT_FIFO_SIZE, DEFAULT_MAX_STRIKES, DEFAULT_SEGMENT_SIZE,
    DEFAULT_SOCKET, NamespaceCfg, Stackd, StackdConfig, run_until_signal,
};

/// The ct-stack daemon: the session layer and the ct transport for apps in
/// other processes.
#[derive(Debug, Parser)]
#[command(name = "ct-stackd", version)]
struct Args {
    /// Worker threads besides main.
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// Socket of the default app namespace.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Another app namespace and its socket, as id:secret:path (repeat).
    #[arg(long = "namespace", value_name = "ID:SECRET:PATH")]
    namespaces: Vec<NamespaceCfg>,
    /// Size of app and ct segments (bytes; K, M and G suffixes).
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_SEGMENT_SIZE as u64)]
    segment_size: u64,
    /// Fifo size for apps that ask for none (bytes; K, M and G suffixes).
    #[arg(long, value_parser = parse_size, default_value_t = u64::from(DEFAULT_FIFO_SIZE))]
    fifo_size: u64,
    /// Workers poll instead of sleeping when idle (takes whole cores).
    #[arg(long)]
    poll: bool,
    /// Bad messages an app may send before it is detached.
    #[arg(long, default_value_t = DEFAULT_MAX_STRIKES)]
    max_strikes: u32,
    /// Microseconds an emptied ct segment waits for the next connect
    /// between the same two apps before it goes (0: at once, as VPP).
    #[arg(long, default_value_t = DEFAULT_CT_SEGMENT_LINGER.as_micros() as u64)]
    ct_segment_linger_us: u64,
}

/// A byte count with an optional K/M/G (binary) suffix.
fn parse_size(s: &str) -> Result<u64, String> {
    let (num, shift) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = num.parse().map_err(|e| format!("{s:?}: {e}"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?}: too large"))
}

fn config(a: Args) -> Result<StackdConfig, String> {
    let mut cfg = StackdConfig::new(a.socket).with_workers(a.workers);
    for ns in a.namespaces {
        cfg = cfg.with_namespace(ns);
    }
    cfg.segment_size = usize::try_from(a.segment_size).map_err(|e| e.to_string())?;
    cfg.fifo_size = u32::try_from(a.fifo_size).map_err(|_| "fifo size over 4 GiB".to_string())?;
    cfg.poll = a.poll;
    cfg.max_strikes = a.max_strikes;
    cfg.ct_segment_linger = Duration::from_micros(a.ct_segment_linger_us);
    cfg.validate()?;
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match config(Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ct-stackd: {e}");
            return ExitCode::from(2);
        }
    };
    let sockets: Vec<_> = cfg
        .namespaces
        .iter()
        .map(|n| format!("{}={}", n.id, n.socket.display()))
        .collect();
    let started = |d: &Stackd| {
        let mode = if d.config().poll {
            "polling"
        } else {
            "sleeping"
        };
        eprintln!("ct-stackd: serving {} ({mode} mode)", sockets.join(" "));
    };
    match run_until_signal(cfg, started) {
        Ok(c) => {
            eprintln!("ct-stackd: stopped; {c}");
            if c.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("ct-stackd: {e}");
            ExitCode::from(1)
        }
    }
}
