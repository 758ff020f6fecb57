//! Cross-process anchors: the same well-known mechanisms as [`crate::anchors`],
//! but between two processes, for figures measured between processes (the
//! `xproc` bench: stackd, a server and a client as separate programs).
//!
//! - [`unix_stream`]: a Unix socketpair stream between two processes
//!   (blocking writes and reads of one piece size), closed by a 1-byte ack;
//! - [`unix_rr_ns`]: a 1-byte ping-pong over a Unix socketpair between two
//!   processes (blocking: the kernel's wake-up path);
//! - [`spin_rr_ns`]: two processes handing a token back and forth through
//!   one shared cache line in a memfd: the event flag of one fifo in a
//!   [`ct_fifo_segment::FifoSegment`] both map. The floor for any
//!   busy-polling hand-off between processes;
//! - [`unix_cps`]: connect + accept + close cycles per second on a Unix
//!   stream listener, a client process keeping `in_flight` connects going
//!   (one thread each) against a server process accepting on one thread.
//!
//! Each anchor runs its sides as child processes of a program that calls
//! [`run_role_from_env`] first thing in `main` (the bench re-executes
//! itself: `std::env::current_exe()`); the role travels in [`ROLE_ENV`].
//! The socket or the memfd reaches a child as its stdin; results come back
//! as `result <value>` lines on its stdout ([`RoleChild`]).
//!
//! ```no_run
//! use test_harness::anchors_xproc;
//!
//! if let Some(r) = anchors_xproc::run_role_from_env() {
//!     r.expect("anchor role");
//!     return;
//! }
//! let exe = std::env::current_exe().unwrap();
//! let ns = anchors_xproc::unix_rr_ns(&exe, 10_000).unwrap();
//! println!("unix rr: {ns} ns");
//! ```

use ct_sync::atomic::{AtomicU64, Ordering};
use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ct_fifo_segment::{Fifo, FifoSegment, SegmentFlags};

/// The environment variable naming a child's role.
pub const ROLE_ENV: &str = "CT_XPROC_ROLE";

/// Arguments of a role, as `key=value` pairs in one variable.
pub const ARGS_ENV: &str = "CT_XPROC_ARGS";

/// The longest any side waits without progress before giving up (a
/// stuck peer fails the run instead of hanging it).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process running a role, its stdin (when piped) and its stdout
/// read line by line.
#[derive(Debug)]
pub struct RoleChild {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl RoleChild {
    /// Starts `exe` with role `role` and `args` (`key=value` pairs),
    /// `stdin` as its standard input (a pipe when `None`).
    pub fn spawn(
        exe: &Path,
        role: &str,
        args: &[(&str, String)],
        stdin: Option<OwnedFd>,
    ) -> io::Result<RoleChild> {
        let args = args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let piped = stdin.is_none();
        let mut cmd = Command::new(exe);
        cmd.env(ROLE_ENV, role)
            .env(ARGS_ENV, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(match stdin {
                Some(fd) => Stdio::from(fd),
                None => Stdio::piped(),
            });
        let mut child = cmd.spawn()?;
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stdin = if piped { child.stdin.take() } else { None };
        Ok(RoleChild {
            name: role.to_string(),
            child,
            stdin,
            out,
        })
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The next line starting with `word` (other lines are echoed to
    /// stderr, so a child's diagnostics are not lost); what follows the
    /// word, trimmed. End of output first is an error.
    pub fn expect(&mut self, word: &str) -> io::Result<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line)? == 0 {
                return Err(io::Error::other(format!(
                    "{}: exited before `{word}`",
                    self.name
                )));
            }
            let l = line.trim_end();
            match l.strip_prefix(word) {
                Some(rest) if rest.is_empty() || rest.starts_with(' ') => {
                    return Ok(rest.trim().to_string());
                }
                _ => eprintln!("[{}] {l}", self.name),
            }
        }
    }

    /// The value of the child's `result <value>` line.
    pub fn result(&mut self) -> io::Result<f64> {
        let v = self.expect("result")?;
        v.parse()
            .map_err(|_| io::Error::other(format!("{}: bad result `{v}`", self.name)))
    }

