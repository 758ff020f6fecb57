//! Random sequences of fifo operations against a `VecDeque<u8>` model.
#![cfg(not(loom))]

use std::collections::VecDeque;

use ct_fifo_segment::{FifoError, FifoSegment, SegmentFlags};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Enqueue(Vec<u8>),
    Dequeue(usize),
    Peek(u32, usize),
    Drop(u32),
    DropAll,
    ZeroCopyWrite(Vec<u8>),
    ZeroCopyRead(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Op::Enqueue),
        4 => (0usize..200).prop_map(Op::Dequeue),
        2 => (0u32..140, 0usize..200).prop_map(|(o, l)| Op::Peek(o, l)),
        1 => (0u32..200).prop_map(Op::Drop),
        1 => Just(Op::DropAll),
        2 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Op::ZeroCopyWrite),
        2 => (0u32..200).prop_map(Op::ZeroCopyRead),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    #[cfg_attr(miri, ignore = "proptest: 256 cases of up to 120 ops, far too slow under Miri")]
    fn fifo_matches_vecdeque(
        log2 in 0u32..8,
        start in prop_oneof![Just(0u32), Just(u32::MAX - 100), any::<u32>()],
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let seg = FifoSegment::create_heap(1 << 16, 1, SegmentFlags::empty()).unwrap();
        let fifo = seg.alloc_fifo_w_slice(0, 1 << log2).unwrap();
        let size = fifo.size() as usize;
        prop_assert_eq!(size, 1 << log2);
        fifo.init_pointers(start).unwrap();
        let mut tx = fifo.producer().unwrap();
        let mut rx = fifo.consumer().unwrap();
        let mut model: VecDeque<u8> = VecDeque::new();
        for op in ops {
            match op {
                Op::Enqueue(data) => {
                    let n = tx.enqueue(&data).unwrap();
                    prop_assert_eq!(n, data.len().min(size - model.len()));
                    model.extend(&data[..n]);
                }
                Op::Dequeue(len) => {
                    let mut buf = vec![0u8; len];
                    let n = rx.dequeue(&mut buf).unwrap();
                    prop_assert_eq!(n, len.min(model.len()));
                    let expect: Vec<u8> = model.drain(..n).collect();
                    prop_assert_eq!(&buf[..n], &expect[..]);
                }
                Op::Peek(offset, len) => {
                    let mut buf = vec![0u8; len];
                    let r = rx.peek(offset, &mut buf);
                    if offset as usize > model.len() {
                        prop_assert_eq!(r, Err(FifoError::OutOfRange));
                    } else {
                        let n = r.unwrap();
                        prop_assert_eq!(n, len.min(model.len() - offset as usize));
                        let expect: Vec<u8> =
                            model.iter().skip(offset as usize).take(n).copied().collect();
                        prop_assert_eq!(&buf[..n], &expect[..]);
                    }
                }
                Op::Drop(n) => {
                    let k = rx.dequeue_drop(n).unwrap();
                    prop_assert_eq!(k as usize, (n as usize).min(model.len()));
                    model.drain(..k as usize);
                }
                Op::DropAll => {
                    let k = rx.dequeue_drop_all().unwrap();
                    prop_assert_eq!(k as usize, model.len());
                    model.clear();
                }
                Op::ZeroCopyWrite(data) => {
                    let (a, b) = tx.write_slices().unwrap();
                    prop_assert_eq!(a.len() + b.len(), size - model.len());
                    let n = data.len().min(a.len() + b.len());
                    let first = n.min(a.len());
                    a[..first].copy_from_slice(&data[..first]);
                    b[..n - first].copy_from_slice(&data[first..n]);
                    if n < size - model.len() {
                        prop_assert_eq!(tx.commit((size - model.len() + 1) as u32), Err(FifoError::OutOfRange));
                    }
                    tx.commit(n as u32).unwrap();
                    model.extend(&data[..n]);
                }
                Op::ZeroCopyRead(n) => {
                    let (a, b) = rx.read_slices().unwrap();
                    prop_assert_eq!(a.len() + b.len(), model.len());
                    let got: Vec<u8> = a.iter().chain(b).copied().collect();
                    let expect: Vec<u8> = model.iter().copied().collect();
                    prop_assert_eq!(got, expect);
                    if n as usize > model.len() {
                        prop_assert_eq!(rx.release(n), Err(FifoError::OutOfRange));
                    } else {
                        rx.release(n).unwrap();
                        model.drain(..n as usize);
                    }
                }
            }
            prop_assert_eq!(fifo.max_dequeue().unwrap() as usize, model.len());
            prop_assert_eq!(fifo.max_enqueue().unwrap() as usize, size - model.len());
            prop_assert_eq!(rx.max_dequeue().unwrap() as usize, model.len());
            prop_assert_eq!(tx.max_enqueue().unwrap() as usize, size - model.len());
            prop_assert_eq!(fifo.is_empty().unwrap(), model.is_empty());
            prop_assert_eq!(fifo.is_full().unwrap(), model.len() == size);
        }
        drop((tx, rx));
        prop_assert!(seg.free_fifo(&fifo).unwrap());
        prop_assert_eq!(seg.num_fifos(), 0);
    }
}

