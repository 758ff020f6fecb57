//! ct's segment accounting (the reference's `ct_segment_t`,
//! `ct_segments_ctx_t`, `app_segs_lock`): which custom-use segments of a
//! server's listen segment manager hold the fifos of ct sessions between one
//! client app worker and one server app worker, and when such a segment can
//! go.
//!
//! The hand-off, as in the reference: the contexts sit behind a
//! reader-writer lock; accepts look a segment up and count a session on it
//! under the read side (many workers at once), fifo frees count down under
//! the read side too, and only the release that would take its side's
//! counter to zero takes the write side, counts down there (an accept may
//! have counted a new session meanwhile: then it is not the last), marks
//! its side detached and, when both sides are, removes the segment.
//! Counters and flags are atomics because readers change them concurrently
//! (the reference writes the flags under the read lock with plain stores;
//! here they are `fetch_and` / `fetch_or`).
//!
//! One deviation: the reference counts the last session down under the read
//! lock, before the write lock. Between the two, the count no longer holds
//! the segment, so an accept can revive it and that session's two releases
//! (or, with a linger, a reap) remove it; the first release then looks up a
//! segment that is gone, or a new one in the reused slot. Here a release
//! keeps its count until the write lock, so a counted `CtSegRef` is always
//! accounted (loom models `last_release_window_*`).
//!
//! A segment whose last session went is removed at once, as in the reference,
//! unless the accounting has a linger ([`CtSegments::with_linger`]): then it
//! retires, stays findable by accepts (which revive it, as an accept that
//! counts between the zero and the write lock does in the reference), and is
//! removed by [`CtSegments::reap`] once the linger has passed with the
//! segment still empty. A stack whose connects come and go in bursts then
//! keeps one segment instead of making and unmapping one per burst, which
//! between processes costs a new memfd, an fd over each app's socket, maps
//! and page faults on fresh memory on all three sides.

use std::collections::VecDeque;
use std::time::Duration;

use ct_fifo_segment::SegmentFlags;
use ct_segment_manager::{SegmentHandle, SegmentManager, SegmentManagerHandle};
use ct_session::{SessionError, StackTime};
use ct_sync::RwLock;
use ct_sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use hashbrown::HashMap;

/// Which end of a ct session a fifo free accounts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The connecting app's end.
    Client,
    /// The accepting app's end.
    Server,
}

bitflags::bitflags! {
    /// Flags of a ct segment (VPP `ct_segment_flags_t`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct CtSegmentFlags: u8 {
        /// Every client session on the segment is gone.
        const CLIENT_DETACHED = 1 << 0;
        /// Every server session on the segment is gone.
        const SERVER_DETACHED = 1 << 1;
    }
}

impl Side {
    fn detached_flag(self) -> CtSegmentFlags {
        match self {
            Side::Client => CtSegmentFlags::CLIENT_DETACHED,
            Side::Server => CtSegmentFlags::SERVER_DETACHED,
        }
    }
}

/// Key of a segment context: the server's listen segment manager and the
/// two app workers (a struct, not the reference's `sm << 32 | c << 16 | s`
/// packing, which collides past 16-bit worker indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegCtxKey {
    /// Index of the server's listen segment manager.
    pub sm_index: u32,
    /// Client app worker.
    pub client_wrk: u32,
    /// The client app worker's generation: a worker that reuses the index
    /// of a detached one (whose sessions may still hold segments) gets its
    /// own context, so it is told of every segment its fifos are in.
    pub client_generation: u32,
    /// Server app worker.
    pub server_wrk: u32,
}

/// Where a ct session's fifos are accounted: its context and its segment's
/// index in that context. Stable while the session counts on the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtSegRef {
    /// Context index.
    pub ctx: u32,
    /// Segment index in the context.
    pub ct_seg: u32,
}

/// One custom-use segment shared by a client and a server app worker (VPP
/// `ct_segment_t`).
#[derive(Debug)]
pub(crate) struct CtSegment {
    client_n_sessions: AtomicU32,
    server_n_sessions: AtomicU32,
    segment: SegmentHandle,
    flags: AtomicU8,
    /// Which retirement is pending (written under the write lock only): a
    /// segment revived and emptied again retires anew, and the older entry
    /// of the retiring list must not remove it early.
    retire_stamp: u64,
}

