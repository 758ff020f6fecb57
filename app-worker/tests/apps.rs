//! Event delivery: in-process queues under congestion, builtin callbacks
//! acting on their sessions, accepts spread over an app's workers, and a
//! threaded stack with blocking I/O from app threads.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;

use common::{Recorder, assert_nothing_left, env, ep};
use ct_app_worker::{
    AppCallbacks, AppCtx, AppEvent, AppKind, AppSession, AttachOptions, IoMode, Scope,
};
use ct_session::{SessionError, SessionHandle, ThreadedConfig};
use ct_sync::Mutex;

#[test]
fn full_queue_is_congestion_and_nothing_is_dropped() {
    let mut e = env(0);
    let st = &mut e.stack;
    let srv = Recorder::new();
    let s = st
        .attach(AttachOptions::new("srv", AppKind::Builtin(srv.clone())))
        .unwrap();
    st.listen(s.app_wrk, ep("0.0.0.0", 5000)).unwrap();
    let mut o = AttachOptions::new("cli", AppKind::InProcess);
    o.evt_q_size = 2;
    let c = st.attach(o).unwrap();
    let q = c.queue.clone().unwrap();
    assert_eq!(q.capacity(), 2);
    const N: u32 = 6;
    // All connects before any delivery (from one RPC on the connect
    // thread): the replies then overflow the queue.
    let apps = st.apps().clone();
    let app_wrk = c.app_wrk;
    st.call(0, move |wrk| {
        for i in 0..N {
            apps.connect(wrk, app_wrk, ep("10.0.0.1", 5000), i).unwrap();
        }
    })
    .unwrap();
    st.run_until_idle().unwrap();
    assert_eq!(q.len(), 2, "queue full");
    let w0 = st.runtime_mut().worker_mut(0).unwrap();
    assert!(w0.counters().congested > 0);
    assert!(w0.app_worker_is_congested(c.app_wrk.index()));
    assert!(
        w0.app_worker_pending_events(c.app_wrk.index()) > 0,
        "kept, not dropped"
    );
    // While congested, a new connect is refused (VPP app_worker_connect_session).
    assert_eq!(
        st.connect(c.app_wrk, ep("10.0.0.1", 5000), 100)
            .unwrap_err(),
        SessionError::Refused
    );
    let mut opaques = Vec::new();
    for _ in 0..100 {
        for m in q.drain() {
            if let AppEvent::Connected { opaque, result } = m {
                assert!(result.is_ok());
                opaques.push(opaque);
            }
        }
        if opaques.len() == N as usize {
            break;
        }
        st.run_until_idle().unwrap();
    }
    opaques.sort_unstable();
    assert_eq!(
        opaques,
        (0..N).collect::<Vec<_>>(),
        "every connect reported once, in full"
    );
    assert!(
        !st.runtime_mut()
            .worker_mut(0)
            .unwrap()
            .app_worker_is_congested(c.app_wrk.index())
    );
    st.detach(c.app).unwrap();
    st.detach(s.app).unwrap();
    assert_nothing_left(st);
}

/// A builtin echo server: keeps each session's I/O end and writes back what
/// it reads, from its callbacks.
#[derive(Default)]
struct Echo {
    sessions: Mutex<HashMap<SessionHandle, AppSession>>,
    echoed: Mutex<usize>,
}

impl AppCallbacks for Echo {
    fn accept(&self, ctx: &mut AppCtx<'_>, s: SessionHandle) -> Result<(), SessionError> {
        let io = ctx.session_io(s)?;
        self.sessions.lock().insert(s, io);
        Ok(())
    }

    fn rx(&self, _ctx: &mut AppCtx<'_>, s: SessionHandle) {
        let mut sessions = self.sessions.lock();
        let Some(io) = sessions.get_mut(&s) else {
            return;
        };
        let mut buf = [0u8; 512];
        loop {
            let n = io.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(io.write(&buf[..n]).unwrap(), n);
            *self.echoed.lock() += n;
        }
    }

    fn disconnect(&self, ctx: &mut AppCtx<'_>, s: SessionHandle) {
        self.sessions.lock().remove(&s);
        ctx.disconnect(s).unwrap();
    }

    fn cleanup(&self, _ctx: &mut AppCtx<'_>, s: SessionHandle, _: ct_session::SessionCleanupNtf) {
        self.sessions.lock().remove(&s);
    }
}

