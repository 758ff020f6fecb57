//! Segment-manager behaviour through the public API: handles, properties,
//! add/del with notifications, allocation across segments, refusal when
//! full, dealloc by fifo, detach and deferred free, stale handles.

use ct_sync::Mutex;
use ct_sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ct_fifo_segment::{FifoSegment, SegmentFlags};
use ct_segment_manager::{
    FreeOutcome, HookError, NoHook, SegmentBacking, SegmentHandle, SegmentHook,
    SegmentManagerProps, SegmentManagers, SmError,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Add(SegmentHandle),
    Del(SegmentHandle),
}

/// Records notifications; refuses adds while `refuse` is set.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    refuse: AtomicBool,
}

impl Recorder {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut self.events.lock())
    }
}

impl SegmentHook for Recorder {
    fn on_add(&self, handle: SegmentHandle, segment: &FifoSegment) -> Result<(), HookError> {
        assert!(segment.size() > 0);
        if self.refuse.load(Ordering::SeqCst) {
            return Err("app queue full".into());
        }
        self.events.lock().push(Event::Add(handle));
        Ok(())
    }

    fn on_del(&self, handle: SegmentHandle) {
        self.events.lock().push(Event::Del(handle));
    }
}

fn heap_props() -> SegmentManagerProps {
    SegmentManagerProps {
        backing: SegmentBacking::Heap,
        ..Default::default()
    }
}

#[test]
fn add_and_del_segment_notify_and_go_stale() {
    let sms = SegmentManagers::new(2);
    let hook = Arc::new(Recorder::default());
    let sm = sms.alloc(heap_props(), hook.clone());
    let first = sm.init_first().unwrap();
    assert_eq!(first.segment_index(), 0);
    assert_eq!(first.sm_index(), sm.segment_manager_index());
    assert!(hook.take().is_empty(), "init_first does not notify");

    let h = sm
        .add_segment_notify(256 << 10, SegmentFlags::empty())
        .unwrap();
    assert_eq!(h.segment_index(), 1);
    assert_eq!(hook.take(), vec![Event::Add(h)]);
    let seg = sms.segment(h).unwrap();
    assert!(seg.size() >= 256 << 10);
    assert!(seg.available_bytes() >= 256 << 10, "requested bytes usable");
    assert_eq!(seg.n_slices(), 2);
    assert_eq!(sm.segment_handles(), vec![first, h]);

    assert!(sm.del_segment(h).unwrap());
    assert_eq!(hook.take(), vec![Event::Del(h)]);
    assert!(matches!(sms.segment(h), Err(SmError::StaleSegment(s)) if s == h));
    assert!(matches!(sm.del_segment(h), Err(SmError::StaleSegment(_))));

    // The slot is reused; the old handle stays stale.
    let h2 = sm.add_segment(256 << 10, SegmentFlags::empty()).unwrap();
    assert_eq!(h2.as_u64(), h.as_u64());
    assert_ne!(h2.generation(), h.generation());
    assert!(
        hook.take().is_empty(),
        "add_segment (add_segment2) does not notify"
    );
    assert!(matches!(
        sm.get_segment_w_handle(h),
        Err(SmError::StaleSegment(_))
    ));
    assert!(sm.get_segment_w_handle(h2).is_ok());
    assert!(matches!(
        sm.lock_and_del_segment(7),
        Err(SmError::UnknownSegment { index: 7, .. })
    ));
    // A handle of another manager is stale here.
    let other = sms.alloc(heap_props(), Arc::new(NoHook));
    assert!(matches!(other.segment(h2), Err(SmError::StaleSegment(_))));
}

