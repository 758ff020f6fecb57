//! Helpers shared by the cross-process and stress tests: a deterministic
//! byte stream and an order-sensitive checksum over u64 words.
#![allow(dead_code)]

/// Bytes per generated block (a multiple of 8).
pub const BLOCK: usize = 64 * 1024;

/// Fills `buf` (BLOCK bytes) with block number `k` of the stream.
pub fn fill_block(k: u64, buf: &mut [u8]) {
    for (i, w) in buf.chunks_exact_mut(8).enumerate() {
        let mut x = (k * (BLOCK as u64 / 8) + i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        w.copy_from_slice(&(x ^ (x >> 31)).to_le_bytes());
    }
}

/// Order-sensitive checksum of a byte stream fed in arbitrary pieces.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    rot: u64,
    sum: u64,
    total: u64,
    pending: [u8; 8],
    npend: usize,
}

impl Checksum {
    fn word(&mut self, w: u64) {
        self.rot = self.rot.rotate_left(7) ^ w;
        self.sum = self.sum.wrapping_add(w);
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.npend > 0 {
            let take = (8 - self.npend).min(bytes.len());
            self.pending[self.npend..self.npend + take].copy_from_slice(&bytes[..take]);
            self.npend += take;
            bytes = &bytes[take..];
            if self.npend < 8 {
                return;
            }
            self.npend = 0;
            self.word(u64::from_le_bytes(self.pending));
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().unwrap()));
        }
        let rest = words.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.npend = rest.len();
    }

    /// (rotating xor, sum, byte count), pending bytes folded in.
    pub fn finish(mut self) -> (u64, u64, u64) {
        if self.npend > 0 {
            let mut last = [0u8; 8];
            last[..self.npend].copy_from_slice(&self.pending[..self.npend]);
            self.word(u64::from_le_bytes(last));
        }
        (self.rot, self.sum, self.total)
    }
}

/// Checksum of the first `blocks` blocks of the stream.
pub fn expected(blocks: u64) -> (u64, u64, u64) {
    let mut c = Checksum::default();
    let mut buf = vec![0u8; BLOCK];
    for k in 0..blocks {
        fill_block(k, &mut buf);
        c.update(&buf);
    }
    c.finish()
}
