//! app-client against a fake stack made of the real queues, segments and
//! socket: attach, listen, accept, connect, data both ways through the
//! fifos, close and reset, blocking waits woken through the eventfd,
//! non-blocking mode, a full control queue, the app's own poll loop.

mod common;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use common::{CtSeg, FakeStack, Peer, accepted, addr, bind, ep};
use ct_app_client::{
    AppClient, AttachConfig, CtListener, CtStream, SessionError, StreamCounters, session_error,
};
use ct_app_interface::sapi::{SapiListener, SapiMsg};
use ct_app_interface::wire::{AppMsg, SessionRef, StackMsg};

const LISTENER: SessionRef = SessionRef {
    handle: 5,
    generation: 1,
};

fn session(thread: u32, index: u32) -> SessionRef {
    SessionRef::new(thread, index, 7)
}

/// A listener, one accepted session and the peer's fifo ends.
fn accepted_pair(
    stack: &mut FakeStack,
    client: &AppClient,
) -> (CtListener, CtStream, Peer, SessionRef) {
    let listener = bind(stack, client, "127.0.0.1:7000", LISTENER);
    let seg = CtSeg::new(0x100);
    stack.add_segment(1, seg.r, &seg.seg);
    let peer = Peer::new(&seg, 4096);
    let s = session(1, 9);
    accepted(
        stack,
        LISTENER,
        s,
        &peer,
        "127.0.0.1:40000",
        "127.0.0.1:7000",
    );
    let (stream, rmt) = listener.accept().unwrap();
    assert_eq!(rmt, addr("127.0.0.1:40000"));
    assert_eq!(stream.local_addr().unwrap(), addr("127.0.0.1:7000"));
    assert_eq!(
        stack.recv(1),
        AppMsg::AcceptReply {
            session: s,
            error: 0
        }
    );
    (listener, stream, peer, s)
}

#[test]
fn attach_sends_the_config_and_maps_the_queues() {
    let (mut stack, app_end) = FakeStack::new(3);
    let cfg = AttachConfig::new("cfg-app")
        .with_namespace("ns1", 77)
        .with_fifo_size(8192);
    let client = std::thread::scope(|s| {
        let h = s.spawn(|| AppClient::attach_socket(app_end, cfg));
        let req = stack.answer_attach();
        let SapiMsg::AttachReq(req) = req else {
            panic!()
        };
        assert_eq!(req.name, "cfg-app");
        assert_eq!(req.namespace_id, "ns1");
        assert_eq!(req.namespace_secret, 77);
        assert_eq!(req.rx_fifo_size, 8192);
        h.join().unwrap().unwrap()
    });
    assert_eq!(client.n_threads(), 3);
    assert_eq!((client.app_index(), client.app_worker()), (3, 4));
    assert!(client.is_attached());
    assert_eq!(client.counters().sessions, 0);
}

#[test]
fn attach_by_path() {
    let dir = std::env::temp_dir().join(format!("app-client-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stack.sock");
    let l = SapiListener::bind(&path).unwrap();
    let (mut stack, _unused) = FakeStack::new(1);
    let client = std::thread::scope(|s| {
        let h = s.spawn(|| AppClient::attach(&path, AttachConfig::new("by-path")));
        stack.sock = l.accept().unwrap();
        stack.answer_attach();
        h.join().unwrap().unwrap()
    });
    assert_eq!(client.n_threads(), 1);
    drop(client);
    // The last handle detaches.
    assert_eq!(stack.recv_record().0, SapiMsg::DetachReq);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn attach_error_from_the_stack() {
    let (stack, app_end) = FakeStack::new(1);
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| AppClient::attach_socket(app_end, AttachConfig::new("bad-secret")));
        let _ = stack.recv_record();
        let reply = ct_app_interface::wire::WorkerReply::failed(SessionError::WrongNsSecret.code());
        stack.sock.send(&SapiMsg::AttachReply(reply), &[]).unwrap();
        h.join().unwrap()
    });
    let e = r.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(session_error(&e), Some(SessionError::WrongNsSecret));
}

