//! A stack that sends what no stack should: the client answers with
//! errors (and refusals to the stack), never a panic, and keeps working.

mod common;

use std::io;
use std::time::Duration;

use common::{CtSeg, FakeStack, Peer, accepted, addr, bind, ep};
use ct_app_client::{AppClient, AttachConfig, ClientError, CtStream, client_error};
use ct_app_interface::sapi::SapiMsg;
use ct_app_interface::wire::{AppMsg, FifoRef, SegmentRef, SessionRef, StackMsg};

const LISTENER: SessionRef = SessionRef {
    handle: 5,
    generation: 1,
};

fn is_protocol(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
        && matches!(client_error(e), Some(ClientError::Protocol(_)))
}

#[test]
fn accepted_naming_a_segment_never_sent() {
    let (mut stack, client) = FakeStack::attach(2);
    let listener = bind(&mut stack, &client, "127.0.0.1:7000", LISTENER);
    // Fifos in a segment whose fd never went to the app.
    let hidden = CtSeg::new(0x900);
    let peer = Peer::new(&hidden, 4096);
    let s = SessionRef::new(1, 1, 1);
    accepted(
        &mut stack,
        LISTENER,
        s,
        &peer,
        "127.0.0.1:1",
        "127.0.0.1:7000",
    );
    let e = listener.accept().unwrap_err();
    assert!(is_protocol(&e), "{e:?}");
    // The stack hears the refusal.
    let AppMsg::AcceptReply { session, error } = stack.recv(1) else {
        panic!()
    };
    assert_eq!(session, s);
    assert_ne!(error, 0);
    assert_eq!(client.counters().protocol_errors, 1);
    assert_eq!(client.counters().sessions, 0);

    // The client still works: a proper accept goes through.
    let seg = CtSeg::new(0x901);
    stack.add_segment(1, seg.r, &seg.seg);
    let good = Peer::new(&seg, 4096);
    accepted(
        &mut stack,
        LISTENER,
        SessionRef::new(1, 2, 1),
        &good,
        "127.0.0.1:2",
        "127.0.0.1:7000",
    );
    assert!(listener.accept().is_ok());
}

#[test]
fn fifo_offsets_outside_the_segment_or_at_no_fifo() {
    let (mut stack, client) = FakeStack::attach(2);
    let listener = bind(&mut stack, &client, "127.0.0.1:7000", LISTENER);
    let seg = CtSeg::new(0x910);
    stack.add_segment(1, seg.r, &seg.seg);
    let size = seg.seg.size() as u64;
    // Past the end, wrapping, misaligned, and aligned but inside a
    // fifo's data (no fifo header there).
    let (_data, inside) = seg.fifo(4096);
    let inside = inside.offset + 1024;
    for (i, offset) in [size + 4096, u64::MAX - 63, 100, inside, size - 64]
        .into_iter()
        .enumerate()
    {
        let mut p = Peer::new(&seg, 4096);
        p.rx = FifoRef {
            segment: seg.r,
            offset,
        };
        accepted(
            &mut stack,
            LISTENER,
            SessionRef::new(1, 10 + i as u32, 1),
            &p,
            "127.0.0.1:3",
            "127.0.0.1:7000",
        );
        let e = listener.accept().unwrap_err();
        assert!(is_protocol(&e), "offset {offset:#x}: {e:?}");
        assert!(matches!(stack.recv(1), AppMsg::AcceptReply { error, .. } if error != 0));
    }
}

#[test]
fn a_stale_segment_generation_is_refused() {
    let (mut stack, client) = FakeStack::attach(2);
    let listener = bind(&mut stack, &client, "127.0.0.1:7000", LISTENER);
    let seg = CtSeg::new(0x920);
    stack.add_segment(1, seg.r, &seg.seg);
    let mut p = Peer::new(&seg, 4096);
    p.tx.segment = SegmentRef {
        handle: seg.r.handle,
        generation: seg.r.generation + 1,
    };
    accepted(
        &mut stack,
        LISTENER,
        SessionRef::new(1, 1, 1),
        &p,
        "127.0.0.1:3",
        "127.0.0.1:7000",
    );
    assert!(is_protocol(&listener.accept().unwrap_err()));
}