#[derive(Debug, Clone)]
enum SegOp {
    Alloc { slice: u32, log2: u32 },
    Free(usize),
}

fn seg_op() -> impl Strategy<Value = SegOp> {
    prop_oneof![
        3 => (0u32..3, 0u32..14).prop_map(|(slice, log2)| SegOp::Alloc { slice, log2 }),
        2 => any::<usize>().prop_map(SegOp::Free),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// Random alloc/free: live fifos never overlap, stay inside the
    /// segment, and every byte is accounted for (live or available), so
    /// freeing everything gives all memory back.
    #[test]
    #[cfg_attr(miri, ignore = "proptest: 128 cases of up to 200 ops, far too slow under Miri")]
    fn allocator_accounts_for_every_byte(ops in prop::collection::vec(seg_op(), 1..200)) {
        let seg = FifoSegment::create_heap(256 * 1024, 3, SegmentFlags::empty()).unwrap();
        let usable = seg.available_bytes();
        let mut live: Vec<ct_fifo_segment::Fifo> = Vec::new();
        for op in ops {
            match op {
                SegOp::Alloc { slice, log2 } => match seg.alloc_fifo_w_slice(slice, 1 << log2) {
                    Ok(f) => {
                        prop_assert_eq!(f.size(), 1 << log2);
                        prop_assert!(f.is_empty().unwrap());
                        live.push(f);
                    }
                    Err(ct_fifo_segment::SegmentError::Full { requested }) => {
                        prop_assert_eq!(requested, FifoSegment::fifo_footprint(1 << log2));
                    }
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                },
                SegOp::Free(i) if !live.is_empty() => {
                    let f = live.swap_remove(i % live.len());
                    prop_assert!(seg.free_fifo(&f).unwrap());
                }
                SegOp::Free(_) => {}
            }
            let mut spans: Vec<(u64, u64)> = live
                .iter()
                .map(|f| (f.offset(), f.offset() + FifoSegment::fifo_footprint(f.size()) as u64))
                .collect();
            spans.sort_unstable();
            for w in spans.windows(2) {
                prop_assert!(w[0].1 <= w[1].0, "overlapping fifos {:?}", w);
            }
            if let Some(last) = spans.last() {
                prop_assert!(last.1 <= seg.size() as u64);
            }
            let live_bytes: usize = live.iter().map(|f| FifoSegment::fifo_footprint(f.size())).sum();
            prop_assert_eq!(seg.available_bytes() + live_bytes, usable);
            prop_assert_eq!(seg.num_fifos(), live.len());
        }
        for f in live.drain(..) {
            prop_assert!(seg.free_fifo(&f).unwrap());
        }
        prop_assert_eq!(seg.available_bytes(), usable);
        prop_assert_eq!(seg.num_fifos(), 0);
    }
}