#[test]
fn add_segment_rules() {
    let sms = SegmentManagers::new(1);
    let sm = sms.alloc(
        SegmentManagerProps {
            max_segments: Some(2),
            ..heap_props()
        },
        Arc::new(NoHook),
    );
    // Size 0 means the default additional size, only when adding is allowed.
    assert!(matches!(
        sm.add_segment(0, SegmentFlags::empty()),
        Err(SmError::AddSegmentNotAllowed)
    ));
    sm.add_segment(64 << 10, SegmentFlags::empty()).unwrap();
    let custom = sm.add_segment(64 << 10, SegmentFlags::CUSTOM_USE).unwrap();
    assert!(
        sms.segment(custom)
            .unwrap()
            .flags()
            .contains(SegmentFlags::CUSTOM_USE)
    );
    assert!(matches!(
        sm.add_segment(64 << 10, SegmentFlags::empty()),
        Err(SmError::MaxSegments { max: 2 })
    ));
    assert_eq!(sm.num_segments(), 2);
}

#[test]
fn failing_add_notification_undoes_the_add() {
    let sms = SegmentManagers::new(1);
    let hook = Arc::new(Recorder::default());
    let sm = sms.alloc(
        SegmentManagerProps {
            add_segment: true,
            ..heap_props()
        },
        hook.clone(),
    );
    hook.refuse.store(true, Ordering::SeqCst);
    let err = sm.add_segment_notify(0, SegmentFlags::empty()).unwrap_err();
    assert!(matches!(err, SmError::AddNotify { .. }), "{err}");
    assert_eq!(sm.num_segments(), 0);
    // The allocation path adds a segment for the pair and is refused too.
    assert!(matches!(
        sm.alloc_session_fifos(0),
        Err(SmError::AddNotify { .. })
    ));
    assert_eq!(sm.num_segments(), 0);
    assert!(
        hook.take().is_empty(),
        "no del for a segment the owner never had"
    );
    hook.refuse.store(false, Ordering::SeqCst);
    let pair = sm.alloc_session_fifos(0).unwrap();
    assert_eq!(hook.take(), vec![Event::Add(pair.segment)]);
    sms.dealloc_fifos(&pair.rx, &pair.tx).unwrap();
}

#[test]
fn allocation_spreads_over_added_segments() {
    let sms = SegmentManagers::new(2);
    let hook = Arc::new(Recorder::default());
    let sm = sms.alloc(
        SegmentManagerProps {
            rx_fifo_size: 64 << 10,
            tx_fifo_size: 64 << 10,
            add_segment: true,
            add_segment_size: 300 << 10,
            ..heap_props()
        },
        hook.clone(),
    );
    sm.init_first().unwrap();
    let mut pairs = Vec::new();
    for i in 0..40 {
        let pair = sm.alloc_session_fifos(i % 2).unwrap();
        assert_eq!(pair.rx.segment_index(), pair.segment.segment_index());
        assert_eq!(pair.tx.segment_index(), pair.segment.segment_index());
        assert_eq!(pair.rx.segment_manager_index(), sm.segment_manager_index());
        assert!(pair.rx.size() >= 64 << 10 && pair.tx.size() >= 64 << 10);
        let guard = sm.get_segment_w_handle(pair.segment).unwrap();
        assert!(guard.segment().num_fifos() >= 2);
        drop(guard);
        pairs.push(pair);
    }
    let added = hook.take();
    assert!(sm.num_segments() >= 3, "{} segments", sm.num_segments());
    assert_eq!(
        added.len(),
        sm.num_segments() - 1,
        "every added segment notified"
    );
    assert_eq!(sm.num_fifos(), 80);

    for pair in &pairs {
        sms.dealloc_fifos(&pair.rx, &pair.tx).unwrap();
    }
    assert!(!sm.has_fifos());
    // Empty added segments were deleted (and the owner told); the first
    // (unprotected) went too when it emptied.
    let dels = hook.take();
    assert!(dels.iter().all(|e| matches!(e, Event::Del(_))));
    assert_eq!(sm.num_segments(), 0);
    assert_eq!(dels.len(), added.len() + 1);
}

