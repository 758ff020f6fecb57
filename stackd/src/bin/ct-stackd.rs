//! `ct-stackd`: the ct-stack daemon. Serves apps on one socket per app
//! namespace until SIGINT or SIGTERM, then detaches every app and exits.
//! A bad option exits with status 2, a failure to start with 1.
//!
//! ```text
//! CT_STACKD_SECRET_BLUE=1234 ct-stackd --workers 2 \
//!     --socket /run/ct-stack/stackd.sock --namespace blue:/run/ct-stack/blue.sock
//! ```
//!
//! Log lines go to stderr, filtered by `RUST_LOG` (default `info`: attaches,
//! detaches, strikes, limits, app-socket errors; nothing per session).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ct_stackd::{
    AccessRules, DEFAULT_CT_SEGMENT_LINGER, DEFAULT_FIFO_SIZE, DEFAULT_MAX_STRIKES,
    DEFAULT_SEGMENT_SIZE, DEFAULT_SOCKET, NamespaceArg, NamespaceCfg, Stackd, StackdConfig,
    parse_secret, read_secret_file, run_until_signal, secret_env_var,
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
    /// Another app namespace and its socket (repeat). Its secret comes
    /// from --secret-file ID=FILE or the environment variable
    /// CT_STACKD_SECRET_<ID> (upper case, other characters as _). The
    /// older ID:SECRET:PATH still works but shows the secret to every user
    /// (/proc/PID/cmdline) and warns.
    #[arg(long = "namespace", value_name = "ID:PATH")]
    namespaces: Vec<NamespaceArg>,
    /// The file holding namespace ID's secret, a decimal number (repeat).
    #[arg(long = "secret-file", value_name = "ID=FILE", value_parser = parse_secret_file)]
    secret_files: Vec<(String, PathBuf)>,
    /// Group of the sockets (a name or gid); their mode is 0660, so its
    /// members may connect.
    #[arg(long, value_name = "GROUP", value_parser = parse_group)]
    socket_group: Option<u32>,
    /// A uid allowed to attach (repeat). With --allow-uid or --allow-gid
    /// only the listed uids and primary gids may attach, root included
    /// (checked with SO_PEERCRED).
    #[arg(long = "allow-uid", value_name = "UID")]
    allow_uids: Vec<u32>,
    /// A primary gid allowed to attach (repeat; see --allow-uid).
    #[arg(long = "allow-gid", value_name = "GID")]
    allow_gids: Vec<u32>,
    /// Size of app and ct segments (bytes; K, M and G suffixes).
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_SEGMENT_SIZE as u64)]
    segment_size: u64,
    /// Fifo size for apps that ask for none (bytes; K, M and G suffixes).
    #[arg(long, value_parser = parse_size, default_value_t = u64::from(DEFAULT_FIFO_SIZE))]
    fifo_size: u64,
    /// Workers poll instead of sleeping when idle (takes whole cores).
    #[arg(long)]
    poll: bool,
    /// Bad messages an app may send before it is detached (at least 1).
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

/// `ID=FILE`.
fn parse_secret_file(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((id, file)) if !id.is_empty() && !file.is_empty() => {
            Ok((id.to_owned(), PathBuf::from(file)))
        }
        _ => Err(format!("{s:?}: expected ID=FILE")),
    }
}

/// A gid, or a group name looked up in /etc/group.
fn parse_group(s: &str) -> Result<u32, String> {
    if let Ok(g) = s.parse::<u32>() {
        return Ok(g);
    }
    let groups = std::fs::read_to_string("/etc/group").map_err(|e| format!("/etc/group: {e}"))?;
    groups
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?, f.nth(1)?))
        })
        .find(|(name, _)| *name == s)
        .and_then(|(_, gid)| gid.parse().ok())
        .ok_or_else(|| format!("no group {s:?}"))
}

/// Namespace `ns` with its secret: from the option (warned about), a
/// secret file, or the environment, in that order.
fn namespace(ns: NamespaceArg, files: &[(String, PathBuf)]) -> Result<NamespaceCfg, String> {
    let var = secret_env_var(&ns.id);
    let secret = if let Some(s) = ns.secret {
        tracing::warn!(
            namespace = %ns.id,
            "the secret given on the command line can be read by every user; use \
             --secret-file {}=FILE or {var}",
            ns.id
        );
        s
    } else if let Some((_, file)) = files.iter().find(|(id, _)| *id == ns.id) {
        warn_if_others_read(&ns.id, file);
        read_secret_file(file).map_err(|e| format!("namespace {:?}: {e}", ns.id))?
    } else if let Ok(v) = std::env::var(&var) {
        parse_secret(&v).map_err(|e| format!("namespace {:?}: {var}: {e}", ns.id))?
    } else {
        return Err(format!(
            "namespace {:?}: no secret (give --secret-file {}=FILE or set {var})",
            ns.id, ns.id
        ));
    };
    Ok(NamespaceCfg::new(ns.id, secret, ns.socket))
}

/// Warns when a secret file's group or other users may read it.
fn warn_if_others_read(id: &str, file: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(file)
        && m.permissions().mode() & 0o044 != 0
    {
        tracing::warn!(
            namespace = %id,
            file = %file.display(),
            mode = format_args!("{:o}", m.permissions().mode() & 0o777),
            "the secret file is readable by other users (chmod 600 it)"
        );
    }
}

fn config(a: Args) -> Result<StackdConfig, String> {
    let mut cfg = StackdConfig::new(a.socket).with_workers(a.workers);
    if let Some((id, _)) = a
        .secret_files
        .iter()
        .find(|(id, _)| !a.namespaces.iter().any(|n| n.id == *id))
    {
        return Err(format!(
            "--secret-file for {id:?}, which no --namespace names"
        ));
    }
    for ns in a.namespaces {
        cfg = cfg.with_namespace(namespace(ns, &a.secret_files)?);
    }
    cfg.access = AccessRules {
        socket_group: a.socket_group,
        allow_uids: a.allow_uids,
        allow_gids: a.allow_gids,
    };
    cfg.segment_size = usize::try_from(a.segment_size).map_err(|e| e.to_string())?;
    cfg.fifo_size = u32::try_from(a.fifo_size).map_err(|_| "fifo size over 4 GiB".to_string())?;
    cfg.poll = a.poll;
    cfg.max_strikes = a.max_strikes;
    cfg.ct_segment_linger = Duration::from_micros(a.ct_segment_linger_us);
    cfg.validate()?;
    Ok(cfg)
}

/// Log lines to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    init_logging();
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
