//! loom models of ct's shared state, on the real code:
//!
//! - the segment accounting hand-off ([`CtSegments`]): an accept counting a
//!   session under the read lock against the last release of another
//!   session (count down under the read lock, then write lock, re-check,
//!   detach, removal and the segment's deletion from its manager);
//! - the detached flags, cleared by accepts under the read lock while a
//!   release sets them under the write lock;
//! - two workers' accepts racing for a segment's last fresh memory: the
//!   loser's pair allocation fails in the segment its lookup chose and it
//!   falls back to a new segment, accounting exact;
//! - a lingering segment (`CtSegments::with_linger`): an accept reviving it
//!   under the read lock against a reap removing it under the write lock;
//! - a last release waiting for the write lock while an accept revives its
//!   segment and that session's releases (and a reap) empty it again: the
//!   waiting release still finds its segment;
//! - the half-open pool and its reuse list ([`HalfOpens`]);
//! - the pending-connects hand-off ([`PendingConnects`]).
//!
//! Run: `cargo xtask loom -p ct-transport-ct` (or `RUSTFLAGS="--cfg loom"
//! LOOM_MAX_PREEMPTIONS=3 cargo test -p ct-transport-ct --release --test loom`).
//! Segments are heap-backed under loom.
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::time::Duration;

use ct_segment_manager::{
    NoHook, SegmentHandle, SegmentManager, SegmentManagerProps, SegmentManagers, SmError,
};
use ct_session::{SessionError, StackTime, TransportProto};
use ct_sync::atomic::{AtomicUsize, Ordering};
use ct_sync::{Arc, thread};
use ct_transport_ct::{
    CtConnId, CtConnection, CtSegRef, CtSegmentEvents, CtSegmentFlags, CtSegments, HalfOpens,
    PendingConnects, RemovedSegment, SegCtxKey, Side,
};

/// Big enough for one 4 KiB + 4 KiB pair plus ct's margin.
const SEG: usize = 64 << 10;

const KEY: SegCtxKey = SegCtxKey {
    sm_index: 0,
    client_wrk: 1,
    client_generation: 0,
    server_wrk: 2,
};

fn manager(sms: &SegmentManagers) -> Arc<SegmentManager> {
    let sm = sms.alloc(
        SegmentManagerProps {
            segment_size: SEG,
            add_segment_size: SEG,
            ..Default::default()
        },
        StdArc::new(NoHook),
    );
    assert_eq!(sm.segment_manager_index(), KEY.sm_index);
    sm
}

/// Fallbacks taken over every execution of every model (a plain std
/// atomic: it counts across loom's executions, it is not modelled).
static FALLBACKS: ct_sync::unmodeled::atomic::AtomicUsize =
    ct_sync::unmodeled::atomic::AtomicUsize::new(0);

/// The models' side of the accounting: apps accept every new segment, a
/// removed segment is deleted from its manager, fallbacks are counted.
struct Events<'a> {
    sm: &'a SegmentManager,
    removed: Option<RemovedSegment>,
}

impl<'a> Events<'a> {
    fn new(sm: &'a SegmentManager) -> Self {
        Self { sm, removed: None }
    }
}

impl CtSegmentEvents for Events<'_> {
    fn segment_added(&mut self, _: SegmentHandle) -> Result<(), SessionError> {
        Ok(())
    }

    fn pair_alloc_failed(&mut self, segment: SegmentHandle, _: &SmError) {
        // The segment must still exist: the session counts on it.
        assert!(
            self.sm.get_segment_w_handle(segment).is_ok(),
            "counted segment was deleted"
        );
        FALLBACKS.fetch_add(1, ct_sync::unmodeled::atomic::Ordering::Relaxed);
    }

    fn segment_removed(&mut self, removed: &RemovedSegment) {
        assert!(self.removed.replace(*removed).is_none(), "removed twice");
        assert!(
            self.sm
                .lock_and_del_segment(removed.segment.segment_index())
                .unwrap()
        );
    }

    /// The models' time stands still: their reaps take every lingering
    /// segment (`all`), so when one retired does not matter.
    fn now(&self) -> StackTime {
        StackTime::ZERO
    }
}

