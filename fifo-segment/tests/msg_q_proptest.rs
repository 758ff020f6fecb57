//! Random sequences of message queue operations against a model: a
//! `VecDeque` of messages, per-ring occupancy for congestion (a message
//! takes the smallest ring that fits and has room) and the sleeping flag.
#![cfg(not(loom))]

use std::collections::VecDeque;

use ct_fifo_segment::msg_q::{MsgQueue, MsgQueueConfig, MsgQueueError, RingConfig};
use ct_fifo_segment::{FifoSegment, SegmentFlags};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Send(usize, u8),
    Recv,
    PrepareSleep,
    Woke,
    NewRoles,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..300, any::<u8>()).prop_map(|(n, t)| Op::Send(n, t)),
        4 => Just(Op::Recv),
        1 => Just(Op::PrepareSleep),
        1 => Just(Op::Woke),
        1 => Just(Op::NewRoles),
    ]
}

fn rings() -> impl Strategy<Value = Vec<RingConfig>> {
    prop::collection::vec(
        (1u32..10, 1u32..260).prop_map(|(nitems, elsize)| RingConfig { nitems, elsize }),
        1..4,
    )
}

struct Model {
    rings: Vec<RingConfig>,
    msgs: VecDeque<(usize, Vec<u8>)>,
    used: Vec<u32>,
    sleeping: bool,
    /// This sleep was reported to a sender already.
    reported: bool,
}

impl Model {
    /// Where a `len`-byte message goes, or the error `try_send` gives.
    fn place(&self, len: usize) -> Result<usize, ()> {
        let mut order: Vec<usize> = (0..self.rings.len()).collect();
        order.sort_by_key(|&i| self.rings[i].elsize);
        order
            .into_iter()
            .filter(|&i| self.rings[i].elsize as usize >= len)
            .find(|&i| self.used[i] < self.rings[i].nitems)
            .ok_or(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    #[cfg_attr(miri, ignore = "proptest: 256 cases of up to 150 ops, far too slow under Miri")]
    fn msg_q_matches_model(
        rings in rings(),
        start in prop_oneof![Just(0u32), Just(u32::MAX - 3), any::<u32>()],
        ops in prop::collection::vec(op(), 1..150),
    ) {
        let cfg = MsgQueueConfig { rings: rings.clone() };
        let seg = FifoSegment::create_heap(4096 + MsgQueue::footprint(&cfg), 1, SegmentFlags::empty()).unwrap();
        let q = MsgQueue::create(&seg, &cfg).unwrap();
        q.init_positions(start).unwrap();
        let max = rings.iter().map(|r| r.elsize as usize).max().unwrap();
        prop_assert_eq!(q.max_msg_size(), max);
        let mut tx = q.producer().unwrap();
        let mut rx = q.consumer().unwrap();
        let mut buf = vec![0u8; max];
        // A ring gets its slot count rounded up to a power of two.
        let rings: Vec<RingConfig> = rings
            .iter()
            .map(|r| RingConfig { nitems: r.nitems.next_power_of_two(), ..*r })
            .collect();
        prop_assert_eq!(&q.config().rings, &rings);
        let mut model = Model { used: vec![0; rings.len()], rings, msgs: VecDeque::new(), sleeping: false, reported: false };
        for op in ops {
            match op {
                Op::Send(len, tag) => {
                    let m: Vec<u8> = (0..len).map(|i| tag.wrapping_add(i as u8)).collect();
                    let full = tx.is_full(len);
                    match (tx.try_send(&m), model.place(len)) {
                        (Ok(signal), Ok(ring)) => {
                            prop_assert!(!full);
                            prop_assert_eq!(signal, model.sleeping && !model.reported);
                            model.reported |= model.sleeping;
                            model.used[ring] += 1;
                            model.msgs.push_back((ring, m));
                        }
                        (Err(MsgQueueError::TooLarge), Err(())) => {
                            prop_assert!(len > max);
                            prop_assert!(!full);
                        }
                        (Err(MsgQueueError::Full), Err(())) => {
                            prop_assert!(len <= max);
                            prop_assert!(full);
                        }
                        (got, want) => prop_assert!(false, "send {}: {:?} vs model {:?}", len, got, want),
                    }
                }
                Op::Recv => {
                    let got = rx.try_recv(&mut buf).unwrap();
                    match model.msgs.pop_front() {
                        Some((ring, m)) => {
                            prop_assert_eq!(got, Some(m.len()));
                            prop_assert_eq!(&buf[..m.len()], &m[..]);
                            model.used[ring] -= 1;
                        }
                        None => prop_assert_eq!(got, None),
                    }
                }
                Op::PrepareSleep => {
                    let empty = model.msgs.is_empty();
                    prop_assert_eq!(rx.prepare_sleep().unwrap(), empty);
                    model.sleeping = empty;
                    model.reported = false;
                }
                Op::Woke => {
                    rx.woke();
                    model.sleeping = false;
                }
                Op::NewRoles => {
                    drop((tx, rx));
                    tx = q.producer().unwrap();
                    rx = q.consumer().unwrap();
                    // A new consumer is awake.
                    model.sleeping = false;
                }
            }
            prop_assert_eq!(rx.len(), model.msgs.len());
            prop_assert_eq!(rx.is_empty(), model.msgs.is_empty());
        }
    }
}
