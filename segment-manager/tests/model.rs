//! Property test: random sequences of allocations, deallocations (shared
//! fifos included), segment adds and deletes on one manager, checked after
//! every step against a model of what must hold: every live pair's segment
//! exists and counts its fifos, the manager's fifo count is exactly the live
//! pairs', and at the end everything is freed and the pool is empty.

use std::sync::Arc;

use ct_fifo_segment::SegmentFlags;
use ct_segment_manager::{
    FifoPair, NoHook, SegmentBacking, SegmentHandle, SegmentManagerProps, SegmentManagers, SmError,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Alloc {
        thread: u32,
    },
    /// Share the pair like ct does (one more reference on both fifos).
    Share {
        pick: usize,
    },
    Dealloc {
        pick: usize,
    },
    AddSegment {
        custom: bool,
    },
    DelSegment {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..2).prop_map(|thread| Op::Alloc { thread }),
        1 => any::<usize>().prop_map(|pick| Op::Share { pick }),
        3 => any::<usize>().prop_map(|pick| Op::Dealloc { pick }),
        1 => any::<bool>().prop_map(|custom| Op::AddSegment { custom }),
        1 => any::<usize>().prop_map(|pick| Op::DelSegment { pick }),
    ]
}

/// A live pair and how many deallocs it still needs.
struct Live {
    pair: FifoPair,
    refs: u32,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_ops_keep_the_books(ops in proptest::collection::vec(op(), 1..120)) {
        let sms = SegmentManagers::new(2);
        let sm = sms.alloc(
            SegmentManagerProps {
                rx_fifo_size: 32 << 10,
                tx_fifo_size: 16 << 10,
                add_segment: true,
                add_segment_size: 200 << 10,
                max_segments: Some(6),
                backing: SegmentBacking::Heap,
                ..Default::default()
            },
            Arc::new(NoHook),
        );
        sm.init_first().unwrap();
        let mut live: Vec<Live> = Vec::new();
        let mut added: Vec<SegmentHandle> = Vec::new();

        for op in ops {
            match op {
                Op::Alloc { thread } => match sm.alloc_session_fifos(thread) {
                    Ok(pair) => live.push(Live { pair, refs: 1 }),
                    Err(SmError::SegNoSpace) => {
                        prop_assert_eq!(sm.num_segments(), 6, "no space only at max segments");
                    }
                    Err(e) => prop_assert!(false, "alloc failed: {}", e),
                },
                Op::Share { pick } if !live.is_empty() => {
                    let n = live.len();
                    let l = &mut live[pick % n];
                    l.pair.rx.ref_inc();
                    l.pair.tx.ref_inc();
                    l.refs += 1;
                }
                Op::Dealloc { pick } if !live.is_empty() => {
                    let i = pick % live.len();
                    sms.dealloc_fifos(&live[i].pair.rx, &live[i].pair.tx).unwrap();
                    live[i].refs -= 1;
                    if live[i].refs == 0 {
                        let gone = live.swap_remove(i);
                        prop_assert!(gone.pair.rx.is_freed() && gone.pair.tx.is_freed());
                    }
                }
                Op::AddSegment { custom } => {
                    let flags = if custom { SegmentFlags::CUSTOM_USE } else { SegmentFlags::empty() };
                    match sm.add_segment(64 << 10, flags) {
                        Ok(h) => added.push(h),
                        Err(SmError::MaxSegments { .. }) => prop_assert_eq!(sm.num_segments(), 6),
                        Err(e) => prop_assert!(false, "add failed: {}", e),
                    }
                }
                Op::DelSegment { pick } if !added.is_empty() => {
                    let h = added.swap_remove(pick % added.len());
                    let in_use = live.iter().any(|l| l.pair.segment == h);
                    match sm.del_segment(h) {
                        Ok(deleted) => {
                            prop_assert!(deleted);
                            prop_assert!(!in_use, "deleted a segment with live fifos");
                        }
                        Err(SmError::SegmentHasFifos(_)) => prop_assert!(in_use),
                        // Emptied by a dealloc and deleted already.
                        Err(SmError::StaleSegment(_)) => prop_assert!(!in_use),
                        Err(e) => prop_assert!(false, "del failed: {}", e),
                    }
                }
                _ => {}
            }
            // The books: every live pair's segment exists and holds it.
            for l in &live {
                let seg = sms.segment(l.pair.segment);
                prop_assert!(seg.is_ok(), "segment of a live pair is gone");
                prop_assert!(!l.pair.rx.is_freed() && !l.pair.tx.is_freed());
            }
            prop_assert_eq!(sm.num_fifos(), 2 * live.len());
            for h in sm.segment_handles() {
                let seg = sms.segment(h).unwrap();
                let expected = 2 * live.iter().filter(|l| l.pair.segment == h).count();
                prop_assert_eq!(seg.num_fifos(), expected);
            }
        }

        for l in live.drain(..) {
            for _ in 0..l.refs {
                sms.dealloc_fifos(&l.pair.rx, &l.pair.tx).unwrap();
            }
        }
        prop_assert!(!sm.has_fifos());
        prop_assert_eq!(sms.init_free(sm.handle()).unwrap(), ct_segment_manager::FreeOutcome::Freed);
        prop_assert!(sms.is_empty());
    }
}