/// Asserts the accounting holds one segment, `h`, with one session on each
/// side; returns the snapshot.
fn one_session_on(segs: &CtSegments, h: SegmentHandle) -> Vec<ct_transport_ct::CtSegmentInfo> {
    let snap = segs.snapshot();
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!(snap[0].segment, h);
    assert_eq!(
        (snap[0].client_n_sessions, snap[0].server_n_sessions),
        (1, 1)
    );
    snap
}

/// An accept as ct does it on worker 1.
fn accept(
    segs: &CtSegments,
    sm: &SegmentManager,
) -> (
    CtSegRef,
    SegmentHandle,
    ct_fifo_segment::Fifo,
    ct_fifo_segment::Fifo,
) {
    accept_on(segs, sm, 1)
}

/// An accept on the worker of `slice`, through ct's own
/// [`CtSegments::alloc_session_fifos`]; the models' segments always have
/// room for a pair in a new segment.
fn accept_on(
    segs: &CtSegments,
    sm: &SegmentManager,
    slice: u32,
) -> (
    CtSegRef,
    SegmentHandle,
    ct_fifo_segment::Fifo,
    ct_fifo_segment::Fifo,
) {
    let f = segs
        .alloc_session_fifos(KEY, sm, slice, [0, 0], &mut Events::new(sm))
        .expect("no pair in a new segment");
    // The segment must still exist: the session counts on it.
    assert!(
        sm.get_segment_w_handle(f.segment).is_ok(),
        "counted segment was deleted"
    );
    (f.seg_ref, f.segment, f.rx, f.tx)
}

/// One side's release through ct's own [`CtSegments::free_session_fifos`].
fn release(
    segs: &CtSegments,
    sm: &SegmentManager,
    side: Side,
    r: CtSegRef,
    rx: &ct_fifo_segment::Fifo,
    tx: &ct_fifo_segment::Fifo,
) {
    segs.free_session_fifos(side, Some(r), sm, rx, tx, &mut Events::new(sm))
        .unwrap();
}

/// An accept races the release of the last session on the only segment:
/// the accept never counts on a segment that goes away, and the released
/// segment is deleted unless the accept kept it.
#[test]
fn accept_vs_last_release() {
    loom::model(|| {
        let sms = SegmentManagers::new(2);
        let sm = manager(&sms);
        let segs = Arc::new(CtSegments::new(SEG));
        let (r0, h0, rx0, tx0) = accept(&segs, &sm);
        // Both ends hold a reference, as a ct session's fifos do.
        rx0.ref_inc();
        tx0.ref_inc();

        let acceptor = {
            let (segs, sm) = (segs.clone(), sm.clone());
            thread::spawn(move || {
                let (r, h, rx, tx) = accept(&segs, &sm);
                (r, h, rx, tx)
            })
        };
        release(&segs, &sm, Side::Server, r0, &rx0, &tx0);
        release(&segs, &sm, Side::Client, r0, &rx0, &tx0);
        let (r1, h1, rx1, tx1) = acceptor.join().unwrap();

        let snap = segs.snapshot();
        assert_eq!(snap.len(), 1, "{snap:?}");
        assert_eq!(
            (snap[0].client_n_sessions, snap[0].server_n_sessions),
            (1, 1)
        );
        assert_eq!(snap[0].segment, h1);
        // The old segment went unless it is the one the accept uses.
        assert_eq!(sm.num_segments(), 1);
        if h1 != h0 {
            assert!(sm.segment(h0).is_err());
        }
        // The accepted session ends too: nothing outlives it.
        rx1.ref_inc();
        tx1.ref_inc();
        release(&segs, &sm, Side::Client, r1, &rx1, &tx1);
        release(&segs, &sm, Side::Server, r1, &rx1, &tx1);
        assert!(segs.snapshot().is_empty());
        assert_eq!(segs.n_contexts(), 0);
        assert_eq!(sm.num_segments(), 0);
    });
}

