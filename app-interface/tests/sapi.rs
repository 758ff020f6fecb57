//! The app socket over real sockets: records and fds both ways on a
//! socketpair and on a bound path, a memfd segment passed across and
//! mapped, peer credentials, hangup, nonblocking mode, and refused
//! records (truncated, oversized, wrong version, wrong fd count) that
//! leave the connection usable.

use ct_sync::atomic::{AtomicU32, Ordering};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use ct_app_interface::sapi::{SapiError, SapiListener, SapiSocket};
use ct_app_interface::wire::{
    AttachReq, SAPI_HEADER_SIZE, SAPI_MAX_RECORD, SapiMsg, SegmentRef, WireError, WorkerReply,
};
use ct_fifo_segment::{FifoSegment, SegmentFlags};

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ct-sapi-{}-{tag}-{n}.sock", std::process::id()))
}

fn eventfd() -> OwnedFd {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap()
}

fn attach_req() -> SapiMsg {
    SapiMsg::AttachReq(AttachReq {
        name: "app".into(),
        namespace_id: "default".into(),
        namespace_secret: 7,
        scope: 1,
        rx_fifo_size: 4096,
        tx_fifo_size: 4096,
        segment_size: 1 << 20,
        add_segment_size: 1 << 20,
        evt_q_size: 128,
    })
}

fn attach_reply(n_threads: u32) -> SapiMsg {
    SapiMsg::AttachReply(WorkerReply {
        error: 0,
        app_index: 1,
        app_wrk: 2,
        wrk_index: 0,
        n_threads,
        mq_segment: SegmentRef {
            handle: 9,
            generation: 1,
        },
        mq_segment_size: 1 << 20,
        queues: (0..u64::from(n_threads)).map(|t| (t, t + 100)).collect(),
    })
}

/// Writes `v` into an eventfd and reads it back through `other`, proving
/// both fds name one kernel object.
fn same_eventfd(a: BorrowedFd<'_>, b: BorrowedFd<'_>, v: u64) {
    rustix::io::write(a, &v.to_ne_bytes()).unwrap();
    let mut buf = [0u8; 8];
    rustix::io::read(b, &mut buf).unwrap();
    assert_eq!(u64::from_ne_bytes(buf), v);
}

#[test]
fn records_and_fds_both_ways_on_a_socketpair() {
    let (app, stack) = SapiSocket::pair().unwrap();

    app.send(&attach_req(), &[]).unwrap();
    let (m, fds) = stack.recv().unwrap();
    assert_eq!(m, attach_req());
    assert!(fds.is_empty());

    // The reply carries mq segment + app evtfd + one worker evtfd per
    // thread, in order.
    let evs: Vec<OwnedFd> = (0..5).map(|_| eventfd()).collect();
    let borrowed: Vec<BorrowedFd<'_>> = evs.iter().map(|f| f.as_fd()).collect();
    stack.send(&attach_reply(3), &borrowed).unwrap();
    let (m, got) = app.recv().unwrap();
    assert_eq!(m, attach_reply(3));
    assert_eq!(got.len(), 5);
    for (i, (mine, theirs)) in evs.iter().zip(&got).enumerate() {
        same_eventfd(mine.as_fd(), theirs.as_fd(), i as u64 + 1);
    }

    // And an fd from the app side to the stack.
    let ev = eventfd();
    let seg = SapiMsg::SegmentFd {
        segment: SegmentRef {
            handle: 1,
            generation: 1,
        },
        size: 4096,
    };
    app.send(&seg, &[ev.as_fd()]).unwrap();
    let (m, got) = stack.recv().unwrap();
    assert_eq!(m, seg);
    same_eventfd(ev.as_fd(), got[0].as_fd(), 42);
}

#[test]
fn every_record_kind_round_trips() {
    let (a, b) = SapiSocket::pair().unwrap();
    let ev = eventfd();
    let msgs = vec![
        attach_req(),
        attach_reply(1),
        SapiMsg::AttachReply(WorkerReply::failed(-38)),
        SapiMsg::AddWorkerReq,
        attach_reply(2),
        SapiMsg::DelWorkerReq { wrk_index: 1 },
        SapiMsg::DelWorkerReply { error: 0 },
        SapiMsg::DetachReq,
        SapiMsg::DetachReply { error: -13 },
        SapiMsg::SegmentFd {
            segment: SegmentRef {
                handle: 3,
                generation: 4,
            },
            size: 1 << 20,
        },
    ];
    for m in &msgs {
        let fds: Vec<BorrowedFd<'_>> = (0..m.expected_fds()).map(|_| ev.as_fd()).collect();
        a.send(m, &fds).unwrap();
    }
    for m in &msgs {
        let (got, fds) = b.recv().unwrap();
        assert_eq!(&got, m);
        assert_eq!(fds.len(), m.expected_fds());
    }
}

/// A memfd segment crosses the socket, the receiver maps it and reads
/// what the sender wrote into a fifo in it.
#[test]
fn memfd_segment_passed_and_mapped() {
    let (stack, app) = SapiSocket::pair().unwrap();
    let seg = FifoSegment::create("sapi-test", 1 << 20, 1, SegmentFlags::empty()).unwrap();
    let fifo = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    let mut p = fifo.producer().unwrap();
    assert_eq!(p.enqueue(b"through the segment").unwrap(), 19);

    let rec = SapiMsg::SegmentFd {
        segment: SegmentRef {
            handle: 5,
            generation: 1,
        },
        size: seg.size() as u64,
    };
    stack.send(&rec, &[seg.fd().unwrap()]).unwrap();

    let (m, mut fds) = app.recv().unwrap();
    assert_eq!(m, rec);
    let mapped = FifoSegment::attach(fds.pop().unwrap()).unwrap();
    assert_eq!(mapped.size(), seg.size());
    let peer_fifo = mapped.fifo_at(fifo.offset()).unwrap();
    let mut c = peer_fifo.consumer().unwrap();
    let mut buf = [0u8; 64];
    let n = c.dequeue(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"through the segment");
    // And back: the consumer's progress is visible to the owner.
    assert_eq!(p.max_enqueue().unwrap(), 4096);
}