#[test]
fn full_without_add_segment_refuses_and_leaks_nothing() {
    let sms = SegmentManagers::new(1);
    let sm = sms.alloc(
        SegmentManagerProps {
            rx_fifo_size: 128 << 10,
            tx_fifo_size: 64 << 10,
            ..heap_props()
        },
        Arc::new(NoHook),
    );
    sm.init_first().unwrap();
    let mut pairs = Vec::new();
    let err = loop {
        match sm.alloc_session_fifos(0) {
            Ok(p) => pairs.push(p),
            Err(e) => break e,
        }
        assert!(pairs.len() < 100, "1 MiB cannot hold 100 pairs of 192 KiB");
    };
    assert!(matches!(err, SmError::SegNoSpace), "{err}");
    assert!(!pairs.is_empty());
    assert_eq!(sm.num_segments(), 1);
    assert_eq!(sm.num_fifos(), 2 * pairs.len(), "no half pair left behind");
    sm.set_first_is_protected(true);
    for p in &pairs {
        sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    }
    assert_eq!(sm.num_fifos(), 0);
    assert_eq!(sm.num_segments(), 1, "protected first segment kept");
    // Memory is reused (once the last handles are gone): the same number of
    // pairs fits again.
    let n = pairs.len();
    drop(pairs);
    let again: Vec<_> = (0..n).map(|_| sm.alloc_session_fifos(0).unwrap()).collect();
    for p in &again {
        sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    }
}

#[test]
fn oversized_fifos_fail_with_no_space2_and_leave_no_segment() {
    let sms = SegmentManagers::new(1);
    let hook = Arc::new(Recorder::default());
    let sm = sms.alloc(
        SegmentManagerProps {
            rx_fifo_size: 8 << 20,
            tx_fifo_size: 8 << 20,
            add_segment: true,
            add_segment_size: 1 << 20,
            ..heap_props()
        },
        hook.clone(),
    );
    assert!(matches!(
        sm.alloc_session_fifos(0),
        Err(SmError::SegNoSpace2)
    ));
    assert_eq!(sm.num_segments(), 0);
    let events = hook.take();
    assert_eq!(events.len(), 2, "added, told, deleted, told: {events:?}");
}

#[test]
fn dealloc_keeps_protected_first_and_custom_use_segments() {
    let sms = SegmentManagers::new(1);
    let hook = Arc::new(Recorder::default());
    let sm = sms.alloc(heap_props(), hook.clone());
    let first = sm.init_first().unwrap();
    sm.set_first_is_protected(true);
    let p = sm.alloc_session_fifos(0).unwrap();
    assert_eq!(p.segment, first);
    sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    assert_eq!(sm.segment_handles(), vec![first]);

    // A custom-use segment is never picked for session fifos...
    let ct = sm.add_segment(512 << 10, SegmentFlags::CUSTOM_USE).unwrap();
    for _ in 0..4 {
        let p = sm.alloc_session_fifos(0).unwrap();
        assert_eq!(p.segment, first);
        sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    }
    // ...its user fills it through the guard...
    let (rx, tx) = {
        let g = sm.get_segment_w_handle(ct).unwrap();
        g.try_alloc_fifos(0, 16 << 10, 16 << 10).unwrap()
    };
    assert_eq!(rx.segment_index(), ct.segment_index());
    // ...and it outlives its last fifo until its user deletes it.
    sms.dealloc_fifos(&rx, &tx).unwrap();
    assert_eq!(sm.num_segments(), 2);
    assert!(sm.lock_and_del_segment(ct.segment_index()).unwrap());
    assert_eq!(hook.take(), vec![Event::Del(ct)]);
}

#[test]
fn shared_fifos_are_freed_by_their_last_user() {
    // ct hands the same fifos to both sessions (crossed), one reference each.
    let sms = SegmentManagers::new(1);
    let sm = sms.alloc(heap_props(), Arc::new(NoHook));
    sm.init_first().unwrap();
    sm.set_first_is_protected(true);
    let p = sm.alloc_session_fifos(0).unwrap();
    p.rx.ref_inc();
    p.tx.ref_inc();
    sms.dealloc_fifos(&p.tx, &p.rx).unwrap();
    assert_eq!(sm.num_fifos(), 2, "still referenced by the peer");
    sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    assert_eq!(sm.num_fifos(), 0);
    // A third dealloc is an error, not a double free.
    assert!(matches!(
        sms.dealloc_fifos(&p.rx, &p.tx),
        Err(SmError::BadFifo(_))
    ));
}