impl CtSegment {
    fn counter(&self, side: Side) -> &AtomicU32 {
        match side {
            Side::Client => &self.client_n_sessions,
            Side::Server => &self.server_n_sessions,
        }
    }

    fn flags(&self) -> CtSegmentFlags {
        CtSegmentFlags::from_bits_truncate(self.flags.load(Ordering::Acquire))
    }

    /// One more session on both sides; a reused segment is attached again.
    fn count_session(&self) {
        self.flags.fetch_and(
            !(CtSegmentFlags::CLIENT_DETACHED | CtSegmentFlags::SERVER_DETACHED).bits(),
            Ordering::AcqRel,
        );
        self.server_n_sessions.fetch_add(1, Ordering::AcqRel);
        self.client_n_sessions.fetch_add(1, Ordering::AcqRel);
    }
}

/// A context: the segments of one (server sm, client worker, server
/// worker) triple (VPP `ct_segments_ctx_t`).
#[derive(Debug)]
struct SegCtx {
    key: SegCtxKey,
    fifo_pair_bytes: usize,
    segments: slab::Slab<CtSegment>,
}

#[derive(Debug, Default)]
struct AppSegs {
    table: HashMap<SegCtxKey, usize>,
    ctxs: slab::Slab<SegCtx>,
    /// Emptied segments waiting out the linger, oldest first.
    retiring: VecDeque<Retiring>,
    last_stamp: u64,
}

/// An emptied segment waiting out the linger.
#[derive(Debug, Clone, Copy)]
struct Retiring {
    seg: CtSegRef,
    stamp: u64,
    /// When it may go: nanoseconds on the stack's clock.
    due_ns: u64,
    /// The server's segment manager holding it (with its generation: the
    /// manager may be freed, and its index reused, meanwhile).
    sm: SegmentManagerHandle,
}

/// A point-in-time view of one ct segment, for tests, `show` output and
/// the loom models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtSegmentInfo {
    /// Its context's key.
    pub key: SegCtxKey,
    /// Its place in the accounting.
    pub seg_ref: CtSegRef,
    /// The segment.
    pub segment: SegmentHandle,
    /// Client sessions counting on it.
    pub client_n_sessions: u32,
    /// Server sessions counting on it.
    pub server_n_sessions: u32,
    /// Detached flags.
    pub flags: CtSegmentFlags,
}

/// A segment the accounting just gave up: the caller notifies the client
/// app and deletes it from the server's segment manager while the write
/// lock is still held (so no accept can find a half-removed segment).
#[derive(Debug, Clone, Copy)]
pub struct RemovedSegment {
    /// Key of the context it belonged to.
    pub key: SegCtxKey,
    /// The segment.
    pub segment: SegmentHandle,
    /// Whether its context went with it.
    pub ctx_removed: bool,
    /// The server's segment manager that held it when it retired (a
    /// removal at once leaves this to the caller, which holds the manager).
    pub sm: Option<SegmentManagerHandle>,
}

/// Data bytes ct reserves per session in a segment on top of the two fifos
/// (the reference's 16 KiB margin for fifo headers and chunk rounding).
pub const FIFO_PAIR_MARGIN: usize = 16 << 10;

/// The smallest segment ct creates (the reference's 128 MiB).
pub const DEFAULT_MIN_SEGMENT_SIZE: usize = 128 << 20;

/// `next_due_ns` when nothing retires.
const NONE_DUE: u64 = u64::MAX;

/// ct's app segment contexts behind their reader-writer lock.
#[derive(Debug)]
pub struct CtSegments {
    inner: RwLock<AppSegs>,
    min_segment_size: usize,
    linger: Duration,
    /// Due time of the oldest retiring segment ([`NONE_DUE`] if none),
    /// read without the lock on every worker poll: a stale value only
    /// delays a reap or costs one look under the lock.
    next_due_ns: AtomicU64,
}