/// With a linger, the emptied segment retires; an accept races the reap
/// that would remove it. Either the accept revives it (the reap leaves it)
/// or the reap removes and deletes it and the accept adds a new one: never
/// a session counted on a removed segment, never a leak.
#[test]
fn lingering_segment_accept_vs_reap() {
    loom::model(|| {
        let sms = SegmentManagers::new(2);
        let sm = manager(&sms);
        let segs = Arc::new(CtSegments::with_linger(SEG, Duration::from_secs(3600)));
        let (r0, h0, rx0, tx0) = accept(&segs, &sm);
        rx0.ref_inc();
        tx0.ref_inc();
        release(&segs, &sm, Side::Server, r0, &rx0, &tx0);
        release(&segs, &sm, Side::Client, r0, &rx0, &tx0);
        assert_eq!(segs.n_retiring(), 1);
        assert_eq!(sm.num_segments(), 1);

        let acceptor = {
            let (segs, sm) = (segs.clone(), sm.clone());
            thread::spawn(move || accept(&segs, &sm))
        };
        let mut events = Events::new(&sm);
        let reaped = segs.reap(StackTime::ZERO, true, |r| events.segment_removed(r));
        let (r1, h1, rx1, tx1) = acceptor.join().unwrap();

        assert_eq!(reaped == 1, h1 != h0, "reaped {reaped}, {h0} -> {h1}");
        one_session_on(&segs, h1);
        assert_eq!(sm.num_segments(), 1);
        // The last session goes: the segment lingers, then a reap takes it.
        rx1.ref_inc();
        tx1.ref_inc();
        release(&segs, &sm, Side::Client, r1, &rx1, &tx1);
        release(&segs, &sm, Side::Server, r1, &rx1, &tx1);
        let mut events = Events::new(&sm);
        assert_eq!(
            segs.reap(StackTime::ZERO, true, |r| events.segment_removed(r)),
            1
        );
        assert!(segs.snapshot().is_empty());
        assert_eq!(segs.n_contexts(), 0);
        assert_eq!(sm.num_segments(), 0);
    });
}

/// The last client session of a segment whose server side already detached
/// releases on one thread, while on another an accept counts a new session
/// on the same segment and that session ends at once (both sides released;
/// with `linger`, the segment retires and a reap takes it). The release
/// that went first must still find its segment under the write lock (the
/// accounting panics under loom when a counted segment is gone): its count
/// has to hold the segment until then. Whatever the order, the segments go
/// once each and nothing is left.
fn last_release_window(linger: bool) {
    loom::model(move || {
        let sms = SegmentManagers::new(2);
        let sm = manager(&sms);
        let segs = Arc::new(if linger {
            CtSegments::with_linger(SEG, Duration::from_secs(3600))
        } else {
            CtSegments::new(SEG)
        });
        let (r0, _, rx0, tx0) = accept(&segs, &sm);
        rx0.ref_inc();
        tx0.ref_inc();
        release(&segs, &sm, Side::Server, r0, &rx0, &tx0);
        assert_eq!(segs.snapshot()[0].flags, CtSegmentFlags::SERVER_DETACHED);

        let client = {
            let (segs, sm) = (segs.clone(), sm.clone());
            thread::spawn(move || release(&segs, &sm, Side::Client, r0, &rx0, &tx0))
        };
        let (r1, _, rx1, tx1) = accept(&segs, &sm);
        rx1.ref_inc();
        tx1.ref_inc();
        release(&segs, &sm, Side::Server, r1, &rx1, &tx1);
        release(&segs, &sm, Side::Client, r1, &rx1, &tx1);
        if linger {
            let mut events = Events::new(&sm);
            segs.reap(StackTime::ZERO, true, |r| events.segment_removed(r));
        }
        client.join().unwrap();

        if linger {
            let mut events = Events::new(&sm);
            segs.reap(StackTime::ZERO, true, |r| events.segment_removed(r));
            assert_eq!(segs.n_retiring(), 0);
        }
        assert!(segs.snapshot().is_empty(), "{:?}", segs.snapshot());
        assert_eq!(segs.n_contexts(), 0);
        assert_eq!(sm.num_segments(), 0);
    });
}

/// [`last_release_window`], segments removed at once (the reference).
#[test]
fn last_release_window_vs_accept_and_release() {
    last_release_window(false);
}

/// [`last_release_window`] with a linger: the revived segment empties
/// again, retires and is reaped while the first release waits.
#[test]
fn last_release_window_vs_accept_release_and_reap() {
    last_release_window(true);
}

