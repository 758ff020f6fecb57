//! The segment allocator: process-private bookkeeping of which byte ranges
//! of a segment hold fifos.
//!
//! VPP keeps its fifo-segment allocator (slices, chunk free lists) inside
//! the shared segment. Here it lives in the owner's private memory: a peer
//! that can write the segment cannot corrupt our free lists and steer our
//! next allocation over a live fifo.
//!
//! As in VPP, each allocating thread has its own slice: a [`SliceAlloc`]
//! (behind the slice's own lock) holds the chunks that slice carved and one
//! free list of chunk indices per power-of-two size class, so threads on
//! different slices share no lock and no written cache line on the
//! alloc/free path. Only fresh memory is shared: [`Fresh`], a bump pointer
//! behind a small lock taken when a slice carves a new chunk. A chunk keeps
//! its offset, size class and slice for the life of the segment, so a fifo's
//! private part finds its chunk by index (no map on the path), and `Fresh`
//! records each carved offset in increasing order for the rare lookup by
//! offset (`fifo_at` on the owner).

use std::sync::Arc;

use crate::fifo::FifoInner;
use crate::layout::class_footprint;
use ct_sync::Mutex;

/// Number of size classes (data sizes 2^0 ..= 2^31).
pub(crate) const N_CLASSES: usize = 32;

/// Where a chunk is: its slice and its index in that slice's chunk table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkId {
    pub slice: u32,
    pub index: u32,
}

/// Fresh memory, shared by all slices.
pub(crate) struct Fresh {
    /// Next never-used byte.
    next: usize,
    /// End of the segment.
    end: usize,
    /// Every carved chunk by offset, ascending (`next` only grows).
    carved: Vec<(usize, ChunkId)>,
}

impl Fresh {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Self {
            next: start.min(end),
            end,
            carved: Vec::new(),
        }
    }

    /// Takes `footprint` bytes for chunk `id`; `Err(footprint)` when they do
    /// not fit.
    fn carve(&mut self, footprint: usize, id: ChunkId) -> Result<usize, usize> {
        match self.next.checked_add(footprint) {
            Some(next) if next <= self.end => {
                let off = self.next;
                self.next = next;
                self.carved.push((off, id));
                Ok(off)
            }
            _ => Err(footprint),
        }
    }

    /// Takes `len` bytes (a multiple of the cache line) for a block that is
    /// not a fifo chunk (a message queue): not recorded in `carved`, so no
    /// lookup by offset ever takes it for a fifo. `Err(len)` when it does
    /// not fit. Blocks are never returned.
    pub(crate) fn carve_block(&mut self, len: usize) -> Result<usize, usize> {
        match self.next.checked_add(len) {
            Some(next) if next <= self.end => {
                let off = self.next;
                self.next = next;
                Ok(off)
            }
            _ => Err(len),
        }
    }

    /// The chunk that starts at `off`, if one was carved there.
    pub(crate) fn find(&self, off: usize) -> Option<ChunkId> {
        self.carved
            .binary_search_by_key(&off, |&(o, _)| o)
            .ok()
            .map(|i| self.carved[i].1)
    }

    /// Never-used bytes.
    pub(crate) fn left(&self) -> usize {
        self.end - self.next
    }
}

/// What a chunk holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkState {
    /// On its slice's free list.
    Free,
    /// An allocated fifo.
    Live,
    /// Freed, but handles remain: back to the free list when the last goes.
    Draining,
}

/// One chunk a slice carved.
pub(crate) struct Chunk {
    pub off: usize,
    pub class: u8,
    /// Of the current (or last) allocation; counts this chunk's allocations,
    /// so (offset, generation) names one allocation.
    pub generation: u64,
    pub state: ChunkState,
    /// The private part of the chunk's fifo, kept across allocations so a
    /// new fifo here reuses it instead of allocating one (dropped when the
    /// segment's last `FifoSegment` handle goes, see `segment.rs`).
    pub part: Option<Arc<FifoInner>>,
}

/// One slice's chunks and free lists.
pub(crate) struct SliceAlloc {
    slice: u32,
    /// Index = `ChunkId::index`.
    chunks: Vec<Chunk>,
    /// `free[class]`: indices of free chunks of that class.
    free: [Vec<u32>; N_CLASSES],
}

