//! loom models of the fifo's cross-thread protocols, run on the real code
//! (heap segments; every data byte is a tracked loom cell, so a missing
//! Release/Acquire on head or tail is a causality error).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p ct-fifo-segment --release --test loom`
#![cfg(loom)]

use ct_fifo_segment::msg_q::{MsgQueue, MsgQueueConfig, MsgQueueError, RingConfig};
use ct_fifo_segment::{DeqNtf, Fifo, FifoSegment, ReaderState, SegmentFlags, WriteNotice};
use ct_sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use ct_sync::{Arc, thread};

/// A segment that holds exactly one fifo of `size` bytes (tiny, so few
/// tracked cells per execution).
fn one_fifo(size: u32) -> (FifoSegment, Fifo) {
    let seg_size = 512 + FifoSegment::fifo_footprint(size);
    let seg = FifoSegment::create_heap(seg_size, 1, SegmentFlags::empty()).unwrap();
    let fifo = seg.alloc_fifo_w_slice(0, size).unwrap();
    (seg, fifo)
}

/// SPSC hand-off: six bytes through a 4-byte fifo in pieces that wrap; the
/// consumer sees exactly what was written, in order.
#[test]
fn spsc_head_tail_handoff() {
    loom::model(|| {
        let (seg, fifo) = one_fifo(4);
        let mut tx = fifo.producer().unwrap();
        let mut rx = fifo.consumer().unwrap();
        let data = [1u8, 2, 3, 4, 5, 6];
        let producer = thread::spawn(move || {
            let mut sent = 0;
            while sent < data.len() {
                let n = tx.enqueue(&data[sent..(sent + 3).min(data.len())]).unwrap();
                if n == 0 {
                    thread::yield_now();
                }
                sent += n;
            }
        });
        let mut got = Vec::new();
        while got.len() < data.len() {
            let mut buf = [0u8; 4];
            let n = rx.dequeue(&mut buf).unwrap();
            if n == 0 {
                thread::yield_now();
            }
            got.extend_from_slice(&buf[..n]);
        }
        producer.join().unwrap();
        assert_eq!(got, data);
        drop(rx);
        assert!(seg.free_fifo(&fifo).unwrap());
    });
}

/// Half-close: the producer writes, then shuts its direction; a consumer
/// that sees the end of the stream has read every byte written before the
/// shutdown (the flag is stored after the last tail publish and loaded
/// before tail).
#[test]
fn shutdown_after_data_is_seen_after_the_data() {
    loom::model(|| {
        let (seg, fifo) = one_fifo(4);
        let mut tx = fifo.producer().unwrap();
        let mut rx = fifo.consumer().unwrap();
        let producer = thread::spawn(move || {
            assert_eq!(tx.enqueue(&[7, 8, 9]).unwrap(), 3);
            tx.shutdown().unwrap();
            tx
        });
        let mut got = Vec::new();
        loop {
            if rx.at_eof().unwrap() {
                break;
            }
            let mut buf = [0u8; 4];
            let n = rx.dequeue(&mut buf).unwrap();
            if n == 0 {
                thread::yield_now();
            }
            got.extend_from_slice(&buf[..n]);
        }
        let tx = producer.join().unwrap();
        assert_eq!(got, [7, 8, 9]);
        drop((tx, rx));
        assert!(seg.free_fifo(&fifo).unwrap());
    });
}

