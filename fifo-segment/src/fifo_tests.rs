//! Unit tests of fifo operations (heap and memfd segments, one thread).

use crate::{DeqNtf, Fifo, FifoError, FifoSegment, SegmentFlags};

fn seg() -> FifoSegment {
    FifoSegment::create_heap(1 << 20, 2, SegmentFlags::empty()).unwrap()
}

fn fifo(size: u32) -> (FifoSegment, Fifo) {
    let s = seg();
    let f = s.alloc_fifo_w_slice(0, size).unwrap();
    (s, f)
}

fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn enqueue_dequeue_roundtrip() {
    let (_s, f) = fifo(4096);
    assert_eq!(f.size(), 4096);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    assert_eq!(tx.enqueue(b"hello world").unwrap(), 11);
    assert_eq!(f.max_dequeue().unwrap(), 11);
    assert_eq!(f.max_enqueue().unwrap(), 4096 - 11);
    assert_eq!(rx.max_dequeue().unwrap(), 11);
    let mut buf = [0u8; 5];
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 5);
    assert_eq!(&buf, b"hello");
    let mut buf = [0u8; 64];
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b" world");
    assert!(f.is_empty().unwrap());
}

#[test]
fn size_rounds_up_to_power_of_two() {
    let (_s, f) = fifo(1000);
    assert_eq!(f.size(), 1024);
    let (_s, f) = fifo(1);
    assert_eq!(f.size(), 1);
}

#[test]
fn empty_and_full_edges() {
    let (_s, f) = fifo(64);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    let mut buf = [0u8; 128];
    assert_eq!(
        rx.dequeue(&mut buf).unwrap(),
        0,
        "empty fifo dequeues nothing"
    );
    assert!(f.is_empty().unwrap() && !f.is_full().unwrap());
    let data = pattern(0, 100);
    assert_eq!(tx.enqueue(&data).unwrap(), 64, "copies only what fits");
    assert!(f.is_full().unwrap() && !f.is_empty().unwrap());
    assert_eq!(tx.max_enqueue().unwrap(), 0);
    assert_eq!(tx.enqueue(&data).unwrap(), 0, "full fifo enqueues nothing");
    assert_eq!(tx.enqueue(&[]).unwrap(), 0);
    assert_eq!(rx.dequeue(&mut buf[..10]).unwrap(), 10);
    assert_eq!(
        tx.enqueue(&data[64..]).unwrap(),
        10,
        "refreshes the cached head"
    );
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 64);
    let mut expect = data[10..64].to_vec();
    expect.extend_from_slice(&data[64..74]);
    assert_eq!(&buf[..64], &expect[..]);
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 0);
}