/// What a [`CtSegments::release`] asks of its caller, only when it needs
/// it: the time (read only when an emptied segment retires, not on every
/// release: fifo frees are on every session's close) and the removal
/// notice, run under the write lock.
pub trait ReleaseHooks {
    /// The worker's clock.
    fn now(&self) -> StackTime;
    /// The segment went.
    fn removed(&mut self, removed: &RemovedSegment);
}

impl CtSegments {
    /// Empty accounting; new segments are at least `min_segment_size`
    /// bytes; an emptied segment is removed at once (the reference).
    pub fn new(min_segment_size: usize) -> Self {
        Self::with_linger(min_segment_size, Duration::ZERO)
    }

    /// Empty accounting whose emptied segments stay `linger` for the next
    /// accepts of their context before [`CtSegments::reap`] removes them
    /// (zero: removed at once).
    pub fn with_linger(min_segment_size: usize, linger: Duration) -> Self {
        Self {
            inner: RwLock::new(AppSegs::default()),
            min_segment_size,
            linger,
            next_due_ns: AtomicU64::new(NONE_DUE),
        }
    }

    /// How long an emptied segment stays.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// `t` as the accounting keeps it ([`NONE_DUE`] stays reserved).
    fn ns(t: StackTime) -> u64 {
        t.as_nanos().min(NONE_DUE - 1)
    }

    /// Bytes one session takes in a segment of `sm`: both fifos plus the
    /// margin.
    pub fn fifo_pair_bytes(sm: &SegmentManager) -> usize {
        sm.props().fifo_pair_bytes() + FIFO_PAIR_MARGIN
    }

    /// The fifo sizes ct asks `sm`'s segments for, per session (rx, tx).
    pub fn fifo_pair_sizes(sm: &SegmentManager) -> [u32; 2] {
        let props = sm.props();
        [
            props.effective_rx_fifo_size(),
            props.effective_tx_fifo_size(),
        ]
    }

    /// Looks for a segment of `key`'s context where `slice` (the accepting
    /// thread) can allocate one more pair and counts a session on it, under
    /// the read lock (the fast path of VPP `ct_init_accepted_session`).
    pub fn try_count_session(
        &self,
        key: SegCtxKey,
        sm: &SegmentManager,
        slice: u32,
    ) -> Option<(CtSegRef, SegmentHandle)> {
        let segs = self.inner.read();
        let ctx = *segs.table.get(&key)?;
        let r = lookup_free_segment(&segs, ctx, sm, slice)?;
        let seg = &segs.ctxs[r.ctx as usize].segments[r.ct_seg as usize];
        seg.count_session();
        Some((r, seg.segment))
    }

    /// The slow path: under the write lock, looks again for `slice`
    /// (another worker may have added a segment meanwhile) and otherwise adds a custom-use
    /// segment of at least the minimum size to `sm` and counts a session on
    /// it. `notify` tells the apps about the new segment while the lock is
    /// held; if it fails the segment is deleted again (VPP
    /// `ct_alloc_segment`). Errors are [`SessionError::Alloc`].
    pub fn count_session_or_add_segment(
        &self,
        key: SegCtxKey,
        sm: &SegmentManager,
        slice: u32,
        notify: impl FnOnce(SegmentHandle) -> Result<(), SessionError>,
    ) -> Result<(CtSegRef, SegmentHandle), SessionError> {
        let mut segs = self.inner.write();
        if let Some(&ctx) = segs.table.get(&key)
            && let Some(r) = lookup_free_segment(&segs, ctx, sm, slice)
        {
            let seg = &segs.ctxs[r.ctx as usize].segments[r.ct_seg as usize];
            seg.count_session();
            return Ok((r, seg.segment));
        }
        Self::add_segment_locked(&mut segs, self.min_segment_size, key, sm, notify)
    }

    /// The slow path without the second look: adds a custom-use segment and
    /// counts a session on it. For an accept whose pair allocation failed in
    /// the segment the lookup chose (another thread took the fresh memory
    /// the lookup counted on): looking again could pick that segment again.
    pub fn add_segment_and_count(
        &self,
        key: SegCtxKey,
        sm: &SegmentManager,
        notify: impl FnOnce(SegmentHandle) -> Result<(), SessionError>,
    ) -> Result<(CtSegRef, SegmentHandle), SessionError> {
        let mut segs = self.inner.write();
        Self::add_segment_locked(&mut segs, self.min_segment_size, key, sm, notify)
    }

