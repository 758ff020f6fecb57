//! Process tests' plumbing: the test binary re-executes itself with
//! `CT_XPROC_ROLE` (and `CT_XPROC_ARGS`) set to play one process of a
//! scenario (a stackd, an echo server or client, or a scenario's own app);
//! the parent reads the child's `TAG key=value` lines with timeouts and
//! every child is killed when the parent's test ends, failed or not.
#![allow(dead_code)]

use ct_sync::atomic::{AtomicU32, Ordering};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
use ct_echo::{KvLine, KvRecord, Role, RoleChild};
use ct_stackd::{Stackd, StackdConfig, StackdCounters};

const ENV_ROLE: &str = "CT_XPROC_ROLE";
const ENV_ARGS: &str = "CT_XPROC_ARGS";

/// How long a scenario waits for any one thing.
pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
struct RoleCli {
    #[command(subcommand)]
    role: Role,
}

/// In a child: plays the role the parent asked for (`run_custom` gets the
/// roles the library does not have) and returns true; in the parent:
/// false.
pub fn child_role(run_custom: impl FnOnce(&str, &[String])) -> bool {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return false;
    };
    let args: Vec<String> = std::env::var(ENV_ARGS)
        .unwrap_or_default()
        .split('\n')
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    match role.as_str() {
        "stackd" | "server" | "client" => {
            let cli = RoleCli::parse_from(
                std::iter::once("role".to_string())
                    .chain(std::iter::once(role.clone()))
                    .chain(args),
            );
            let ok = match cli.role {
                Role::Stackd(r) => r.run(),
                Role::Server(r) => r.run(),
                Role::Client(r) => r.run(),
            };
            assert!(ok.expect("role failed"), "role {role} reported failure");
        }
        _ => run_custom(&role, &args),
    }
    true
}

/// Starts this test binary again, running only `test` (ignored or not),
/// as `role` with `args`.
pub fn spawn(test: &str, role: &str, args: &[String]) -> RoleChild {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ])
    .env(ENV_ROLE, role)
    .env(ENV_ARGS, args.join("\n"));
    RoleChild::spawn(role, cmd).unwrap()
}

/// A fresh socket path in the temp dir.
pub fn sock_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "xproc-{tag}-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A daemon in this process (its counters readable here).
pub fn daemon(tag: &str) -> (Stackd, PathBuf) {
    let path = sock_path(tag);
    let mut cfg = StackdConfig::new(&path).with_workers(1);
    cfg.segment_size = 16 << 20;
    (Stackd::start(cfg).unwrap(), path)
}

/// Waits until `f` holds for the daemon's counters.
pub fn wait_counters(
    d: &Stackd,
    what: &str,
    f: impl Fn(&StackdCounters) -> bool,
) -> StackdCounters {
    let c = d.wait_counters(WAIT, &f);
    assert!(f(&c), "timed out waiting for {what}: {c}");
    c
}

/// Strings from anything printable.
pub fn args(a: &[&dyn std::fmt::Display]) -> Vec<String> {
    a.iter().map(|x| x.to_string()).collect()
}

/// 127.0.0.1:`port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// Attaches with 64 KiB fifos and 4 MiB segments.
pub fn attach(socket: &Path, name: &str) -> AppClient {
    let mut cfg = AttachConfig::new(name).with_fifo_size(64 << 10);
    cfg.segment_size = 4 << 20;
    AppClient::attach(socket, cfg).unwrap()
}

/// Custom role `hold-server SOCKET PORT N`: accepts `N` sessions, prints
/// `ACCEPTED n=N`, then holds them until killed (or stdin closes).
pub fn hold_server(args: &[String]) {
    let socket = PathBuf::from(&args[0]);
    let port: u16 = args[1].parse().unwrap();
    let n: usize = args[2].parse().unwrap();
    let client = attach(&socket, "hold-server");
    let l = CtListener::bind(&client, addr(port)).unwrap();
    println!("READY");
    let held: Vec<CtStream> = (0..n).map(|_| l.accept().unwrap().0).collect();
    let mut line = KvLine::new("ACCEPTED");
    line.put("n", held.len());
    println!("{}", line.as_str());
    let _ = io::stdin().lock().read_to_end(&mut Vec::new());
}

/// Custom role `hold-client SOCKET PORT N`: connects `N` sessions, prints
/// `CONNECTED n=N`, then reads all of them until each one ends; prints
/// `ENDED resets=R eof=E other=O` (and fails unless all `N` were reset).
pub fn hold_client(args: &[String]) {
    let socket = PathBuf::from(&args[0]);
    let port: u16 = args[1].parse().unwrap();
    let n: usize = args[2].parse().unwrap();
    let client = attach(&socket, "hold-client");
    let mut streams: Vec<Option<CtStream>> = (0..n)
        .map(|_| {
            let s = CtStream::connect(&client, addr(port)).unwrap();
            s.set_nonblocking(true).unwrap();
            Some(s)
        })
        .collect();
    // One byte each the server never reads: unread data makes the
    // server's death a reset (a close with nothing unread is an end of
    // stream, as from a kernel).
    for s in streams.iter_mut().flatten() {
        assert_eq!(s.write(b"x").unwrap(), 1);
    }
    let mut line = KvLine::new("CONNECTED");
    line.put("n", n);
    println!("{}", line.as_str());
    let (mut resets, mut eof, mut other) = (0, 0, 0);
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 256];
    while streams.iter().any(Option::is_some) && Instant::now() < deadline {
        for slot in &mut streams {
            let Some(s) = slot else { continue };
            match s.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => resets += 1,
                Ok(0) => eof += 1,
                Ok(_) | Err(_) => other += 1,
            }
            *slot = None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut line = KvLine::new("ENDED");
    line.put("resets", resets)
        .put("eof", eof)
        .put("other", other);
    println!("{}", line.as_str());
    assert_eq!(resets, n, "every session reset");
}