    /// Writes `line` to the child's piped stdin.
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("stdin not piped"))?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    /// Closes the child's stdin (its end-of-input signal), waits for it to
    /// exit and checks that it succeeded; the rest of its output goes to
    /// stderr.
    pub fn finish(mut self) -> io::Result<()> {
        drop(self.stdin.take());
        let mut rest = String::new();
        let _ = self.out.read_to_string(&mut rest);
        for l in rest.lines() {
            eprintln!("[{}] {l}", self.name);
        }
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("{}: {status}", self.name)))
        }
    }
}

impl Drop for RoleChild {
    fn drop(&mut self) {
        // A run that failed half way must not leave a spinning child.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A role's `key=value` arguments (from [`ARGS_ENV`]).
#[derive(Debug, Clone, Default)]
pub struct RoleArgs(Vec<(String, String)>);

impl RoleArgs {
    /// Reads [`ARGS_ENV`].
    pub fn from_env() -> Self {
        Self::parse(&std::env::var(ARGS_ENV).unwrap_or_default())
    }

    /// Parses `k=v k2=v2`.
    pub fn parse(s: &str) -> Self {
        RoleArgs(
            s.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> io::Result<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| io::Error::other(format!("role argument `{key}` missing")))
    }

    /// `key` parsed as `T`.
    pub fn num<T: std::str::FromStr>(&self, key: &str) -> io::Result<T> {
        let v = self.get(key)?;
        v.parse()
            .map_err(|_| io::Error::other(format!("role argument `{key}={v}` is not a number")))
    }
}

/// The role named in [`ROLE_ENV`], if this process is a child.
pub fn role() -> Option<String> {
    std::env::var_os(ROLE_ENV).map(|r| r.to_string_lossy().into_owned())
}

/// Runs this module's anchor role if [`ROLE_ENV`] names one: `None` when
/// this process is not an anchor child (not a child at all, or another
/// module's role), else the role's outcome (the caller then exits).
pub fn run_role_from_env() -> Option<io::Result<()>> {
    let role = role()?;
    let args = RoleArgs::from_env();
    Some(match role.as_str() {
        "anchor-stream-writer" => stream_writer(&args),
        "anchor-stream-reader" => stream_reader(&args),
        "anchor-rr-driver" => rr_driver(&args),
        "anchor-rr-echo" => rr_echo(&args),
        "anchor-spin-driver" => spin_side(&args, true),
        "anchor-spin-echo" => spin_side(&args, false),
        "anchor-cps-server" => cps_server(&args),
        "anchor-cps-client" => cps_client(&args),
        "anchor-rr-paced-driver" => crate::rr_paced::paced_driver(&args),
        "anchor-rr-counting-echo" => crate::rr_paced::counting_echo(&args),
        _ => return None,
    })
}

/// This process's stdin as an owned fd (the socket or memfd the parent
/// handed over).
fn stdin_fd() -> io::Result<OwnedFd> {
    io::stdin().as_fd().try_clone_to_owned()
}

fn stdin_socket() -> io::Result<UnixStream> {
    Ok(UnixStream::from(stdin_fd()?))
}

/// Prints a `result` line for the parent.
pub fn print_result(v: f64) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "result {v}")?;
    out.flush()
}

/// Prints a bare `word` line (a ready or done signal) for the parent.
pub fn print_line(word: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{word}")?;
    out.flush()
}

/// Waits for a line on stdin (the parent's go signal); end of input is an
/// error.
pub fn wait_go() -> io::Result<()> {
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn pattern(piece: usize) -> Vec<u8> {
    (0..piece)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
        .collect()
}

/// The writing end of a timed stream, the same for the Unix anchor and the
/// ct bench: a one-byte handshake so both ends are up before the clock
/// starts, `total` bytes in `piece`-sized writes, then the reader's ack.
/// Returns GB/s.
pub fn write_stream<S: Read + Write>(s: &mut S, total: u64, piece: usize) -> io::Result<f64> {
    let data = pattern(piece);
    let mut b = [0u8; 1];
    s.write_all(&[1])?;
    s.read_exact(&mut b)?;
    let t = Instant::now();
    let mut left = total;
    while left > 0 {
        let n = left.min(piece as u64) as usize;
        s.write_all(&data[..n])?;
        left -= n as u64;
    }
    s.read_exact(&mut b)?;
    Ok(crate::bench::gbps(total, t.elapsed()))
}

/// The reading end of [`write_stream`]: answers the handshake, reads
/// `total` bytes in reads of at most `piece`, then acks.
pub fn read_stream<S: Read + Write>(s: &mut S, total: u64, piece: usize) -> io::Result<()> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    s.write_all(&b)?;
    let mut buf = vec![0u8; piece];
    let mut got = 0u64;
    while got < total {
        let want = (total - got).min(piece as u64) as usize;
        match s.read(&mut buf[..want])? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n as u64,
        }
    }
    std::hint::black_box(&buf);
    s.write_all(&[2])
}