    fn add_segment_locked(
        segs: &mut AppSegs,
        min_segment_size: usize,
        key: SegCtxKey,
        sm: &SegmentManager,
        notify: impl FnOnce(SegmentHandle) -> Result<(), SessionError>,
    ) -> Result<(CtSegRef, SegmentHandle), SessionError> {
        let size = sm.props().segment_size.max(min_segment_size);
        let handle = sm
            .add_segment(size, SegmentFlags::CUSTOM_USE)
            .map_err(|e| {
                tracing::debug!(sm = key.sm_index, error = %e, "ct segment add failed");
                SessionError::Alloc
            })?;
        if let Err(e) = notify(handle) {
            tracing::debug!(segment = %handle, error = %e, "ct segment refused by an app");
            if let Err(e) = sm.lock_and_del_segment(handle.segment_index()) {
                tracing::warn!(segment = %handle, error = %e, "undoing ct segment");
            }
            return Err(SessionError::Alloc);
        }
        let pair_bytes = Self::fifo_pair_bytes(sm);
        let ctx = match segs.table.get(&key) {
            Some(&c) => c,
            None => {
                let c = segs.ctxs.insert(SegCtx {
                    key,
                    fifo_pair_bytes: pair_bytes,
                    segments: slab::Slab::new(),
                });
                segs.table.insert(key, c);
                c
            }
        };
        let ct_seg = segs.ctxs[ctx].segments.insert(CtSegment {
            client_n_sessions: AtomicU32::new(1),
            server_n_sessions: AtomicU32::new(1),
            segment: handle,
            flags: AtomicU8::new(0),
            retire_stamp: 0,
        });
        tracing::debug!(segment = %handle, ?key, "ct segment added");
        Ok((
            CtSegRef {
                ctx: ctx as u32,
                ct_seg: ct_seg as u32,
            },
            handle,
        ))
    }

