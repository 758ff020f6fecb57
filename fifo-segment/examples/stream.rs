//! Two threads stream bytes through one fifo in a memfd segment, the way
//! ct moves data between two apps: the producer writes and raises the
//! fifo's event flag only when it was clear; the consumer clears the flag,
//! then drains (the re-check that makes a lost wake-up impossible).
//!
//! `cargo run -p ct-fifo-segment --release --example stream [MiB]`

use std::time::Instant;

use ct_fifo_segment::{FifoSegment, SegmentFlags};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args().nth(1).map_or(Ok(256), |a| a.parse())?;
    let total = mib << 20;
    let seg = FifoSegment::create("stream-example", 8 << 20, 1, SegmentFlags::empty())?;
    let fifo = seg.alloc_fifo_w_slice(0, 4 << 20)?;
    let mut tx = fifo.producer()?;
    let mut rx = fifo.consumer()?;
    let events = std::sync::Arc::new(ct_sync::atomic::AtomicU64::new(0));

    let start = Instant::now();
    let producer = {
        let (fifo, events) = (fifo.clone(), events.clone());
        std::thread::spawn(move || -> Result<u64, ct_fifo_segment::FifoError> {
            let piece: Vec<u8> = (0..64 * 1024).map(|i| i as u8).collect();
            let mut sent = 0;
            while sent < total {
                let n = tx.enqueue(&piece[..piece.len().min(total - sent)])?;
                if n == 0 {
                    std::thread::yield_now();
                    continue;
                }
                sent += n;
                if fifo.set_event() {
                    // A real app would send a TX event to the session's worker.
                    events.fetch_add(1, ct_sync::atomic::Ordering::Relaxed);
                }
            }
            Ok(sent as u64)
        })
    };

    let mut buf = vec![0u8; 64 * 1024];
    let (mut got, mut sum) = (0usize, 0u64);
    while got < total {
        fifo.unset_event();
        let n = rx.dequeue(&mut buf)?;
        if n == 0 {
            std::thread::yield_now();
            continue;
        }
        sum = buf[..n]
            .iter()
            .fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
        got += n;
    }
    let sent = producer.join().expect("producer thread")?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{sent} bytes in {secs:.3} s: {:.2} GB/s, {} events raised, byte sum {sum}",
        sent as f64 / secs / 1e9,
        events.load(ct_sync::atomic::Ordering::Relaxed)
    );
    drop(rx);
    seg.free_fifo(&fifo)?;
    Ok(())
}