#[test]
fn guard_free_fifo_checks_the_segment() {
    let sms = SegmentManagers::new(1);
    let sm = sms.alloc(heap_props(), Arc::new(NoHook));
    let first = sm.init_first().unwrap();
    let second = sm.add_segment(256 << 10, SegmentFlags::CUSTOM_USE).unwrap();
    let (rx, tx) = sm
        .get_segment_w_handle(second)
        .unwrap()
        .try_alloc_fifos(0, 4096, 4096)
        .unwrap();
    let g = sm.get_segment_w_handle(first).unwrap();
    assert!(matches!(g.free_fifo(&rx), Err(SmError::BadFifo(_))));
    drop(g);
    let g = sm.get_segment_w_lock(second.segment_index()).unwrap();
    assert!(g.free_fifo(&rx).unwrap());
    assert!(g.free_fifo(&tx).unwrap());
    assert_eq!(g.num_fifos(), 0);
}

#[test]
fn lock_and_del_refuses_segments_with_fifos() {
    let sms = SegmentManagers::new(1);
    let sm = sms.alloc(heap_props(), Arc::new(NoHook));
    let first = sm.init_first().unwrap();
    let p = sm.alloc_session_fifos(0).unwrap();
    assert!(matches!(
        sm.lock_and_del_segment(first.segment_index()),
        Err(SmError::SegmentHasFifos(h)) if h == first
    ));
    sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
}

#[test]
fn reader_guard_blocks_delete_until_dropped() {
    let sms = SegmentManagers::new(1);
    let sm = sms.alloc(heap_props(), Arc::new(NoHook));
    let h = sm.add_segment(128 << 10, SegmentFlags::CUSTOM_USE).unwrap();
    let guard = sm.get_segment_w_handle(h).unwrap();
    let deleted = Arc::new(AtomicBool::new(false));
    let deleter = {
        let (sm, deleted) = (sm.clone(), deleted.clone());
        std::thread::spawn(move || {
            let r = sm.lock_and_del_segment(h.segment_index());
            deleted.store(true, Ordering::SeqCst);
            r
        })
    };
    // The guard is still held: however long we wait, nothing is deleted.
    std::thread::sleep(Duration::from_millis(50));
    assert!(!deleted.load(Ordering::SeqCst));
    let (rx, tx) = guard.try_alloc_fifos(0, 4096, 4096).unwrap();
    assert!(guard.free_fifo(&rx).unwrap() && guard.free_fifo(&tx).unwrap());
    drop(guard);
    assert!(deleter.join().unwrap().unwrap());
    assert!(deleted.load(Ordering::SeqCst));
    assert!(matches!(
        sm.get_segment_w_handle(h),
        Err(SmError::StaleSegment(_))
    ));
}

#[test]
fn detach_and_free_safe_only_once_empty() {
    let sms = SegmentManagers::new(1);
    let hook = Arc::new(Recorder::default());
    let sm = sms.alloc(heap_props(), hook.clone());
    sm.init_first().unwrap();
    sm.set_first_is_protected(true);
    let p = sm.alloc_session_fifos(0).unwrap();
    assert!(matches!(
        sms.free_safe(sm.handle()),
        Err(SmError::NotDetached)
    ));
    assert!(!sm.app_detached());
    sm.app_detach();
    assert!(sm.app_detached());
    assert!(matches!(sm.alloc_session_fifos(0), Err(SmError::Detached)));
    assert!(matches!(
        sm.add_segment(1 << 20, SegmentFlags::empty()),
        Err(SmError::Detached)
    ));
    assert!(!sms.free_safe(sm.handle()).unwrap(), "fifos left: not yet");
    assert_eq!(sms.len(), 1);
    // The last dealloc frees the detached manager, without notifications.
    sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    assert!(sms.is_empty());
    assert!(hook.take().is_empty());
    assert!(matches!(
        sms.get(sm.handle()),
        Err(SmError::StaleSegmentManager(_))
    ));
    assert!(!sms.free_safe(sm.handle()).unwrap(), "already freed");
    // The Arc a thread still holds refuses work.
    assert!(matches!(sm.get_segment_w_lock(0), Err(SmError::Freed)));
    assert!(matches!(sm.init_first(), Err(SmError::Freed)));
    // A fifo naming the freed manager's index is an error.
    assert!(matches!(
        sms.dealloc_fifos(&p.rx, &p.tx),
        Err(SmError::UnknownSegmentManager(_))
    ));
}

