//! No fd leaks when records are refused: counts this process's open fds
//! in /proc/self/fd around refused records carrying fds. One test in its
//! own binary (the proptest cases run one after another on its thread),
//! so no other test opens or closes fds meanwhile.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use ct_app_interface::sapi::{SapiError, SapiSocket};
use ct_app_interface::wire::{SAPI_MAX_FDS, SapiMsg, SegmentRef, WireError};
use proptest::prelude::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn eventfd() -> OwnedFd {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).unwrap()
}

#[test]
fn refused_records_close_every_received_fd() {
    fixed_cases();
    random_records();
}

/// Random records with random fd counts: recv never panics, an accepted
/// record comes with exactly its fds, and nothing stays open.
fn random_records() {
    let (a, b) = SapiSocket::pair().unwrap();
    let ev = eventfd();
    let base = open_fds();
    let accepted = std::cell::Cell::new(0u32);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(500));
    // Either fully random bytes, or a valid header (kind in range, right
    // length) over a body of a length some kind has, so some records are
    // whole and reach the fd checks.
    let strategy = (
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..300),
        0u16..12,
        prop_oneof![Just(0usize), Just(4), Just(20), 0usize..64],
        prop_oneof![3 => Just(0usize), 1 => Just(1), 1 => 2usize..4],
    );
    runner
        .run(
            &strategy,
            |(valid_header, random, kind, body_len, n_fds)| {
                let bytes = if valid_header {
                    let mut b = Vec::new();
                    b.extend_from_slice(&[0xa5, 0xc7, 1, 0]);
                    b.extend_from_slice(&kind.to_le_bytes());
                    b.extend_from_slice(&(body_len as u32).to_le_bytes());
                    b.extend((0..body_len).map(|i| random.get(i).copied().unwrap_or(0)));
                    b
                } else {
                    random
                };
                let fds: Vec<BorrowedFd<'_>> = (0..n_fds).map(|_| ev.as_fd()).collect();
                a.send_raw(&bytes, &fds).unwrap();
                match b.recv() {
                    Ok((m, got)) => {
                        accepted.set(accepted.get() + 1);
                        prop_assert_eq!(got.len(), m.expected_fds());
                        prop_assert_eq!(m.encode().unwrap(), bytes);
                    }
                    Err(SapiError::Closed) => prop_assert!(bytes.is_empty() && n_fds == 0),
                    Err(_) => {}
                }
                prop_assert_eq!(open_fds(), base);
                Ok(())
            },
        )
        .unwrap();
    assert!(
        accepted.get() > 0,
        "no random record was whole: the Ok path went untested"
    );
}

fn fixed_cases() {
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
