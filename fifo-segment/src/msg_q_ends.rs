//! The two ends of a message queue: [`MsgProducer`] and [`MsgConsumer`].
//!
//! Each end keeps its own positions privately (the shared copy is only for
//! the peer) and reads the other end's positions from shared memory,
//! validated against its own: a peer that moves them impossibly gives
//! [`MsgQueueError::Corrupted`].

use ct_sync::unmodeled::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::fmt;
use std::sync::Arc;

use super::layout::{Desc, MAX_RINGS};
use super::{MsgQueueError, NO_CONSUMER_POS, QueueInner};
use ct_sync::atomic::{Ordering, fence};

/// Occupancy `tail - head` of a ring of `nitems`, if possible.
#[inline]
fn occupancy(head: u32, tail: u32, nitems: u32, what: &'static str) -> Result<u32, MsgQueueError> {
    let n = tail.wrapping_sub(head);
    if n > nitems {
        Err(MsgQueueError::Corrupted(what))
    } else {
        Ok(n)
    }
}

/// The producer end (`Send`, not `Clone`; one per queue object tree).
pub struct MsgProducer {
    q: Arc<QueueInner>,
    /// Main queue tail (ours) and the consumer's head as last read.
    tail: u32,
    cached_head: u32,
    /// Per ring: our tail, the consumer's head as last read.
    ring_tail: [u32; MAX_RINGS],
    ring_cached_head: [u32; MAX_RINGS],
    /// The consumer's last sleep (odd sequence value) we reported; 0: none.
    reported_sleep: u64,
}

impl fmt::Debug for MsgProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgProducer")
            .field("offset", &self.q.off)
            .field("tail", &self.tail)
            .finish()
    }
}

impl MsgProducer {
    pub(super) fn new(q: Arc<QueueInner>) -> Result<Self, MsgQueueError> {
        let hdr = q.header();
        let tail = hdr.tail.0.load(Ordering::Acquire);
        let head = hdr.head.0.load(Ordering::Acquire);
        occupancy(head, tail, q.geo.q_nitems, "main queue head/tail")?;
        let mut ring_tail = [0; MAX_RINGS];
        let mut ring_cached_head = [0; MAX_RINGS];
        for (i, g) in q.geo.rings.iter().enumerate() {
            let r = q.ring(i);
            ring_tail[i] = r.tail.0.load(Ordering::Acquire);
            ring_cached_head[i] = r.head.0.load(Ordering::Acquire);
            occupancy(
                ring_cached_head[i],
                ring_tail[i],
                g.nitems,
                "ring head/tail",
            )?;
        }
        Ok(Self {
            q,
            tail,
            cached_head: head,
            ring_tail,
            ring_cached_head,
            reported_sleep: 0,
        })
    }

