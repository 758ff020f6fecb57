//! Anchors: well-known mechanisms measured in the same run as a subject, so
//! a figure is read as a ratio rather than as an absolute number on a shared,
//! drifting machine.
//!
//! - streams between two threads: a Unix socketpair, the `rtrb` SPSC ring
//!   (through its chunk-based slice copies), and [`two_thread_stream`], the
//!   harness every stream subject uses too, so all move the same bytes in
//!   the same pieces: app buffer -> ring -> app buffer;
//! - single-thread `memcpy` bandwidth over a ring-sized buffer;
//! - round trips: two threads ping-ponging on an atomic (the floor for any
//!   busy-polling hand-off) and a 1-byte socketpair ping-pong (the blocking
//!   kernel path);
//! - `rtrb` push+pop of one small message on one thread.
//!
//! ```
//! use test_harness::{anchors, bench};
//!
//! let t = anchors::rtrb_stream(1 << 20, 64 << 10, 256 << 10);
//! assert!(bench::gbps(1 << 20, t) > 0.0);
//! ```

use ct_sync::atomic::{AtomicU64, Ordering};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Fruitless polls in a row before a stream side yields its core.
pub const SPINS_BEFORE_YIELD: u32 = 256;

/// Spins, or yields once `idle` polls in a row found nothing to do.
#[inline]
fn backoff(idle: &mut u32) {
    *idle += 1;
    if *idle >= SPINS_BEFORE_YIELD {
        *idle = 0;
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Moves `total` bytes from a producer thread to a consumer thread in pieces
/// of `piece` bytes and returns the time from both threads' start to the
/// last byte consumed.
///
/// `produce` is offered the unsent rest of the current piece and returns how
/// many bytes it took (0 when the ring is full: it is called again after a
/// spin hint; after [`SPINS_BEFORE_YIELD`] fruitless calls in a row the
/// thread yields, so a side that shares its core with another job does not
/// burn the other side's time slice). `consume` is offered a `piece`-sized buffer and returns how
/// many bytes it filled (0 when empty). Neither may take more than offered.
pub fn two_thread_stream(
    total: u64,
    piece: usize,
    mut produce: impl FnMut(&[u8]) -> usize + Send,
    mut consume: impl FnMut(&mut [u8]) -> usize + Send,
) -> Duration {
    assert!(piece > 0, "piece must be non-empty");
    // A pattern that is not all zeroes, so no layer can shortcut it.
    let data: Vec<u8> = (0..piece)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
        .collect();
    let start = Barrier::new(3);
    std::thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            let mut left = total;
            let mut idle = 0;
            while left > 0 {
                let this = (left.min(piece as u64)) as usize;
                let mut off = 0;
                while off < this {
                    let n = produce(&data[off..this]);
                    if n == 0 {
                        backoff(&mut idle);
                    } else {
                        idle = 0;
                    }
                    off += n;
                }
                left -= this as u64;
            }
        });
        let reader = s.spawn(|| {
            let mut buf = vec![0u8; piece];
            start.wait();
            let mut got = 0u64;
            let mut idle = 0;
            while got < total {
                let want = (total - got).min(piece as u64) as usize;
                let n = consume(&mut buf[..want]);
                if n == 0 {
                    backoff(&mut idle);
                } else {
                    idle = 0;
                }
                got += n as u64;
            }
            std::hint::black_box(&buf);
        });
        start.wait();
        let t = Instant::now();
        reader.join().expect("consumer thread panicked");
        t.elapsed()
    })
}

/// A Unix socketpair stream (blocking reads and writes).
pub fn socketpair_stream(total: u64, piece: usize) -> io::Result<Duration> {
    let (mut tx, mut rx) = UnixStream::pair()?;
    // After an error a side shuts its socket down (so the other side is not
    // left blocked) and pretends to move the rest; the error is returned
    // after the run.
    let mut write_err = None;
    let mut read_err = None;
    let t = two_thread_stream(
        total,
        piece,
        |d| match tx.write(d) {
            Ok(n) if write_err.is_none() => n,
            Ok(_) => d.len(),
            Err(e) => {
                if write_err.is_none() {
                    write_err = Some(e);
                    let _ = tx.shutdown(Shutdown::Both);
                }
                d.len()
            }
        },
        |b| match rx.read(b) {
            Ok(n) if n > 0 && read_err.is_none() => n,
            r => {
                if read_err.is_none() {
                    read_err = Some(
                        r.err()
                            .unwrap_or_else(|| io::ErrorKind::UnexpectedEof.into()),
                    );
                    let _ = rx.shutdown(Shutdown::Both);
                }
                b.len()
            }
        },
    );
    match write_err.or(read_err) {
        Some(e) => Err(e),
        None => Ok(t),
    }
}

/// An `rtrb` ring of `ring` bytes between two threads, through its
/// chunk-based bulk copies (`push_partial_slice` / `pop_partial_slice`).
pub fn rtrb_stream(total: u64, piece: usize, ring: usize) -> Duration {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(ring);
    two_thread_stream(
        total,
        piece,
        |d| tx.push_partial_slice(d).0.len(),
        |b| rx.pop_partial_slice(b).0.len(),
    )
}