#[test]
fn wrap_around_at_u32_overflow() {
    let (_s, f) = fifo(16);
    f.init_pointers(u32::MAX - 20).unwrap();
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    let data = pattern(0, 16 * 8);
    let mut out = Vec::new();
    let (mut w, mut buf) = (0, [0u8; 7]);
    while out.len() < data.len() {
        w += tx.enqueue(&data[w..(w + 11).min(data.len())]).unwrap();
        let n = rx.dequeue(&mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, data);
    // The positions crossed u32::MAX.
    let shr = f.inner().shared();
    let tail = shr
        .tail
        .0
        .load(ct_sync::unmodeled::atomic::Ordering::Relaxed);
    assert!(tail < 1000, "tail wrapped to {tail}");
}

#[test]
fn peek_at_offsets_across_the_wrap() {
    let (_s, f) = fifo(16);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    tx.enqueue(&[0u8; 12]).unwrap();
    rx.dequeue_drop(12).unwrap();
    let data = pattern(50, 10);
    tx.enqueue(&data).unwrap(); // occupies ring indices 12..16 and 0..6
    let mut buf = [0u8; 16];
    assert_eq!(rx.peek(0, &mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], &data[..]);
    assert_eq!(rx.peek(3, &mut buf[..4]).unwrap(), 4);
    assert_eq!(&buf[..4], &data[3..7]);
    assert_eq!(rx.peek(7, &mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], &data[7..]);
    assert_eq!(rx.peek(10, &mut buf).unwrap(), 0);
    assert_eq!(rx.peek(11, &mut buf), Err(FifoError::OutOfRange));
    assert_eq!(rx.max_dequeue().unwrap(), 10, "peek consumes nothing");
}

#[test]
fn dequeue_drop_and_drop_all() {
    let (_s, f) = fifo(64);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    tx.enqueue(&pattern(0, 40)).unwrap();
    assert_eq!(rx.dequeue_drop(15).unwrap(), 15);
    let mut b = [0u8; 1];
    rx.dequeue(&mut b).unwrap();
    assert_eq!(b[0], pattern(15, 1)[0]);
    assert_eq!(
        rx.dequeue_drop(100).unwrap(),
        24,
        "drops only what is there"
    );
    assert_eq!(rx.dequeue_drop(1).unwrap(), 0);
    tx.enqueue(&pattern(0, 30)).unwrap();
    assert_eq!(rx.dequeue_drop_all().unwrap(), 30);
    assert!(f.is_empty().unwrap());
}

#[test]
fn zero_copy_write_commit_read_release() {
    let (_s, f) = fifo(16);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    tx.enqueue(&[9u8; 10]).unwrap();
    rx.dequeue_drop(10).unwrap();
    {
        let (a, b) = tx.write_slices().unwrap();
        assert_eq!((a.len(), b.len()), (6, 10), "free space split at the wrap");
        a.copy_from_slice(&pattern(0, 6));
        b[..4].copy_from_slice(&pattern(6, 4));
    }
    assert_eq!(tx.commit(17), Err(FifoError::OutOfRange));
    tx.commit(10).unwrap();
    assert_eq!(f.max_dequeue().unwrap(), 10);
    {
        let (a, b) = rx.read_slices().unwrap();
        assert_eq!((a.len(), b.len()), (6, 4));
        let mut got = a.to_vec();
        got.extend_from_slice(b);
        assert_eq!(got, pattern(0, 10));
    }
    assert_eq!(rx.release(11), Err(FifoError::OutOfRange));
    rx.release(4).unwrap();
    let mut buf = [0u8; 6];
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..], &pattern(4, 6)[..]);
    let (a, b) = rx.read_slices().unwrap();
    assert!(a.is_empty() && b.is_empty());
}

#[test]
fn roles_taken_once_and_released_on_drop() {
    let (_s, f) = fifo(64);
    let tx = f.producer().unwrap();
    assert_eq!(f.clone().producer().unwrap_err(), FifoError::RoleTaken);
    let rx = f.consumer().unwrap();
    assert_eq!(f.consumer().unwrap_err(), FifoError::RoleTaken);
    assert_eq!(f.init_pointers(5), Err(FifoError::RoleTaken));
    assert!(tx.fifo().same(&f) && rx.fifo().same(&f));
    drop(tx);
    assert_eq!(
        f.init_pointers(5),
        Err(FifoError::RoleTaken),
        "consumer still held"
    );
    let mut tx = f.producer().unwrap();
    drop(rx);
    let rx = f.consumer().unwrap();
    tx.enqueue(b"ab").unwrap();
    assert_eq!(rx.max_dequeue().unwrap(), 2);
}

#[test]
fn new_roles_resume_at_the_shared_positions() {
    let (_s, f) = fifo(64);
    let mut tx = f.producer().unwrap();
    tx.enqueue(b"abc").unwrap();
    drop(tx);
    let mut tx = f.producer().unwrap();
    tx.enqueue(b"def").unwrap();
    let mut rx = f.consumer().unwrap();
    let mut buf = [0u8; 2];
    rx.dequeue(&mut buf).unwrap();
    drop(rx);
    let mut rx = f.consumer().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"cdef");
}

#[test]
fn roles_are_send() {
    let (_s, f) = fifo(1024);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    let t = std::thread::spawn(move || tx.enqueue(b"x").unwrap());
    assert_eq!(t.join().unwrap(), 1);
    let t = std::thread::spawn(move || {
        let mut b = [0u8; 1];
        rx.dequeue(&mut b).unwrap()
    });
    assert_eq!(t.join().unwrap(), 1);
}

#[test]
fn event_flag_reports_transitions() {
    let (_s, f) = fifo(64);
    assert!(!f.has_event());
    assert!(f.set_event(), "was clear: send the event");
    assert!(!f.set_event(), "already pending: do not send");
    assert!(f.has_event());
    f.unset_event();
    assert!(!f.has_event());
    assert!(f.set_event());
}

