//! Message queues between two processes: the parent creates a segment with
//! two queues and two eventfds; a child (the test binary re-executed)
//! inherits the segment's fd and both eventfds, attaches the queues by
//! offset and echoes every message back, each side sleeping on its eventfd
//! whenever its queue is empty (flag-then-recheck). The child's exit status
//! carries its verdict.
#![cfg(not(loom))]

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::msg_q::{MsgConsumer, MsgProducer, MsgQueue, MsgQueueConfig, RingConfig};
use ct_fifo_segment::{FifoSegment, SegmentFlags};

const TEST_NAME: &str = "child_process_echoes_messages";
const ENV: &str = "FIFO_SEGMENT_MSGQ_CHILD";
const MESSAGES: u32 = 20_000;
/// Far longer than any scheduling delay: a wait this long is a lost wake-up.
const LOST: Duration = Duration::from_secs(30);

fn config() -> MsgQueueConfig {
    MsgQueueConfig {
        rings: vec![
            RingConfig {
                nitems: 16,
                elsize: 64,
            },
            RingConfig {
                nitems: 4,
                elsize: 256,
            },
        ],
    }
}

/// Message `i`: its length and bytes are a function of `i`.
fn message(i: u32) -> Vec<u8> {
    let len = 4 + (i as usize * 37) % 253;
    let mut m = i.to_le_bytes().to_vec();
    m.extend((4..len).map(|k| (i as u8) ^ (k as u8)));
    m
}

/// Blocks until a message arrives: drain, else flag-then-recheck, sleep.
fn recv(rx: &mut MsgConsumer, efd: &EventFd, buf: &mut [u8]) -> usize {
    loop {
        if let Some(n) = rx.try_recv(buf).unwrap() {
            return n;
        }
        if rx.prepare_sleep().unwrap() {
            assert!(efd.wait(Some(LOST)).unwrap(), "lost wake-up");
            efd.drain();
        }
        rx.woke();
    }
}

/// Sends, retrying while full, and signals the peer if it sleeps.
fn send(tx: &mut MsgProducer, efd: &EventFd, m: &[u8]) {
    loop {
        match tx.try_send(m) {
            Ok(sleeping) => {
                if sleeping {
                    efd.signal().unwrap();
                }
                return;
            }
            Err(ct_fifo_segment::MsgQueueError::Full) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "spawns a child process, maps a memfd and uses eventfds: Miri supports none"
)]
fn child_process_echoes_messages() {
    if std::env::var_os(ENV).is_some() {
        child();
    } else {
        parent();
    }
}

/// A duplicate of `fd` without FD_CLOEXEC, for the child to inherit.
fn inheritable(fd: impl AsFd) -> OwnedFd {
    let dup = fd.as_fd().try_clone_to_owned().unwrap();
    rustix::io::fcntl_setfd(&dup, rustix::io::FdFlags::empty()).unwrap();
    dup
}

fn parent() {
    let cfg = config();
    let seg = FifoSegment::create("msgq-xproc", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    let to_child = MsgQueue::create(&seg, &cfg).unwrap();
    let to_parent = MsgQueue::create(&seg, &cfg).unwrap();
    let child_evt = EventFd::new().unwrap();
    let parent_evt = EventFd::new().unwrap();
    let fds = [
        inheritable(seg.fd().unwrap()),
        inheritable(&child_evt),
        inheritable(&parent_evt),
    ];
    let spec = format!(
        "{},{},{},{},{}",
        fds[0].as_raw_fd(),
        fds[1].as_raw_fd(),
        fds[2].as_raw_fd(),
        to_child.offset(),
        to_parent.offset()
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(ENV, spec)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    drop(fds);

    let mut tx = to_child.producer().unwrap();
    let mut rx = to_parent.consumer().unwrap();
    let mut buf = vec![0u8; to_parent.max_msg_size()];
    // A window of messages in flight, so both sides also meet full queues.
    let window = 8;
    let mut received = 0;
    for i in 0..MESSAGES {
        send(&mut tx, &child_evt, &message(i));
        if i >= window {
            let n = recv(&mut rx, &parent_evt, &mut buf);
            assert_eq!(&buf[..n], &message(received)[..], "echo {received}");
            received += 1;
        }
    }
    while received < MESSAGES {
        let n = recv(&mut rx, &parent_evt, &mut buf);
        assert_eq!(&buf[..n], &message(received)[..], "echo {received}");
        received += 1;
    }
    send(&mut tx, &child_evt, b"");
    let status = child.wait().unwrap();
    assert!(status.success(), "child verdict: {status}");
    assert!(rx.is_empty());
}

fn child() {
    let spec = std::env::var(ENV).unwrap();
    let v: Vec<u64> = spec.split(',').map(|s| s.parse().unwrap()).collect();
    let [seg_fd, child_evt, parent_evt, to_child, to_parent] = v[..] else {
        panic!("bad spec {spec}");
    };
    // SAFETY: the parent left these fds open across exec for us (FD_CLOEXEC
    // cleared) and nothing else in this process owns them.
    let own = |fd: u64| unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let seg = FifoSegment::attach(own(seg_fd)).unwrap();
    let child_evt = EventFd::from_fd(own(child_evt));
    let parent_evt = EventFd::from_fd(own(parent_evt));
    let inq = MsgQueue::attach(&seg, to_child).unwrap();
    let outq = MsgQueue::attach(&seg, to_parent).unwrap();
    assert_eq!(inq.config(), config());
    let mut rx = inq.consumer().unwrap();
    let mut tx = outq.producer().unwrap();
    let mut buf = vec![0u8; inq.max_msg_size()];
    let mut echoed = 0;
    loop {
        let n = recv(&mut rx, &child_evt, &mut buf);
        if n == 0 {
            break;
        }
        send(&mut tx, &parent_evt, &buf[..n]);
        echoed += 1;
    }
    assert_eq!(echoed, MESSAGES);
}