#[test]
fn bound_socket_accept_connect_and_peer_cred() {
    let path = temp_path("bind");
    let listener = SapiListener::bind(&path).unwrap();
    assert_eq!(listener.path(), path);
    let app = SapiSocket::connect(&path).unwrap();
    let conn = listener.accept().unwrap();

    let me = (
        rustix::process::getpid().as_raw_nonzero().get(),
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    );
    assert_eq!(conn.peer_cred().unwrap(), me);
    assert_eq!(app.peer_cred().unwrap(), me);

    app.send(&SapiMsg::DetachReq, &[]).unwrap();
    assert_eq!(conn.recv().unwrap().0, SapiMsg::DetachReq);
    conn.send(&SapiMsg::DetachReply { error: 0 }, &[]).unwrap();
    assert_eq!(app.recv().unwrap().0, SapiMsg::DetachReply { error: 0 });

    // A second listener on a live path is refused.
    match SapiListener::bind(&path) {
        Err(SapiError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse),
        other => panic!("{other:?}"),
    }
    drop(listener);
    assert!(!path.exists(), "the listener removes its path");
}

#[test]
fn stale_socket_file_is_replaced() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let path = temp_path("stale");
    // What a killed stack leaves: a socket file nobody listens on.
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::net::bind(&fd, &SocketAddrUnix::new(&path).unwrap()).unwrap();
    drop(fd);
    assert!(path.exists());
    let listener = SapiListener::bind(&path).unwrap();
    let app = SapiSocket::connect(&path).unwrap();
    let conn = listener.accept().unwrap();
    app.send(&SapiMsg::AddWorkerReq, &[]).unwrap();
    assert_eq!(conn.recv().unwrap().0, SapiMsg::AddWorkerReq);

    // A path that is not a socket at all is left alone.
    let file = temp_path("plain");
    std::fs::write(&file, b"not a socket").unwrap();
    assert!(SapiListener::bind(&file).is_err());
    assert_eq!(std::fs::read(&file).unwrap(), b"not a socket");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn hangup_is_closed() {
    let (a, b) = SapiSocket::pair().unwrap();
    drop(a);
    assert!(matches!(b.recv(), Err(SapiError::Closed)));
    assert!(matches!(
        b.send(&SapiMsg::DetachReq, &[]),
        Err(SapiError::Closed)
    ));

    let (a, b) = SapiSocket::pair().unwrap();
    b.shutdown();
    assert!(matches!(a.recv(), Err(SapiError::Closed)));
}

#[test]
fn nonblocking_recv_would_block() {
    let (a, b) = SapiSocket::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let e = b.recv().unwrap_err();
    assert!(e.is_would_block(), "{e:?}");
    a.send(&SapiMsg::AddWorkerReq, &[]).unwrap();
    assert_eq!(b.recv().unwrap().0, SapiMsg::AddWorkerReq);
    b.set_nonblocking(false).unwrap();
}

#[test]
fn bad_records_are_errors_and_the_connection_survives() {
    let (a, b) = SapiSocket::pair().unwrap();
    let good = SapiMsg::DelWorkerReq { wrk_index: 3 }.encode().unwrap();

    // Truncated: the header claims 4 body bytes, 2 came.
    a.send_raw(&good[..good.len() - 2], &[]).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::Wire(WireError::LengthMismatch {
            header: 4,
            actual: 2
        }))
    ));
    // Shorter than a header.
    a.send_raw(&good[..SAPI_HEADER_SIZE - 1], &[]).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::Wire(WireError::Truncated))
    ));
    // Oversized.
    a.send_raw(&vec![0xab; SAPI_MAX_RECORD + 100], &[]).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::Wire(WireError::TooLarge(_)))
    ));
    // Wrong version.
    let mut v2 = good.clone();
    v2[2] = 2;
    a.send_raw(&v2, &[]).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::Wire(WireError::BadVersion(2)))
    ));
    // An fd on a record that carries none.
    let ev = eventfd();
    a.send_raw(&good, &[ev.as_fd()]).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::FdCount {
            expected: 0,
            got: 1
        })
    ));
    // A successful reply without its fds.
    a.send_raw(&attach_reply(2).encode().unwrap(), &[]).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::FdCount {
            expected: 4,
            got: 0
        })
    ));
    // The connection still works.
    a.send(&SapiMsg::DelWorkerReq { wrk_index: 3 }, &[])
        .unwrap();
    assert_eq!(b.recv().unwrap().0, SapiMsg::DelWorkerReq { wrk_index: 3 });
}

#[test]
fn send_checks_fd_count_and_size() {
    let (a, _b) = SapiSocket::pair().unwrap();
    let ev = eventfd();
    assert!(matches!(
        a.send(&SapiMsg::DetachReq, &[ev.as_fd()]),
        Err(SapiError::FdCount {
            expected: 0,
            got: 1
        })
    ));
    assert!(matches!(
        a.send(&attach_reply(1), &[ev.as_fd()]),
        Err(SapiError::FdCount {
            expected: 3,
            got: 1
        })
    ));
    let long = SapiMsg::AttachReq(AttachReq {
        name: "n".repeat(300),
        ..AttachReq::default()
    });
    assert!(matches!(a.send(&long, &[]), Err(SapiError::Wire(_))));
}