    /// Copies `msg` into the smallest ring whose `elsize` fits it and that
    /// has a free slot (a larger ring when the smaller ones are full, as VPP
    /// does), writes its descriptor, publishes it. `Ok(true)`: the consumer
    /// said it is going to sleep, so the caller must signal its eventfd
    /// (once per sleep: a burst of sends to a sleeping consumer reports it
    /// to the first only). `Full`:
    /// congestion, nothing written. `TooLarge`: no ring fits (nothing
    /// written). `Corrupted`: the consumer's indices are impossible.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<bool, MsgQueueError> {
        let r = self.pick_ring(msg.len())?;
        let q = &*self.q;
        if self.tail.wrapping_sub(self.cached_head) >= q.geo.q_nitems {
            let head = q.header().head.0.load(Ordering::Acquire);
            occupancy(head, self.tail, q.geo.q_nitems, "main queue head")?;
            self.cached_head = head;
            // The main queue has a slot per ring slot; full only if a peer
            // lags its heads behind its rings'.
            if self.tail.wrapping_sub(head) >= q.geo.q_nitems {
                return Err(MsgQueueError::Full);
            }
        }
        let g = &q.geo.rings[r];
        let slot = self.ring_tail[r] & (g.nitems - 1);
        q.seg.storage().copy_in(q.slot_off(r, slot), msg);
        q.write_desc(
            self.tail,
            Desc {
                ring: r as u32,
                slot,
                len: msg.len() as u32,
            },
        );
        self.ring_tail[r] = self.ring_tail[r].wrapping_add(1);
        q.ring(r).tail.0.store(self.ring_tail[r], Ordering::Release);
        self.tail = self.tail.wrapping_add(1);
        // Publishes the slot and the descriptor.
        q.header().tail.0.store(self.tail, Ordering::Release);
        // Pairs with the fence in `prepare_sleep`: either the consumer's
        // re-check sees this tail, or we see its flag.
        fence(Ordering::SeqCst);
        let sleep = q.header().sleeping.0.load(Ordering::Relaxed);
        if sleep & 1 == 1 && sleep != self.reported_sleep {
            self.reported_sleep = sleep;
            return Ok(true);
        }
        Ok(false)
    }

    /// The ring a `len`-byte message goes to now; refreshes the consumer's
    /// ring heads it needs.
    fn pick_ring(&mut self, len: usize) -> Result<usize, MsgQueueError> {
        let q = &*self.q;
        let mut fits = false;
        for &r in &q.by_size {
            let g = &q.geo.rings[r];
            if (g.elsize as usize) < len {
                continue;
            }
            fits = true;
            if self.ring_tail[r].wrapping_sub(self.ring_cached_head[r]) < g.nitems {
                return Ok(r);
            }
            let head = q.ring(r).head.0.load(Ordering::Acquire);
            occupancy(head, self.ring_tail[r], g.nitems, "ring head")?;
            self.ring_cached_head[r] = head;
            if self.ring_tail[r].wrapping_sub(head) < g.nitems {
                return Ok(r);
            }
        }
        Err(if fits {
            MsgQueueError::Full
        } else {
            MsgQueueError::TooLarge
        })
    }

    /// Would a `len`-byte message find no free slot now? (False for a
    /// message no ring fits: `try_send` says `TooLarge` for it; true when
    /// the consumer's indices are corrupted.)
    pub fn is_full(&self, len: usize) -> bool {
        let q = &*self.q;
        if len > q.geo.max_elsize() as usize {
            return false;
        }
        let head = q.header().head.0.load(Ordering::Acquire);
        if occupancy(head, self.tail, q.geo.q_nitems, "").is_err() {
            return true;
        }
        if self.tail.wrapping_sub(head) >= q.geo.q_nitems {
            return true;
        }
        !q.geo.rings.iter().enumerate().any(|(r, g)| {
            let head = q.ring(r).head.0.load(Ordering::Acquire);
            g.elsize as usize >= len
                && occupancy(head, self.ring_tail[r], g.nitems, "").is_ok_and(|n| n < g.nitems)
        })
    }
}

impl Drop for MsgProducer {
    fn drop(&mut self) {
        self.q.producer_taken.store(false, StdOrdering::Release);
    }
}

/// The consumer end (`Send`, not `Clone`; one per queue object tree).
pub struct MsgConsumer {
    q: Arc<QueueInner>,
    /// Main queue head (ours) and the producer's tail as last read.
    head: u32,
    cached_tail: u32,
    /// Per ring: our head (the slot the next message of that ring must be in).
    ring_head: [u32; MAX_RINGS],
    /// Our sleep sequence (the shared one is its copy for the producer):
    /// odd while we say we sleep. Atomic only so `prepare_sleep` and `woke`
    /// can take `&self`; only this consumer touches it.
    sleep_seq: StdAtomicU64,
}

impl fmt::Debug for MsgConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgConsumer")
            .field("offset", &self.q.off)
            .field("head", &self.head)
            .finish()
    }
}

impl MsgConsumer {
    pub(super) fn new(q: Arc<QueueInner>) -> Result<Self, MsgQueueError> {
        let hdr = q.header();
        let head = hdr.head.0.load(Ordering::Acquire);
        let tail = hdr.tail.0.load(Ordering::Acquire);
        occupancy(head, tail, q.geo.q_nitems, "main queue head/tail")?;
        let mut ring_head = [0; MAX_RINGS];
        for (i, g) in q.geo.rings.iter().enumerate() {
            let r = q.ring(i);
            ring_head[i] = r.head.0.load(Ordering::Acquire);
            let tail = r.tail.0.load(Ordering::Acquire);
            occupancy(ring_head[i], tail, g.nitems, "ring head/tail")?;
        }
        // A consumer that went away while sleeping: this one is awake.
        let shared = hdr.sleeping.0.load(Ordering::Relaxed);
        let seq = shared.wrapping_add(shared & 1);
        hdr.sleeping.0.store(seq, Ordering::Relaxed);
        Ok(Self {
            q,
            head,
            cached_tail: head,
            ring_head,
            sleep_seq: StdAtomicU64::new(seq),
        })
    }

