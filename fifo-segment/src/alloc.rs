//! The segment allocator: process-private bookkeeping of which byte ranges
//! of a segment hold fifos.
//!
//! VPP keeps its fifo-segment allocator (slices, chunk free lists) inside
//! the shared segment. Here it lives in the owner's private memory: a peer
//! that can write the segment cannot corrupt our free lists and steer our
//! next allocation over a live fifo. Per slice, one free list per
//! power-of-two size class; fresh memory comes from a bump pointer.

use crate::layout::class_footprint;

/// Number of size classes (data sizes 2^0 ..= 2^31).
const N_CLASSES: usize = 32;

pub(crate) struct Allocator {
    /// Next never-used byte.
    fresh: usize,
    /// End of the segment.
    end: usize,
    /// `free[slice][class]`: offsets of freed fifo chunks.
    free: Vec<[Vec<usize>; N_CLASSES]>,
    /// Bytes sitting in the free lists.
    free_list_bytes: usize,
}

impl Allocator {
    pub(crate) fn new(start: usize, end: usize, n_slices: u32) -> Self {
        Self {
            fresh: start.min(end),
            end,
            free: (0..n_slices)
                .map(|_| std::array::from_fn(|_| Vec::new()))
                .collect(),
            free_list_bytes: 0,
        }
    }

    /// Offset of a chunk for a fifo of `class` in `slice`: a freed chunk of
    /// that class if the slice has one, else fresh memory. `Err(bytes
    /// needed)` when neither has room.
    pub(crate) fn alloc(&mut self, slice: u32, class: u8) -> Result<usize, usize> {
        let footprint = class_footprint(class);
        let list = &mut self.free[slice as usize][class as usize];
        if let Some(off) = list.pop() {
            self.free_list_bytes -= footprint;
            return Ok(off);
        }
        match self.fresh.checked_add(footprint) {
            Some(next) if next <= self.end => {
                let off = self.fresh;
                self.fresh = next;
                Ok(off)
            }
            _ => Err(footprint),
        }
    }

    /// Returns a chunk taken by `alloc` to its slice's free list.
    pub(crate) fn release(&mut self, slice: u32, class: u8, off: usize) {
        self.free[slice as usize][class as usize].push(off);
        self.free_list_bytes += class_footprint(class);
    }

    /// Fresh bytes plus bytes in free lists.
    pub(crate) fn available(&self) -> usize {
        self.end - self.fresh + self.free_list_bytes
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bump_then_free_list_reuse() {
        let fp = class_footprint(6);
        let mut a = Allocator::new(64, 64 + 3 * fp, 2);
        let x = a.alloc(0, 6).unwrap();
        let y = a.alloc(1, 6).unwrap();
        assert_eq!((x, y), (64, 64 + fp));
        assert_eq!(a.available(), fp);
        a.release(0, 6, x);
        assert_eq!(a.available(), 2 * fp);
        // Slice 1 has no free chunk of class 6: fresh memory.
        assert_eq!(a.alloc(1, 6), Ok(64 + 2 * fp));
        assert_eq!(a.alloc(1, 6), Err(fp));
        // Slice 0 reuses its chunk.
        assert_eq!(a.alloc(0, 6), Ok(x));
        assert_eq!(a.available(), 0);
    }
}