/// One thread copying `total` bytes in `piece`-sized `memcpy`s from one
/// `ring`-sized buffer into another (walking both like a ring).
pub fn memcpy_stream(total: u64, piece: usize, ring: usize) -> Duration {
    assert!(piece > 0 && ring >= piece, "need 0 < piece <= ring");
    let src: Vec<u8> = (0..ring).map(|i| i as u8).collect();
    let mut dst = vec![0u8; ring];
    let t = Instant::now();
    let mut off = 0;
    let mut left = total;
    while left > 0 {
        let n = (left.min(piece as u64) as usize).min(ring - off);
        dst[off..off + n].copy_from_slice(&src[off..off + n]);
        std::hint::black_box(&mut dst);
        off = (off + n) % ring;
        left -= n as u64;
    }
    t.elapsed()
}

/// Two threads handing a token back and forth through one atomic;
/// nanoseconds per round trip.
pub fn spin_round_trip_ns(rounds: u64) -> f64 {
    let turn = AtomicU64::new(0);
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            for i in 0..rounds {
                while turn.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                turn.store(2 * i + 2, Ordering::Release);
            }
        });
        start.wait();
        let t = Instant::now();
        for i in 0..rounds {
            turn.store(2 * i + 1, Ordering::Release);
            while turn.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
        crate::bench::ns_per_op(t.elapsed(), rounds)
    })
}

/// A 1-byte ping-pong over a Unix socketpair (blocking); nanoseconds per
/// round trip.
pub fn socketpair_round_trip_ns(rounds: u64) -> io::Result<f64> {
    let (mut a, mut b) = UnixStream::pair()?;
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let echo = s.spawn(|| -> io::Result<()> {
            let mut byte = [0u8; 1];
            start.wait();
            for _ in 0..rounds {
                b.read_exact(&mut byte)?;
                b.write_all(&byte)?;
            }
            Ok(())
        });
        start.wait();
        let t = Instant::now();
        let mut byte = [7u8; 1];
        let mut result = Ok(());
        for _ in 0..rounds {
            if let Err(e) = a.write_all(&byte).and_then(|()| a.read_exact(&mut byte)) {
                result = Err(e);
                break;
            }
        }
        let elapsed = t.elapsed();
        if result.is_err() {
            // Unblock the echo thread before joining it.
            let _ = a.shutdown(Shutdown::Both);
        }
        let echoed = echo.join().expect("echo thread panicked");
        result.and(echoed)?;
        Ok(crate::bench::ns_per_op(elapsed, rounds))
    })
}

/// One thread pushing then popping a `msg`-byte message `count` times
/// through an `rtrb` ring of `ring` bytes; nanoseconds per push+pop pair.
pub fn rtrb_msg_pair_ns(msg: usize, count: u64, ring: usize) -> f64 {
    assert!(msg > 0 && msg <= ring, "need 0 < msg <= ring");
    let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(ring);
    let out = vec![0x5au8; msg];
    let mut back = vec![0u8; msg];
    let t = Instant::now();
    for _ in 0..count {
        let pushed = tx.push_partial_slice(std::hint::black_box(&out)).0.len();
        let popped = rx.pop_partial_slice(&mut back).0.len();
        assert_eq!(
            (pushed, popped),
            (msg, msg),
            "ring too small for one message"
        );
        std::hint::black_box(&mut back);
    }
    crate::bench::ns_per_op(t.elapsed(), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_thread_stream_delivers_every_byte_in_order() {
        const PIECE: usize = 4096;
        let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(1000);
        let mut got = 0usize;
        let mut mismatches = 0usize;
        let mut first_piece = Vec::new();
        // 100_003 bytes: not a multiple of the piece, so the last piece is
        // short; a ring smaller than a piece forces partial pushes.
        two_thread_stream(
            100_003,
            PIECE,
            |d| tx.push_partial_slice(d).0.len(),
            |b| {
                let n = rx.pop_partial_slice(b).0.len();
                for &byte in &b[..n] {
                    if got < PIECE {
                        first_piece.push(byte);
                    } else if byte != first_piece[got % PIECE] {
                        mismatches += 1;
                    }
                    got += 1;
                }
                n
            },
        );
        assert_eq!(got, 100_003);
        assert_eq!(mismatches, 0, "bytes out of order or corrupted");
        // The pattern is not constant, so order matters to the check above.
        assert!(first_piece.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn stream_anchors_finish() {
        assert!(socketpair_stream(1 << 20, 64 << 10).unwrap() > Duration::ZERO);
        assert!(rtrb_stream(1 << 20, 64 << 10, 128 << 10) > Duration::ZERO);
        assert!(memcpy_stream(1 << 20, 64 << 10, 256 << 10) > Duration::ZERO);
    }

    #[test]
    fn round_trip_anchors_finish() {
        assert!(spin_round_trip_ns(100) > 0.0);
        assert!(socketpair_round_trip_ns(100).unwrap() > 0.0);
        assert!(rtrb_msg_pair_ns(64, 1000, 4096) > 0.0);
    }
}