impl SliceAlloc {
    pub(crate) fn new(slice: u32) -> Self {
        Self {
            slice,
            chunks: Vec::new(),
            free: std::array::from_fn(|_| Vec::new()),
        }
    }

    /// A chunk for a fifo of `class`, still `Free`, with its generation
    /// bumped: a freed chunk of that class if the slice has one, else one
    /// carved from `fresh`. Returns its index and the bytes it took off the
    /// free lists (0 for fresh memory). `Err(bytes needed)` when neither has
    /// room; then nothing was taken.
    pub(crate) fn take(&mut self, class: u8, fresh: &Mutex<Fresh>) -> Result<(u32, usize), usize> {
        let (index, listed) = match self.free[class as usize].pop() {
            Some(index) => (index, class_footprint(class)),
            None => {
                let footprint = class_footprint(class);
                let index = u32::try_from(self.chunks.len()).map_err(|_| footprint)?;
                let id = ChunkId {
                    slice: self.slice,
                    index,
                };
                let off = fresh.lock().carve(footprint, id)?;
                self.chunks.push(Chunk {
                    off,
                    class,
                    generation: 0,
                    state: ChunkState::Free,
                    part: None,
                });
                (index, 0)
            }
        };
        let chunk = &mut self.chunks[index as usize];
        chunk.generation += 1;
        Ok((index, listed))
    }

    /// Free chunks of `class` on this slice's list.
    pub(crate) fn n_free(&self, class: u8) -> usize {
        self.free.get(class as usize).map_or(0, Vec::len)
    }

    pub(crate) fn chunk(&mut self, index: u32) -> Option<&mut Chunk> {
        self.chunks.get_mut(index as usize)
    }

    /// Takes every kept part out (the segment is going).
    pub(crate) fn take_parts(&mut self) -> Vec<Arc<FifoInner>> {
        self.chunks
            .iter_mut()
            .filter_map(|c| c.part.take())
            .collect()
    }

