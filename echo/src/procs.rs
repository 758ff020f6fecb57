//! Child processes of a multi-process echo run: [`RoleChild`] (spawn,
//! read its `TAG key=value` lines with a timeout, stop it by closing its
//! stdin, kill it; killed on drop, so a failing parent leaves nothing
//! running) and [`run_processes`], `ct-echo --processes`: stackd, server
//! and client as three processes, one report.

use ct_sync::atomic::{AtomicU32, Ordering};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::config::EchoConfig;
use crate::kv::KvRecord;
use crate::options::RunOptions;
use crate::report::{EchoReport, Layout};
use crate::roles::{client_round_trips, stackd_figures};
use crate::run::EchoError;
use crate::stats::EchoCounters;

/// A child process playing one role, its stdout read line by line.
#[derive(Debug)]
pub struct RoleChild {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl RoleChild {
    /// Spawns `cmd` with piped stdin and stdout (stderr inherited).
    pub fn spawn(name: &str, mut cmd: Command) -> io::Result<RoleChild> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(RoleChild {
            name: name.to_string(),
            child,
            stdin,
            lines,
        })
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next `tag` record the child prints (other lines are skipped),
    /// waiting at most `timeout`. An error when the child exits first or
    /// the time runs out.
    pub fn expect(&mut self, tag: &str, timeout: Duration) -> io::Result<KvRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(r) = KvRecord::find(tag, &line) {
                        return Ok(r);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{}: no {tag} within {timeout:?}", self.name),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_timeout(Duration::from_secs(5));
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{}: exited before {tag} ({status:?})", self.name),
                    ));
                }
            }
        }
    }

    /// Writes a line to the child's stdin.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("stdin closed"))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    /// Closes the child's stdin (roles that watch it stop).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the child to exit, at most `timeout`; past it the child
    /// is killed and the wait is an error.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} still running after {timeout:?}: killed", self.name),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL (kill -9), then reaps the child.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RoleChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// A fresh socket path in the temp dir.
fn socket_path() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "ct-echo-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// How long a role may take to start or to stop.
const ROLE_TIMEOUT: Duration = Duration::from_secs(30);

fn role_err(what: &'static str) -> impl FnOnce(io::Error) -> EchoError {
    move |e| EchoError::Config(format!("{what}: {e}"))
}

/// `ct-echo --processes`: runs `exe` (a program with ct-echo's `stackd`,
/// `server` and `client` subcommands, normally `ct-echo` itself) three
/// times: a stackd with `cfg.workers` workers (polling with `poll`), an
/// echo server and the client of `cfg`; then stops the server and the
/// daemon and puts their figures into one report (the stack's counters and
/// leak check come from the daemon, after every app detached). Every child
/// is killed if anything fails.
pub fn run_processes(
    exe: &Path,
    cfg: &EchoConfig,
    poll: bool,
    busy_poll: bool,
) -> Result<EchoReport, EchoError> {
    cfg.validate().map_err(EchoError::Config)?;
    let socket = socket_path();
    let sock = socket.to_string_lossy().into_owned();
    let mut cmd = Command::new(exe);
    cmd.args(["stackd", "--socket", &sock])
        .args(["--workers", &cfg.workers.to_string()])
        .args(["--segment-size", &cfg.segment_size.to_string()])
        .args(["--fifo-size", &cfg.fifo_size.to_string()]);
    if poll {
        cmd.arg("--poll");
    }
    let mut stackd = RoleChild::spawn("stackd", cmd).map_err(role_err("start stackd"))?;
    stackd
        .expect("READY", ROLE_TIMEOUT)
        .map_err(role_err("stackd"))?;

    let mut cmd = Command::new(exe);
    cmd.args(["server", "--socket", &sock, "--stop-on-stdin-eof"])
        .args(["--port", &cfg.port.to_string()])
        .args(["--fifo-size", &cfg.fifo_size.to_string()])
        .args(["--segment-size", &cfg.segment_size.to_string()]);
    if cfg.server_echoes() {
        cmd.arg("--echo");
    } else if cfg.verify && cfg.mode != crate::config::EchoMode::Cps {
        cmd.args(["--expect-bytes", &cfg.bytes_per_session().to_string()]);
    }
    if busy_poll {
        cmd.arg("--busy-poll");
    }
    let mut server = RoleChild::spawn("server", cmd).map_err(role_err("start server"))?;
    server
        .expect("READY", ROLE_TIMEOUT)
        .map_err(role_err("server"))?;

    let mut cmd = Command::new(exe);
    cmd.args(["client", "--socket", &sock, "--report-line"])
        .args(RunOptions::args_of(cfg));
    if busy_poll {
        cmd.arg("--busy-poll");
    }
    let mut client = RoleChild::spawn("client", cmd).map_err(role_err("start client"))?;
    let c = client
        .expect("CLIENT", cfg.timeout + ROLE_TIMEOUT)
        .map_err(role_err("client"))?;
    client
        .wait_timeout(ROLE_TIMEOUT)
        .map_err(role_err("client exit"))?;

    server.close_stdin();
    let s = server
        .expect("SERVER", ROLE_TIMEOUT)
        .map_err(role_err("server"))?;
    server
        .wait_timeout(ROLE_TIMEOUT)
        .map_err(role_err("server exit"))?;
    stackd.close_stdin();
    let d = stackd
        .expect("STACKD", ROLE_TIMEOUT)
        .map_err(role_err("stackd"))?;
    stackd
        .wait_timeout(ROLE_TIMEOUT)
        .map_err(role_err("stackd exit"))?;

    let stats = EchoCounters::default();
    stats.add_kv(&c);
    stats.add_kv(&s);
    let (counters, leaks) = stackd_figures(&d);
    let secs = c.float("seconds").unwrap_or(0.0);
    let mut report = EchoReport::new(
        cfg,
        &stats,
        Duration::from_secs_f64(secs.max(0.0)),
        counters,
        leaks,
        Vec::new(),
    );
    let rt = client_round_trips(&c);
    report.round_trips = rt.count;
    report.rr_p50 = rt.p50;
    report.rr_p99 = rt.p99;
    report.layout = Layout::Processes { poll };
    Ok(report)
}
