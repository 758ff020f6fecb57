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
fn looks_empty_follows_sends_and_receives() {
    let (_seg, q) = heap_queue(&[(4, 16)]);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = vec![0u8; q.max_msg_size()];
    // Unknown until the consumer read the tail once.
    assert!(!q.looks_empty());
    assert_eq!(rx.try_recv(&mut buf).unwrap(), None);
    assert!(q.looks_empty());
    tx.try_send(&msg(1, 3)).unwrap();
    tx.try_send(&msg(2, 3)).unwrap();
    assert!(!q.looks_empty());
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(3));
    assert!(!q.looks_empty());
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(3));
    assert!(q.looks_empty());
    // Around the wrap of the indices too.
    for i in 0..10u8 {
        tx.try_send(&msg(i, 1)).unwrap();
        assert!(!q.looks_empty());
        assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
        assert!(q.looks_empty());
    }
    // A tail moved by the peer (not a send) is not empty: the consumer
    // judges it (here: impossible indices).
    q.inner.header().tail.0.store(u32::MAX, Ordering::Release);
    assert!(!q.looks_empty());
    assert!(matches!(
        rx.try_recv(&mut buf),
        Err(MsgQueueError::Corrupted(_))
    ));
    // A new consumer starts unknown.
    drop(rx);
    assert!(!q.looks_empty());
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
    for bad in [
        cfg(&[]),
        cfg(&[(0, 8)]),
        cfg(&[(4, 0)]),
        cfg(&[((1 << 20) + 1, 8)]),
        cfg(&[(4, (1 << 20) + 1)]),
        cfg(&[(1, 8); 9]),
    ] {
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
    // A ring count that is not a power of two is rounded up.
    let odd = MsgQueue::create(&seg, &cfg(&[(3, 8), (5, 16)])).unwrap();
    assert_eq!(odd.config(), cfg(&[(4, 8), (8, 16)]));
    assert_eq!(
        MsgQueue::footprint(&cfg(&[(3, 8), (5, 16)])),
        MsgQueue::footprint(&odd.config())
    );
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

// --- A peer that corrupts the shared indices and descriptors ---

use super::layout::Desc;
use ct_sync::atomic::Ordering;

#[test]
fn consumer_rejects_a_tail_past_the_queue() {
    let (_seg, q) = heap_queue(&[(4, 8)]);
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 8];
    let hdr = q.inner.header();
    for bad in [5u32, 100, u32::MAX] {
        hdr.tail.0.store(bad, Ordering::Release);
        assert!(matches!(
            rx.try_recv(&mut buf),
            Err(MsgQueueError::Corrupted(_))
        ));
        assert!(matches!(
            rx.prepare_sleep(),
            Err(MsgQueueError::Corrupted(_))
        ));
        assert_eq!(
            hdr.sleeping.0.load(Ordering::Relaxed) & 1,
            0,
            "flag left clear"
        );
        assert_eq!(rx.len(), 0);
    }
    hdr.tail.0.store(0, Ordering::Release);
    assert_eq!(rx.try_recv(&mut buf).unwrap(), None);
}

#[test]
fn consumer_rejects_descriptors_naming_the_wrong_ring_slot_or_length() {
    let (_seg, q) = heap_queue(&[(4, 8), (2, 32)]);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 32];
    tx.try_send(b"x").unwrap();
    tx.try_send(&[9; 20]).unwrap();
    let good = Desc {
        ring: 0,
        slot: 0,
        len: 1,
    };
    let bad = [
        Desc { ring: 2, ..good },
        Desc {
            ring: u32::MAX,
            ..good
        },
        Desc { slot: 1, ..good },
        Desc {
            slot: u32::MAX,
            ..good
        },
        Desc { len: 9, ..good },
        Desc {
            len: u32::MAX,
            ..good
        },
        // A slot of the other ring that is not next in its order.
        Desc {
            ring: 1,
            slot: 1,
            len: 1,
        },
    ];
    for d in bad {
        q.inner.write_desc(0, d);
        assert!(
            matches!(rx.try_recv(&mut buf), Err(MsgQueueError::Corrupted(_))),
            "{d:?}"
        );
        assert_eq!(rx.len(), 2, "nothing taken");
    }
    q.inner.write_desc(0, good);
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(20));
    assert_eq!(buf[..20], [9; 20]);
}

