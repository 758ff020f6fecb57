//! The `tokio` feature against a real daemon: many sessions through one
//! app worker on a current-thread runtime (every byte checked, no stall),
//! `tokio::io::copy` both ways, tasks parked in accept, read and write
//! when the daemon is killed (each gets an error at once), and the
//! worker's fd in a `poll(2)` loop.
#![cfg(all(feature = "tokio", not(loom)))]

mod daemon;

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::Arc;

use ct_sync::atomic::{AtomicUsize, Ordering};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ct_app_client::tokio::{CtListener, CtStream};
use ct_app_client::{AppClient, AttachConfig};
use daemon::Daemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The runtime every test runs on: one thread, as the hardest case (a
/// task that blocked the thread would stall all of them).
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The byte at `i` of session `s`'s pattern.
fn pattern(s: usize, i: usize) -> u8 {
    (s.wrapping_mul(31) ^ i.wrapping_mul(7) ^ (i >> 8)) as u8
}

/// A stall fails the test; how long the work takes is not asserted (a
/// round takes about a second).
const STALL: Duration = Duration::from_secs(60);

/// How far the sessions of a round got: printed when it stalls.
#[derive(Default, Debug)]
struct Progress {
    accepted: AtomicUsize,
    connected: AtomicUsize,
    written: AtomicUsize,
    echoed: AtomicUsize,
    read_back: AtomicUsize,
}

fn bump(c: &AtomicUsize) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn thousand_echo_sessions_on_one_client() {
    const SESSIONS: usize = 1000;
    const BYTES: usize = 4096;
    let d = Daemon::start("tokio-1000");
    let app = d.attach("tokio-1000");
    let rt = rt();
    for round in 0..3 {
        let app2 = app.clone();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        let done = rt.block_on(async move {
            let app = app2;
            tokio::time::timeout(STALL, async move {
                let listener = CtListener::bind_with_backlog(
                    &app,
                    "127.0.0.1:0".parse().unwrap(),
                    SESSIONS as u32,
                )
                .unwrap();
                let addr = listener.local_addr().unwrap();
                let ps = p.clone();
                let server = tokio::spawn(async move {
                    let mut echoes = Vec::new();
                    for _ in 0..SESSIONS {
                        let (mut s, _) = listener.accept().await.unwrap();
                        bump(&ps.accepted);
                        let ps = ps.clone();
                        echoes.push(tokio::spawn(async move {
                            let (mut r, mut w) = s.split();
                            tokio::io::copy(&mut r, &mut w).await.unwrap();
                            w.shutdown().await.unwrap();
                            bump(&ps.echoed);
                        }));
                    }
                    for e in echoes {
                        e.await.unwrap();
                    }
                });
                let mut clients = Vec::new();
                for i in 0..SESSIONS {
                    let app = app.clone();
                    let p = p.clone();
                    clients.push(tokio::spawn(async move {
                        let s = CtStream::connect(&app, addr).await.unwrap();
                        bump(&p.connected);
                        let (mut r, mut w) = s.into_split();
                        let data: Vec<u8> = (0..BYTES).map(|k| pattern(i, k)).collect();
                        let pw = p.clone();
                        let writer = tokio::spawn(async move {
                            w.write_all(&data).await.unwrap();
                            w.shutdown().await.unwrap();
                            bump(&pw.written);
                        });
                        let mut got = Vec::new();
                        r.read_to_end(&mut got).await.unwrap();
                        bump(&p.read_back);
                        writer.await.unwrap();
                        assert_eq!(got.len(), BYTES, "session {i}");
                        for (k, &b) in got.iter().enumerate() {
                            assert_eq!(b, pattern(i, k), "session {i} byte {k}");
                        }
                    }));
                }
                for c in clients {
                    c.await.unwrap();
                }
                server.await.unwrap();
            })
            .await
        });
        assert!(
            done.is_ok(),
            "round {round} stalled: {progress:?}, {:?}",
            app.counters()
        );
    }
    drop(rt);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.counters().sessions > 0 {
        assert!(Instant::now() < deadline, "{:?}", app.counters());
        let _ = app.poll_events();
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(app);
    d.stop();
}

#[test]
fn copy_both_ways() {
    const LEN: usize = 8 << 20;
    let d = Daemon::start("tokio-copy");
    let server_app = d.attach("tokio-copy-server");
    let client_app = d.attach("tokio-copy-client");
    rt().block_on(async {
        let listener = CtListener::bind(&server_app, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (mut r, mut w) = s.into_split();
            // Echo with tokio::io::copy: everything read is written back.
            let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
            n
        });
        let s = CtStream::connect(&client_app, addr).await.unwrap();
        let (mut r, mut w) = s.into_split();
        let sender = tokio::spawn(async move {
            let data: Vec<u8> = (0..LEN).map(|k| pattern(7, k)).collect();
            let mut src: &[u8] = &data;
            let n = tokio::io::copy(&mut src, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
            n
        });
        let mut back = Vec::with_capacity(LEN);
        let n = tokio::io::copy(&mut r, &mut back).await.unwrap();
        assert_eq!(n as usize, LEN);
        assert_eq!(sender.await.unwrap() as usize, LEN);
        assert_eq!(server.await.unwrap() as usize, LEN);
        for (k, &b) in back.iter().enumerate() {
            assert_eq!(b, pattern(7, k), "byte {k}");
        }
    });
    drop((server_app, client_app));
    d.stop();
}

/// The env var that makes this test binary a daemon (the killed one).
const DAEMON_ROLE: &str = "CT_APP_CLIENT_TOKIO_DAEMON";

/// Not a test of its own: the daemon process `daemon_killed_*` runs (this
/// binary again) and kills with SIGKILL.
#[test]
fn daemon_role() {
    let Some(sock) = std::env::var_os(DAEMON_ROLE) else {
        return;
    };
    let _d = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock).with_workers(1)).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A daemon in a child process, and an attach to it once it listens.
fn child_daemon(tag: &str) -> (Child, std::path::PathBuf) {
    let sock =
        std::env::temp_dir().join(format!("ct-app-client-{tag}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "daemon_role", "--nocapture", "--test-threads=1"])
        .env(DAEMON_ROLE, &sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (child, sock)
}

fn attach_when_up(sock: &std::path::Path, name: &str) -> AppClient {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match AppClient::attach(sock, AttachConfig::new(name)) {
            Ok(app) => return app,
            Err(e) => assert!(Instant::now() < deadline, "daemon never came up: {e}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn daemon_killed_wakes_every_parked_task() {
    const READERS: usize = 8;
    let (mut child, sock) = child_daemon("tokio-kill");
    let server_app = attach_when_up(&sock, "tokio-kill-server");
    let client_app = attach_when_up(&sock, "tokio-kill-client");
    rt().block_on(async {
        let listener = CtListener::bind(&server_app, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut streams = Vec::new();
        for _ in 0..READERS {
            let c = CtStream::connect(&client_app, addr).await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            streams.push((c, s));
        }
        // One more listener with nobody connecting: an accept parks on it.
        let idle = CtListener::bind(&server_app, "127.0.0.1:0".parse().unwrap()).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(&str, Instant)>();
        let mut tasks = Vec::new();
        {
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                let r = idle.accept().await;
                assert!(r.is_err(), "accept after the kill: {r:?}");
                tx.send(("accept", Instant::now())).unwrap();
            }));
        }
        let mut writer_peer = None;
        for (i, (c, s)) in streams.into_iter().enumerate() {
            let tx = tx.clone();
            if i == 0 {
                // A writer that fills the fifo (its peer never reads).
                writer_peer = Some(s);
                tasks.push(tokio::spawn(async move {
                    let mut c = c;
                    let chunk = vec![0x5a; 64 << 10];
                    let r = loop {
                        if let Err(e) = c.write_all(&chunk).await {
                            break e;
                        }
                    };
                    let _ = r;
                    tx.send(("write", Instant::now())).unwrap();
                }));
            } else {
                tasks.push(tokio::spawn(async move {
                    let mut c = c;
                    let _keep = s;
                    let mut buf = [0u8; 16];
                    // Nobody writes: the read ends only with the daemon,
                    // which a SIGKILL leaves no time to close anything.
                    let r = c.read(&mut buf).await;
                    assert!(r.is_err(), "read after the kill: {r:?}");
                    tx.send(("read", Instant::now())).unwrap();
                }));
            }
        }
        drop(tx);
        // Let every task park (spells run out, wakers registered).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(rx.try_recv().is_err(), "a task ended before the kill");
        let killed = Instant::now();
        child.kill().unwrap();
        let mut n = 0;
        // A task never woken would hang the test: fail it instead.
        while let Some((what, at)) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a parked task was never woken")
        {
            let late = at.duration_since(killed);
            assert!(
                late < Duration::from_millis(100),
                "{what} woke {late:?} after the kill"
            );
            n += 1;
        }
        assert_eq!(n, READERS + 1);
        for t in tasks {
            t.await.unwrap();
        }
        drop(writer_peer);
    });
    child.wait().unwrap();
    assert!(!client_app.is_attached() && !server_app.is_attached());
    let _ = std::fs::remove_file(&sock);
}

#[test]
fn poll_loop_over_the_client_fd() {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use std::io::{Read, Write};
    let (mut child, sock) = child_daemon("tokio-poll");
    let server_app = attach_when_up(&sock, "tokio-poll-server");
    let app = attach_when_up(&sock, "tokio-poll-client");
    let listener =
        ct_app_client::CtListener::bind(&server_app, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut pairs = Vec::new();
    for _ in 0..2 {
        let c = ct_app_client::CtStream::connect(&app, addr).unwrap();
        let (s, _) = listener.accept().unwrap();
        c.set_nonblocking(true).unwrap();
        pairs.push((c, s));
    }
    // The app's own loop: arm, sleep on the fd, drain, read what is ready.
    let wait = |ms: i64| -> bool {
        let mut fds = [PollFd::from_borrowed_fd(app.as_fd(), PollFlags::IN)];
        let ts = Timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        poll(&mut fds, Some(&ts)).unwrap() > 0
    };
    for (i, (_, s)) in pairs.iter().enumerate() {
        while !app.prepare_sleep().unwrap() {
            app.poll_events().unwrap();
        }
        assert!(!wait(50), "readable with nothing sent");
        (&*s).write_all(&[i as u8 + 1; 3]).unwrap();
        assert!(wait(5000), "session {i}'s data never made the fd readable");
        app.poll_events().unwrap();
        let mut buf = [0u8; 8];
        let n = (&pairs[i].0).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i as u8 + 1; 3]);
        // The other session has nothing.
        let e = (&pairs[1 - i].0).read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }
    while !app.prepare_sleep().unwrap() {
        app.poll_events().unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(wait(5000), "the daemon's exit never made the fd readable");
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.poll_events().is_ok() {
        assert!(Instant::now() < deadline, "the hang-up never seen");
        assert!(wait(100));
    }
    assert!(!app.is_attached());
    drop((pairs, listener));
    let _ = std::fs::remove_file(&sock);
}

/// The app's own `poll_events` (or a blocking wait of the same worker)
/// beside the async driver takes the queues out of their armed state: the
/// driver arms them again, so a task parked in a read still hears of the
/// data that comes next.
#[test]
fn poll_events_beside_the_driver_does_not_stall_it() {
    let d = Daemon::start("tokio-rearm");
    let app = d.attach("tokio-rearm");
    let peer = d.attach("tokio-rearm-peer");
    let listener = ct_app_client::CtListener::bind(&peer, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    rt().block_on(async {
        let mut c = CtStream::connect(&app, addr).await.unwrap();
        let (s, _) = listener.accept().unwrap();
        for round in 0..3u8 {
            let reader = tokio::spawn(async move {
                let mut buf = [0u8; 1];
                let n = c.read(&mut buf).await.unwrap();
                (c, n, buf[0])
            });
            // The reader parks, the driver arms the queues and waits.
            tokio::time::sleep(Duration::from_millis(50)).await;
            app.poll_events().unwrap();
            (&s).write_all(&[round]).unwrap();
            let (back, n, b) = tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .expect("the parked reader never heard of the data")
                .unwrap();
            assert_eq!((n, b), (1, round));
            c = back;
        }
        drop((c, s));
    });
    drop((listener, app, peer));
    d.stop();
}

/// An async read that spun on the fifo (the reader-state word said
/// spinning, so writes sent no event) and then parked is woken by the
/// next write: the park puts the word back to idle before its last look
/// (ARCHITECTURE.md, "Readiness in app-client"). The echo side answers
/// after delays from none (the read finds the byte while spinning) to
/// longer than any spell (it parks first); a lost wake-up stalls a round.
#[test]
fn spinning_then_parked_read_is_woken_by_a_write() {
    const ROUNDS: usize = 240;
    const DELAYS_US: [u64; 6] = [0, 5, 50, 500, 5_000, 30_000];
    let d = Daemon::start("tokio-spin-park");
    let server_app = d.attach("tokio-spin-park-server");
    let client_app = d.attach("tokio-spin-park-client");
    let listener = rt()
        .block_on(async { CtListener::bind(&server_app, "127.0.0.1:0".parse().unwrap()).unwrap() });
    let addr = listener.local_addr().unwrap();
    // The echo runs on a thread (and runtime) of its own, so its writes
    // land while the client's read spins as well as once it parked.
    let echo = std::thread::spawn(move || {
        rt().block_on(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut b = [0u8; 1];
            for i in 0..ROUNDS {
                tokio::time::timeout(STALL, s.read_exact(&mut b))
                    .await
                    .unwrap_or_else(|_| panic!("echo stalled in round {i}"))
                    .unwrap();
                let us = DELAYS_US[i % DELAYS_US.len()];
                if us > 0 {
                    std::thread::sleep(Duration::from_micros(us));
                }
                s.write_all(&b).await.unwrap();
            }
        });
    });
    rt().block_on(async {
        let mut s = CtStream::connect(&client_app, addr).await.unwrap();
        let mut b = [0u8; 1];
        for i in 0..ROUNDS {
            let sent = [i as u8];
            s.write_all(&sent).await.unwrap();
            tokio::time::timeout(STALL, s.read_exact(&mut b))
                .await
                .unwrap_or_else(|_| panic!("read stalled in round {i}"))
                .unwrap();
            assert_eq!(b, sent, "round {i}");
        }
    });
    echo.join().unwrap();
    drop((server_app, client_app));
    d.stop();
}
