//! The order of calls an accept and a release make on [`CtSegments`] and
//! the segment manager, in one place so the transport and the loom models
//! run the same code: count a session on a segment (read lock, else write
//! lock), allocate the fifo pair there, fall back once to a new segment
//! when a looked-up segment's memory went to another thread, and on
//! release free the fifos before counting the side off.

use ct_fifo_segment::Fifo;
use ct_segment_manager::{SegmentHandle, SegmentManager, SmError};
use ct_session::{SessionError, StackTime};

use crate::segments::{CtSegRef, CtSegments, ReleaseHooks, RemovedSegment, SegCtxKey, Side};

/// What the caller does around the accounting: tell apps about a new
/// segment, give up a removed one. Runs under the accounting's write lock.
pub trait CtSegmentEvents {
    /// A segment was added: tell the apps (an error undoes the add and the
    /// accept fails with [`SessionError::Alloc`]).
    fn segment_added(&mut self, segment: SegmentHandle) -> Result<(), SessionError>;

    /// The slow path (write lock) finished, segment added or not.
    fn slow_path_done(&mut self) {}

    /// The pair allocation failed in `segment`.
    fn pair_alloc_failed(&mut self, segment: SegmentHandle, err: &SmError) {
        tracing::debug!(%segment, error = %err, "ct fifo alloc failed");
    }

    /// The accounting gave `removed` up: tell the client app and delete
    /// it from the segment manager.
    fn segment_removed(&mut self, removed: &RemovedSegment);

    /// The time on the caller's clock (a worker's [`ct_session::Worker::now`]):
    /// an emptied segment's linger counts from it. Asked only when one
    /// retires.
    fn now(&self) -> StackTime;
}

/// A release's hooks are the caller's events.
impl<E: CtSegmentEvents + ?Sized> ReleaseHooks for E {
    fn now(&self) -> StackTime {
        CtSegmentEvents::now(self)
    }
    fn removed(&mut self, removed: &RemovedSegment) {
        self.segment_removed(removed);
    }
}

/// A server session's fifos and where they are accounted.
#[derive(Debug)]
pub struct CtServerFifos {
    /// Its place in the accounting.
    pub seg_ref: CtSegRef,
    /// The segment holding the fifos.
    pub segment: SegmentHandle,
    /// Server rx fifo (the client's tx).
    pub rx: Fifo,
    /// Server tx fifo (the client's rx).
    pub tx: Fifo,
}

impl CtSegments {
    /// Counts a session of `key` on a segment where `slice` can allocate
    /// and allocates its fifos (`sizes`: rx, tx) there (VPP
    /// `ct_init_accepted_session`). If the pair allocation fails in a
    /// segment a lookup chose, both counts go back and, once, a new segment
    /// is added; a failure in a new segment is [`SessionError::Alloc`].
    pub fn alloc_session_fifos(
        &self,
        key: SegCtxKey,
        sm: &SegmentManager,
        slice: u32,
        sizes: [u32; 2],
        events: &mut impl CtSegmentEvents,
    ) -> Result<CtServerFifos, SessionError> {
        let (mut seg_ref, mut segment, mut added) = match self.try_count_session(key, sm, slice) {
            Some((r, h)) => (r, h, false),
            None => self.slow_path(key, sm, slice, false, events)?,
        };
        loop {
            let fifos = sm
                .get_segment_w_handle(segment)
                .and_then(|g| g.try_alloc_fifos(slice, sizes[0], sizes[1]));
            let e = match fifos {
                Ok((rx, tx)) => {
                    return Ok(CtServerFifos {
                        seg_ref,
                        segment,
                        rx,
                        tx,
                    });
                }
                Err(e) => e,
            };
            events.pair_alloc_failed(segment, &e);
            // Both sides' counts go back; an emptied segment goes too
            // (the reference leaves it until a later session ends).
            for side in [Side::Server, Side::Client] {
                self.release(side, seg_ref, sm, events);
            }
            // A new segment with no room is not worth a second (the forced
            // add always makes one, so this runs once).
            if added {
                return Err(SessionError::Alloc);
            }
            // A lookup saw room for this thread, but another thread took
            // the fresh memory meanwhile: once, a new segment.
            (seg_ref, segment, added) = self.slow_path(key, sm, slice, true, events)?;
        }
    }

    /// The write-lock path; says whether the segment is a new one.
    fn slow_path(
        &self,
        key: SegCtxKey,
        sm: &SegmentManager,
        slice: u32,
        force_add: bool,
        events: &mut impl CtSegmentEvents,
    ) -> Result<(CtSegRef, SegmentHandle, bool), SessionError> {
        let mut added = false;
        let notify = |h| {
            added = true;
            events.segment_added(h)
        };
        let counted = if force_add {
            self.add_segment_and_count(key, sm, notify)
        } else {
            self.count_session_or_add_segment(key, sm, slice, notify)
        };
        events.slow_path_done();
        counted.map(|(r, h)| (r, h, added))
    }

    /// One side of a session returns its fifos (one reference each, in
    /// their segment of `sm`) and, if it was accounted (`seg`), counts off
    /// its segment; the last session of both sides removes the segment
    /// through `events` (VPP `ct_session_dealloc_fifos`). The count goes
    /// even if a free fails; the first free error is returned.
    pub fn free_session_fifos(
        &self,
        side: Side,
        seg: Option<CtSegRef>,
        sm: &SegmentManager,
        rx: &Fifo,
        tx: &Fifo,
        events: &mut impl CtSegmentEvents,
    ) -> Result<(), SmError> {
        let freed = sm.get_segment_w_lock(rx.segment_index()).and_then(|g| {
            let a = g.free_fifo(rx);
            let b = g.free_fifo(tx);
            a.and(b).map(drop)
        });
        if let Some(seg) = seg {
            self.release(side, seg, sm, events);
        }
        freed
    }
}