fn stream_writer(args: &RoleArgs) -> io::Result<()> {
    let mut s = stdin_socket()?;
    let gbps = write_stream(&mut s, args.num("total")?, args.num("piece")?)?;
    print_result(gbps)
}

fn stream_reader(args: &RoleArgs) -> io::Result<()> {
    let mut s = stdin_socket()?;
    read_stream(&mut s, args.num("total")?, args.num("piece")?)
}

/// Two processes over a Unix socketpair: one writes `total` bytes in
/// `piece`-sized blocking writes, the other reads them in `piece`-sized
/// reads and acks; GB/s from the first write to the ack.
pub fn unix_stream(exe: &Path, total: u64, piece: usize) -> io::Result<f64> {
    let (a, b) = UnixStream::pair()?;
    let args = [("total", total.to_string()), ("piece", piece.to_string())];
    let reader = RoleChild::spawn(exe, "anchor-stream-reader", &args, Some(b.into()))?;
    let mut writer = RoleChild::spawn(exe, "anchor-stream-writer", &args, Some(a.into()))?;
    let r = writer.result()?;
    writer.finish()?;
    reader.finish()?;
    Ok(r)
}

fn rr_driver(args: &RoleArgs) -> io::Result<()> {
    let rounds: u64 = args.num("rounds")?;
    let mut s = stdin_socket()?;
    let mut b = [7u8; 1];
    // Warm-up round trips (both sides up, caches and scheduler settled).
    for _ in 0..rounds.min(1000) {
        s.write_all(&b)?;
        s.read_exact(&mut b)?;
    }
    let c0 = crate::rr_paced::self_cpu_ns()?;
    let t = Instant::now();
    for _ in 0..rounds {
        s.write_all(&b)?;
        s.read_exact(&mut b)?;
    }
    let ns = crate::bench::ns_per_op(t.elapsed(), rounds);
    let cpu = crate::rr_paced::self_cpu_ns()?.saturating_sub(c0);
    print_result(ns)?;
    print_line(&format!("cpu {}", cpu as f64 / rounds.max(1) as f64))
}

fn rr_echo(_args: &RoleArgs) -> io::Result<()> {
    let mut s = stdin_socket()?;
    let cpu = crate::rr_paced::echo_counting(&mut s)?;
    print_line(&format!("cpu {cpu}"))
}

/// A 1-byte ping-pong over a Unix socketpair between two processes
/// (blocking reads and writes); nanoseconds per round trip.
pub fn unix_rr_ns(exe: &Path, rounds: u64) -> io::Result<f64> {
    unix_rr(exe, rounds).map(|(ns, _)| ns)
}

/// [`unix_rr_ns`] and the CPU both processes used per round trip (ns;
/// the echo's includes the warm-up rounds, spread over all it served).
pub fn unix_rr(exe: &Path, rounds: u64) -> io::Result<(f64, f64)> {
    let (a, b) = UnixStream::pair()?;
    let args = [("rounds", rounds.to_string())];
    let mut echo = RoleChild::spawn(exe, "anchor-rr-echo", &args, Some(b.into()))?;
    let mut driver = RoleChild::spawn(exe, "anchor-rr-driver", &args, Some(a.into()))?;
    let r = driver.result()?;
    let cpu_d = crate::rr_paced::num(&mut driver, "cpu")?;
    driver.finish()?;
    let cpu_e = crate::rr_paced::num(&mut echo, "cpu")?;
    echo.finish()?;
    let served = (rounds + rounds.min(1000)) as f64;
    Ok((r, cpu_d + cpu_e / served))
}

/// How a polling side waits between two fruitless looks: a spin hint, and
/// after [`crate::anchors::SPINS_BEFORE_YIELD`] fruitless looks in a row a
/// `sched_yield`, as the in-process stream anchors do. On this shared
/// 2-core machine a side that never yields can hold its core for a whole
/// time slice while the side it waits for is not running; both the polling
/// apps and the spin anchor wait this way, so their ratio compares like
/// with like. No progress for [`PEER_TIMEOUT`] is an error.
#[derive(Debug, Default)]
pub struct PollWait {
    idle: u32,
    since: Option<Instant>,
}