#[test]
fn garbage_on_the_event_queue() {
    let (mut stack, client) = FakeStack::attach(2);
    stack.send_raw(0, &[0xff, 1, 2, 3]);
    stack.send_raw(1, &[]);
    stack.send_raw(1, &[0x85]); // Disconnected, truncated
    let e = client.poll_events().unwrap_err();
    assert!(is_protocol(&e), "{e:?}");
    assert_eq!(client.counters().protocol_errors, 3);
    // Events about sessions nobody holds are dropped, not errors.
    stack.send(1, &StackMsg::Rx(SessionRef::new(1, 99, 1)));
    stack.send(1, &StackMsg::Reset(SessionRef::new(1, 98, 1)));
    assert_eq!(client.poll_events().unwrap(), 2);
    assert_eq!(client.counters().ignored_events, 2);
    assert!(client.is_attached());
}

#[test]
fn session_on_a_thread_that_does_not_exist() {
    let (mut stack, client) = FakeStack::attach(2);
    let listener = bind(&mut stack, &client, "127.0.0.1:7000", LISTENER);
    let seg = CtSeg::new(0x930);
    stack.add_segment(0, seg.r, &seg.seg);
    let p = Peer::new(&seg, 4096);
    stack.send(
        0,
        &StackMsg::Accepted {
            listener: LISTENER,
            session: SessionRef::new(7, 1, 1),
            rx: p.rx,
            tx: p.tx,
            rmt: ep("127.0.0.1:1"),
            lcl: ep("127.0.0.1:7000"),
        },
    );
    assert!(is_protocol(&client.poll_events().unwrap_err()));
    // Nothing was filed for the bogus session.
    assert_eq!(client.counters().sessions, 0);
    listener.set_nonblocking(true).unwrap();
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[test]
fn add_segment_without_its_fd() {
    let (mut stack, client) = FakeStack::attach(1);
    stack.send(
        0,
        &StackMsg::AddSegment {
            segment: SegmentRef {
                handle: 77,
                generation: 1,
            },
            size: 1 << 20,
        },
    );
    assert!(is_protocol(&client.poll_events().unwrap_err()));
    assert_eq!(client.counters().segments, 0);
}

#[test]
fn a_segment_fd_that_is_not_a_segment() {
    let (mut stack, client) = FakeStack::attach(1);
    let r = SegmentRef {
        handle: 78,
        generation: 1,
    };
    // An eventfd where a sealed memfd segment belongs.
    let not_a_segment = ct_fifo_segment::eventfd::EventFd::new().unwrap();
    use std::os::fd::AsFd;
    stack
        .sock
        .send(
            &SapiMsg::SegmentFd {
                segment: r,
                size: 1 << 20,
            },
            &[not_a_segment.as_fd()],
        )
        .unwrap();
    stack.send(
        0,
        &StackMsg::AddSegment {
            segment: r,
            size: 1 << 20,
        },
    );
    assert!(is_protocol(&client.poll_events().unwrap_err()));
    let c = client.counters();
    assert_eq!((c.segments, c.bad_records), (0, 1));
}

#[test]
fn connected_with_a_bad_fifo_is_reset() {
    let (mut stack, client) = FakeStack::attach(2);
    let seg = CtSeg::new(0x940);
    stack.add_segment(0, seg.r, &seg.seg);
    let mut p = Peer::new(&seg, 4096);
    p.rx.offset += 8; // misaligned
    let s = SessionRef::new(1, 4, 2);
    std::thread::scope(|sc| {
        let h = sc.spawn(|| CtStream::connect(&client, addr("127.0.0.1:7000")));
        let AppMsg::Connect { opaque, .. } = stack.recv(0) else {
            panic!()
        };
        stack.send(
            1,
            &StackMsg::Connected {
                opaque,
                error: 0,
                session: s,
                rx: p.rx,
                tx: p.tx,
                lcl: ep("127.0.0.1:5"),
                rmt: ep("127.0.0.1:7000"),
            },
        );
        let e = h.join().unwrap().unwrap_err();
        assert!(is_protocol(&e), "{e:?}");
    });
    assert_eq!(stack.recv(1), AppMsg::Reset(s));
    assert_eq!(client.counters().sessions, 0);
}

#[test]
fn one_fifo_named_by_two_sessions() {
    let (mut stack, client) = FakeStack::attach(2);
    let listener = bind(&mut stack, &client, "127.0.0.1:7000", LISTENER);
    let seg = CtSeg::new(0x950);
    stack.add_segment(1, seg.r, &seg.seg);
    let p = Peer::new(&seg, 4096);
    accepted(
        &mut stack,
        LISTENER,
        SessionRef::new(1, 1, 1),
        &p,
        "127.0.0.1:1",
        "127.0.0.1:7000",
    );
    let (_first, _) = listener.accept().unwrap();
    // The same fifos again for another session: their roles are taken.
    accepted(
        &mut stack,
        LISTENER,
        SessionRef::new(1, 2, 1),
        &p,
        "127.0.0.1:2",
        "127.0.0.1:7000",
    );
    assert!(is_protocol(&listener.accept().unwrap_err()));
}

#[test]
fn bad_attach_replies() {
    // Each reply is well-formed on the wire (the socket layer checks the
    // fd count against the queue count): what is wrong is what it names.
    type Spoil = fn(&mut ct_app_interface::wire::WorkerReply);
    let spoils: [(Spoil, bool); 4] = [
        (|r| r.queues[0].0 = 1 << 40, false),
        (|r| r.queues[0].1 = r.queues[0].0 + 8, false),
        (|r| r.mq_segment_size += 4096, false),
        (|_| {}, true),
    ];
    for (spoil, eventfd_for_segment) in spoils {
        let (stack, app_end) = FakeStack::new(1);
        let r = std::thread::scope(|sc| {
            let h = sc.spawn(|| AppClient::attach_socket(app_end, AttachConfig::new("x")));
            let _ = stack.recv_record();
            let mut reply = stack.reply();
            spoil(&mut reply);
            let mut fds = stack.reply_fds();
            let efd = ct_fifo_segment::eventfd::EventFd::new().unwrap();
            if eventfd_for_segment {
                use std::os::fd::AsFd;
                fds[0] = efd.as_fd();
            }
            stack.sock.send(&SapiMsg::AttachReply(reply), &fds).unwrap();
            let r = h.join().unwrap();
            // The client gives back what it could not use.
            assert_eq!(stack.recv_record().0, SapiMsg::DetachReq);
            r
        });
        let e = r.unwrap_err();
        assert!(is_protocol(&e), "{e:?}");
    }
}

#[test]
fn a_stack_that_never_answers_times_out_connect() {
    let (mut stack, client) = FakeStack::attach(1);
    let e = CtStream::connect_timeout(&client, addr("127.0.0.1:1"), Duration::from_millis(30))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    // A late answer is closed, not leaked.
    let AppMsg::Connect { opaque, .. } = stack.recv(0) else {
        panic!()
    };
    let seg = CtSeg::new(0x960);
    stack.add_segment(0, seg.r, &seg.seg);
    let p = Peer::new(&seg, 4096);
    let s = SessionRef::new(0, 1, 1);
    stack.send(
        0,
        &StackMsg::Connected {
            opaque,
            error: 0,
            session: s,
            rx: p.rx,
            tx: p.tx,
            lcl: ep("127.0.0.1:5"),
            rmt: ep("127.0.0.1:1"),
        },
    );
    client.poll_events().unwrap();
    assert_eq!(stack.recv(0), AppMsg::Disconnect(s));
    assert_eq!(client.counters().sessions, 0);
}
