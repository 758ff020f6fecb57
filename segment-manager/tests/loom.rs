//! loom models of the segment pool's locking: the reader guard against a
//! delete, a dealloc that empties a segment against an allocation picking
//! it, and the deferred free of a detached manager racing its last dealloc.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p
//! segment-manager --release --test loom` (or `cargo xtask loom -p
//! segment-manager`). Segments are heap-backed under loom.
#![cfg(loom)]

use ct_fifo_segment::SegmentFlags;
use ct_segment_manager::{NoHook, SegmentManagerProps, SegmentManagers, SmError};
use ct_sync::{Arc, thread};
use std::sync::Arc as StdArc;

/// Small segments keep each model execution cheap.
const SEG: usize = 16 << 10;

fn props(add_segment: bool) -> SegmentManagerProps {
    SegmentManagerProps {
        segment_size: SEG,
        add_segment_size: SEG,
        add_segment,
        ..Default::default()
    }
}

/// A thread allocating and freeing under a reader guard against a thread
/// deleting the segment: the delete waits for the guard (it never sees the
/// guard's fifos, never fails), or runs first and the guard is refused.
#[test]
fn reader_guard_vs_delete() {
    loom::model(|| {
        let sms = SegmentManagers::new(2);
        let sm = sms.alloc(props(false), StdArc::new(NoHook));
        let h = sm.add_segment(SEG, SegmentFlags::CUSTOM_USE).unwrap();
        let user = {
            let sm = sm.clone();
            thread::spawn(move || match sm.get_segment_w_handle(h) {
                Ok(g) => {
                    let (rx, tx) = g.try_alloc_fifos(1, 0, 0).unwrap();
                    assert_eq!(g.num_fifos(), 2);
                    assert!(g.free_fifo(&rx).unwrap());
                    assert!(g.free_fifo(&tx).unwrap());
                    assert_eq!(g.num_fifos(), 0);
                    true
                }
                Err(SmError::StaleSegment(_)) => false,
                Err(e) => panic!("unexpected {e}"),
            })
        };
        assert!(sm.lock_and_del_segment(h.segment_index()).unwrap());
        user.join().unwrap();
        assert_eq!(sm.num_segments(), 0);
    });
}

/// The last dealloc of a segment (which then deletes it if still empty)
/// against an allocation that may pick that segment: the new pair always
/// lives in a segment that exists, nothing is leaked.
#[test]
fn dealloc_emptying_segment_vs_alloc() {
    loom::model(|| {
        let sms = Arc::new(SegmentManagers::new(2));
        let sm = sms.alloc(props(true), StdArc::new(NoHook));
        // One small, unprotected segment: the allocation's only choice
        // unless the dealloc deleted it first.
        let only = sm.add_segment(SEG, SegmentFlags::empty()).unwrap();
        let old = sm
            .get_segment_w_handle(only)
            .unwrap()
            .try_alloc_fifos(0, 0, 0)
            .unwrap();
        let freer = {
            let sms = sms.clone();
            thread::spawn(move || sms.dealloc_fifos(&old.0, &old.1).unwrap())
        };
        let pair = sm.alloc_session_fifos(1).unwrap();
        freer.join().unwrap();
        let seg = sms.segment(pair.segment).expect("pair's segment exists");
        assert_eq!(seg.num_fifos(), 2);
        assert_eq!(sm.num_fifos(), 2);
        sms.dealloc_fifos(&pair.rx, &pair.tx).unwrap();
        assert!(!sm.has_fifos());
    });
}

/// A detached manager's last dealloc and an explicit free_safe race: the
/// manager is freed exactly once and the pool ends empty.
#[test]
fn last_dealloc_vs_free_safe() {
    loom::model(|| {
        let sms = Arc::new(SegmentManagers::new(1));
        let sm = sms.alloc(props(false), StdArc::new(NoHook));
        sm.add_segment(SEG, SegmentFlags::empty()).unwrap();
        let pair = sm.alloc_session_fifos(0).unwrap();
        sm.app_detach();
        let handle = sm.handle();
        let freer = {
            let sms = sms.clone();
            thread::spawn(move || sms.dealloc_fifos(&pair.rx, &pair.tx).unwrap())
        };
        let freed_here = sms.free_safe(handle).unwrap();
        freer.join().unwrap();
        assert!(sms.is_empty());
        assert!(!sms.free_safe(handle).unwrap());
        let _ = freed_here;
    });
}
