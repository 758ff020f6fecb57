//! A hostile peer: while a producer and a consumer run on their own threads,
//! another thread keeps writing random words over the queue's block (heads,
//! tails, the sleeping flag, descriptors, slots, the header) through the
//! memfd, as a peer process mapping the segment could. Every call must
//! return `Ok` or a typed error (`Corrupted`, or `Full` for congestion):
//! no panic, and so no access outside the mapping (the storage seam checks
//! every access and would panic on one).
#![cfg(not(loom))]

use ct_sync::atomic::{AtomicBool, Ordering};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use ct_fifo_segment::msg_q::{MsgQueue, MsgQueueConfig, MsgQueueError, RingConfig};
use ct_fifo_segment::{FifoSegment, SegmentFlags};

/// xorshift64*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn config() -> MsgQueueConfig {
    MsgQueueConfig {
        rings: vec![
            RingConfig {
                nitems: 8,
                elsize: 16,
            },
            RingConfig {
                nitems: 4,
                elsize: 64,
            },
        ],
    }
}

/// Writes `word` at `off` of the memfd (a write the kernel makes to the
/// shared pages, as a peer process would).
fn scribble(fd: &OwnedFd, off: u64, word: u32) {
    rustix::io::pwrite(fd, &word.to_le_bytes(), off).unwrap();
}

/// What a value of the block may become: small numbers near the real
/// positions as often as wild ones, so both plausible and impossible
/// states are reached.
fn hostile_word(rng: &mut Rng) -> u32 {
    let r = rng.next();
    match r % 4 {
        0 => (r >> 8) as u32,
        1 => (r >> 8) as u32 % 16,
        2 => u32::MAX - (r >> 8) as u32 % 16,
        _ => 0,
    }
}

fn ok_or_typed<T: std::fmt::Debug>(what: &str, r: Result<T, MsgQueueError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(MsgQueueError::Corrupted(_) | MsgQueueError::Full) => None,
        Err(e) => panic!("{what}: unexpected {e:?}"),
    }
}

/// Rounds of traffic under attack; each round starts from a sane queue
/// (positions reset), so the ends meet many states before the scribbles
/// leave the queue unusable.
const ROUNDS: u64 = 16;
const OPS: u64 = 20_000;

