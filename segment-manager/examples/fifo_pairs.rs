//! One app's segment manager hands out fifo pairs for sessions: it adds
//! segments as the first fills up, and a segment whose last fifo went is
//! kept or removed by the manager's rules. Data written to one session's tx
//! fifo is read back from the same memory through its consumer end.
//!
//! `cargo run -p ct-segment-manager --example fifo_pairs`

use std::sync::Arc;

use ct_segment_manager::{NoHook, SegmentManagerProps, SegmentManagers};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One thread (one slice per segment); 256 KiB segments, 16 KiB fifos,
    // so a few dozen sessions need several segments.
    let managers = SegmentManagers::new(1);
    let props = SegmentManagerProps {
        segment_size: 256 << 10,
        add_segment_size: 256 << 10,
        rx_fifo_size: 16 << 10,
        tx_fifo_size: 16 << 10,
        add_segment: true,
        ..SegmentManagerProps::default()
    };
    let sm = managers.alloc(props, Arc::new(NoHook));
    sm.init_first()?;

    let pairs = (0..32)
        .map(|_| sm.alloc_session_fifos(0))
        .collect::<Result<Vec<_>, _>>()?;
    println!(
        "32 sessions: {} fifos in {} segments",
        sm.num_fifos(),
        sm.num_segments()
    );

    // The app writes a session's tx fifo; the transport reads it.
    let first = &pairs[0];
    let mut tx = first.tx.producer()?;
    let mut rx = first.tx.consumer()?;
    tx.enqueue(b"hello through a segment")?;
    let mut buf = [0u8; 64];
    let n = rx.dequeue(&mut buf)?;
    println!("read back: {}", String::from_utf8_lossy(&buf[..n]));
    drop((tx, rx));

    for pair in &pairs {
        managers.dealloc_fifos(&pair.rx, &pair.tx)?;
    }
    println!(
        "after the sessions went: {} fifos, {} segments",
        sm.num_fifos(),
        sm.num_segments()
    );

    // The app detaches; with no fifos left the manager can be freed.
    sm.app_detach();
    assert!(managers.free_safe(sm.handle())?);
    assert!(managers.is_empty());
    Ok(())
}