#[test]
fn listen_accept_data_both_ways_and_peer_close() {
    let (mut stack, client) = FakeStack::attach(2);
    let (listener, mut stream, mut peer, s) = accepted_pair(&mut stack, &client);
    assert_eq!(listener.local_addr().unwrap(), addr("127.0.0.1:7000"));
    assert_eq!(client.counters().sessions, 1);
    assert_eq!(client.counters().segments, 1);

    // App -> peer: the bytes in the tx fifo, one TX event to the thread.
    stream.write_all(b"hello").unwrap();
    assert_eq!(peer.read_exact(5), b"hello");
    assert_eq!(stack.recv(1), AppMsg::IoTx(s));

    // Peer -> app.
    assert_eq!(peer.to_app.enqueue(b"world").unwrap(), 5);
    stack.send(1, &StackMsg::Rx(s));
    let mut buf = [0u8; 5];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"world");

    // The peer closes after more data: data first, then end of stream.
    assert_eq!(peer.to_app.enqueue(b"bye").unwrap(), 3);
    stack.send(1, &StackMsg::Rx(s));
    stack.send(1, &StackMsg::Disconnected(s));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
    assert_eq!(
        stream.write(b"x").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );

    // Our close answers it; the session is forgotten.
    drop(stream);
    assert_eq!(stack.recv(1), AppMsg::Disconnect(s));
    assert_eq!(client.counters().sessions, 0);
    drop(listener);
    assert_eq!(
        stack.recv(0),
        AppMsg::Unlisten {
            opaque: 0,
            listener: LISTENER
        }
    );
    assert_eq!(client.counters().listeners, 0);
}

#[test]
fn blocking_read_sleeps_until_the_stack_signals() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, mut peer, s) = accepted_pair(&mut stack, &client);
    late_read(&mut stack, &mut stream, &mut peer, s);
}

