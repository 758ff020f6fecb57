//! A child process (the test binary re-executed, not a fork of the test's
//! state) attaches the parent's segment by fd, opens a fifo by offset and
//! consumes a stream the parent produces; the checksum is checked end to
//! end and the child's exit status carries the verdict.
#![cfg(not(loom))]

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BLOCK, Checksum, expected, fill_block};
use ct_fifo_segment::{FifoSegment, SegmentFlags};

const TEST_NAME: &str = "child_process_consumes_stream_by_fd";
const ENV_FD: &str = "FIFO_SEGMENT_TEST_CHILD_FD";
const ENV_OFFSET: &str = "FIFO_SEGMENT_TEST_CHILD_OFFSET";
const ENV_BLOCKS: &str = "FIFO_SEGMENT_TEST_CHILD_BLOCKS";
const BLOCKS: u64 = 256; // 16 MiB
const STALL: Duration = Duration::from_secs(60);

#[test]
#[cfg_attr(
    miri,
    ignore = "spawns a child process and maps a memfd: Miri supports neither"
)]
fn child_process_consumes_stream_by_fd() {
    if std::env::var_os(ENV_FD).is_some() {
        child();
    } else {
        parent();
    }
}

fn parent() {
    let seg = FifoSegment::create("xproc", 1 << 20, 1, SegmentFlags::empty()).unwrap();
    let fifo = seg.alloc_fifo_w_slice(0, 64 * 1024).unwrap();
    // A duplicate without FD_CLOEXEC is what the child inherits.
    let inherit = seg.fd().unwrap().try_clone_to_owned().unwrap();
    rustix::io::fcntl_setfd(&inherit, rustix::io::FdFlags::empty()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(ENV_FD, inherit.as_raw_fd().to_string())
        .env(ENV_OFFSET, fifo.offset().to_string())
        .env(ENV_BLOCKS, BLOCKS.to_string())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    drop(inherit);

    let mut tx = fifo.producer().unwrap();
    let mut block = vec![0u8; BLOCK];
    let mut last_progress = Instant::now();
    for k in 0..BLOCKS {
        fill_block(k, &mut block);
        let mut sent = 0;
        while sent < BLOCK {
            // Odd piece sizes so writes straddle the ring's wrap.
            let n = tx.enqueue(&block[sent..(sent + 5000).min(BLOCK)]).unwrap();
            if n > 0 {
                sent += n;
                last_progress = Instant::now();
                continue;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("child exited early: {status}");
            }
            assert!(last_progress.elapsed() < STALL, "child stalled");
            std::thread::yield_now();
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "child verdict: {status}");
    assert!(fifo.is_empty().unwrap(), "child consumed everything");
    drop(tx);
    assert!(seg.free_fifo(&fifo).unwrap());
}

fn child() {
    let fd: i32 = std::env::var(ENV_FD).unwrap().parse().unwrap();
    let offset: u64 = std::env::var(ENV_OFFSET).unwrap().parse().unwrap();
    let blocks: u64 = std::env::var(ENV_BLOCKS).unwrap().parse().unwrap();
    // SAFETY: the parent left this fd open across exec for us (FD_CLOEXEC
    // cleared) and nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let seg = FifoSegment::attach(fd).unwrap();
    assert!(!seg.is_owner());
    let fifo = seg.fifo_at(offset).unwrap();
    let mut rx = fifo.consumer().unwrap();
    let total = blocks * BLOCK as u64;
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 3001];
    let mut got = 0u64;
    let mut last_progress = Instant::now();
    while got < total {
        let n = rx.dequeue(&mut buf).unwrap();
        if n == 0 {
            assert!(last_progress.elapsed() < STALL, "parent stalled");
            std::thread::yield_now();
            continue;
        }
        sum.update(&buf[..n]);
        got += n as u64;
        last_progress = Instant::now();
    }
    assert_eq!(sum.finish(), expected(blocks), "stream checksum");
}