    /// One side of a session gave its fifos back: counts it down under the
    /// read lock unless it is the side's last count; that one goes under
    /// the write lock and, if it was still the last (no accept counted
    /// meanwhile), marks the side detached and, once both sides are,
    /// removes the segment (and its context when empty) and runs
    /// `on_remove` before the lock drops (VPP `ct_session_dealloc_fifos`,
    /// second half). Returns the removal, if
    /// any. With a linger, and `sm` (the server's manager, which holds the
    /// segment) still attached to its app, the emptied segment retires
    /// instead: [`CtSegments::reap`] removes it later unless an accept
    /// revived it; its linger counts from `now` (the worker's clock).
    pub fn release(
        &self,
        side: Side,
        r: CtSegRef,
        sm: &SegmentManager,
        hooks: &mut impl ReleaseHooks,
    ) -> Option<RemovedSegment> {
        {
            let segs = self.inner.read();
            let seg = get_seg(&segs, r)?;
            // Counts above one go down here. The last one is kept until the
            // write lock: a count is what keeps the segment (and `r`)
            // accounted, and given up here it would leave a window where an
            // accept revives the segment and the new session's releases (or
            // a reap) remove it before this thread's write lock finds it
            // gone, or finds another segment in its reused slot.
            let above_one =
                seg.counter(side)
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n > 1).then(|| n - 1)
                    });
            match above_one {
                Ok(_) => return None,
                Err(n) => debug_assert!(n > 0, "ct segment {r:?} {side:?} count underflow"),
            }
        }
        let mut segs = self.inner.write();
        let seg = get_seg(&segs, r)?;
        // Exclusive here: no accept counts and no release counts down
        // meanwhile. An accept may have counted a new session since the
        // read lock; then this is not the last one.
        let prev = seg.counter(side).fetch_sub(1, Ordering::AcqRel);
        debug_assert!(prev > 0, "ct segment {r:?} {side:?} count underflow");
        if prev != 1 {
            return None;
        }
        let flags = CtSegmentFlags::from_bits_truncate(
            seg.flags
                .fetch_or(side.detached_flag().bits(), Ordering::AcqRel),
        ) | side.detached_flag();
        if !flags.contains(CtSegmentFlags::CLIENT_DETACHED | CtSegmentFlags::SERVER_DETACHED) {
            return None;
        }
        if !self.linger.is_zero() && !sm.app_detached() {
            self.retire_locked(&mut segs, r, sm.handle(), hooks.now());
            return None;
        }
        let removed = remove_locked(&mut segs, r, None);
        hooks.removed(&removed);
        Some(removed)
    }

    /// Puts the emptied segment `r` on the retiring list.
    fn retire_locked(
        &self,
        segs: &mut AppSegs,
        r: CtSegRef,
        sm: SegmentManagerHandle,
        now: StackTime,
    ) {
        segs.last_stamp += 1;
        let stamp = segs.last_stamp;
        if let Some(seg) = segs
            .ctxs
            .get_mut(r.ctx as usize)
            .and_then(|c| c.segments.get_mut(r.ct_seg as usize))
        {
            seg.retire_stamp = stamp;
        }
        let due_ns = Self::ns(now + self.linger);
        segs.retiring.push_back(Retiring {
            seg: r,
            stamp,
            due_ns,
            sm,
        });
        self.store_next_due(segs);
        tracing::debug!(?r, "ct segment retiring");
    }

    fn store_next_due(&self, segs: &AppSegs) {
        let due = segs.retiring.front().map_or(NONE_DUE, |r| r.due_ns);
        self.next_due_ns.store(due, Ordering::Release);
    }

    /// Whether a retiring segment may be due by `now` (a hint read without
    /// the lock: the cheap test a worker makes on every poll).
    pub fn reap_due(&self, now: StackTime) -> bool {
        let due = self.next_due_ns.load(Ordering::Acquire);
        due != NONE_DUE && due <= Self::ns(now)
    }

    /// Whether any segment is retiring (a hint, as [`CtSegments::reap_due`]).
    pub fn has_retiring(&self) -> bool {
        self.next_due_ns.load(Ordering::Acquire) != NONE_DUE
    }

    /// Entries on the retiring list (revived segments included until the
    /// next reap looks at them).
    pub fn n_retiring(&self) -> usize {
        self.inner.read().retiring.len()
    }

    /// Removes the retiring segments whose linger has passed by `now` (all
    /// of them with `all`) and that are still empty on both sides, running
    /// `on_remove` for each under the write lock, as a release does.
    /// Revived segments just leave the list. Returns the removals.
    pub fn reap(
        &self,
        now: StackTime,
        all: bool,
        mut on_remove: impl FnMut(&RemovedSegment),
    ) -> usize {
        if !all && !self.reap_due(now) {
            return 0;
        }
        let now_ns = Self::ns(now);
        let mut segs = self.inner.write();
        let mut n = 0;
        while let Some(&front) = segs.retiring.front() {
            if !all && front.due_ns > now_ns {
                break;
            }
            segs.retiring.pop_front();
            let still_empty = segs
                .ctxs
                .get(front.seg.ctx as usize)
                .and_then(|c| c.segments.get(front.seg.ct_seg as usize))
                .is_some_and(|seg| {
                    seg.retire_stamp == front.stamp
                        && seg.client_n_sessions.load(Ordering::Acquire) == 0
                        && seg.server_n_sessions.load(Ordering::Acquire) == 0
                        && seg.flags().contains(
                            CtSegmentFlags::CLIENT_DETACHED | CtSegmentFlags::SERVER_DETACHED,
                        )
                });
            if !still_empty {
                continue;
            }
            let removed = remove_locked(&mut segs, front.seg, Some(front.sm));
            on_remove(&removed);
            n += 1;
        }
        self.store_next_due(&segs);
        n
    }

    /// Every ct segment, in context then segment order.
    pub fn snapshot(&self) -> Vec<CtSegmentInfo> {
        let segs = self.inner.read();
        let mut out = Vec::new();
        for (ci, ctx) in segs.ctxs.iter() {
            for (si, seg) in ctx.segments.iter() {
                out.push(CtSegmentInfo {
                    key: ctx.key,
                    seg_ref: CtSegRef {
                        ctx: ci as u32,
                        ct_seg: si as u32,
                    },
                    segment: seg.segment,
                    client_n_sessions: seg.client_n_sessions.load(Ordering::Acquire),
                    server_n_sessions: seg.server_n_sessions.load(Ordering::Acquire),
                    flags: seg.flags(),
                });
            }
        }
        out
    }

    /// Live contexts.
    pub fn n_contexts(&self) -> usize {
        self.inner.read().ctxs.len()
    }

    /// Bytes of accounting per live segment (for the overhead bench).
    pub fn footprint(&self) -> usize {
        let segs = self.inner.read();
        segs.ctxs.capacity() * std::mem::size_of::<SegCtx>()
            + segs.table.capacity()
                * (std::mem::size_of::<SegCtxKey>() + std::mem::size_of::<usize>())
            + segs
                .ctxs
                .iter()
                .map(|(_, c)| c.segments.capacity() * std::mem::size_of::<CtSegment>())
                .sum::<usize>()
    }
}