    /// Returns a `Draining` chunk to its free list; the bytes it frees, or 0
    /// when it was not draining (already back, or live).
    pub(crate) fn put_back(&mut self, index: u32) -> usize {
        let Some(chunk) = self.chunks.get_mut(index as usize) else {
            return 0;
        };
        if chunk.state != ChunkState::Draining {
            return 0;
        }
        chunk.state = ChunkState::Free;
        self.free[chunk.class as usize].push(index);
        class_footprint(chunk.class)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bump_then_free_list_reuse() {
        let fp = class_footprint(6);
        let fresh = Mutex::new(Fresh::new(64, 64 + 3 * fp));
        let mut s0 = SliceAlloc::new(0);
        let mut s1 = SliceAlloc::new(1);
        let (x, _) = s0.take(6, &fresh).unwrap();
        let (y, _) = s1.take(6, &fresh).unwrap();
        assert_eq!(s0.chunk(x).unwrap().off, 64);
        assert_eq!(s1.chunk(y).unwrap().off, 64 + fp);
        assert_eq!(fresh.lock().left(), fp);
        // Only a draining chunk goes back, once.
        assert_eq!(s0.put_back(x), 0);
        s0.chunk(x).unwrap().state = ChunkState::Draining;
        assert_eq!(s0.put_back(x), fp);
        assert_eq!(s0.put_back(x), 0);
        assert_eq!(s0.put_back(99), 0);
        // Slice 1 has no free chunk of class 6: fresh memory.
        let (z, listed) = s1.take(6, &fresh).unwrap();
        assert_eq!(listed, 0);
        assert_eq!(s1.chunk(z).unwrap().off, 64 + 2 * fp);
        assert_eq!(s1.take(6, &fresh), Err(fp));
        assert_eq!(s1.take(5, &fresh), Err(class_footprint(5)));
        // Slice 0 reuses its chunk, as a new allocation.
        assert_eq!(s0.take(6, &fresh), Ok((x, fp)));
        assert_eq!(s0.chunk(x).unwrap().generation, 2);
        // Offsets map back to chunks; nothing else does.
        let f = fresh.lock();
        assert_eq!(f.find(64), Some(ChunkId { slice: 0, index: x }));
        assert_eq!(f.find(64 + 2 * fp), Some(ChunkId { slice: 1, index: z }));
        assert_eq!(f.find(64 + 64), None);
        assert_eq!(f.left(), 0);
    }

    use crate::{FifoSegment, SegmentFlags};

    /// Two threads allocate and free on their own slices at once, each also
    /// opening the other's live fifos by offset: no two live fifos overlap,
    /// `fifo_at` shares the allocating handle's private part, and once
    /// everything is freed every byte is available again.
    #[test]
    fn slices_allocate_concurrently_and_account_every_byte() {
        // Miri interprets every step: a few rounds still interleave the two
        // threads' allocations, which is what it checks.
        let rounds: u32 = if cfg!(miri) { 40 } else { 2000 };
        let seg = FifoSegment::create_heap(4 << 20, 2, SegmentFlags::empty()).unwrap();
        let usable = seg.available_bytes();
        let (to_peer, from_0) = std::sync::mpsc::channel::<u64>();
        std::thread::scope(|s| {
            let seg0 = seg.clone();
            s.spawn(move || {
                for round in 0..rounds {
                    let f = seg0.alloc_fifo_w_slice(0, 64 << (round % 5)).unwrap();
                    f.ref_inc();
                    let _ = to_peer.send(f.offset());
                    assert!(!seg0.free_fifo(&f).unwrap());
                    assert!(seg0.free_fifo(&f).unwrap());
                }
            });
            let seg1 = seg.clone();
            s.spawn(move || {
                let mut live = Vec::new();
                for round in 0..rounds {
                    live.push(seg1.alloc_fifo_w_slice(1, 64 << (round % 7)).unwrap());
                    if live.len() > 8 {
                        let f = live.swap_remove(round as usize % live.len());
                        assert!(seg1.free_fifo(&f).unwrap());
                    }
                    // Slice 0's fifo may be freed (and even reused) by now:
                    // then it is an error, never a wrong part.
                    while let Ok(off) = from_0.try_recv() {
                        if let Ok(g) = seg1.fifo_at(off) {
                            assert_eq!(g.offset(), off);
                            assert!(g.refcount() <= 2);
                        }
                    }
                    let mut spans: Vec<_> = live
                        .iter()
                        .map(|f| {
                            (
                                f.offset(),
                                f.offset() + FifoSegment::fifo_footprint(f.size()) as u64,
                            )
                        })
                        .collect();
                    spans.sort_unstable();
                    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
                }
                for f in &live {
                    let g = seg1.fifo_at(f.offset()).unwrap();
                    assert!(g.same(f));
                    assert!(seg1.free_fifo(f).unwrap());
                }
            });
        });
        assert_eq!(seg.num_fifos(), 0);
        assert_eq!(seg.available_bytes(), usable);
    }

    /// A reused chunk is a new allocation: a new generation, and the old
    /// offset opens the new fifo only.
    #[test]
    fn reuse_is_a_new_generation() {
        let seg = FifoSegment::create_heap(1 << 16, 1, SegmentFlags::empty()).unwrap();
        let a = seg.alloc_fifo_w_slice(0, 64).unwrap();
        let (off, generation) = (a.offset(), a.generation());
        let keep = a.clone();
        assert!(seg.free_fifo(&a).unwrap());
        drop(a);
        // A handle still lives: the chunk drains, it is not reused yet.
        assert!(seg.fifo_at(off).is_err());
        let b = seg.alloc_fifo_w_slice(0, 64).unwrap();
        assert_ne!(b.offset(), off);
        drop(keep);
        let c = seg.alloc_fifo_w_slice(0, 64).unwrap();
        assert_eq!(c.offset(), off);
        assert_ne!(c.generation(), generation);
        assert!(seg.fifo_at(off).unwrap().same(&c));
        // An unfreed fifo whose handles all went is opened afresh, same
        // allocation.
        let c_generation = c.generation();
        drop(c);
        let again = seg.fifo_at(off).unwrap();
        assert_eq!(again.generation(), c_generation);
        assert_eq!(seg.num_fifos(), 2);
        assert!(seg.free_fifo(&again).unwrap());
        assert!(seg.free_fifo(&b).unwrap());
    }
}