/// A builtin client: connects from its own callback context, sends once
/// connected, checks the echo, closes.
#[derive(Default)]
struct Client {
    io: Mutex<Option<AppSession>>,
    got: Mutex<Vec<u8>>,
    closed: Mutex<bool>,
}

const MSG: &[u8] = b"ping through the fifos";

impl AppCallbacks for Client {
    fn connected(&self, ctx: &mut AppCtx<'_>, opaque: u32, r: Result<SessionHandle, SessionError>) {
        assert_eq!(opaque, 3);
        let mut io = ctx.session_io(r.unwrap()).unwrap();
        assert_eq!(io.write(MSG).unwrap(), MSG.len());
        *self.io.lock() = Some(io);
    }

    fn rx(&self, ctx: &mut AppCtx<'_>, s: SessionHandle) {
        let mut io = self.io.lock();
        let io = io.as_mut().unwrap();
        let mut buf = [0u8; 64];
        let n = io.read(&mut buf).unwrap();
        let mut got = self.got.lock();
        got.extend_from_slice(&buf[..n]);
        if got.len() == MSG.len() {
            ctx.disconnect(s).unwrap();
            *self.closed.lock() = true;
        }
    }
}

#[test]
fn builtin_echo_from_callbacks() {
    let mut e = env(2);
    let st = &mut e.stack;
    let echo = Arc::new(Echo::default());
    let client = Arc::new(Client::default());
    let s = st
        .attach(AttachOptions::new("echo", AppKind::Builtin(echo.clone())).with_scope(Scope::LOCAL))
        .unwrap();
    let c = st
        .attach(
            AttachOptions::new("client", AppKind::Builtin(client.clone())).with_scope(Scope::LOCAL),
        )
        .unwrap();
    st.listen(s.app_wrk, ep("127.0.0.1", 7)).unwrap();
    // Connect from a callback context on a worker that is not the connect
    // thread (worker 2; connects belong to worker 1).
    let apps = st.apps().clone();
    st.call(2, move |wrk| {
        let w = apps.app_worker(c.app_wrk).unwrap();
        AppCtx::new(wrk, &apps, &w).connect(ep("127.0.0.1", 7), 3)
    })
    .unwrap()
    .unwrap();
    st.run_until_idle().unwrap();
    assert_eq!(&*client.got.lock(), MSG);
    assert!(*client.closed.lock());
    assert_eq!(*echo.echoed.lock(), MSG.len());
    assert!(
        echo.sessions.lock().is_empty(),
        "server closed on the client's close"
    );
    drop(client.io.lock().take());
    st.detach(c.app).unwrap();
    st.detach(s.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn accepts_round_robin_over_app_workers_and_refusal() {
    let mut e = env(1);
    let st = &mut e.stack;
    let srv = Recorder::new();
    let cli = Recorder::new();
    let s = st
        .attach(AttachOptions::new("srv", AppKind::Builtin(srv.clone())))
        .unwrap();
    let s2 = st.apps().add_worker(s.app).unwrap();
    let l1 = st.listen(s.app_wrk, ep("0.0.0.0", 6000)).unwrap();
    let l2 = st.listen(s2.app_wrk, ep("0.0.0.0", 6000)).unwrap();
    assert_eq!(l1, l2, "one app listener shared by both workers");
    let c = st
        .attach(AttachOptions::new("cli", AppKind::Builtin(cli.clone())))
        .unwrap();
    for i in 0..4 {
        st.connect(c.app_wrk, ep("10.1.1.1", 6000), i).unwrap();
    }
    st.run_until_idle().unwrap();
    let accepted = srv.accepted.lock().clone();
    assert_eq!(accepted.len(), 4);
    let owners: Vec<u32> = accepted
        .iter()
        .map(|&h| {
            st.call(h.thread_index(), move |w| {
                w.session_get(h).unwrap().app_wrk_index
            })
            .unwrap()
        })
        .collect();
    let (a, b) = (s.app_wrk.index(), s2.app_wrk.index());
    assert_eq!(
        owners,
        vec![b, a, b, a],
        "round-robin after the last picked"
    );

    // A refused accept: the client hears Refused, nothing stays.
    srv.refuse.store(true, ct_sync::atomic::Ordering::Relaxed);
    st.connect(c.app_wrk, ep("10.1.1.1", 6000), 9).unwrap();
    st.run_until_idle().unwrap();
    let last = cli.connected.lock().last().cloned().unwrap();
    assert_eq!(last, (9, Err(SessionError::Refused)));
    // One worker leaves the listener; the other keeps accepting.
    st.unlisten(s2.app_wrk, l2).unwrap();
    srv.refuse.store(false, ct_sync::atomic::Ordering::Relaxed);
    st.connect(c.app_wrk, ep("10.1.1.1", 6000), 10).unwrap();
    st.run_until_idle().unwrap();
    let h = *srv.accepted.lock().last().unwrap();
    let owner = st
        .call(h.thread_index(), move |w| {
            w.session_get(h).unwrap().app_wrk_index
        })
        .unwrap();
    assert_eq!(owner, a);
    st.detach(c.app).unwrap();
    st.detach(s.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn threaded_blocking_io_between_app_threads() {
    let mut e = env(2);
    let mut server = AttachOptions::new("srv", AppKind::InProcess).with_fifo_sizes(8192, 8192);
    server.scope = Scope::LOCAL;
    let mut client = AttachOptions::new("cli", AppKind::InProcess).with_fifo_sizes(8192, 8192);
    client.scope = Scope::LOCAL;
    let s = e.stack.attach(server).unwrap();
    let c = e.stack.attach(client).unwrap();
    e.stack.listen(s.app_wrk, ep("127.0.0.1", 4444)).unwrap();
    e.stack.start_threads(ThreadedConfig::default()).unwrap();
    const LEN: usize = 1 << 20;
    let h = e.stack.handle();

    let srv_thread = {
        let mut h = h.clone();
        let q = s.queue.clone().unwrap();
        std::thread::spawn(move || {
            let m = loop {
                let m = q.recv().unwrap();
                if matches!(m, AppEvent::Accepted { .. }) {
                    break m;
                }
            };
            let AppEvent::Accepted { session: fifos, .. } = m else {
                unreachable!()
            };
            let mut io = AppSession::from_fifos(h.main().clone(), &fifos).unwrap();
            io.set_waker(h.apps().session_waker(s.app_wrk, fifos.session).unwrap());
            io.set_mode(IoMode::Blocking(Some(std::time::Duration::from_secs(20))));
            h.accept_reply(s.app_wrk, fifos.session, Ok(())).unwrap();
            // Echo everything back.
            let mut buf = vec![0u8; 4096];
            let mut total = 0;
            while total < LEN {
                let n = Read::read(&mut io, &mut buf).unwrap();
                assert!(n > 0);
                io.write_all(&buf[..n]).unwrap();
                total += n;
            }
            io
        })
    };

    let mut hc = h.clone();
    let q = c.queue.clone().unwrap();
    hc.connect(c.app_wrk, ep("127.0.0.1", 4444), 1).unwrap();
    let fifos = loop {
        if let AppEvent::Connected { result, .. } = q.recv().unwrap() {
            break result.unwrap();
        }
    };
    let mut io = AppSession::from_fifos(h.main().clone(), &fifos).unwrap();
    io.set_waker(h.apps().session_waker(c.app_wrk, fifos.session).unwrap());
    io.set_mode(IoMode::Blocking(Some(std::time::Duration::from_secs(20))));
    let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    let writer = {
        // Writes and reads interleaved without blocking on either (a
        // blocked writer would deadlock against the echoing server).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut sent = 0;
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 4096];
        while got.len() < LEN {
            assert!(std::time::Instant::now() < deadline, "transfer stalled");
            if sent < LEN {
                let n = io.write(&data[sent..(sent + 2048).min(LEN)]).unwrap();
                sent += n;
            }
            if got.len() < sent {
                let n = io.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        }
        got
    };
    assert!(writer == data, "echoed bytes differ");
    let sio = srv_thread.join().unwrap();
    hc.disconnect(c.app_wrk, io.handle()).unwrap();
    drop((io, sio));
    hc.detach(c.app).unwrap();
    hc.detach(s.app).unwrap();
    // The workers finish the closes on their own; then nothing is left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !e.stack.segment_managers().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "segment managers left"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(e.stack.apps().n_apps(), 0);
    assert_eq!(e.stack.main().n_listeners(), 0);
    let workers = e.stack.shutdown();
    assert_eq!(workers.len(), 3);
    for w in &workers {
        assert_eq!(w.sessions().len(), 0, "sessions on {}", w.thread_index());
    }
}
