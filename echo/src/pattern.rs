//! The bytes echo clients send and the checksum both ends keep over a
//! stream, so any lost, duplicated, reordered or corrupted byte shows up
//! at the end of a session without keeping a copy of what was sent.

/// Length of the pattern: prime, so it never lines up with fifo sizes or
/// write sizes (a stale chunk then has other bytes than the fresh one).
pub const PATTERN_LEN: usize = (1 << 20) + 7;

/// A buffer of pseudo-random bytes, read as an endless stream starting at
/// any offset.
#[derive(Debug, Clone)]
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Default for Pattern {
    fn default() -> Self {
        Self::new()
    }
}

impl Pattern {
    /// The pattern (xorshift bytes, fixed seed: every run sends the same).
    pub fn new() -> Self {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let bytes = (0..PATTERN_LEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        Pattern { bytes }
    }

    /// Up to `max` bytes of the stream from `offset` (fewer at the end of
    /// the buffer: the caller asks again for the rest).
    pub fn chunk(&self, offset: u64, max: usize) -> &[u8] {
        let start = (offset % PATTERN_LEN as u64) as usize;
        let end = start + max.min(PATTERN_LEN - start);
        &self.bytes[start..end]
    }

    /// The checksum of `len` stream bytes from `offset`.
    pub fn checksum(&self, offset: u64, len: u64) -> u64 {
        let mut c = Checksum::new();
        let mut done = 0;
        while done < len {
            let part = self.chunk(offset + done, (len - done).min(1 << 20) as usize);
            c.update(part);
            done += part.len() as u64;
        }
        c.finish()
    }
}

const K: u64 = 0x9fb2_1c65_1e98_df25;
const LANES: usize = 4;
const BLOCK: usize = 8 * LANES;

/// A streaming, order-sensitive 64-bit checksum over 32-byte blocks in four
/// independent lanes (fast enough not to hide the transport behind it).
/// Chunk boundaries do not matter: the same bytes in any split give the
/// same sum.
#[derive(Debug, Clone)]
pub struct Checksum {
    lanes: [u64; LANES],
    tail: [u8; BLOCK],
    tail_len: usize,
    len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Self::new()
    }
}

impl Checksum {
    /// An empty stream's state.
    pub fn new() -> Self {
        Checksum {
            lanes: [1, 2, 3, 4],
            tail: [0; BLOCK],
            tail_len: 0,
            len: 0,
        }
    }

    #[inline]
    fn block(lanes: &mut [u64; LANES], b: &[u8]) {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let w = u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
            *lane = (*lane ^ w).wrapping_mul(K).rotate_left(29);
        }
    }

    /// Adds `data` to the stream.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (BLOCK - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < BLOCK {
                return;
            }
            let tail = self.tail;
            Self::block(&mut self.lanes, &tail);
            self.tail_len = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for b in &mut blocks {
            Self::block(&mut self.lanes, b);
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// Bytes seen.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// No byte seen yet?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sum of the stream so far (the state is kept: more may follow).
    pub fn finish(&self) -> u64 {
        let mut lanes = self.lanes;
        if self.tail_len > 0 {
            let mut last = [0u8; BLOCK];
            last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
            Self::block(&mut lanes, &last);
        }
        let mut h = self.len.wrapping_mul(K);
        for l in lanes {
            h = (h ^ l).wrapping_mul(K).rotate_left(31);
        }
        h ^ (h >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_does_not_matter_but_order_and_content_do() {
        let p = Pattern::new();
        let data = p.chunk(5, 10_000).to_vec();
        let whole = {
            let mut c = Checksum::new();
            c.update(&data);
            c.finish()
        };
        for split in [1, 7, 31, 32, 33, 4095] {
            let mut c = Checksum::new();
            for part in data.chunks(split) {
                c.update(part);
            }
            assert_eq!(c.finish(), whole, "split {split}");
        }
        assert_eq!(p.checksum(5, 10_000), whole);
        let mut swapped = data.clone();
        swapped.swap(100, 3000);
        let mut flipped = data.clone();
        flipped[9999] ^= 1;
        let mut short = data.clone();
        short.pop();
        for other in [swapped, flipped, short] {
            let mut c = Checksum::new();
            c.update(&other);
            assert_ne!(c.finish(), whole);
        }
        // Same bytes, one block moved: order-sensitive.
        let mut moved = data[32..64].to_vec();
        moved.extend_from_slice(&data[..32]);
        let (mut a, mut b) = (Checksum::new(), Checksum::new());
        a.update(&data[..64]);
        b.update(&moved);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn pattern_wraps_and_is_not_constant() {
        let p = Pattern::new();
        assert_eq!(p.chunk(PATTERN_LEN as u64 - 3, 100).len(), 3);
        assert_eq!(p.chunk(PATTERN_LEN as u64, 4), p.chunk(0, 4));
        assert!(p.chunk(0, 256).windows(2).any(|w| w[0] != w[1]));
        assert_eq!(p.checksum(0, 0), Checksum::new().finish());
    }
}