#[test]
fn init_free_frees_now_or_defers() {
    let sms = SegmentManagers::new(1);
    let a = sms.alloc(heap_props(), Arc::new(NoHook));
    a.init_first().unwrap();
    assert_eq!(sms.init_free(a.handle()).unwrap(), FreeOutcome::Freed);
    let b = sms.alloc(heap_props(), Arc::new(NoHook));
    assert_ne!(a.handle(), b.handle());
    assert_eq!(
        a.segment_manager_index(),
        b.segment_manager_index(),
        "index reused"
    );
    assert!(matches!(
        sms.get(a.handle()),
        Err(SmError::StaleSegmentManager(_))
    ));
    b.init_first().unwrap();
    let p = b.alloc_session_fifos(0).unwrap();
    assert_eq!(sms.init_free(b.handle()).unwrap(), FreeOutcome::Deferred);
    assert_eq!(sms.len(), 1);
    sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    assert!(sms.is_empty());
}

#[test]
fn free_requires_detached_and_empty() {
    let sms = SegmentManagers::new(1);
    let sm = sms.alloc(heap_props(), Arc::new(NoHook));
    sm.init_first().unwrap();
    assert!(matches!(sms.free(sm.handle()), Err(SmError::NotDetached)));
    let p = sm.alloc_session_fifos(0).unwrap();
    sm.app_detach();
    assert!(matches!(sms.free(sm.handle()), Err(SmError::HasFifos)));
    let g = sm.get_segment_w_lock(0).unwrap();
    assert!(g.free_fifo(&p.rx).unwrap() && g.free_fifo(&p.tx).unwrap());
    drop(g);
    sms.free(sm.handle()).unwrap();
    assert!(sms.is_empty());
    assert!(matches!(
        sms.free(sm.handle()),
        Err(SmError::StaleSegmentManager(_))
    ));
}

#[test]
fn bad_thread_is_an_error() {
    let sms = SegmentManagers::new(2);
    let sm = sms.alloc(heap_props(), Arc::new(NoHook));
    sm.init_first().unwrap();
    assert!(matches!(
        sm.alloc_session_fifos(2),
        Err(SmError::BadThread {
            thread: 2,
            n_slices: 2
        })
    ));
    let g = sm.get_segment_w_lock(0).unwrap();
    assert!(matches!(
        g.try_alloc_fifos(9, 4096, 4096),
        Err(SmError::BadThread { .. })
    ));
    drop(g);
    assert_eq!(sm.num_fifos(), 0);
}

#[test]
fn preallocated_segments_hold_their_pairs_and_stay() {
    let sms = SegmentManagers::new(2);
    let sm = sms.alloc(
        SegmentManagerProps {
            rx_fifo_size: 32 << 10,
            tx_fifo_size: 32 << 10,
            prealloc_fifos: 40,
            ..heap_props()
        },
        Arc::new(NoHook),
    );
    let first = sm.init_first().unwrap();
    let seg = sms.segment(first).unwrap();
    assert!(seg.flags().contains(SegmentFlags::IS_PREALLOCATED));
    assert_eq!(sm.num_fifos(), 0);
    let pairs: Vec<_> = (0..40)
        .map(|i| sm.alloc_session_fifos(i % 2).unwrap())
        .collect();
    for p in &pairs {
        sms.dealloc_fifos(&p.rx, &p.tx).unwrap();
    }
    // Empty but preallocated: kept while attached.
    assert!(sm.num_segments() >= 1);
    assert!(!sm.lock_and_del_segment(first.segment_index()).unwrap());
    sm.app_detach();
    assert!(sm.lock_and_del_segment(first.segment_index()).unwrap());
}