    /// Loads the producer's tail, validated against our head.
    #[inline]
    fn load_tail(&self) -> Result<u32, MsgQueueError> {
        let tail = self.q.header().tail.0.load(Ordering::Acquire);
        occupancy(self.head, tail, self.q.geo.q_nitems, "main queue tail")?;
        Ok(tail)
    }

    /// The next message copied into `buf`, and its length; `None` when the
    /// queue is empty. `buf` should hold [`super::MsgQueue::max_msg_size`]
    /// bytes: a message longer than `buf` is `TooLarge` and stays queued.
    /// `Corrupted` when the tail or the descriptor is impossible (it must
    /// name the slot of its ring that is next in order, and a length that
    /// fits the ring).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, MsgQueueError> {
        if self.head == self.cached_tail {
            self.cached_tail = self.load_tail()?;
            if self.head == self.cached_tail {
                self.publish_pos();
                return Ok(None);
            }
        }
        let q = &*self.q;
        let d = q.read_desc(self.head);
        let r = d.ring as usize;
        let Some(g) = q.geo.rings.get(r) else {
            return Err(MsgQueueError::Corrupted("descriptor ring"));
        };
        if d.slot != self.ring_head[r] & (g.nitems - 1) {
            return Err(MsgQueueError::Corrupted("descriptor slot"));
        }
        if d.len > g.elsize {
            return Err(MsgQueueError::Corrupted("descriptor length"));
        }
        let len = d.len as usize;
        let Some(dst) = buf.get_mut(..len) else {
            return Err(MsgQueueError::TooLarge);
        };
        q.seg.storage().copy_out(q.slot_off(r, d.slot), dst);
        // Main head first: the producer, having seen the ring slot free,
        // then finds the main queue slot free too.
        self.head = self.head.wrapping_add(1);
        q.header().head.0.store(self.head, Ordering::Release);
        self.ring_head[r] = self.ring_head[r].wrapping_add(1);
        q.ring(r).head.0.store(self.ring_head[r], Ordering::Release);
        self.publish_pos();
        Ok(Some(len))
    }

    /// Tells [`super::MsgQueue::looks_empty`] where this consumer stands:
    /// its head while it knows of no message past it, else "unknown".
    #[inline]
    fn publish_pos(&self) {
        let pos = if self.head == self.cached_tail {
            u64::from(self.head)
        } else {
            NO_CONSUMER_POS
        };
        self.q.consumer_pos.store(pos, StdOrdering::Relaxed);
    }

    /// Flag-then-recheck before sleeping: publishes "consumer sleeping" (a
    /// new odd sleep sequence value), a SeqCst fence, re-checks the tail.
    /// `Ok(true)`: still empty, safe to sleep on the eventfd (the next
    /// `try_send` reports `true`, so its caller signals it). `Ok(false)`: a
    /// message arrived; the flag is cleared.
    pub fn prepare_sleep(&self) -> Result<bool, MsgQueueError> {
        let seq = self.sleep_seq.load(StdOrdering::Relaxed);
        // The next odd value: a new sleep, even if the last was not woken.
        let sleep = (seq | 1).wrapping_add(2 * (seq & 1));
        self.sleep_seq.store(sleep, StdOrdering::Relaxed);
        self.q.header().sleeping.0.store(sleep, Ordering::Relaxed);
        // Pairs with the fence in `try_send` (see there).
        fence(Ordering::SeqCst);
        let tail = self.load_tail().inspect_err(|_| self.woke())?;
        if tail != self.head {
            self.woke();
            return Ok(false);
        }
        Ok(true)
    }

    /// Clears the sleeping flag (after a wake-up, or when not sleeping after
    /// all).
    pub fn woke(&self) {
        let seq = self.sleep_seq.load(StdOrdering::Relaxed);
        if seq & 1 == 1 {
            let awake = seq.wrapping_add(1);
            self.sleep_seq.store(awake, StdOrdering::Relaxed);
            self.q.header().sleeping.0.store(awake, Ordering::Relaxed);
        }
    }

    /// Messages queued now (0 if the producer's tail is impossible: then
    /// `try_recv` says `Corrupted`).
    pub fn len(&self) -> usize {
        self.load_tail()
            .map_or(0, |tail| tail.wrapping_sub(self.head) as usize)
    }

    /// No message queued now?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for MsgConsumer {
    fn drop(&mut self) {
        // The next consumer tells `looks_empty` where it stands itself.
        self.q
            .consumer_pos
            .store(NO_CONSUMER_POS, StdOrdering::Relaxed);
        self.q.consumer_taken.store(false, StdOrdering::Release);
    }
}
