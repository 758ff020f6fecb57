//! A stream through the daemon between two apps on their own threads,
//! with app-interface's `SessionIo` on each end: small fifos, so the writer
//! fills its fifo again and again and waits for the dequeue notification
//! (RX-dequeue from the reader, TX back to the writer), and checksums.

mod common;

use std::time::Instant;

use common::*;
use ct_app_interface::wire::{AppMsg, StackMsg};

fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

#[test]
fn stream_8_mib_through_16_kib_fifos_with_dequeue_notifications() {
    const TOTAL: u64 = 8 << 20;
    let (d, path) = daemon(2, "stream");
    let mut server = TestApp::attach(&path, "sink");
    let mut client = TestApp::attach(&path, "source");
    server.listen(7300);
    client.w.send(
        0,
        AppMsg::Connect {
            opaque: 2,
            ep: ep(7300),
        },
    );
    let (_, ss, srx, stx) = server.accept_next();
    let (cs, crx, ctx) = client.wait_connected();
    let reader = std::thread::spawn(move || {
        let mut io = server.open(srx, stx);
        let mut buf = vec![0u8; 5000];
        let (mut got, mut bad) = (0u64, 0u64);
        while got < TOTAL {
            let n = io.read(&mut buf).unwrap();
            server.pay(&mut io, ss);
            for (i, &b) in buf[..n].iter().enumerate() {
                bad += u64::from(b != pattern((got + i as u64) % (64 << 10)));
            }
            got += n as u64;
            if n == 0 {
                server.wait_for("rx", |_, m| {
                    matches!(m, StackMsg::Rx(x) if *x == ss).then_some(())
                });
            }
        }
        (got, bad, server)
    });
    let mut io = client.open(crx, ctx);
    let chunk: Vec<u8> = (0..64 << 10).map(pattern).collect();
    let (mut sent, mut waits) = (0u64, 0u32);
    let start = Instant::now();
    while sent < TOTAL {
        // The pattern repeats every 64 KiB: write from the right offset.
        let off = (sent % chunk.len() as u64) as usize;
        let len = (chunk.len() - off).min((TOTAL - sent) as usize);
        let n = io.write(&chunk[off..off + len]).unwrap();
        client.pay(&mut io, cs);
        sent += n as u64;
        if n == 0 {
            waits += 1;
            client.wait_for("tx", |_, m| {
                matches!(m, StackMsg::Tx(x) if *x == cs).then_some(())
            });
        }
    }
    let (got, bad, server) = reader.join().unwrap();
    assert_eq!((got, bad), (TOTAL, 0));
    assert!(waits > 0, "the 16 KiB fifo never filled");
    eprintln!(
        "8 MiB in {:?}, {waits} waits for room; {}",
        start.elapsed(),
        d.counters()
    );
    drop((io, client, server));
    wait_counters(&d, "all gone", |c| c.is_empty());
    assert!(d.stop().is_empty());
}