/// A blocking read of 4 bytes that finds nothing: the reader sleeps on
/// its fifo's reader-state word until the data and the stack's RX event
/// come 50 ms later (the event does not wake it: its bounded sleep ends
/// and it finds both; `fifo_wake.rs` has the direct wake-ups).
fn late_read(stack: &mut FakeStack, stream: &mut CtStream, peer: &mut Peer, s: SessionRef) {
    std::thread::scope(|sc| {
        let reader = sc.spawn(|| {
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).map(|()| buf)
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(peer.to_app.enqueue(b"late").unwrap(), 4);
        stack.send(1, &StackMsg::Rx(s));
        assert_eq!(&reader.join().unwrap().unwrap(), b"late");
    });
}

#[test]
fn many_threads_wait_on_one_worker() {
    // Two streams read by two threads: one sleeps on the eventfd, the
    // other on the condvar; each must get its own data.
    let (mut stack, client) = FakeStack::attach(2);
    let listener = bind(&mut stack, &client, "127.0.0.1:7001", LISTENER);
    let seg = CtSeg::new(0x200);
    stack.add_segment(0, seg.r, &seg.seg);
    let mut peers = Vec::new();
    let mut streams = Vec::new();
    for i in 0..2 {
        let p = Peer::new(&seg, 4096);
        accepted(
            &mut stack,
            LISTENER,
            session(1, 20 + i),
            &p,
            "127.0.0.1:1",
            "127.0.0.1:7001",
        );
        streams.push(listener.accept().unwrap().0);
        peers.push(p);
    }
    std::thread::scope(|sc| {
        let readers: Vec<_> = streams
            .into_iter()
            .map(|mut st| {
                sc.spawn(move || {
                    let mut buf = [0u8; 2];
                    st.read_exact(&mut buf).map(|()| buf)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        for (i, p) in peers.iter_mut().enumerate() {
            assert_eq!(p.to_app.enqueue(&[i as u8; 2]).unwrap(), 2);
            stack.send(1, &StackMsg::Rx(session(1, 20 + i as u32)));
            std::thread::sleep(Duration::from_millis(20));
        }
        for (i, r) in readers.into_iter().enumerate() {
            assert_eq!(r.join().unwrap().unwrap(), [i as u8; 2]);
        }
    });
}

#[test]
fn connect_refused_and_addr_in_use() {
    let (mut stack, client) = FakeStack::attach(1);
    // ct answers NoRoute when no local listener has the endpoint.
    for why in [SessionError::Refused, SessionError::NoRoute] {
        std::thread::scope(|sc| {
            let h = sc.spawn(|| CtStream::connect(&client, addr("127.0.0.1:9")));
            let AppMsg::Connect { opaque, ep: got } = stack.recv(0) else {
                panic!()
            };
            assert_eq!(got, ep("127.0.0.1:9"));
            stack.send(0, &StackMsg::connect_failed(opaque, why.code()));
            let e = h.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
            assert_eq!(session_error(&e), Some(why));
        });
    }
    std::thread::scope(|sc| {
        let h = sc.spawn(|| CtListener::bind(&client, addr("127.0.0.1:80")));
        let AppMsg::Listen { opaque, .. } = stack.recv(0) else {
            panic!()
        };
        stack.send(
            0,
            &StackMsg::Bound {
                opaque,
                listener: SessionRef::default(),
                lcl: Default::default(),
                error: SessionError::AlreadyListening.code(),
            },
        );
        let e = h.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(session_error(&e), Some(SessionError::AlreadyListening));
    });
    assert_eq!(client.counters().listeners, 0);
}

/// Connects through the app; the fake stack answers with `peer`'s fifos.
fn connect(stack: &mut FakeStack, client: &AppClient, s: SessionRef, peer: &Peer) -> CtStream {
    std::thread::scope(|sc| {
        let h = sc.spawn(|| CtStream::connect(client, addr("127.0.0.1:7000")));
        let AppMsg::Connect { opaque, .. } = stack.recv(0) else {
            panic!()
        };
        stack.send(
            s.thread(),
            &StackMsg::Connected {
                opaque,
                error: 0,
                session: s,
                rx: peer.rx,
                tx: peer.tx,
                lcl: ep("127.0.0.1:50000"),
                rmt: ep("127.0.0.1:7000"),
            },
        );
        h.join().unwrap().unwrap()
    })
}

#[test]
fn connect_then_reset_by_peer() {
    let (mut stack, client) = FakeStack::attach(2);
    let seg = CtSeg::new(0x300);
    stack.add_segment(0, seg.r, &seg.seg);
    let mut peer = Peer::new(&seg, 4096);
    let s = session(1, 3);
    let mut stream = connect(&mut stack, &client, s, &peer);
    assert_eq!(stream.peer_addr().unwrap(), addr("127.0.0.1:7000"));
    assert_eq!(stream.local_addr().unwrap(), addr("127.0.0.1:50000"));
    stream.write_all(b"req").unwrap();
    assert_eq!(peer.read_exact(3), b"req");
    assert_eq!(stack.recv(1), AppMsg::IoTx(s));

    stack.send(1, &StackMsg::Reset(s));
    let mut buf = [0u8; 8];
    let e = stream.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert!(matches!(
        ct_app_client::client_error(&e),
        Some(ct_app_client::ClientError::Reset)
    ));
    assert_eq!(
        stream.write(b"x").unwrap_err().kind(),
        io::ErrorKind::ConnectionReset
    );
    stream.shutdown(Shutdown::Both).unwrap();
    assert_eq!(stack.recv(1), AppMsg::Disconnect(s));
    // After our close: end of stream, nothing more sent.
    assert_eq!(stream.read(&mut buf).unwrap(), 0);
    drop(stream);
    assert!(stack.try_recv_for(1, Duration::from_millis(20)).is_none());
}

#[test]
fn nonblocking_mode_and_timeouts() {
    let (mut stack, client) = FakeStack::attach(2);
    let (listener, mut stream, mut peer, s) = accepted_pair(&mut stack, &client);
    listener.set_nonblocking(true).unwrap();
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        stream.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    // Fill the tx fifo: the write that finds it full would block.
    let big = vec![7u8; 8192];
    assert_eq!(stream.write(&big).unwrap(), 4096);
    assert_eq!(
        stream.write(&big).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(stack.recv(1), AppMsg::IoTx(s));
    assert_eq!(peer.read_exact(4096), big[..4096]);

    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    assert_eq!(
        stream.read_timeout().unwrap(),
        Some(Duration::from_millis(30))
    );
    // As std on Unix: an expired timeout is `WouldBlock` (EAGAIN).
    let t0 = std::time::Instant::now();
    assert_eq!(
        stream.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
    // The tx fifo is full again: a timed write expires the same way.
    assert_eq!(stream.write(&big).unwrap(), 4096);
    stream
        .set_write_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(
        stream.write_timeout().unwrap(),
        Some(Duration::from_millis(20))
    );
    assert_eq!(
        stream.write(&big).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    // Zero is refused, as std does; the timeouts stay as they were.
    for e in [
        stream.set_read_timeout(Some(Duration::ZERO)).unwrap_err(),
        stream.set_write_timeout(Some(Duration::ZERO)).unwrap_err(),
    ] {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(
        stream.read_timeout().unwrap(),
        Some(Duration::from_millis(30))
    );
    stream.set_read_timeout(None).unwrap();
    assert_eq!(stream.read_timeout().unwrap(), None);
}

#[test]
fn blocked_writer_wakes_on_tx_event() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, mut peer, s) = accepted_pair(&mut stack, &client);
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    std::thread::scope(|sc| {
        let want = data.clone();
        let writer = sc.spawn(move || stream.write_all(&want).map(|()| stream));
        let mut got = Vec::new();
        while got.len() < data.len() {
            let mut buf = [0u8; 1024];
            let n = peer.from_app.dequeue(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            // The stack's part: a reader that frees space the writer asked
            // to hear about sends it a TX event.
            if n > 0 && peer.from_app.fifo().needs_deq_ntf(n as u32) {
                peer.from_app.fifo().clear_deq_ntf();
                stack.send(1, &StackMsg::Tx(s));
            }
            if n == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        assert_eq!(got, data);
        writer.join().unwrap().unwrap();
    });
}

#[test]
fn stream_counters_count_events_and_waits() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, mut peer, s) = accepted_pair(&mut stack, &client);
    assert_eq!(stream.counters(), StreamCounters::default());

    // A burst of writes costs one TX event until the stack clears the
    // fifo's event flag; the next write after that sends another.
    stream.write_all(b"ab").unwrap();
    stream.write_all(b"cd").unwrap();
    assert_eq!(stack.recv(1), AppMsg::IoTx(s));
    assert_eq!(stream.counters().tx_events, 1);
    peer.from_app.fifo().unset_event();
    stream.write_all(b"ef").unwrap();
    assert_eq!(stack.recv(1), AppMsg::IoTx(s));
    assert_eq!(stream.counters().tx_events, 2);
    assert_eq!(peer.read_exact(6), b"abcdef");

    // A read sends an RX-dequeue event only when the producer asked.
    let mut buf = [0u8; 2];
    assert_eq!(peer.to_app.enqueue(b"gh").unwrap(), 2);
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(stream.counters().rx_events, 0);
    peer.to_app
        .fifo()
        .add_want_deq_ntf(ct_fifo_segment::DeqNtf::NOTIF);
    assert_eq!(peer.to_app.enqueue(b"ij").unwrap(), 2);
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(stack.recv(1), AppMsg::IoRxDequeue(s));
    assert_eq!(stream.counters().rx_events, 1);
    // Data that was already there: no wait.
    assert_eq!(stream.counters().waits, 0);

    // A read that finds nothing waits; one that outlasts its spin spell
    // sleeps until the stack's event.
    late_read(&mut stack, &mut stream, &mut peer, s);
    let st = stream.counters();
    assert!(
        st.waits >= 1 && st.sleeps >= 1 && st.sleeps <= st.waits,
        "{st:?}"
    );

    // The counts outlive the fifos.
    stream.shutdown(Shutdown::Both).unwrap();
    assert_eq!(stack.recv(1), AppMsg::Disconnect(s));
    assert_eq!(stream.counters(), st);
}

#[test]
fn zero_copy_slices() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, stream, mut peer, s) = accepted_pair(&mut stack, &client);
    let mut w = stream.write_slices();
    let (a, _b) = w.slices().unwrap();
    a[..3].copy_from_slice(b"abc");
    w.commit(3).unwrap();
    drop(w);
    assert_eq!(peer.read_exact(3), b"abc");
    assert_eq!(stack.recv(1), AppMsg::IoTx(s));

    assert_eq!(peer.to_app.enqueue(b"xyz").unwrap(), 3);
    assert_eq!(stream.readable().unwrap(), 3);
    let mut r = stream.read_slices();
    let (a, b) = r.slices().unwrap();
    assert_eq!([a, b].concat(), b"xyz");
    r.release(3).unwrap();
    drop(r);
    assert_eq!(stream.max_dequeue().unwrap(), 0);
}

#[test]
fn full_control_queue_loses_nothing() {
    // ctrl_q holds 16 control messages; 40 accepts answer 40 times.
    let (mut stack, app_end) = FakeStack::with_ctrl_items(2, 16);
    let client = stack
        .serve(|| AppClient::attach_socket(app_end, AttachConfig::new("busy")))
        .unwrap();
    let listener = bind(&mut stack, &client, "127.0.0.1:7002", LISTENER);
    let seg = CtSeg::new(0x400);
    stack.add_segment(1, seg.r, &seg.seg);
    let peers: Vec<Peer> = (0..40).map(|_| Peer::new(&seg, 1024)).collect();
    for (i, p) in peers.iter().enumerate() {
        accepted(
            &mut stack,
            LISTENER,
            session(1, i as u32),
            p,
            "127.0.0.1:1",
            "127.0.0.1:7002",
        );
    }
    // Each accept answers its session (the stack accepted it already;
    // the reply frees its backlog slot).
    let streams: Vec<CtStream> = (0..40).map(|_| listener.accept().unwrap().0).collect();
    assert!(client.counters().ctrl_backlog > 0);
    let mut replies = Vec::new();
    while replies.len() < 40 {
        match stack.try_recv_for(1, Duration::from_millis(1)) {
            Some(m) => replies.push(m),
            None => {
                // Room now: the next drain pushes the backlog.
                client.poll_events().unwrap();
            }
        }
    }
    let want: Vec<AppMsg> = (0..40)
        .map(|i| AppMsg::AcceptReply {
            session: session(1, i),
            error: 0,
        })
        .collect();
    assert_eq!(replies, want);
    assert_eq!(client.counters().ctrl_backlog, 0);
    assert_eq!(client.counters().sessions, 40);
    drop(streams);
    assert_eq!(client.counters().sessions, 0);
}

#[test]
fn own_poll_loop_on_the_eventfd() {
    use rustix::event::{PollFd, PollFlags, poll};
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, mut peer, s) = accepted_pair(&mut stack, &client);
    stream.set_nonblocking(true).unwrap();
    assert!(client.prepare_sleep().unwrap());
    assert_eq!(peer.to_app.enqueue(b"ev").unwrap(), 2);
    stack.send(1, &StackMsg::Rx(s));
    // A stream's and a listener's fd are the worker's.
    assert_eq!(stream.as_raw_fd(), client.as_raw_fd());
    assert_eq!(_l.as_raw_fd(), client.as_raw_fd());
    let mut fds = [PollFd::new(&stream, PollFlags::IN)];
    let ts = rustix::event::Timespec {
        tv_sec: 5,
        tv_nsec: 0,
    };
    assert_eq!(poll(&mut fds, Some(&ts)).unwrap(), 1);
    assert_eq!(client.poll_events().unwrap(), 1);
    let mut buf = [0u8; 2];
    assert_eq!(stream.read(&mut buf).unwrap(), 2);
    // Drained: no longer readable.
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut fds = [PollFd::from_borrowed_fd(client.as_fd(), PollFlags::IN)];
    assert_eq!(poll(&mut fds, Some(&zero)).unwrap(), 0);
}

#[test]
fn stack_hangup_ends_a_blocked_read() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, _peer, _s) = accepted_pair(&mut stack, &client);
    std::thread::scope(|sc| {
        let reader = sc.spawn(move || {
            let mut buf = [0u8; 4];
            stream.read(&mut buf)
        });
        std::thread::sleep(Duration::from_millis(30));
        stack.sock.shutdown();
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotConnected);
    });
    assert!(!client.is_attached());
}

#[test]
fn detach_and_add_worker() {
    let (stack, client) = FakeStack::attach(1);
    let (mut stack2, _unused) = FakeStack::new(1);
    let worker = std::thread::scope(|sc| {
        let h = sc.spawn(|| client.add_worker());
        assert_eq!(stack.recv_record().0, SapiMsg::AddWorkerReq);
        let mut reply = stack2.reply();
        reply.wrk_index = 1;
        stack
            .sock
            .send(&SapiMsg::AddWorkerReply(reply), &stack2.reply_fds())
            .unwrap();
        h.join().unwrap().unwrap()
    });
    assert_eq!(worker.worker_index(), 1);
    // The new worker has queues of its own.
    std::thread::scope(|sc| {
        let h = sc.spawn(|| CtListener::bind(&worker, addr("127.0.0.1:7003")));
        let AppMsg::Listen { opaque, ep, .. } = stack2.recv(0) else {
            panic!()
        };
        stack2.send(
            0,
            &StackMsg::Bound {
                opaque,
                listener: LISTENER,
                lcl: ep,
                error: 0,
            },
        );
        drop(h.join().unwrap().unwrap());
    });
    drop(worker);
    assert_eq!(
        stack.recv_record().0,
        SapiMsg::DelWorkerReq { wrk_index: 1 }
    );
    std::thread::scope(|sc| {
        let h = sc.spawn(move || client.detach());
        assert_eq!(stack.recv_record().0, SapiMsg::DetachReq);
        stack
            .sock
            .send(&SapiMsg::DetachReply { error: 0 }, &[])
            .unwrap();
        h.join().unwrap().unwrap();
    });
}

#[test]
fn a_stack_that_stops_draining_gets_congested_then_everything() {
    // 16 slots per ring in ctrl_q, and nobody drains it: connects pile up
    // in the backlog until it is full, then the app hears WouldBlock.
    let (mut stack, app_end) = FakeStack::with_ctrl_items(1, 16);
    let client = stack
        .serve(|| AppClient::attach_socket(app_end, AttachConfig::new("stuck")))
        .unwrap();
    let mut sent = 0usize;
    let e = loop {
        match CtStream::connect_timeout(&client, addr("127.0.0.1:1"), Duration::ZERO) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => sent += 1,
            Err(e) => break e,
            Ok(_) => panic!("connected to nothing"),
        }
    };
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(session_error(&e), Some(SessionError::Congested));
    assert_eq!(client.counters().ctrl_backlog, 64 * 1024);
    assert_eq!(sent, 64 * 1024 + 32);
    // The stack drains again: every connect arrives, in order.
    let mut opaques = Vec::with_capacity(sent);
    while opaques.len() < sent {
        match stack.try_recv_for(0, Duration::ZERO) {
            Some(AppMsg::Connect { opaque, .. }) => opaques.push(opaque),
            Some(m) => panic!("{m:?}"),
            None => {
                client.poll_events().unwrap();
            }
        }
    }
    assert!(opaques.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(client.counters().ctrl_backlog, 0);
}

#[test]
fn a_session_the_stack_cleaned_up_is_let_go() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, mut peer, s) = accepted_pair(&mut stack, &client);
    assert_eq!(peer.to_app.enqueue(b"stale").unwrap(), 5);
    // Transport cleanup first: the session still exists, data stays.
    stack.send(1, &StackMsg::Cleanup { session: s, ntf: 0 });
    let mut buf = [0u8; 5];
    assert_eq!(stream.read(&mut buf).unwrap(), 5);
    // Session cleanup: the fifos are the stack's again.
    assert_eq!(peer.to_app.enqueue(b"reused").unwrap(), 6);
    stack.send(1, &StackMsg::Cleanup { session: s, ntf: 1 });
    client.poll_events().unwrap();
    assert_eq!(client.counters().sessions, 0);
    assert_eq!(stream.read(&mut buf).unwrap(), 0);
    assert_eq!(
        stream.write(b"x").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    drop(stream);
    // Nothing to close at the stack any more.
    assert!(stack.try_recv_for(1, Duration::from_millis(20)).is_none());
}