#[test]
#[cfg_attr(miri, ignore = "memfd/mmap: Miri supports neither")]
fn ends_survive_a_peer_scribbling_the_block() {
    let cfg = config();
    let seg = FifoSegment::create("hostile", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    let q = MsgQueue::create(&seg, &cfg).unwrap();
    let base = q.offset();
    let len = MsgQueue::footprint(&cfg) as u64;
    // The consumer sees the queue through a second mapping, as a peer would.
    let peer_seg = FifoSegment::attach(seg.fd().unwrap().try_clone_to_owned().unwrap()).unwrap();
    let peer_q = MsgQueue::attach(&peer_seg, base).unwrap();
    let fd = seg.fd().unwrap().try_clone_to_owned().unwrap();
    let mut pristine = vec![0u8; len as usize];
    rustix::io::pread(&fd, &mut pristine, base).unwrap();
    let mut stats = [0u64; 6];
    for round in 0..ROUNDS {
        // Geometry is private after attach: only positions need resetting.
        q.init_positions((round as u32).wrapping_mul(0x4000_0001))
            .unwrap();
        // Roles first: the scribbles start once both ends hold a sane queue.
        let mut tx = q.producer().unwrap();
        let mut rx = peer_q.consumer().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hostile = {
            let stop = stop.clone();
            let fd = seg.fd().unwrap().try_clone_to_owned().unwrap();
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234_5678_9abc_def1 ^ round);
                let mut writes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let off = base + (rng.next() % (len / 4)) * 4;
                    scribble(&fd, off, hostile_word(&mut rng));
                    writes += 1;
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                writes
            })
        };
        let producer = {
            std::thread::spawn(move || {
                let mut rng = Rng(7 + round);
                let (mut sent, mut refused) = (0u64, 0u64);
                for i in 0..OPS {
                    let n = (rng.next() % 70) as usize;
                    let m = vec![i as u8; n];
                    match tx.try_send(&m) {
                        Ok(_) => sent += 1,
                        Err(MsgQueueError::TooLarge) => assert!(n > 64),
                        Err(MsgQueueError::Full | MsgQueueError::Corrupted(_)) => refused += 1,
                        Err(e) => panic!("send: {e:?}"),
                    }
                    let _ = tx.is_full(n);
                    if i % 16 == 0 {
                        std::thread::yield_now();
                    }
                }
                (sent, refused)
            })
        };
        let consumer = {
            let peer_q = peer_q.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; peer_q.max_msg_size()];
                let mut got = 0u64;
                for i in 0..OPS {
                    if let Some(Some(n)) = ok_or_typed("recv", rx.try_recv(&mut buf)) {
                        assert!(n <= buf.len());
                        got += 1;
                    }
                    let _ = rx.len();
                    if i % 7 == 0 {
                        ok_or_typed("prepare_sleep", rx.prepare_sleep());
                        rx.woke();
                    }
                    if i % 16 == 0 {
                        std::thread::yield_now();
                    }
                }
                got
            })
        };
        // Attaching while the block changes under us: Ok or Corrupted.
        for _ in 0..100 {
            if ok_or_typed("attach", MsgQueue::attach(&peer_seg, base)).is_some() {
                stats[4] += 1;
            }
        }
        let (sent, refused) = producer.join().unwrap();
        let got = consumer.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        stats[0] += hostile.join().unwrap();
        stats[1] += sent;
        stats[2] += refused;
        stats[3] += got;
        // New roles on a scribbled queue: Ok or Corrupted, never a panic.
        if ok_or_typed("producer", q.producer()).is_some() {
            stats[5] += 1;
        }
        ok_or_typed("consumer", peer_q.consumer());
        // Put the block back as it was (the geometry, for the next round's
        // attaches); positions are reset at the top of the round.
        rustix::io::pwrite(&fd, &pristine, base).unwrap();
    }
    let [writes, sent, refused, got, attached, roles] = stats;
    eprintln!(
        "hostile: {writes} writes; sent {sent}, refused {refused}, received {got}; \
         {attached} attaches ok; {roles} rounds left a usable producer"
    );
    assert!(writes > 0);
    assert!(sent > 0 && got > 0, "traffic flowed between scribbles");
}

#[test]
#[cfg_attr(miri, ignore = "memfd/mmap: Miri supports neither")]
fn ends_recover_when_a_peer_restores_what_it_scribbled() {
    // Scribbled, then restored: the queue carries on from the state our
    // side holds privately.
    let cfg = config();
    let seg = FifoSegment::create("hostile2", 1 << 16, 1, SegmentFlags::empty()).unwrap();
    let q = MsgQueue::create(&seg, &cfg).unwrap();
    let fd = seg.fd().unwrap().try_clone_to_owned().unwrap();
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = [0u8; 64];
    tx.try_send(b"first").unwrap();
    let len = MsgQueue::footprint(&cfg);
    let mut saved = vec![0u8; len];
    rustix::io::pread(&fd, &mut saved, q.offset()).unwrap();
    let mut rng = Rng(99);
    for _ in 0..1_000 {
        let off = q.offset() + (rng.next() % (len as u64 / 4)) * 4;
        scribble(&fd, off, hostile_word(&mut rng));
        let _ = rx.len();
        ok_or_typed("prepare_sleep", rx.prepare_sleep());
        rx.woke();
    }
    rustix::io::pwrite(&fd, &saved, q.offset()).unwrap();
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(5));
    assert_eq!(&buf[..5], b"first");
    tx.try_send(b"second").unwrap();
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(6));
    assert_eq!(&buf[..6], b"second");
}