/// Zero-copy hand-off: the producer fills through `write_slices` and
/// commits; the consumer reads through `read_slices` and releases.
#[test]
fn spsc_zero_copy_handoff() {
    loom::model(|| {
        let (_seg, fifo) = one_fifo(2);
        let mut tx = fifo.producer().unwrap();
        let mut rx = fifo.consumer().unwrap();
        let producer = thread::spawn(move || {
            let mut next = 1u8;
            while next <= 3 {
                let (a, _) = tx.write_slices().unwrap();
                if a.is_empty() {
                    thread::yield_now();
                    continue;
                }
                a[0] = next;
                tx.commit(1).unwrap();
                next += 1;
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let (a, b) = rx.read_slices().unwrap();
            let n = a.len() + b.len();
            got.extend_from_slice(a);
            got.extend_from_slice(b);
            if n == 0 {
                thread::yield_now();
            } else {
                rx.release(n as u32).unwrap();
            }
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
    });
}

/// The event flag (VPP `ct_custom_tx`'s race): the producer sends an event
/// only when `set_event` says the flag was clear; the worker, per event,
/// does `unset_event` and then drains. No write may be left in the fifo
/// with no event coming for it (a lost wake-up).
#[test]
fn event_flag_no_lost_wakeup() {
    loom::model(|| {
        let (_seg, fifo) = one_fifo(4);
        let mut tx = fifo.producer().unwrap();
        let mut rx = fifo.consumer().unwrap();
        let events = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let producer = {
            let (fifo, events, done) = (fifo.clone(), events.clone(), done.clone());
            thread::spawn(move || {
                for b in [1u8, 2] {
                    assert_eq!(tx.enqueue(&[b]).unwrap(), 1);
                    if fifo.set_event() {
                        events.fetch_add(1, Ordering::Release);
                    }
                }
                done.store(true, Ordering::Release);
            })
        };
        let mut got = Vec::new();
        loop {
            if events.load(Ordering::Acquire) > 0 {
                events.fetch_sub(1, Ordering::AcqRel);
                fifo.unset_event();
                let mut buf = [0u8; 4];
                loop {
                    let n = rx.dequeue(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            } else if done.load(Ordering::Acquire) {
                if events.load(Ordering::Acquire) == 0 {
                    break;
                }
            } else {
                thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2], "data stranded without an event");
        assert_eq!(fifo.max_dequeue().unwrap(), 0);
    });
}

/// The writer of the reader-state models: one byte, then the writer rule
/// (`notify_write`: the event only when nobody waits and none is pending). Returns the
/// thread and the flag its event sets.
fn write_one_byte(fifo: &Fifo) -> (thread::JoinHandle<()>, Arc<AtomicBool>) {
    let mut tx = fifo.producer().unwrap();
    let event = Arc::new(AtomicBool::new(false));
    let (fifo, ev) = (fifo.clone(), event.clone());
    let producer = thread::spawn(move || {
        assert_eq!(tx.enqueue(&[7]).unwrap(), 1);
        if fifo.notify_write() == WriteNotice::EventOwed {
            ev.store(true, Ordering::Release);
        }
    });
    (producer, event)
}

/// A parked reader of the reader-state models: only the event wakes it;
/// then it reads.
fn read_after_event(
    fifo: &Fifo,
    rx: &mut ct_fifo_segment::Consumer,
    event: &AtomicBool,
    buf: &mut [u8],
) -> bool {
    while !event.load(Ordering::Acquire) {
        thread::yield_now();
    }
    fifo.unset_event();
    rx.dequeue(buf).unwrap() > 0
}

/// Direct wake-ups (the reader-state word): the producer enqueues, then
/// `notify_reader`, and takes the event path only when that says idle.
/// The reader goes through every state a blocking read does: it spins
/// (one look), sleeps on the futex word (under loom, a yield loop that
/// ends only when the word changes: a lost wake-up never ends), then
/// stops waiting (idle, re-check) and waits for the event. Whatever the
/// interleaving, the byte is read: either the producer sees the state the
/// reader announced, or the reader's re-check sees the byte.
#[test]
fn reader_state_no_lost_wakeup() {
    loom::model(|| {
        let (_seg, fifo) = one_fifo(4);
        let mut rx = fifo.consumer().unwrap();
        let (producer, event) = write_one_byte(&fifo);
        let mut buf = [0u8; 4];
        let got = 'read: {
            fifo.set_reader_state(ReaderState::Spinning);
            if rx.dequeue(&mut buf).unwrap() > 0 {
                break 'read true;
            }
            fifo.set_reader_state(ReaderState::Sleeping);
            if rx.dequeue(&mut buf).unwrap() > 0 {
                break 'read true;
            }
            fifo.reader_sleep(std::time::Duration::from_millis(50));
            fifo.set_reader_state(ReaderState::Idle);
            if rx.dequeue(&mut buf).unwrap() > 0 {
                break 'read true;
            }
            // Woken, yet the re-check found nothing: only an event may be
            // owed now (the producer saw idle).
            read_after_event(&fifo, &mut rx, &event, &mut buf)
        };
        fifo.set_reader_state(ReaderState::Idle);
        producer.join().unwrap();
        assert!(got, "the byte was stranded");
        assert_eq!(buf[0], 7);
    });
}

/// An async reader (app-client's `stream_poll.rs`): it marks the word
/// spinning for its cooperative spin, looks, and to park (its waker
/// registered) stores idle and looks again; from then on only the event
/// path tells it. A write is either seen by a look or sends the event.
#[test]
fn reader_state_spin_then_idle_no_lost_wakeup() {
    loom::model(|| {
        let (_seg, fifo) = one_fifo(4);
        let mut rx = fifo.consumer().unwrap();
        let (producer, event) = write_one_byte(&fifo);
        let mut buf = [0u8; 4];
        let got = 'read: {
            fifo.set_reader_state(ReaderState::Spinning);
            if rx.dequeue(&mut buf).unwrap() > 0 {
                break 'read true;
            }
            fifo.set_reader_state(ReaderState::Idle);
            if rx.dequeue(&mut buf).unwrap() > 0 {
                break 'read true;
            }
            // Parked: only the event wakes it.
            read_after_event(&fifo, &mut rx, &event, &mut buf)
        };
        producer.join().unwrap();
        assert!(got, "the byte was stranded");
        assert_eq!(buf[0], 7);
    });
}

/// A session event (a close, a reset) wakes a reader asleep on its fifo:
/// the waker files the news, then `wake_reader`; the reader announces its
/// sleep, re-checks the news, then sleeps. It never sleeps through it.
#[test]
fn reader_state_session_event_wakes_sleeper() {
    loom::model(|| {
        let (_seg, fifo) = one_fifo(4);
        let closed = Arc::new(AtomicBool::new(false));
        let waker = {
            let (fifo, closed) = (fifo.clone(), closed.clone());
            thread::spawn(move || {
                closed.store(true, Ordering::SeqCst);
                fifo.wake_reader();
            })
        };
        loop {
            fifo.set_reader_state(ReaderState::Sleeping);
            if closed.load(Ordering::SeqCst) {
                break;
            }
            fifo.reader_sleep(std::time::Duration::from_millis(50));
        }
        fifo.set_reader_state(ReaderState::Idle);
        waker.join().unwrap();
    });
}

/// Dequeue notification: a producer that finds the fifo full arms
/// IF_FULL, re-checks free space, and only then waits for the
/// notification; the consumer, after each dequeue, asks `needs_deq_ntf`.
/// The producer is never left waiting on space that exists.
#[test]
fn deq_ntf_arm_recheck_no_lost_notification() {
    loom::model(|| {
        let (_seg, fifo) = one_fifo(2);
        let mut tx = fifo.producer().unwrap();
        let mut rx = fifo.consumer().unwrap();
        let ntf = Arc::new(AtomicUsize::new(0));
        let producer = {
            let (fifo, ntf) = (fifo.clone(), ntf.clone());
            thread::spawn(move || {
                let data = [1u8, 2, 3, 4];
                let mut sent = 0;
                while sent < data.len() {
                    let n = tx.enqueue(&data[sent..]).unwrap();
                    sent += n;
                    if n > 0 || sent == data.len() {
                        continue;
                    }
                    fifo.add_want_deq_ntf(DeqNtf::IF_FULL);
                    if tx.max_enqueue().unwrap() > 0 {
                        continue;
                    }
                    while ntf.load(Ordering::Acquire) == 0 {
                        thread::yield_now();
                    }
                    ntf.fetch_sub(1, Ordering::AcqRel);
                    fifo.del_want_deq_ntf(DeqNtf::IF_FULL);
                    fifo.reset_has_deq_ntf();
                }
            })
        };
        let mut got = Vec::new();
        while got.len() < 4 {
            let mut buf = [0u8; 1];
            let n = rx.dequeue(&mut buf).unwrap();
            if n == 0 {
                thread::yield_now();
                continue;
            }
            got.extend_from_slice(&buf[..n]);
            if fifo.needs_deq_ntf(n as u32) {
                fifo.clear_deq_ntf();
                ntf.fetch_add(1, Ordering::Release);
            }
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2, 3, 4]);
    });
}

/// The allocator across slices: while the owner frees a fifo, another
/// thread drops that fifo's last other handle and allocates and frees on
/// its own slice. Whoever drops last returns the chunk, exactly once: after
/// both are done every byte is available and slice 0 reuses the chunk.
/// (The thread does not write through the old fifo: a handle's last use
/// reaches the next owner of the chunk through std's `Arc` count, which
/// loom does not model.)
#[test]
fn slices_free_and_drain_concurrently() {
    loom::model(|| {
        let seg_size = 512 + 2 * FifoSegment::fifo_footprint(4);
        let seg = FifoSegment::create_heap(seg_size, 2, SegmentFlags::empty()).unwrap();
        let usable = seg.available_bytes();
        let a = seg.alloc_fifo_w_slice(0, 4).unwrap();
        let off = a.offset();
        let held = a.clone();
        let other = seg.clone();
        let t = thread::spawn(move || {
            drop(held);
            let b = other.alloc_fifo_w_slice(1, 4).unwrap();
            assert!(other.free_fifo(&b).unwrap());
        });
        assert!(seg.free_fifo(&a).unwrap());
        drop(a);
        t.join().unwrap();
        assert_eq!(seg.num_fifos(), 0);
        assert_eq!(seg.available_bytes(), usable);
        let c = seg.alloc_fifo_w_slice(0, 4).unwrap();
        assert_eq!(c.offset(), off);
        assert_eq!(c.producer().unwrap().enqueue(&[1, 2, 3, 4]).unwrap(), 4);
        assert!(seg.free_fifo(&c).unwrap());
    });
}

/// A message queue with the given `(nitems, elsize)` rings in a segment
/// just big enough for it.
fn msg_queue(rings: &[(u32, u32)]) -> (FifoSegment, MsgQueue) {
    let cfg = MsgQueueConfig {
        rings: rings
            .iter()
            .map(|&(nitems, elsize)| RingConfig { nitems, elsize })
            .collect(),
    };
    let seg_size = 512 + MsgQueue::footprint(&cfg);
    let seg = FifoSegment::create_heap(seg_size, 1, SegmentFlags::empty()).unwrap();
    let q = MsgQueue::create(&seg, &cfg).unwrap();
    (seg, q)
}

/// Message queue hand-off: three messages through two one-slot rings and
/// a two-slot main queue, so ring slots and descriptors are reused while
/// the other side may still be at them. The consumer gets every message
/// whole and in order (slots and descriptors are tracked loom cells: a
/// missing Release/Acquire on a head or tail is a causality error).
#[test]
fn msg_q_handoff() {
    loom::model(|| {
        let (_seg, q) = msg_queue(&[(1, 1), (1, 3)]);
        let mut tx = q.producer().unwrap();
        let mut rx = q.consumer().unwrap();
        let msgs: [&[u8]; 3] = [&[1], &[2, 2, 2], &[3]];
        let producer = thread::spawn(move || {
            for m in msgs {
                loop {
                    match tx.try_send(m) {
                        Ok(_) => break,
                        Err(MsgQueueError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut buf = [0u8; 3];
        for m in msgs {
            loop {
                match rx.try_recv(&mut buf).unwrap() {
                    Some(n) => {
                        assert_eq!(&buf[..n], m);
                        break;
                    }
                    None => thread::yield_now(),
                }
            }
        }
        producer.join().unwrap();
        assert!(rx.is_empty());
    });
}

/// A loom-visible stand-in for an eventfd: a counter under a lock, and a
/// condvar to sleep on. A consumer that sleeps while nothing will signal
/// it again blocks forever, which loom reports as a deadlock.
struct Evt {
    count: loom::sync::Mutex<u64>,
    cv: loom::sync::Condvar,
}

impl Evt {
    fn new() -> Self {
        Self {
            count: loom::sync::Mutex::new(0),
            cv: loom::sync::Condvar::new(),
        }
    }

    fn signal(&self) {
        *self.count.lock().unwrap() += 1;
        self.cv.notify_one();
    }

    /// `wait(None)` then `drain()`.
    fn wait_and_drain(&self) {
        let mut n = self.count.lock().unwrap();
        while *n == 0 {
            n = self.cv.wait(n).unwrap();
        }
        *n = 0;
    }
}

/// The sleep/wake flag: the consumer drains, then `prepare_sleep`s and
/// sleeps on the eventfd stand-in when told the queue is still empty; the
/// producer signals whenever `try_send` says the consumer sleeps (once per
/// sleep). Three messages, so the consumer may sleep several times and a
/// sleep may be reported while the consumer is still re-checking. The
/// consumer never sleeps through a message (no lost wake-up: loom would
/// report the consumer blocked forever, a deadlock).
#[test]
fn msg_q_sleep_wake_no_lost_wakeup() {
    loom::model(|| {
        let (_seg, q) = msg_queue(&[(4, 1)]);
        let mut tx = q.producer().unwrap();
        let mut rx = q.consumer().unwrap();
        let evt = Arc::new(Evt::new());
        let producer = {
            let evt = evt.clone();
            thread::spawn(move || {
                for b in [1u8, 2, 3] {
                    if tx.try_send(&[b]).unwrap() {
                        evt.signal();
                    }
                }
            })
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 1];
        while got.len() < 3 {
            match rx.try_recv(&mut buf).unwrap() {
                Some(n) => got.extend_from_slice(&buf[..n]),
                None => {
                    if rx.prepare_sleep().unwrap() {
                        evt.wait_and_drain();
                    }
                    rx.woke();
                }
            }
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
    });
}