impl PollWait {
    /// A fresh wait (no clock read until the first yield).
    pub fn new() -> Self {
        Self::default()
    }

    /// One fruitless look.
    #[inline]
    pub fn idle(&mut self) -> io::Result<()> {
        self.idle += 1;
        if self.idle >= crate::anchors::SPINS_BEFORE_YIELD {
            self.idle = 0;
            let since = *self.since.get_or_insert_with(Instant::now);
            if since.elapsed() > PEER_TIMEOUT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "peer made no progress",
                ));
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        Ok(())
    }
}

/// Spins until `ready` says yes (see [`PollWait`]).
fn spin_until(mut ready: impl FnMut() -> bool) -> io::Result<()> {
    let mut w = PollWait::new();
    while !ready() {
        w.idle()?;
    }
    Ok(())
}

/// The spin anchor's sides, handing the token through the fifo's event
/// flag: the driver sets it and waits for it to clear, the echo waits for
/// it and clears it. The flag is the only thing either side writes, so one
/// cache line moves each way per round trip: the floor that the polling
/// apps' round trip (data, tail and head: three lines each way) is compared
/// with. The first warm-up round doubles as the start handshake: the
/// driver's first wait lasts until the echo runs.
fn spin_side(args: &RoleArgs, driver: bool) -> io::Result<()> {
    let rounds: u64 = args.num("rounds")?;
    let offset: u64 = args.num("offset")?;
    let seg = FifoSegment::attach(stdin_fd()?).map_err(io::Error::other)?;
    let fifo = seg.fifo_at(offset).map_err(io::Error::other)?;
    let warm = rounds.min(1000);
    if driver {
        let mut t = Instant::now();
        for i in 0..warm + rounds {
            if i == warm {
                t = Instant::now();
            }
            fifo.set_event();
            spin_until(|| !fifo.has_event())?;
        }
        print_result(crate::bench::ns_per_op(t.elapsed(), rounds))
    } else {
        for _ in 0..warm + rounds {
            spin_until(|| fifo.has_event())?;
            fifo.unset_event();
        }
        Ok(())
    }
}

/// Two processes handing a token back and forth through one shared cache
/// line (a fifo's event flag in a memfd segment both map); nanoseconds per
/// round trip.
pub fn spin_rr_ns(exe: &Path, rounds: u64) -> io::Result<f64> {
    let seg = FifoSegment::create("xproc-spin", 64 << 10, 1, SegmentFlags::empty())
        .map_err(io::Error::other)?;
    let fifo = seg.alloc_fifo_w_slice(0, 4096).map_err(io::Error::other)?;
    let r = spin_children(exe, rounds, &seg, &fifo);
    seg.free_fifo(&fifo).map_err(io::Error::other)?;
    r
}

/// Runs both sides of [`spin_rr_ns`] on `fifo`; the driver's figure.
fn spin_children(exe: &Path, rounds: u64, seg: &FifoSegment, fifo: &Fifo) -> io::Result<f64> {
    let fd = || -> io::Result<OwnedFd> {
        seg.fd()
            .ok_or_else(|| io::Error::other("spin anchor: heap segment"))?
            .try_clone_to_owned()
    };
    let args = [
        ("rounds", rounds.to_string()),
        ("offset", fifo.offset().to_string()),
    ];
    let echo = RoleChild::spawn(exe, "anchor-spin-echo", &args, Some(fd()?))?;
    let mut driver = RoleChild::spawn(exe, "anchor-spin-driver", &args, Some(fd()?))?;
    let r = driver.result()?;
    driver.finish()?;
    echo.finish()?;
    Ok(r)
}

fn cps_server(args: &RoleArgs) -> io::Result<()> {
    let cycles: u64 = args.num("cycles")?;
    let path = PathBuf::from(args.get("path")?);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    print_line("ready")?;
    for _ in 0..cycles {
        let (s, _) = listener.accept()?;
        drop(s);
    }
    drop(listener);
    let _ = std::fs::remove_file(&path);
    print_line("done")
}

