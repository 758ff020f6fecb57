//! Unit tests of segments: allocation, attach, validation of corrupted
//! headers written by a (simulated) hostile peer.

use ct_sync::unmodeled::atomic::Ordering;
use std::os::fd::{AsFd, OwnedFd};

use crate::layout::{FIFO_MAGIC, SegmentHeader};
use crate::{FifoError, FifoSegment, SegmentError, SegmentFlags};

fn dup(seg: &FifoSegment) -> OwnedFd {
    seg.fd().unwrap().try_clone_to_owned().unwrap()
}

fn header(seg: &FifoSegment) -> &SegmentHeader {
    // SAFETY: an owner segment built its header at offset 0.
    unsafe { seg.inner.storage.get::<SegmentHeader>(0) }
}

#[test]
fn create_args_are_checked() {
    let e =
        |r: Result<FifoSegment, SegmentError>| matches!(r, Err(SegmentError::InvalidArgument(_)));
    assert!(e(FifoSegment::create_heap(16, 1, SegmentFlags::empty())));
    assert!(e(FifoSegment::create_heap(
        1 << 16,
        0,
        SegmentFlags::empty()
    )));
    assert!(e(FifoSegment::create(
        "x",
        1 << 16,
        100_000,
        SegmentFlags::empty()
    )));
    let s = FifoSegment::create_heap(1 << 16, 2, SegmentFlags::empty()).unwrap();
    assert!(matches!(
        s.alloc_fifo_w_slice(2, 64),
        Err(SegmentError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.alloc_fifo_w_slice(0, 0),
        Err(SegmentError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.alloc_fifo_w_slice(0, (1 << 31) + 1),
        Err(SegmentError::InvalidArgument(_))
    ));
    assert!(s.fd().is_none());
    assert!(s.is_owner());
    assert_eq!((s.size(), s.n_slices()), (1 << 16, 2));
}

#[test]
fn full_segment_is_an_error_and_leaks_nothing() {
    let s = FifoSegment::create_heap(64 * 1024, 1, SegmentFlags::empty()).unwrap();
    let mut fifos = Vec::new();
    loop {
        let avail = s.available_bytes();
        match s.alloc_fifo_w_slice(0, 4096) {
            Ok(f) => fifos.push(f),
            Err(SegmentError::Full { requested }) => {
                assert_eq!(requested, FifoSegment::fifo_footprint(4096));
                assert!(avail < requested);
                assert_eq!(s.available_bytes(), avail, "a failed alloc takes nothing");
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let n = fifos.len();
    assert!(n >= 10);
    assert_eq!(s.num_fifos(), n);
    // A smaller class still fits in the remainder.
    let small = s.alloc_fifo_w_slice(0, 64);
    if let Ok(f) = &small {
        assert!(s.free_fifo(f).unwrap());
    }
    drop(small);
    for f in &fifos {
        assert!(s.free_fifo(f).unwrap());
    }
    drop(fifos);
    assert_eq!(s.num_fifos(), 0);
    // Everything came back: the same number fits again.
    let again: Vec<_> = (0..n)
        .map(|_| s.alloc_fifo_w_slice(0, 4096).unwrap())
        .collect();
    assert!(matches!(
        s.alloc_fifo_w_slice(0, 4096),
        Err(SegmentError::Full { .. })
    ));
    assert_eq!(again.len(), n);
}

#[test]
fn free_lists_are_per_slice() {
    let s = FifoSegment::create_heap(1 << 20, 2, SegmentFlags::empty()).unwrap();
    let a = s.alloc_fifo_w_slice(0, 1024).unwrap();
    let off = a.offset();
    s.free_fifo(&a).unwrap();
    drop(a);
    let b = s.alloc_fifo_w_slice(1, 1024).unwrap();
    assert_ne!(b.offset(), off, "slice 1 does not take slice 0's chunk");
    let c = s.alloc_fifo_w_slice(0, 1024).unwrap();
    assert_eq!(c.offset(), off);
}

/// The per-slice queries see what one slice can allocate: fresh memory and
/// that slice's own free chunks of the right class, never another slice's.
#[test]
fn slice_queries_see_fresh_memory_and_the_slice_own_free_chunks() {
    let fp = FifoSegment::fifo_footprint(1024);
    let size = crate::layout::segment_header_len() + 2 * fp;
    let s = FifoSegment::create_heap(size, 2, SegmentFlags::empty()).unwrap();
    assert_eq!(s.slice_available_bytes(0), 2 * fp);
    assert_eq!(s.slice_available_bytes(1), 2 * fp);
    assert!(s.can_alloc_fifos_w_slice(1, &[1024, 1024]));
    assert!(!s.can_alloc_fifos_w_slice(1, &[1024, 1024, 1024]));
    assert!(!s.can_alloc_fifos_w_slice(1, &[4096]));
    // Slice 0 uses every fresh byte, frees both fifos; a handle keeps one
    // draining (not reusable yet).
    let a = s.alloc_fifo_w_slice(0, 1024).unwrap();
    let b = s.alloc_fifo_w_slice(0, 1000).unwrap();
    assert!(!s.can_alloc_fifos_w_slice(0, &[1024]));
    assert!(s.free_fifo(&a).unwrap() && s.free_fifo(&b).unwrap());
    drop(a);
    assert_eq!(s.slice_available_bytes(0), fp);
    assert!(s.can_alloc_fifos_w_slice(0, &[1024]));
    assert!(!s.can_alloc_fifos_w_slice(0, &[1024, 1024]));
    drop(b);
    // The segment has room, but only for slice 0.
    assert_eq!(s.available_bytes(), 2 * fp);
    assert_eq!(s.slice_available_bytes(0), 2 * fp);
    assert_eq!(s.slice_available_bytes(1), 0);
    assert!(s.can_alloc_fifos_w_slice(0, &[1024, 513]));
    assert!(!s.can_alloc_fifos_w_slice(0, &[1024, 1024, 1024]));
    assert!(!s.can_alloc_fifos_w_slice(0, &[512]), "another class");
    assert!(!s.can_alloc_fifos_w_slice(1, &[1024]));
    assert!(matches!(
        s.alloc_fifo_w_slice(1, 1024),
        Err(SegmentError::Full { .. })
    ));
    // Reuse moves the counts.
    let c = s.alloc_fifo_w_slice(0, 1024).unwrap();
    assert!(s.can_alloc_fifos_w_slice(0, &[1024]));
    assert!(!s.can_alloc_fifos_w_slice(0, &[1024, 1024]));
    assert_eq!(s.slice_available_bytes(0), fp);
    // Bad arguments are a plain "no".
    assert!(s.can_alloc_fifos_w_slice(0, &[]));
    assert!(!s.can_alloc_fifos_w_slice(0, &[0]));
    assert!(!s.can_alloc_fifos_w_slice(2, &[1024]));
    assert_eq!(s.slice_available_bytes(2), 0);
    drop(c);
}

/// Fresh memory serves every class, once: two classes that each fit alone
/// may not fit together.
#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn slice_query_adds_up_fresh_memory_across_classes() {
    let (small, big) = (
        FifoSegment::fifo_footprint(1024),
        FifoSegment::fifo_footprint(2048),
    );
    let size = crate::layout::segment_header_len() + small + big;
    let s = FifoSegment::create("classes", size, 2, SegmentFlags::empty()).unwrap();
    assert!(s.can_alloc_fifos_w_slice(1, &[1024, 2048]));
    assert!(!s.can_alloc_fifos_w_slice(1, &[2048, 2048]));
    let a = s.alloc_fifo_w_slice(0, 1024).unwrap();
    assert!(s.can_alloc_fifos_w_slice(1, &[2048]));
    assert!(!s.can_alloc_fifos_w_slice(1, &[1024, 2048]));
    assert!(s.free_fifo(&a).unwrap());
    drop(a);
    // Slice 0's free small chunk and the fresh bytes for a big one.
    assert!(s.can_alloc_fifos_w_slice(0, &[2048, 1024]));
    assert!(!s.can_alloc_fifos_w_slice(1, &[2048, 1024]));
    // A peer allocates nothing.
    let peer = FifoSegment::attach(dup(&s)).unwrap();
    assert!(!peer.can_alloc_fifos_w_slice(0, &[64]));
    assert_eq!(peer.slice_available_bytes(0), 0);
}

/// Over a seeded random run of pair allocations and frees on two slices,
/// the query predicts every pair allocation: true exactly when both fifos
/// can be had.
#[test]
fn slice_query_predicts_every_pair_allocation() {
    let s = FifoSegment::create_heap(64 << 10, 2, SegmentFlags::empty()).unwrap();
    let usable = s.available_bytes();
    let mut live: Vec<crate::Fifo> = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    // Miri interprets every step: a twentieth of the run still mixes
    // fits and misses.
    let rounds = if cfg!(miri) { 1_000 } else { 20_000 };
    let (mut yes, mut no) = (0, 0);
    for _ in 0..rounds {
        if rand(3) == 0 && !live.is_empty() {
            let f = live.swap_remove(rand(live.len() as u64) as usize);
            assert!(s.free_fifo(&f).unwrap());
            continue;
        }
        let slice = rand(2) as u32;
        let sizes = [64u32 << rand(6), 64u32 << rand(6)];
        let predicted = s.can_alloc_fifos_w_slice(slice, &sizes);
        let first = s.alloc_fifo_w_slice(slice, sizes[0]);
        let second = s.alloc_fifo_w_slice(slice, sizes[1]);
        match (first, second) {
            (Ok(a), Ok(b)) => {
                assert!(predicted, "{sizes:?} on {slice} allocated, predicted not");
                live.extend([a, b]);
                yes += 1;
            }
            (first, second) => {
                assert!(!predicted, "{sizes:?} on {slice} failed, predicted to fit");
                for f in [first, second].into_iter().flatten() {
                    assert!(s.free_fifo(&f).unwrap());
                }
                no += 1;
            }
        }
    }
    assert!(
        yes > rounds / 200 && no > rounds / 200,
        "{yes} fits, {no} misses"
    );
    for f in &live {
        assert!(s.free_fifo(f).unwrap());
    }
    drop(live);
    assert_eq!((s.num_fifos(), s.available_bytes()), (0, usable));
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn foreign_fifo_and_not_owner() {
    let s1 = FifoSegment::create("a", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    let s2 = FifoSegment::create_heap(1 << 16, 1, SegmentFlags::empty()).unwrap();
    let f = s1.alloc_fifo_w_slice(0, 64).unwrap();
    assert!(matches!(s2.free_fifo(&f), Err(SegmentError::ForeignFifo)));
    let peer = FifoSegment::attach(dup(&s1)).unwrap();
    assert!(!peer.is_owner());
    assert!(matches!(
        peer.alloc_fifo_w_slice(0, 64),
        Err(SegmentError::NotOwner)
    ));
    let pf = peer.fifo_at(f.offset()).unwrap();
    assert!(matches!(peer.free_fifo(&pf), Err(SegmentError::NotOwner)));
    assert_eq!(peer.available_bytes(), 0);
    assert!(!peer.same(&s1) && s1.same(&s1.clone()));
}

#[test]
fn owner_fifo_at_shares_the_private_part() {
    let s = FifoSegment::create_heap(1 << 16, 1, SegmentFlags::empty()).unwrap();
    let f = s.alloc_fifo_w_slice(0, 64).unwrap();
    let g = s.fifo_at(f.offset()).unwrap();
    assert!(g.same(&f));
    let _tx = f.producer().unwrap();
    assert_eq!(g.producer().unwrap_err(), FifoError::RoleTaken);
    assert!(matches!(
        s.fifo_at(f.offset() + 64),
        Err(SegmentError::Corrupted(_)) | Err(SegmentError::InvalidArgument(_))
    ));
    assert!(matches!(s.fifo_at(3), Err(SegmentError::Corrupted(_))));
    assert!(matches!(
        s.fifo_at(1 << 40),
        Err(SegmentError::Corrupted(_))
    ));
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn peer_mapping_sees_the_owners_data() {
    let s = FifoSegment::create("peer", 1 << 20, 1, SegmentFlags::CUSTOM_USE).unwrap();
    let f = s.alloc_fifo_w_slice(0, 4096).unwrap();
    f.set_master_session(1, 42);
    let peer = FifoSegment::attach(dup(&s)).unwrap();
    assert_eq!(peer.flags(), SegmentFlags::CUSTOM_USE);
    assert_eq!((peer.size(), peer.n_slices()), (1 << 20, 1));
    let pf = peer.fifo_at(f.offset()).unwrap();
    assert_eq!(pf.size(), 4096);
    assert_eq!(pf.master_session(), (1, 42));
    let mut tx = f.producer().unwrap();
    let mut rx = pf.consumer().unwrap();
    for i in 0..100u32 {
        let msg = i.to_le_bytes().repeat(300);
        let mut sent = 0;
        let mut got = Vec::new();
        while got.len() < msg.len() {
            sent += tx.enqueue(&msg[sent..]).unwrap();
            let mut buf = [0u8; 700];
            let n = rx.dequeue(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, msg);
    }
    assert!(pf.set_event());
    assert!(f.has_event(), "flags are shared too");
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn flags_are_private_and_mirrored() {
    let s = FifoSegment::create("flags", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    s.set_flags(SegmentFlags::CUSTOM_USE | SegmentFlags::MEM_LIMIT);
    s.clear_flags(SegmentFlags::MEM_LIMIT);
    assert_eq!(s.flags(), SegmentFlags::CUSTOM_USE);
    assert_eq!(
        header(&s).flags.load(Ordering::Relaxed),
        SegmentFlags::CUSTOM_USE.bits()
    );
    // A peer scribbling on the mirror changes nothing for the owner.
    header(&s).flags.store(u32::MAX, Ordering::Relaxed);
    assert_eq!(s.flags(), SegmentFlags::CUSTOM_USE);
    let peer = FifoSegment::attach(dup(&s)).unwrap();
    assert_eq!(peer.flags(), SegmentFlags::all(), "unknown bits dropped");
    peer.clear_flags(SegmentFlags::all());
    assert_eq!(peer.flags(), SegmentFlags::empty());
    assert_eq!(s.flags(), SegmentFlags::CUSTOM_USE);
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn corrupted_segment_header_fails_attach() {
    let s = FifoSegment::create("corrupt", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    let h = header(&s);
    let check = |what: &str| {
        let r = FifoSegment::attach(dup(&s));
        assert!(
            matches!(r, Err(SegmentError::Corrupted(_))),
            "{what}: {r:?}"
        );
    };
    let magic = h.magic.load(Ordering::Relaxed);
    h.magic.store(magic ^ 1, Ordering::Relaxed);
    check("magic");
    h.magic.store(magic, Ordering::Relaxed);
    h.version.store(99, Ordering::Relaxed);
    check("version");
    h.version
        .store(crate::layout::SEGMENT_VERSION, Ordering::Relaxed);
    h.size.store(1 << 30, Ordering::Relaxed);
    check("size");
    h.size.store(1 << 16, Ordering::Relaxed);
    h.n_slices.store(0, Ordering::Relaxed);
    check("n_slices");
    h.n_slices.store(1, Ordering::Relaxed);
    h.header_len.store(8, Ordering::Relaxed);
    check("header_len");
    h.header_len.store(
        crate::layout::segment_header_len() as u32,
        Ordering::Relaxed,
    );
    FifoSegment::attach(dup(&s)).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn attach_rejects_unsealed_and_foreign_files() {
    use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
    let fd = memfd_create("unsealed", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
    ftruncate(&fd, 1 << 16).unwrap();
    assert!(matches!(FifoSegment::attach(fd), Err(SegmentError::Io(_))));
    let fd = memfd_create("zeros", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
    ftruncate(&fd, 1 << 16).unwrap();
    rustix::fs::fcntl_add_seals(&fd, rustix::fs::SealFlags::SHRINK).unwrap();
    assert!(matches!(
        FifoSegment::attach(fd),
        Err(SegmentError::Corrupted(_))
    ));
    let fd = memfd_create("tiny", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
    ftruncate(&fd, 8).unwrap();
    rustix::fs::fcntl_add_seals(&fd, rustix::fs::SealFlags::SHRINK).unwrap();
    assert!(matches!(
        FifoSegment::attach(fd),
        Err(SegmentError::Corrupted(_))
    ));
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn memfd_is_sealed_against_resizing() {
    let s = FifoSegment::create("sealed", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    let fd = s.fd().unwrap();
    assert!(rustix::fs::ftruncate(fd.as_fd(), 4096).is_err());
    assert!(rustix::fs::ftruncate(fd.as_fd(), 1 << 20).is_err());
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn corrupted_fifo_header_seen_by_peer_fifo_at() {
    let s = FifoSegment::create("fifohdr", 1 << 20, 1, SegmentFlags::empty()).unwrap();
    let f = s.alloc_fifo_w_slice(0, 4096).unwrap();
    let peer = FifoSegment::attach(dup(&s)).unwrap();
    let ctl = &f.inner().shared().ctl.0;
    ctl.magic.store(0xdead, Ordering::Relaxed);
    assert!(matches!(
        peer.fifo_at(f.offset()),
        Err(SegmentError::Corrupted(_))
    ));
    assert!(
        s.fifo_at(f.offset()).is_ok(),
        "the owner's handle is still open"
    );
    ctl.magic.store(FIFO_MAGIC, Ordering::Relaxed);
    ctl.size.store(3000, Ordering::Relaxed);
    assert!(matches!(
        peer.fifo_at(f.offset()),
        Err(SegmentError::Corrupted(_))
    ));
    ctl.size.store(1 << 30, Ordering::Relaxed);
    assert!(
        matches!(peer.fifo_at(f.offset()), Err(SegmentError::Corrupted(_))),
        "data past the end"
    );
    ctl.size.store(0, Ordering::Relaxed);
    assert!(matches!(
        peer.fifo_at(f.offset()),
        Err(SegmentError::Corrupted(_))
    ));
    // The owner never re-reads the size: its handle keeps working.
    let mut tx = f.producer().unwrap();
    assert_eq!(tx.enqueue(&[0; 5000]).unwrap(), 4096);
}

#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn corrupted_head_or_tail_is_an_error_on_the_other_side() {
    let s = FifoSegment::create("headtail", 1 << 20, 1, SegmentFlags::empty()).unwrap();
    let f = s.alloc_fifo_w_slice(0, 64).unwrap();
    let peer = FifoSegment::attach(dup(&s)).unwrap();
    let pf = peer.fifo_at(f.offset()).unwrap();
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    tx.enqueue(&[1; 64]).unwrap();
    assert_eq!(rx.dequeue(&mut [0u8; 1]).unwrap(), 1);
    let shr = pf.inner().shared();
    // Peer writes a head beyond our tail: the producer must not trust it.
    shr.consumer.0.head.store(1000, Ordering::Relaxed);
    assert_eq!(
        tx.enqueue(b"x"),
        Err(FifoError::Corrupted("head/tail distance exceeds fifo size"))
    );
    assert!(matches!(tx.max_enqueue(), Err(FifoError::Corrupted(_))));
    assert!(matches!(tx.write_slices(), Err(FifoError::Corrupted(_))));
    assert!(matches!(f.max_dequeue(), Err(FifoError::Corrupted(_))));
    assert!(matches!(f.producer(), Err(FifoError::RoleTaken)));
    shr.consumer.0.head.store(1, Ordering::Relaxed);
    // Peer writes a tail far past our head: the consumer must not read it.
    shr.tail.0.store(1 << 20, Ordering::Relaxed);
    let mut buf = [0u8; 128];
    // The cached tail (64) still satisfies a small read.
    assert_eq!(rx.dequeue(&mut buf[..10]).unwrap(), 10);
    assert!(matches!(rx.dequeue(&mut buf), Err(FifoError::Corrupted(_))));
    assert!(matches!(rx.peek(0, &mut buf), Err(FifoError::Corrupted(_))));
    assert!(matches!(rx.read_slices(), Err(FifoError::Corrupted(_))));
    assert!(matches!(rx.max_dequeue(), Err(FifoError::Corrupted(_))));
    assert!(matches!(rx.dequeue_drop(100), Err(FifoError::Corrupted(_))));
    // Tail behind head is as bad.
    shr.tail.0.store(5, Ordering::Relaxed);
    assert!(matches!(rx.dequeue(&mut buf), Err(FifoError::Corrupted(_))));
    drop((tx, rx));
    assert!(matches!(f.consumer(), Err(FifoError::Corrupted(_))));
    assert!(matches!(f.producer(), Err(FifoError::Corrupted(_))));
    // Roles were not leaked by the failed takes.
    shr.tail.0.store(64, Ordering::Relaxed);
    assert!(f.consumer().is_ok() && f.producer().is_ok());
}

/// A hostile peer scribbles random heads and tails while the owner keeps
/// streaming: every operation answers Ok or a typed error, never a panic or
/// an access outside the fifo.
#[test]
#[cfg_attr(miri, ignore = "memfd_create/mmap: syscalls Miri does not support")]
fn hostile_peer_scribbling_never_breaks_the_owner() {
    use ct_sync::unmodeled::atomic::AtomicBool;
    use std::sync::Arc;
    let s = FifoSegment::create("hostile", 1 << 20, 1, SegmentFlags::empty()).unwrap();
    let f = s.alloc_fifo_w_slice(0, 256).unwrap();
    let peer = FifoSegment::attach(dup(&s)).unwrap();
    let pf = peer.fifo_at(f.offset()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let scribbler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let shr = pf.inner().shared();
            let mut x = 0x2545_f491_4f6c_dd1du64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly plausible lies (a distance up to a bit over the
                // size), sometimes wild values.
                let near = (x >> 32) as u32 % 300;
                match x % 4 {
                    0 => shr.consumer.0.head.store(x as u32, Ordering::Relaxed),
                    1 => shr.tail.0.store(x as u32, Ordering::Relaxed),
                    2 => {
                        let t = shr.tail.0.load(Ordering::Relaxed);
                        shr.consumer
                            .0
                            .head
                            .store(t.wrapping_sub(near), Ordering::Relaxed);
                    }
                    _ => {
                        let h = shr.consumer.0.head.load(Ordering::Relaxed);
                        shr.tail.0.store(h.wrapping_add(near), Ordering::Relaxed);
                    }
                }
                std::thread::yield_now();
            }
        })
    };
    let (mut ok, mut corrupted) = (0u32, 0u32);
    fn tally(counts: (&mut u32, &mut u32), r: Result<usize, FifoError>) {
        match r {
            Ok(_) => *counts.0 += 1,
            Err(FifoError::Corrupted(_)) => *counts.1 += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let mut buf = [0u8; 300];
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    while std::time::Instant::now() < deadline || corrupted == 0 || ok == 0 {
        assert!(
            deadline.elapsed() < std::time::Duration::from_secs(20),
            "no mix of outcomes: ok {ok}, corrupted {corrupted}"
        );
        // Fresh roles each round: a role's construction validates too.
        let (Ok(mut tx), Ok(mut rx)) = (f.producer(), f.consumer()) else {
            corrupted += 1;
            continue;
        };
        let data = buf;
        tally((&mut ok, &mut corrupted), tx.enqueue(&data[..100]));
        tally((&mut ok, &mut corrupted), rx.dequeue(&mut buf));
        let r = rx.peek(3, &mut buf);
        // Peeking past a (bogus) readable range is OutOfRange, also fine.
        if r != Err(FifoError::OutOfRange) {
            tally((&mut ok, &mut corrupted), r);
        }
        let r = rx.dequeue_drop(7).map(|n| n as usize);
        tally((&mut ok, &mut corrupted), r);
        let r = tx.write_slices().map(|(a, b)| a.len() + b.len());
        tally((&mut ok, &mut corrupted), r);
        let r = rx.read_slices().map(|(a, b)| a.len() + b.len());
        tally((&mut ok, &mut corrupted), r);
        tally(
            (&mut ok, &mut corrupted),
            f.max_dequeue().map(|n| n as usize),
        );
        let _ = f.needs_deq_ntf(1);
    }
    stop.store(true, Ordering::Relaxed);
    scribbler.join().unwrap();
    assert!(corrupted > 0, "the scribbler was never noticed");
    assert!(ok > 0);
}
