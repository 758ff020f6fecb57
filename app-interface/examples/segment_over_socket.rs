//! What crosses the process boundary, between two ends of an app socket:
//! the "stack" end makes a segment with a fifo, sends its fd in a
//! `SegmentFd` record (`SCM_RIGHTS`), then a `Connected` message naming the
//! fifo; the "app" end decodes both, maps the segment from the fd and reads
//! what the stack wrote into the fifo. Both ends run in this process here;
//! across processes the bytes and the fd are the same.
//!
//! `cargo run -p ct-app-interface --example segment_over_socket`

use std::os::fd::AsFd;

use ct_app_interface::SessionError;
use ct_app_interface::sapi::SapiSocket;
use ct_app_interface::wire::{FifoRef, SapiMsg, SegmentRef, SessionRef, StackMsg};
use ct_fifo_segment::{FifoSegment, SegmentFlags};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (stack_end, app_end) = SapiSocket::pair()?;

    // The stack's side: a segment, a fifo in it, some data.
    let seg = FifoSegment::create("example-seg", 1 << 20, 1, SegmentFlags::empty())?;
    let fifo = seg.alloc_fifo_w_slice(0, 4096)?;
    fifo.producer()?.enqueue(b"bytes in shared memory")?;
    let segment = SegmentRef {
        handle: 7,
        generation: 1,
    };
    let fd = seg.fd().ok_or("a memfd segment has an fd")?;
    stack_end.send(
        &SapiMsg::SegmentFd {
            segment,
            size: seg.size() as u64,
        },
        &[fd.as_fd()],
    )?;
    let rx = FifoRef {
        segment,
        offset: fifo.offset(),
    };
    let connected = StackMsg::Connected {
        opaque: 1,
        error: 0,
        session: SessionRef::new(1, 0, 1),
        rx,
        tx: rx,
        lcl: "127.0.0.1:40000".parse::<std::net::SocketAddr>()?.into(),
        rmt: "127.0.0.1:80".parse::<std::net::SocketAddr>()?.into(),
    };
    // Queue messages are bytes too; here they just go in a Vec.
    let queued = connected.encode();

    // The app's side: the record and its fd, then the message.
    let (record, mut fds) = app_end.recv()?;
    let SapiMsg::SegmentFd { segment: got, .. } = record else {
        return Err(format!("expected a segment fd, got {record:?}").into());
    };
    let mapped = FifoSegment::attach(fds.pop().ok_or("the record carries one fd")?)?;
    let msg = StackMsg::decode(&queued).map_err(|e| format!("{e:?}"))?;
    let StackMsg::Connected { error, rx, .. } = msg else {
        return Err(format!("expected Connected, got {msg:?}").into());
    };
    SessionError::check_code(error)?;
    assert_eq!(rx.segment, got);
    let peer_fifo = mapped.fifo_at(rx.offset)?;
    let mut buf = [0u8; 64];
    let n = peer_fifo.consumer()?.dequeue(&mut buf)?;
    println!(
        "app read {n} bytes from the stack's fifo: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    Ok(())
}