fn cps_client(args: &RoleArgs) -> io::Result<()> {
    let cycles: u64 = args.num("cycles")?;
    let in_flight: usize = args.num("in_flight")?;
    let path = PathBuf::from(args.get("path")?);
    let next = AtomicU64::new(0);
    let start = Barrier::new(in_flight + 1);
    let errors = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..in_flight {
            s.spawn(|| {
                start.wait();
                while next.fetch_add(1, Ordering::Relaxed) < cycles {
                    match UnixStream::connect(&path) {
                        Ok(c) => drop(c),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            // The server accepts a fixed count: give the
                            // cycle back so it still completes.
                            next.fetch_sub(1, Ordering::Relaxed);
                            std::thread::yield_now();
                        }
                    }
                }
            });
        }
        let go = print_line("ready").and_then(|()| wait_go());
        if go.is_err() {
            // No go: the threads wake to find nothing left to do.
            next.store(cycles, Ordering::Relaxed);
        }
        start.wait();
        go
    })?;
    let errors = errors.load(Ordering::Relaxed);
    if errors > 0 {
        eprintln!("unix cps client: {errors} connects retried");
    }
    print_line("done")
}

/// Connect + accept + close cycles per second on a Unix stream listener at
/// `dir/unix-cps.sock`: a server process accepts `cycles` connections on
/// one thread and closes each; a client process runs `in_flight` threads
/// that connect and close. Timed from the go signal to both sides done.
pub fn unix_cps(exe: &Path, dir: &Path, cycles: u64, in_flight: usize) -> io::Result<f64> {
    let path = dir.join("unix-cps.sock");
    let args = [
        ("cycles", cycles.to_string()),
        ("in_flight", in_flight.to_string()),
        ("path", path.display().to_string()),
    ];
    let mut server = RoleChild::spawn(exe, "anchor-cps-server", &args, None)?;
    server.expect("ready")?;
    let mut client = RoleChild::spawn(exe, "anchor-cps-client", &args, None)?;
    client.expect("ready")?;
    go_and_time(&mut client, &mut server, cycles)
}

/// Sends the go line to `client`, waits for `done` from both; cycles per
/// second. The pipe hops add tens of microseconds to a run of many
/// thousands of cycles.
pub fn go_and_time(client: &mut RoleChild, server: &mut RoleChild, cycles: u64) -> io::Result<f64> {
    let t = Instant::now();
    client.send("go")?;
    server.expect("done")?;
    client.expect("done")?;
    Ok(cycles as f64 / t.elapsed().as_secs_f64())
}

/// A fresh directory for sockets under the system temp dir, named after
/// `tag` and this process; removed by [`TempDir`]'s drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it.
    pub fn new(tag: impl AsRef<OsStr>) -> io::Result<TempDir> {
        let mut name = tag.as_ref().to_owned();
        name.push(format!("-{}", std::process::id()));
        let p = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `stackd` role's child, as every bench between processes runs it:
/// spawned and awaited (`ready`), then told `stop`, its leftovers printed
/// (all zero unless something leaked) when stopped or dropped.
pub struct StackdChild {
    tag: &'static str,
    child: Option<RoleChild>,
}

impl StackdChild {
    /// Spawns `exe` in the `stackd` role with `args`; `tag` starts the
    /// line its leftovers print on.
    pub fn spawn(exe: &Path, args: &[(&str, String)], tag: &'static str) -> io::Result<Self> {
        let mut child = RoleChild::spawn(exe, "stackd", args, None)?;
        child.expect("ready")?;
        Ok(StackdChild {
            tag,
            child: Some(child),
        })
    }

    /// The running child (`None` once stopped).
    pub fn child(&self) -> Option<&RoleChild> {
        self.child.as_ref()
    }

    /// Stops stackd and prints what it still held; again, nothing.
    pub fn stop(&mut self) -> io::Result<()> {
        if let Some(mut d) = self.child.take() {
            d.send("stop")?;
            let left = d.expect("left")?;
            println!("{}: stackd left after stop: {left}", self.tag);
            d.finish()?;
        }
        Ok(())
    }
}

impl Drop for StackdChild {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_args_parse() {
        let a = RoleArgs::parse("rounds=10 path=/tmp/x.sock junk");
        assert_eq!(a.num::<u64>("rounds").unwrap(), 10);
        assert_eq!(a.get("path").unwrap(), "/tmp/x.sock");
        assert!(a.get("junk").is_err());
        assert!(a.num::<u64>("path").is_err());
    }

    #[test]
    fn temp_dir_goes_away() {
        let p = {
            let d = TempDir::new("anchors-xproc-test").unwrap();
            assert!(d.path().is_dir());
            d.path().to_path_buf()
        };
        assert!(!p.exists());
    }
}