#[test]
fn deq_ntf_notif_is_one_shot() {
    let (_s, f) = fifo(64);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    assert!(!f.needs_deq_ntf(1), "nothing armed");
    f.add_want_deq_ntf(DeqNtf::NOTIF);
    assert_eq!(f.want_deq_ntf(), DeqNtf::NOTIF);
    tx.enqueue(b"abcd").unwrap();
    assert_eq!(rx.dequeue_drop(1).unwrap(), 1);
    assert!(f.needs_deq_ntf(1));
    f.clear_deq_ntf();
    assert_eq!(f.want_deq_ntf(), DeqNtf::empty());
    assert!(!f.needs_deq_ntf(1));
}

#[test]
fn deq_ntf_if_full_fires_once_until_reset() {
    let (_s, f) = fifo(8);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    f.add_want_deq_ntf(DeqNtf::IF_FULL);
    tx.enqueue(&[1; 4]).unwrap();
    rx.dequeue_drop(2).unwrap();
    assert!(!f.needs_deq_ntf(2), "fifo was not full");
    tx.enqueue(&[1; 6]).unwrap();
    assert!(f.is_full().unwrap());
    rx.dequeue_drop(3).unwrap();
    assert!(f.needs_deq_ntf(3), "full -> not full");
    f.clear_deq_ntf();
    assert_eq!(f.want_deq_ntf(), DeqNtf::IF_FULL, "IF_FULL stays armed");
    tx.enqueue(&[1; 3]).unwrap();
    rx.dequeue_drop(1).unwrap();
    assert!(!f.needs_deq_ntf(1), "already notified");
    f.reset_has_deq_ntf();
    assert!(f.needs_deq_ntf(1));
    f.del_want_deq_ntf(DeqNtf::IF_FULL);
    assert!(!f.needs_deq_ntf(1));
}

#[test]
fn deq_ntf_if_empty() {
    let (_s, f) = fifo(8);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    f.add_want_deq_ntf(DeqNtf::IF_EMPTY);
    tx.enqueue(&[1; 4]).unwrap();
    rx.dequeue_drop(2).unwrap();
    assert!(!f.needs_deq_ntf(2));
    rx.dequeue_drop(2).unwrap();
    assert!(f.needs_deq_ntf(2));
    f.clear_deq_ntf();
    // VPP marks only a lone IF_FULL request as sent; IF_EMPTY keeps firing.
    assert!(f.needs_deq_ntf(0));
}

#[test]
fn master_session_and_private_indices() {
    let (_s, f) = fifo(64);
    assert_eq!(f.master_session(), (u32::MAX, u32::MAX));
    f.set_master_session(2, 77);
    assert_eq!(f.master_session(), (2, 77));
    assert_eq!(f.segment_index(), u32::MAX);
    f.set_segment_index(4);
    f.set_segment_manager_index(9);
    assert_eq!((f.segment_index(), f.segment_manager_index()), (4, 9));
    assert_eq!(f.refcount(), 1);
    assert_eq!(f.ref_inc(), 2);
    assert_eq!(f.ref_dec(), 1);
}

#[test]
fn stale_handles_after_free() {
    let (s, f) = fifo(64);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    tx.enqueue(b"abc").unwrap();
    f.ref_inc();
    assert!(!s.free_fifo(&f).unwrap(), "one reference left");
    assert!(!f.is_freed());
    assert_eq!(s.num_fifos(), 1);
    assert!(s.free_fifo(&f).unwrap());
    assert!(f.is_freed());
    assert_eq!(s.num_fifos(), 0);
    let mut buf = [0u8; 4];
    assert_eq!(tx.enqueue(b"x"), Err(FifoError::Freed));
    assert_eq!(tx.max_enqueue(), Err(FifoError::Freed));
    assert_eq!(tx.write_slices().unwrap_err(), FifoError::Freed);
    assert_eq!(tx.commit(0), Err(FifoError::Freed));
    assert_eq!(rx.dequeue(&mut buf), Err(FifoError::Freed));
    assert_eq!(rx.peek(0, &mut buf), Err(FifoError::Freed));
    assert_eq!(rx.dequeue_drop(1), Err(FifoError::Freed));
    assert_eq!(rx.read_slices().unwrap_err(), FifoError::Freed);
    assert_eq!(rx.release(0), Err(FifoError::Freed));
    assert_eq!(rx.max_dequeue(), Err(FifoError::Freed));
    assert_eq!(f.max_dequeue(), Err(FifoError::Freed));
    assert_eq!(f.max_enqueue(), Err(FifoError::Freed));
    assert_eq!(f.producer().unwrap_err(), FifoError::Freed);
    assert_eq!(f.init_pointers(0), Err(FifoError::Freed));
    assert!(matches!(
        s.free_fifo(&f),
        Err(crate::SegmentError::Fifo(FifoError::Freed))
    ));
    assert!(s.fifo_at(f.offset()).is_err(), "freed offset is no fifo");
}