/// Takes segment `r` (and its context when it was the last) out of the
/// accounting; the caller holds the write lock.
fn remove_locked(
    segs: &mut AppSegs,
    r: CtSegRef,
    sm: Option<SegmentManagerHandle>,
) -> RemovedSegment {
    let ctx = &mut segs.ctxs[r.ctx as usize];
    let removed_seg = ctx.segments.remove(r.ct_seg as usize);
    let key = ctx.key;
    let ctx_removed = ctx.segments.is_empty();
    if ctx_removed {
        segs.ctxs.remove(r.ctx as usize);
        segs.table.remove(&key);
    }
    let removed = RemovedSegment {
        key,
        segment: removed_seg.segment,
        ctx_removed,
        sm,
    };
    tracing::debug!(segment = %removed.segment, ?key, "ct segment removed");
    removed
}

fn get_seg(segs: &AppSegs, r: CtSegRef) -> Option<&CtSegment> {
    let seg = segs
        .ctxs
        .get(r.ctx as usize)
        .and_then(|c| c.segments.get(r.ct_seg as usize));
    if seg.is_none() {
        // Every caller holds a count on `r`, which keeps it accounted. Loom
        // models build in release: they check this too.
        if cfg!(any(debug_assertions, loom)) {
            panic!("ct segment {r:?} is not accounted");
        }
        tracing::error!(?r, "ct segment is not accounted");
    }
    seg
}

/// The context's segment where `slice` has the most bytes to allocate from,
/// more than a pair with its margin, fewer pairs than its size allows, and
/// room for the pair ct will ask for (VPP `ct_lookup_free_segment`).
///
/// VPP compares the segment's free bytes, every slice's free lists
/// included; but an allocation only takes fresh memory and its own slice's
/// free chunks, so once fresh memory is gone a segment whose free chunks sit
/// on another worker's slice looked roomy and failed the accept. Here the
/// bytes and the fit are those of the accepting thread's slice.
fn lookup_free_segment(
    segs: &AppSegs,
    ctx: usize,
    sm: &SegmentManager,
    slice: u32,
) -> Option<CtSegRef> {
    let c = segs.ctxs.get(ctx)?;
    let pair = c.fifo_pair_bytes.max(1);
    let sizes = CtSegments::fifo_pair_sizes(sm);
    let mut best: Option<usize> = None;
    let mut max_free = pair;
    for (i, seg) in c.segments.iter() {
        let Ok(fs) = sm.segment(seg.segment) else {
            continue;
        };
        let max_pairs = fs.size() / pair;
        if fs.num_fifos() / 2 >= max_pairs {
            continue;
        }
        let free = fs.slice_available_bytes(slice);
        if free > max_free && fs.can_alloc_fifos_w_slice(slice, &sizes) {
            max_free = free;
            best = Some(i);
        }
    }
    best.map(|i| CtSegRef {
        ctx: ctx as u32,
        ct_seg: i as u32,
    })
}