#[test]
fn producer_rejects_consumer_heads_past_its_tails() {
    let (_seg, q) = heap_queue(&[(2, 8)]);
    let mut tx = q.producer().unwrap();
    tx.try_send(b"1").unwrap();
    tx.try_send(b"2").unwrap();
    // The ring is full: the producer re-reads the ring head.
    let ring = q.inner.ring(0);
    ring.head.0.store(3, Ordering::Release);
    assert!(matches!(
        tx.try_send(b"3"),
        Err(MsgQueueError::Corrupted(_))
    ));
    assert!(tx.is_full(1));
    // A plausible ring head, but the main head past the tail.
    ring.head.0.store(2, Ordering::Release);
    q.inner.header().head.0.store(9, Ordering::Release);
    assert!(matches!(
        tx.try_send(b"3"),
        Err(MsgQueueError::Corrupted(_))
    ));
    assert!(tx.is_full(1));
    q.inner.header().head.0.store(2, Ordering::Release);
    assert!(!tx.try_send(b"3").unwrap());
}

#[test]
fn roles_are_refused_on_impossible_indices_and_can_be_retried() {
    let (_seg, q) = heap_queue(&[(2, 8)]);
    let hdr = q.inner.header();
    hdr.tail.0.store(7, Ordering::Release);
    assert!(matches!(q.producer(), Err(MsgQueueError::Corrupted(_))));
    assert!(matches!(q.consumer(), Err(MsgQueueError::Corrupted(_))));
    hdr.tail.0.store(0, Ordering::Release);
    q.inner.ring(0).tail.0.store(3, Ordering::Release);
    assert!(matches!(q.producer(), Err(MsgQueueError::Corrupted(_))));
    assert!(matches!(q.consumer(), Err(MsgQueueError::Corrupted(_))));
    q.init_positions(0).unwrap();
    assert!(q.producer().is_ok() && q.consumer().is_ok());
}

#[test]
fn init_positions_crosses_the_wrap() {
    let (_seg, q) = heap_queue(&[(2, 8), (1, 16)]);
    q.init_positions(u32::MAX - 1).unwrap();
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    assert!(matches!(q.init_positions(0), Err(MsgQueueError::RoleTaken)));
    let mut buf = [0u8; 16];
    for i in 0..20u8 {
        tx.try_send(&[i; 3]).unwrap();
        tx.try_send(&[i; 12]).unwrap();
        assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(3));
        assert_eq!(buf[..3], [i; 3]);
        assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(12));
        assert_eq!(buf[..12], [i; 12]);
    }
}

