//! Unit tests of the message queue: order across rings, congestion, sizes,
//! the sleep flag, roles, and attach from a second mapping.

use super::*;
use crate::SegmentFlags;

fn cfg(rings: &[(u32, u32)]) -> MsgQueueConfig {
    MsgQueueConfig {
        rings: rings
            .iter()
            .map(|&(nitems, elsize)| RingConfig { nitems, elsize })
            .collect(),
    }
}

fn heap_queue(rings: &[(u32, u32)]) -> (FifoSegment, MsgQueue) {
    let c = cfg(rings);
    let seg =
        FifoSegment::create_heap(4096 + MsgQueue::footprint(&c), 1, SegmentFlags::empty()).unwrap();
    let q = MsgQueue::create(&seg, &c).unwrap();
    (seg, q)
}

fn msg(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag.wrapping_add(i as u8)).collect()
}

#[test]
fn order_is_the_main_queue_order_across_rings() {
    let (_seg, q) = heap_queue(&[(4, 16), (2, 64)]);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = vec![0u8; q.max_msg_size()];
    assert_eq!(q.max_msg_size(), 64);
    for round in 0..10u8 {
        // Small, large, small, empty, large: interleaved across both rings.
        let sent = [
            msg(round, 3),
            msg(round + 1, 40),
            msg(round + 2, 16),
            vec![],
            msg(round + 3, 64),
        ];
        for m in &sent {
            assert!(!tx.try_send(m).unwrap());
        }
        assert_eq!(rx.len(), sent.len());
        for m in &sent {
            let n = rx.try_recv(&mut buf).unwrap().unwrap();
            assert_eq!(&buf[..n], &m[..]);
        }
        assert_eq!(rx.try_recv(&mut buf).unwrap(), None);
        assert!(rx.is_empty());
    }
}

#[test]
fn full_is_congestion_and_small_messages_spill_to_larger_rings() {
    let (_seg, q) = heap_queue(&[(2, 8), (1, 32)]);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    assert!(!tx.is_full(8));
    tx.try_send(b"a").unwrap();
    tx.try_send(b"b").unwrap();
    // The small ring is full: a small message takes the large ring's slot.
    assert!(!tx.is_full(8));
    tx.try_send(b"c").unwrap();
    assert!(tx.is_full(8));
    assert!(tx.is_full(32));
    assert!(matches!(tx.try_send(b"d"), Err(MsgQueueError::Full)));
    assert!(matches!(tx.try_send(&[0; 20]), Err(MsgQueueError::Full)));
    let mut buf = [0u8; 32];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
    assert_eq!(buf[0], b'a');
    // A small-ring slot is free again; the large ring is still taken.
    assert!(!tx.is_full(8));
    assert!(tx.is_full(20));
    tx.try_send(b"e").unwrap();
    let mut got = Vec::new();
    while let Some(n) = rx.try_recv(&mut buf).unwrap() {
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, [b"b".to_vec(), b"c".to_vec(), b"e".to_vec()]);
}

#[test]
fn too_large_writes_and_takes_nothing() {
    let (_seg, q) = heap_queue(&[(2, 8), (2, 32)]);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    assert!(matches!(
        tx.try_send(&[1; 33]),
        Err(MsgQueueError::TooLarge)
    ));
    assert!(!tx.is_full(33), "no ring fits: TooLarge, not Full");
    assert!(rx.is_empty());
    tx.try_send(&[2; 20]).unwrap();
    // A buffer too small for the message leaves it queued.
    let mut small = [0u8; 10];
    assert!(matches!(
        rx.try_recv(&mut small),
        Err(MsgQueueError::TooLarge)
    ));
    let mut buf = [0u8; 32];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(20));
    assert_eq!(buf[..20], [2; 20]);
}

#[test]
fn sleep_flag_is_reported_once_per_sleep() {
    let (_seg, q) = heap_queue(&[(4, 8)]);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 8];
    assert!(!tx.try_send(b"1").unwrap(), "awake consumer: no signal");
    // Not empty: no sleep, flag left clear.
    assert!(!rx.prepare_sleep().unwrap());
    assert!(!tx.try_send(b"2").unwrap());
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
    assert!(rx.prepare_sleep().unwrap());
    assert!(tx.try_send(b"3").unwrap(), "sleeping consumer: signal");
    assert!(!tx.try_send(b"4").unwrap(), "signalled once per sleep");
    rx.woke();
    assert_eq!(rx.len(), 2);
    // woke() without a send: the next send does not signal.
    rx.try_recv(&mut buf).unwrap();
    rx.try_recv(&mut buf).unwrap();
    assert!(rx.prepare_sleep().unwrap());
    rx.woke();
    assert!(!tx.try_send(b"5").unwrap());
}