#[test]
fn connects_in_flight_finish_out_of_order() {
    use ct_app_client::CtConnecting;
    let (mut stack, client) = FakeStack::attach(2);
    let seg = CtSeg::new(0x500);
    stack.add_segment(0, seg.r, &seg.seg);
    let mut pending: Vec<CtConnecting> = (0..8)
        .map(|_| CtConnecting::start(&client, addr("127.0.0.1:7000")).unwrap())
        .collect();
    let opaques: Vec<u32> = (0..8)
        .map(|_| match stack.recv(0) {
            AppMsg::Connect { opaque, .. } => opaque,
            m => panic!("{m:?}"),
        })
        .collect();
    let peers: Vec<Peer> = (0..8).map(|_| Peer::new(&seg, 1024)).collect();
    // Answer backwards; the fourth is refused.
    for i in (0..8).rev() {
        let msg = if i == 3 {
            StackMsg::connect_failed(opaques[i], SessionError::Refused.code())
        } else {
            StackMsg::Connected {
                opaque: opaques[i],
                error: 0,
                session: session(1, 100 + i as u32),
                rx: peers[i].rx,
                tx: peers[i].tx,
                lcl: ep("127.0.0.1:50000"),
                rmt: ep("127.0.0.1:7000"),
            }
        };
        stack.send(1, &msg);
    }
    assert!(pending[0].try_finish().unwrap().is_none());
    client.poll_events().unwrap();
    for (i, c) in pending.iter_mut().enumerate() {
        match c.try_finish() {
            Ok(Some(s)) => assert_eq!(s.session_handle(), session(1, 100 + i as u32).handle),
            Err(e) => {
                assert_eq!(i, 3);
                assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
            }
            Ok(None) => panic!("connect {i} not answered"),
        }
    }
    // Streams dropped at once: each closed.
    let closed: Vec<AppMsg> = (0..7).map(|_| stack.recv(1)).collect();
    assert!(closed.iter().all(|m| matches!(m, AppMsg::Disconnect(_))));
    assert_eq!(client.counters().sessions, 0);
}