#[test]
fn memfd_segments_have_an_fd_heap_segments_do_not() {
    let sms = SegmentManagers::new(1);
    let memfd = sms.alloc(SegmentManagerProps::default(), Arc::new(NoHook));
    let h = memfd.init_first().unwrap();
    assert!(sms.segment(h).unwrap().fd().is_some());
    let heap = sms.alloc(heap_props(), Arc::new(NoHook));
    let h = heap.init_first().unwrap();
    assert!(sms.segment(h).unwrap().fd().is_none());
}

#[test]
fn handles_and_fifos_of_a_freed_manager_stay_stale_after_reuse() {
    let sms = SegmentManagers::new(1);
    let a = sms.alloc(heap_props(), Arc::new(NoHook));
    let a_seg = a.init_first().unwrap();
    a.set_first_is_protected(true);
    let old = a.alloc_session_fifos(0).unwrap();
    sms.dealloc_fifos(&old.rx, &old.tx).unwrap();
    assert_eq!(sms.init_free(a.handle()).unwrap(), FreeOutcome::Freed);

    // Same manager index, same segment index: new generations.
    let b = sms.alloc(heap_props(), Arc::new(NoHook));
    let b_seg = b.init_first().unwrap();
    assert_eq!(b_seg.as_u64(), a_seg.as_u64());
    assert!(matches!(sms.segment(a_seg), Err(SmError::StaleSegment(_))));
    assert!(sms.segment(b_seg).is_ok());
    // The old fifos name index (0, 0) too: they reach b's segment, which
    // refuses them instead of freeing b's fifos.
    let live = b.alloc_session_fifos(0).unwrap();
    assert!(matches!(
        sms.dealloc_fifos(&old.rx, &old.tx),
        Err(SmError::BadFifo(_))
    ));
    assert_eq!(b.num_fifos(), 2);
    sms.dealloc_fifos(&live.rx, &live.tx).unwrap();
    assert_eq!(b.num_fifos(), 0);
}

#[test]
fn dealloc_with_the_held_manager_frees_like_dealloc_by_index() {
    let sms = SegmentManagers::new(2);
    let hook = Arc::new(Recorder::default());
    let sm = sms.alloc(heap_props(), hook.clone());
    let other = sms.alloc(heap_props(), Arc::new(NoHook));
    let first = sm.init_first().unwrap();
    let p = sm.alloc_session_fifos(1).unwrap();
    // Another manager's fifos are refused, and nothing is freed.
    assert!(matches!(
        sms.dealloc_fifos_w_manager(&other, &p.rx, &p.tx),
        Err(SmError::MismatchedPair)
    ));
    assert_eq!(sm.num_fifos(), 2);
    // An unprotected first segment goes with its last pair, told to the owner.
    sms.dealloc_fifos_w_manager(&sm, &p.rx, &p.tx).unwrap();
    assert_eq!(sm.num_fifos(), 0);
    assert_eq!(sm.num_segments(), 0);
    assert_eq!(hook.take(), vec![Event::Del(first)]);
    // A detached manager is freed by its last dealloc, as by index.
    sm.init_first().unwrap();
    let p = sm.alloc_session_fifos(0).unwrap();
    sm.app_detach();
    sms.dealloc_fifos_w_manager(&sm, &p.rx, &p.tx).unwrap();
    assert!(matches!(
        sms.get(sm.handle()),
        Err(SmError::StaleSegmentManager(_))
    ));
    assert_eq!(sms.len(), 1);
    // The freed manager refuses a second free of the same pair.
    assert!(sms.dealloc_fifos_w_manager(&sm, &p.rx, &p.tx).is_err());
}