#[test]
fn memory_is_reused_only_after_the_last_handle() {
    let s = seg();
    let before = s.available_bytes();
    let f = s.alloc_fifo_w_slice(1, 4096).unwrap();
    let off = f.offset();
    assert_eq!(
        before - s.available_bytes(),
        FifoSegment::fifo_footprint(4096)
    );
    let tx = f.producer().unwrap();
    assert!(s.free_fifo(&f).unwrap());
    drop(f);
    // `tx` still holds the freed fifo: its chunk must not be handed out.
    let g = s.alloc_fifo_w_slice(1, 4096).unwrap();
    assert_ne!(g.offset(), off);
    drop(tx);
    assert!(s.free_fifo(&g).unwrap());
    drop(g);
    assert_eq!(s.available_bytes(), before);
    let h = s.alloc_fifo_w_slice(1, 4096).unwrap();
    assert!(h.offset() == off || h.offset() == off + FifoSegment::fifo_footprint(4096) as u64);
    let h2 = s.alloc_fifo_w_slice(1, 4096).unwrap();
    assert_eq!(
        s.available_bytes(),
        before - 2 * FifoSegment::fifo_footprint(4096)
    );
    assert!(!h.same(&h2));
    assert_eq!(h.max_dequeue().unwrap(), 0, "a reused chunk starts empty");
}

#[test]
fn same_distinguishes_reused_offsets() {
    let s = seg();
    let f = s.alloc_fifo_w_slice(0, 64).unwrap();
    let off = f.offset();
    let old = f.clone();
    assert!(old.same(&f));
    assert!(s.free_fifo(&f).unwrap());
    drop((f, old.clone()));
    let gen_old = old.generation();
    drop(old);
    let g = s.alloc_fifo_w_slice(0, 64).unwrap();
    assert_eq!(g.offset(), off);
    assert_ne!(g.generation(), gen_old);
}

#[test]
fn handles_are_send_and_sync_where_they_should_be() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Fifo>();
    sync::<Fifo>();
    send::<crate::Producer>();
    send::<crate::Consumer>();
    send::<FifoSegment>();
    sync::<FifoSegment>();
}

#[test]
fn shutdown_reads_the_data_then_the_end_and_refuses_writes() {
    let (_s, f) = fifo(64);
    let mut tx = f.producer().unwrap();
    let mut rx = f.consumer().unwrap();
    assert!(!f.is_shut() && !rx.at_eof().unwrap());
    assert_eq!(tx.enqueue(b"last words").unwrap(), 10);
    tx.shutdown().unwrap();
    tx.shutdown().unwrap();
    assert!(f.is_shut() && tx.is_shut());
    // Data first, then the end of the stream.
    assert!(!rx.at_eof().unwrap());
    let mut buf = [0u8; 4];
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 4);
    assert!(!rx.at_eof().unwrap());
    let mut buf = [0u8; 64];
    assert_eq!(rx.dequeue(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b" words");
    assert!(rx.at_eof().unwrap());
    // No more writes, by copy or in place.
    assert_eq!(tx.enqueue(b"x"), Err(FifoError::Shutdown));
    assert_eq!(tx.write_slices().err(), Some(FifoError::Shutdown));
    assert_eq!(tx.commit(0), Err(FifoError::Shutdown));
    // A producer taken again keeps the shutdown.
    drop(tx);
    let mut tx = f.producer().unwrap();
    assert!(tx.is_shut());
    assert_eq!(tx.enqueue(b"x"), Err(FifoError::Shutdown));
}

#[test]
fn a_reused_fifo_starts_open() {
    let s = seg();
    let f = s.alloc_fifo_w_slice(0, 64).unwrap();
    f.producer().unwrap().shutdown().unwrap();
    assert!(s.free_fifo(&f).unwrap());
    let g = s.alloc_fifo_w_slice(0, 64).unwrap();
    assert!(!g.is_shut());
    assert!(!g.consumer().unwrap().at_eof().unwrap());
    assert_eq!(g.producer().unwrap().enqueue(b"ok").unwrap(), 2);
}