#[test]
#[cfg_attr(miri, ignore = "memfd/mmap: Miri supports neither")]
fn attach_rejects_every_corrupted_header_field() {
    let c = cfg(&[(4, 16), (2, 64)]);
    let fp = MsgQueue::footprint(&c);
    // The queue ends exactly at the segment's end: a geometry claiming one
    // byte more does not fit.
    let seg_size = crate::layout::segment_header_len() + fp;
    let seg = FifoSegment::create("attach-bad", seg_size, 1, SegmentFlags::empty()).unwrap();
    let q = MsgQueue::create(&seg, &c).unwrap();
    let peer = FifoSegment::attach(seg.fd().unwrap().try_clone_to_owned().unwrap()).unwrap();
    let ctl = &q.inner.header().ctl.0;
    let r1 = &q.inner.ring(1).ctl.0;
    type Poke<'a> = (&'a str, Box<dyn Fn(bool) + 'a>);
    let pokes: Vec<Poke<'_>> = vec![
        (
            "magic",
            Box::new(|bad| {
                ctl.magic
                    .store(if bad { 1 } else { layout::MSGQ_MAGIC }, Ordering::Relaxed)
            }),
        ),
        (
            "version",
            Box::new(|bad| {
                ctl.version
                    .store(if bad { 2 } else { 1 }, Ordering::Relaxed)
            }),
        ),
        (
            "no rings",
            Box::new(|bad| {
                ctl.n_rings
                    .store(if bad { 0 } else { 2 }, Ordering::Relaxed)
            }),
        ),
        (
            "many rings",
            Box::new(|bad| {
                ctl.n_rings
                    .store(if bad { 9 } else { 2 }, Ordering::Relaxed)
            }),
        ),
        (
            "one ring",
            Box::new(|bad| {
                ctl.n_rings
                    .store(if bad { 1 } else { 2 }, Ordering::Relaxed)
            }),
        ),
        (
            "q_nitems",
            Box::new(|bad| {
                ctl.q_nitems
                    .store(if bad { 16 } else { 8 }, Ordering::Relaxed)
            }),
        ),
        (
            "footprint",
            Box::new(|bad| {
                ctl.footprint
                    .store(fp as u64 + if bad { 64 } else { 0 }, Ordering::Relaxed)
            }),
        ),
        (
            "nitems",
            Box::new(|bad| r1.nitems.store(if bad { 3 } else { 2 }, Ordering::Relaxed)),
        ),
        (
            "elsize",
            Box::new(|bad| r1.elsize.store(if bad { 0 } else { 64 }, Ordering::Relaxed)),
        ),
        (
            // A consistent header whose last ring ends past the segment.
            "past the end",
            Box::new(|bad| {
                let (elsize, footprint) = if bad {
                    (65, Geometry::new(&[(4, 16), (2, 65)]).unwrap().footprint)
                } else {
                    (64, fp)
                };
                assert!(!bad || footprint > fp);
                r1.elsize.store(elsize, Ordering::Relaxed);
                ctl.footprint.store(footprint as u64, Ordering::Relaxed);
            }),
        ),
        (
            "data offset",
            Box::new(|bad| {
                let good = q.inner.geo.rings[1].data_off as u64;
                r1.data_off
                    .store(if bad { good - 64 } else { good }, Ordering::Relaxed)
            }),
        ),
    ];
    for (what, poke) in &pokes {
        poke(true);
        match MsgQueue::attach(&peer, q.offset()) {
            Err(MsgQueueError::Corrupted(why)) => {
                if *what == "past the end" {
                    assert_eq!(why, "queue block outside the segment");
                }
            }
            other => panic!("{what}: {other:?}"),
        }
        poke(false);
        assert!(
            MsgQueue::attach(&peer, q.offset()).is_ok(),
            "{what} restored"
        );
    }
}

#[test]
fn ends_are_send_and_the_queue_is_shared() {
    fn send<T: Send>() {}
    fn shared<T: Send + Sync + Clone>() {}
    send::<MsgProducer>();
    send::<MsgConsumer>();
    shared::<MsgQueue>();
}

#[test]
fn each_sleep_is_reported_once_even_when_not_woken() {
    let (_seg, q) = heap_queue(&[(8, 8)]);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 8];
    assert!(rx.prepare_sleep().unwrap());
    assert!(tx.try_send(b"1").unwrap());
    rx.try_recv(&mut buf).unwrap();
    // A second sleep without `woke` in between is a new sleep.
    assert!(rx.prepare_sleep().unwrap());
    assert!(tx.try_send(b"2").unwrap());
    assert!(!tx.try_send(b"3").unwrap());
    // A new producer does not know what the old one reported: it reports
    // the current sleep again (a spare signal, never a missed one).
    drop(tx);
    let mut tx = q.producer().unwrap();
    assert!(tx.try_send(b"4").unwrap());
    // A new consumer starts awake.
    drop(rx);
    let _rx = q.consumer().unwrap();
    assert!(!tx.try_send(b"5").unwrap());
    // The shared sequence wraps.
    q.inner
        .header()
        .sleeping
        .0
        .store(u64::MAX, Ordering::Relaxed);
    drop(_rx);
    let rx = q.consumer().unwrap();
    rx.woke();
    assert!(!tx.try_send(b"6").unwrap());
    assert_eq!(q.inner.header().sleeping.0.load(Ordering::Relaxed), 0);
}
