//! Threaded stress: allocators and a segment adder/deleter on one manager.

use ct_sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ct_fifo_segment::{FifoSegment, SegmentFlags};
use ct_segment_manager::{
    HookError, SegmentBacking, SegmentHandle, SegmentHook, SegmentManagerProps, SegmentManagers,
    SmError,
};

/// Counts the owner notifications.
#[derive(Default)]
struct Counter {
    adds: AtomicUsize,
    dels: AtomicUsize,
}

impl SegmentHook for Counter {
    fn on_add(&self, _: SegmentHandle, _: &FifoSegment) -> Result<(), HookError> {
        self.adds.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_del(&self, _: SegmentHandle) {
        self.dels.fetch_add(1, Ordering::Relaxed);
    }
}

const ALLOCATORS: u32 = 4;
const CYCLES: usize = 10_000;

/// 4 threads x 10k alloc/free of fifo pairs (each holding up to 64 pairs,
/// 2 MiB, more than the first segment: segments fill, get added for the
/// allocators and are deleted when they empty) while a fifth thread adds and
/// deletes empty segments. Afterwards no segment holds a fifo, and freeing
/// the manager leaves the pool empty.
#[test]
#[cfg_attr(debug_assertions, ignore = "stress: release only")]
fn stress_alloc_free_while_adding_and_deleting_segments() {
    let sms = Arc::new(SegmentManagers::new(ALLOCATORS));
    let hook = Arc::new(Counter::default());
    let sm = sms.alloc(
        SegmentManagerProps {
            rx_fifo_size: 16 << 10,
            tx_fifo_size: 16 << 10,
            add_segment: true,
            add_segment_size: 256 << 10,
            backing: SegmentBacking::Heap,
            ..Default::default()
        },
        hook.clone(),
    );
    sm.init_first().unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let allocators: Vec<_> = (0..ALLOCATORS)
        .map(|thread| {
            let (sms, sm) = (sms.clone(), sm.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..CYCLES {
                    let pair = sm.alloc_session_fifos(thread).unwrap();
                    assert_eq!(pair.rx.segment_index(), pair.segment.segment_index());
                    held.push(pair);
                    if held.len() > (i % 64) {
                        let p = held.swap_remove(i % held.len());
                        sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
                    }
                }
                for p in held {
                    sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
                }
            })
        })
        .collect();

    let churner = {
        let (sm, done) = (sm.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut added, mut deleted) = (0u32, 0u32);
            // At least a few rounds even if the allocators finish first, so
            // the custom-use (never allocated from) adds are deleted for sure.
            while !done.load(Ordering::Acquire) || added < 8 {
                let flags = if added % 2 == 0 {
                    SegmentFlags::empty()
                } else {
                    SegmentFlags::CUSTOM_USE
                };
                let h = sm.add_segment(128 << 10, flags).unwrap();
                added += 1;
                match sm.del_segment(h) {
                    Ok(true) => deleted += 1,
                    // Allocators took it (it was the emptiest), or emptied
                    // it and deleted it already.
                    Err(SmError::SegmentHasFifos(_) | SmError::StaleSegment(_)) => {}
                    other => panic!("unexpected del result {other:?}"),
                }
                std::thread::yield_now();
            }
            (added, deleted)
        })
    };

    for t in allocators {
        t.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let (added, deleted) = churner.join().unwrap();
    assert!(
        added > 0 && deleted > 0,
        "churner ran: {added} added, {deleted} deleted"
    );

    for h in sm.segment_handles() {
        assert_eq!(
            sms.segment(h).unwrap().num_fifos(),
            0,
            "segment {h:?} holds fifos"
        );
    }
    assert!(!sm.has_fifos());
    sm.app_detach();
    assert!(sms.free_safe(sm.handle()).unwrap());
    assert!(sms.is_empty());
}