/// Both sides of one session release on two threads: exactly one of them
/// removes the segment, after both detached.
#[test]
fn client_and_server_release_concurrently() {
    loom::model(|| {
        let sms = SegmentManagers::new(2);
        let sm = manager(&sms);
        let segs = Arc::new(CtSegments::new(SEG));
        let (r, _, rx, tx) = accept(&segs, &sm);
        rx.ref_inc();
        tx.ref_inc();
        let removed = Arc::new(AtomicUsize::new(0));
        let side = |side: Side| {
            let (segs, sm, removed) = (segs.clone(), sm.clone(), removed.clone());
            let (rx, tx) = (rx.clone(), tx.clone());
            thread::spawn(move || {
                let mut events = Events::new(&sm);
                segs.free_session_fifos(side, Some(r), &sm, &rx, &tx, &mut events)
                    .unwrap();
                if let Some(rem) = events.removed {
                    assert!(rem.ctx_removed);
                    removed.fetch_add(1, Ordering::AcqRel);
                }
            })
        };
        let (a, b) = (side(Side::Client), side(Side::Server));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(removed.load(Ordering::Acquire), 1);
        assert!(segs.snapshot().is_empty());
        assert_eq!(sm.num_segments(), 0);
    });
}

/// A segment whose client side already detached: an accept (clearing the
/// flags under the read lock) races the server side's last release
/// (setting its flag under the write lock). Either the accept revives the
/// segment (flags clear, counts 1/1) or the release removes it and the
/// accept adds a new one; never both, never a leak.
#[test]
fn detached_flags_vs_accept() {
    loom::model(|| {
        let sms = SegmentManagers::new(2);
        let sm = manager(&sms);
        let segs = Arc::new(CtSegments::new(SEG));
        let (r0, h0, rx0, tx0) = accept(&segs, &sm);
        rx0.ref_inc();
        tx0.ref_inc();
        release(&segs, &sm, Side::Client, r0, &rx0, &tx0);
        assert_eq!(segs.snapshot()[0].flags, CtSegmentFlags::CLIENT_DETACHED);

        let acceptor = {
            let (segs, sm) = (segs.clone(), sm.clone());
            thread::spawn(move || accept(&segs, &sm).1)
        };
        release(&segs, &sm, Side::Server, r0, &rx0, &tx0);
        let h1 = acceptor.join().unwrap();

        let snap = one_session_on(&segs, h1);
        assert_eq!(snap[0].flags, CtSegmentFlags::empty());
        assert_eq!(sm.num_segments(), 1);
        let _ = h0;
    });
}

/// Two workers accept at once into a segment whose fresh memory holds one
/// more pair, each slice with room by the lookup's measure (fresh memory
/// plus a freed chunk of another class). Both accepts get fifos: the
/// loser either finds no room or falls back from a failed allocation to a
/// new segment; the counts match the sessions and everything goes when
/// they do.
#[test]
fn accepts_race_for_the_last_fresh_pair() {
    loom::model(|| {
        let sms = SegmentManagers::new(2);
        let sm = manager(&sms);
        let segs = Arc::new(CtSegments::new(SEG));
        let (r0, h0, rx0, tx0) = accept_on(&segs, &sm, 0);
        let fs = sm.segment(h0).unwrap();
        let pair = 2 * ct_fifo_segment::FifoSegment::fifo_footprint(4096);
        // A 16 KiB chunk freed on each slice (room by the lookup's bytes,
        // not of the class a pair needs); fresh memory filled with live
        // 8 KiB fifos down to one pair.
        let freed = [0, 1].map(|slice| fs.alloc_fifo_w_slice(slice, 16 << 10).unwrap());
        let mut live = Vec::new();
        while fs.slice_available_bytes(0) - ct_fifo_segment::FifoSegment::fifo_footprint(8192)
            >= pair
        {
            live.push(fs.alloc_fifo_w_slice(0, 8192).unwrap());
        }
        for f in freed {
            assert!(fs.free_fifo(&f).unwrap());
        }
        let margin = CtSegments::fifo_pair_bytes(&sm);
        for slice in [0, 1] {
            assert!(
                fs.slice_available_bytes(slice) > margin,
                "slice {slice}: {} bytes",
                fs.slice_available_bytes(slice)
            );
            assert!(fs.can_alloc_fifos_w_slice(slice, &[4096, 4096]));
        }
        assert!(!fs.can_alloc_fifos_w_slice(0, &[4096, 4096, 4096, 4096]));

        let other = {
            let (segs, sm) = (segs.clone(), sm.clone());
            thread::spawn(move || accept_on(&segs, &sm, 1))
        };
        let mine = accept_on(&segs, &sm, 0);
        let theirs = other.join().unwrap();

        let snap = segs.snapshot();
        let total: u32 = snap.iter().map(|s| s.server_n_sessions).sum();
        assert_eq!(total, 3, "{snap:?}");
        assert!(
            snap.iter()
                .all(|s| s.client_n_sessions == s.server_n_sessions)
        );
        assert_eq!(sm.num_segments(), snap.len());
        for f in &live {
            assert!(fs.free_fifo(f).unwrap());
        }
        drop((fs, live));
        for (r, _, rx, tx) in [(r0, h0, rx0, tx0), mine, theirs] {
            rx.ref_inc();
            tx.ref_inc();
            release(&segs, &sm, Side::Client, r, &rx, &tx);
            release(&segs, &sm, Side::Server, r, &rx, &tx);
        }
        assert!(segs.snapshot().is_empty());
        assert_eq!(sm.num_segments(), 0);
    });
    assert!(
        FALLBACKS.load(ct_sync::unmodeled::atomic::Ordering::Relaxed) > 0,
        "no execution took the fallback"
    );
}

