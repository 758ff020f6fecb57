//! A blocking reader waits on its rx fifo's reader-state word
//! (ARCHITECTURE.md, "Event flow"): a write wakes it with no event at
//! all, as do the stack filing a close or a reset (it queues the event,
//! then wakes the word, as stackd's sink does) and a close or shutdown
//! from another handle; a daemon that goes away is noticed by a reader
//! parked on the word (its sleep is bounded).

mod common;

use std::io::{self, Read};
use std::net::Shutdown;
use std::time::Duration;

use common::{CtSeg, FakeStack, Peer, accepted, bind};
use ct_app_client::{AppClient, CtListener, CtStream};
use ct_app_interface::wire::{SessionRef, StackMsg};
use ct_fifo_segment::{ReaderState, ReaderWake};

const LISTENER: SessionRef = SessionRef {
    handle: 5,
    generation: 1,
};

fn accepted_pair(
    stack: &mut FakeStack,
    client: &AppClient,
) -> (CtListener, CtStream, Peer, SessionRef) {
    let listener = bind(stack, client, "127.0.0.1:7100", LISTENER);
    let seg = CtSeg::new(0x100);
    stack.add_segment(1, seg.r, &seg.seg);
    let peer = Peer::new(&seg, 4096);
    let s = SessionRef::new(1, 9, 7);
    accepted(
        stack,
        LISTENER,
        s,
        &peer,
        "127.0.0.1:40000",
        "127.0.0.1:7100",
    );
    let (stream, _) = listener.accept().unwrap();
    (listener, stream, peer, s)
}

/// Waits until the reader sleeps on the word (its spin ran out).
fn until_asleep(peer: &Peer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while peer.to_app.fifo().reader_state() != ReaderState::Sleeping {
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never slept on its fifo"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_write_wakes_a_sleeping_reader_without_an_event() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, mut peer, _s) = accepted_pair(&mut stack, &client);
    std::thread::scope(|sc| {
        let reader = sc.spawn(|| {
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).map(|()| buf)
        });
        until_asleep(&peer);
        // The writer's rule: enqueue, then look at the word; no RX event.
        assert_eq!(peer.to_app.enqueue(b"wake").unwrap(), 4);
        assert_ne!(peer.to_app.fifo().notify_reader(), ReaderWake::Idle);
        assert_eq!(&reader.join().unwrap().unwrap(), b"wake");
    });
    assert!(stream.counters().sleeps >= 1);
    // Done waiting: the word is idle again, so writes take the event path.
    assert_eq!(peer.to_app.fifo().reader_state(), ReaderState::Idle);
}

#[test]
fn a_peer_close_wakes_a_sleeping_reader() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, peer, s) = accepted_pair(&mut stack, &client);
    std::thread::scope(|sc| {
        let reader = sc.spawn(|| stream.read(&mut [0u8; 4]));
        until_asleep(&peer);
        stack.send(1, &StackMsg::Disconnected(s));
        assert!(peer.to_app.fifo().wake_reader());
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    });
}

#[test]
fn a_reset_wakes_a_sleeping_reader() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, peer, s) = accepted_pair(&mut stack, &client);
    std::thread::scope(|sc| {
        let reader = sc.spawn(|| stream.read(&mut [0u8; 4]));
        until_asleep(&peer);
        stack.send(1, &StackMsg::Reset(s));
        assert!(peer.to_app.fifo().wake_reader());
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn a_shutdown_from_another_handle_wakes_a_sleeping_reader() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, stream, peer, _s) = accepted_pair(&mut stack, &client);
    let mut other = stream.try_clone().unwrap();
    std::thread::scope(|sc| {
        let reader = sc.spawn(move || other.read(&mut [0u8; 4]));
        until_asleep(&peer);
        stream.shutdown(Shutdown::Read).unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    });
}

#[test]
fn a_reader_asleep_on_its_fifo_notices_the_daemon_gone() {
    let (mut stack, client) = FakeStack::attach(2);
    let (_l, mut stream, peer, _s) = accepted_pair(&mut stack, &client);
    std::thread::scope(|sc| {
        let reader = sc.spawn(|| stream.read(&mut [0u8; 4]));
        until_asleep(&peer);
        // Nobody wakes the word: the reader's bounded sleep ends and it
        // finds the socket hung up.
        drop(stack);
        let r = reader.join().unwrap();
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::NotConnected);
    });
}