#[test]
fn roles_are_taken_once_per_tree_and_come_back_on_drop() {
    let (seg, q) = heap_queue(&[(4, 8)]);
    let tx = q.producer().unwrap();
    let clone = q.clone();
    assert!(matches!(clone.producer(), Err(MsgQueueError::RoleTaken)));
    let rx = clone.consumer().unwrap();
    assert!(matches!(q.consumer(), Err(MsgQueueError::RoleTaken)));
    drop((tx, rx));
    assert!(q.producer().is_ok() && q.consumer().is_ok());
    assert!(q.segment().same(&seg));
    assert_eq!(q.config(), cfg(&[(4, 8)]));
}

#[test]
fn positions_survive_new_roles() {
    // A new producer/consumer pair continues where the last left off.
    let (_seg, q) = heap_queue(&[(2, 8)]);
    let mut buf = [0u8; 8];
    for i in 0..5u8 {
        let mut tx = q.producer().unwrap();
        tx.try_send(&[i]).unwrap();
        drop(tx);
        let mut rx = q.consumer().unwrap();
        assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
        assert_eq!(buf[0], i);
    }
}

#[test]
fn create_checks_config_and_space() {
    let seg = FifoSegment::create_heap(1 << 14, 1, SegmentFlags::empty()).unwrap();
    for bad in [cfg(&[]), cfg(&[(3, 8)]), cfg(&[(4, 0)])] {
        assert_eq!(MsgQueue::footprint(&bad), usize::MAX);
        assert!(matches!(
            MsgQueue::create(&seg, &bad),
            Err(MsgQueueError::Segment(SegmentError::InvalidArgument(_)))
        ));
    }
    let big = cfg(&[(256, 256)]);
    assert!(MsgQueue::footprint(&big) > 1 << 14);
    assert!(matches!(
        MsgQueue::create(&seg, &big),
        Err(MsgQueueError::Segment(SegmentError::Full { .. }))
    ));
    // Queues and fifos share the segment's fresh memory without overlap.
    let before = seg.available_bytes();
    let small = cfg(&[(4, 16)]);
    let a = MsgQueue::create(&seg, &small).unwrap();
    let f = seg.alloc_fifo_w_slice(0, 64).unwrap();
    let b = MsgQueue::create(&seg, &small).unwrap();
    assert!(b.offset() >= a.offset() + MsgQueue::footprint(&small) as u64);
    assert!(
        f.offset() >= a.offset() + MsgQueue::footprint(&small) as u64 && f.offset() < b.offset()
    );
    assert_eq!(
        before - seg.available_bytes(),
        2 * MsgQueue::footprint(&small) + FifoSegment::fifo_footprint(64)
    );
    // A queue's offset is not a fifo.
    assert!(seg.fifo_at(a.offset()).is_err());
}

#[test]
#[cfg_attr(miri, ignore = "memfd/mmap: Miri supports neither")]
fn attach_by_offset_from_a_second_mapping() {
    let c = cfg(&[(8, 64), (2, 256)]);
    let seg = FifoSegment::create("msgq", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    let _pad = seg.alloc_fifo_w_slice(0, 128).unwrap();
    let q = MsgQueue::create(&seg, &c).unwrap();
    let fd = seg.fd().unwrap().try_clone_to_owned().unwrap();
    let peer_seg = FifoSegment::attach(fd).unwrap();
    let peer = MsgQueue::attach(&peer_seg, q.offset()).unwrap();
    assert_eq!(peer.config(), c);
    assert_eq!(peer.max_msg_size(), 256);
    assert!(
        MsgQueue::create(&peer_seg, &c).is_err(),
        "a peer cannot allocate"
    );
    let mut tx = q.producer().unwrap();
    let mut rx = peer.consumer().unwrap();
    let mut buf = vec![0u8; peer.max_msg_size()];
    for i in 0..100u8 {
        let m = msg(i, (i as usize * 7) % 257);
        tx.try_send(&m).unwrap();
        let n = rx.try_recv(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], &m[..]);
    }
    // Bad offsets: misaligned, out of bounds, not a queue.
    for off in [q.offset() + 8, 1 << 20, 0, u64::MAX, _pad.offset()] {
        assert!(
            matches!(
                MsgQueue::attach(&peer_seg, off),
                Err(MsgQueueError::Corrupted(_))
            ),
            "offset {off}"
        );
    }
}