/// A record's numbers, for assertions that print the whole record.
pub fn nums(r: &KvRecord, keys: &[&str]) -> Vec<u64> {
    keys.iter().map(|k| r.num(k)).collect()
}

/// Custom role `writer SOCKET PORT`: connects to an echo server and
/// writes without ever reading until nothing moves for a while (the
/// echoed bytes fill its rx fifo, then the server stops reading and its
/// rx fills); prints `STUCK written=N` and waits to be killed. Its session
/// then has unread data, so its death resets the server's session.
pub fn writer(args: &[String]) {
    let socket = PathBuf::from(&args[0]);
    let port: u16 = args[1].parse().unwrap();
    let client = attach(&socket, "writer");
    let mut s = CtStream::connect(&client, addr(port)).unwrap();
    s.set_nonblocking(true).unwrap();
    let chunk = [0x5au8; 4096];
    let mut written = 0u64;
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_millis(300) {
        match s.write(&chunk) {
            Ok(n) => {
                written += n as u64;
                last = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    let mut line = KvLine::new("STUCK");
    line.put("written", written);
    println!("{}", line.as_str());
    let _ = io::stdin().lock().read_to_end(&mut Vec::new());
}

/// Custom role `streamer SOCKET PORT`: connects to an echo server and
/// streams the pattern, reading the echo, until its stdin closes; then
/// stops writing, reads the rest of the echo and checks that what came
/// back is what went out (length and checksum). Prints `STREAMING` once
/// bytes have gone round, then `STREAMED bytes=N verified=0|1`.
pub fn streamer(args: &[String]) {
    use ct_echo::{Checksum, Pattern};
    use ct_sync::atomic::AtomicBool;
    use std::sync::Arc;
    let socket = PathBuf::from(&args[0]);
    let port: u16 = args[1].parse().unwrap();
    let client = attach(&socket, "streamer");
    let mut s = CtStream::connect(&client, addr(port)).unwrap();
    s.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = io::stdin().lock().read_to_end(&mut Vec::new());
            stop.store(true, Ordering::Relaxed);
        });
    }
    let pattern = Pattern::new();
    let (mut tx_sum, mut rx_sum) = (Checksum::new(), Checksum::new());
    let (mut sent, mut received) = (0u64, 0u64);
    let mut told = false;
    let mut buf = vec![0u8; 64 << 10];
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if stopping && received == sent {
            break;
        }
        assert!(Instant::now() < deadline, "streamer stuck");
        let mut moved = false;
        if !stopping {
            let chunk = pattern.chunk(sent, 16 << 10);
            match s.write(chunk) {
                Ok(n) => {
                    tx_sum.update(&chunk[..n]);
                    sent += n as u64;
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("streamer write: {e}"),
            }
        }
        match s.read(&mut buf) {
            Ok(0) => panic!("server closed the stream"),
            Ok(n) => {
                rx_sum.update(&buf[..n]);
                received += n as u64;
                moved = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("streamer read: {e}"),
        }
        if !told && received >= 1 << 20 {
            println!("STREAMING");
            told = true;
        }
        if !moved {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let verified = received == sent && tx_sum.finish() == rx_sum.finish();
    let mut line = KvLine::new("STREAMED");
    line.put("bytes", sent).put("verified", u8::from(verified));
    println!("{}", line.as_str());
    drop(s);
    client.detach().unwrap();
    assert!(verified);
}

/// A good pair for hostile-peer tests: an echo server process and a
/// [`streamer`] process, streaming once this returns.
pub struct GoodPair {
    pub server: RoleChild,
    pub client: RoleChild,
}

impl GoodPair {
    /// Starts both (the server through the library's server role).
    pub fn start(test: &str, sock: &str, port: u16) -> GoodPair {
        let mut server = spawn(
            test,
            "server",
            &args(&[
                &"--socket",
                &sock,
                &"--port",
                &port,
                &"--echo",
                &"--sessions",
                &1,
                &"--fifo-size",
                &"64k",
                &"--segment-size",
                &"4m",
            ]),
        );
        server.expect("READY", WAIT).unwrap();
        let mut client = spawn(test, "streamer", &args(&[&sock, &port]));
        client.expect("STREAMING", WAIT).unwrap();
        GoodPair { server, client }
    }

    /// Stops the stream; asserts both ends verified it and exited well.
    /// Returns the bytes streamed.
    pub fn finish(mut self) -> u64 {
        self.client.close_stdin();
        let r = self.client.expect("STREAMED", WAIT).unwrap();
        assert_eq!(r.num("verified"), 1, "good pair: {r:?}");
        assert!(self.client.wait_timeout(WAIT).unwrap().success());
        let sv = self.server.expect("SERVER", WAIT).unwrap();
        assert_eq!(
            nums(&sv, &["accepted", "resets", "errors"]),
            [1, 0, 0],
            "good server: {sv:?}"
        );
        assert_eq!(sv.num("server_rx_bytes"), r.num("bytes"));
        assert!(self.server.wait_timeout(WAIT).unwrap().success());
        r.num("bytes")
    }
}
