//! No fd leaks when records are refused: counts this process's open fds
//! in /proc/self/fd around refused records carrying fds. One test in its
//! own binary, so no other test opens or closes fds meanwhile.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use app_interface::sapi::{SapiError, SapiSocket};
use app_interface::wire::{SAPI_MAX_FDS, SapiMsg, SegmentRef, WireError};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn eventfd() -> OwnedFd {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap()
}

#[test]
fn refused_records_close_every_received_fd() {
    let (a, b) = SapiSocket::pair().unwrap();
    let ev = eventfd();
    let seg = SapiMsg::SegmentFd {
        segment: SegmentRef {
            handle: 1,
            generation: 1,
        },
        size: 1,
    };
    let base = open_fds();

    // More fds than the record's kind carries (SegmentFd carries one).
    let three = [ev.as_fd(), ev.as_fd(), ev.as_fd()];
    a.send_raw(&seg.encode().unwrap(), &three).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::FdCount {
            expected: 1,
            got: 3
        })
    ));
    assert_eq!(open_fds(), base);

    // More fds than any record carries: the kernel cuts the rest.
    let many: Vec<BorrowedFd<'_>> = (0..SAPI_MAX_FDS + 20).map(|_| ev.as_fd()).collect();
    a.send_raw(&seg.encode().unwrap(), &many).unwrap();
    assert!(matches!(b.recv(), Err(SapiError::FdCount { .. })));
    assert_eq!(open_fds(), base);

    // Fds beside a record that does not decode.
    a.send_raw(b"garbage!garbage!", &three).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::Wire(WireError::BadMagic(_)))
    ));
    assert_eq!(open_fds(), base);

    // Fds with an empty record.
    a.send_raw(&[], &three).unwrap();
    assert!(matches!(
        b.recv(),
        Err(SapiError::Wire(WireError::Truncated))
    ));
    assert_eq!(open_fds(), base);

    // An accepted record's fd is ours until dropped.
    a.send(&seg, &[ev.as_fd()]).unwrap();
    let (_, fds) = b.recv().unwrap();
    assert_eq!(open_fds(), base + 1);
    drop(fds);
    assert_eq!(open_fds(), base);
}