fn ho(id: CtConnId) -> CtConnection {
    let mut c = CtConnection::new(id, 1);
    c.actual_tp = TransportProto::Tcp;
    c
}

/// An accepting worker takes a half-open while the app gives it up: exactly
/// one wins. The connect thread's next allocation drains the reuse list; a
/// reused slot never answers to the old id.
#[test]
fn half_open_take_vs_free_and_reuse() {
    loom::model(|| {
        let hos = Arc::new(HalfOpens::default());
        let id = hos.alloc(ho);
        let taker = {
            let hos = hos.clone();
            thread::spawn(move || hos.take_for_accept(id).is_some())
        };
        let freed = hos.free(id);
        let taken = taker.join().unwrap();
        assert!(taken ^ freed, "taken {taken} freed {freed}");
        let id2 = hos.alloc(ho);
        assert_ne!(id2, id);
        assert!(!hos.free(id), "a stale id frees nothing");
        assert!(hos.take_for_accept(id).is_none());
        assert_eq!(hos.n_reusable(), 0);
        assert_eq!(hos.len(), 1);
        assert!(hos.take_for_accept(id2).is_some());
    });
}

/// The connect thread hands connects to a worker while the worker's accept
/// RPC drains them one per run: no connect is lost or taken twice, and
/// whenever connects wait an RPC is scheduled to take them.
#[test]
fn pending_connects_hand_off() {
    loom::model(|| {
        let pending = Arc::new(PendingConnects::default());
        let rpcs = Arc::new(AtomicUsize::new(0));
        let ids = [
            CtConnId {
                index: 0,
                generation: 0,
            },
            CtConnId {
                index: 1,
                generation: 0,
            },
        ];
        let producer = {
            let (pending, rpcs) = (pending.clone(), rpcs.clone());
            thread::spawn(move || {
                for id in ids {
                    if pending.push_many([id]) {
                        rpcs.fetch_add(1, Ordering::AcqRel);
                    }
                }
            })
        };
        let mut taken = Vec::new();
        let mut runs = 0;
        while taken.len() < ids.len() {
            if rpcs.load(Ordering::Acquire) == 0 {
                ct_sync::spin_loop();
                continue;
            }
            rpcs.fetch_sub(1, Ordering::AcqRel);
            runs += 1;
            if pending.take_burst(1, &mut taken) {
                rpcs.fetch_add(1, Ordering::AcqRel);
            }
        }
        producer.join().unwrap();
        assert_eq!(taken, ids);
        assert!(pending.is_empty());
        assert_eq!(rpcs.load(Ordering::Acquire), 0, "an RPC with nothing to do");
        assert!(runs <= 2);
    });
}
