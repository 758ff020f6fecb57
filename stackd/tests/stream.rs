//! A stream through the daemon between two apps on their own threads,
//! with app-interface's `SessionIo` on each end: small fifos, so the writer
//! fills its fifo again and again and waits for the dequeue notification
//! (RX-dequeue from the reader, TX back to the writer), and checksums.

mod common;

use std::convert::Infallible;
use std::time::Instant;

use app_interface::io::{IoEvt, IoEvtSink, SessionIo};
use app_interface::wire::{AppMsg, FifoRef, SessionRef, StackMsg};
use common::*;

/// Collects the events a `SessionIo` owes the worker; the test sends them.
#[derive(Default)]
struct Owed(Vec<IoEvt>);

impl IoEvtSink for Owed {
    type Error = Infallible;
    fn io_evt(&mut self, evt: IoEvt) -> Result<(), Infallible> {
        self.0.push(evt);
        Ok(())
    }
}

fn open(app: &TestApp, rx: FifoRef, tx: FifoRef) -> SessionIo<Owed> {
    SessionIo::new(&app.fifo(rx), &app.fifo(tx), Owed::default()).unwrap()
}

fn pay(app: &mut TestApp, io: &mut SessionIo<Owed>, s: SessionRef) {
    for e in io.sink_mut().0.drain(..) {
        let m = match e {
            IoEvt::Tx => AppMsg::IoTx(s),
            IoEvt::RxDequeue => AppMsg::IoRxDequeue(s),
        };
        app.w.send_when_room(s.thread(), m);
    }
}

fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

#[test]
fn stream_8_mib_through_16_kib_fifos_with_dequeue_notifications() {
    const TOTAL: u64 = 8 << 20;
    let (d, path) = daemon(2, "stream");
    let mut server = TestApp::attach(&path, "sink");
    let mut client = TestApp::attach(&path, "source");
    server.w.send(
        0,
        AppMsg::Listen {
            opaque: 1,
            ep: ep(7300),
        },
    );
    server.wait_for("bound", |_, m| {
        matches!(m, StackMsg::Bound { error: 0, .. }).then_some(())
    });
    client.w.send(
        0,
        AppMsg::Connect {
            opaque: 2,
            ep: ep(7300),
        },
    );
    let (t, (ss, srx, stx)) = server.wait_for("accepted", |t, m| match *m {
        StackMsg::Accepted {
            session, rx, tx, ..
        } => Some((t, (session, rx, tx))),
        _ => None,
    });
    server.w.send(
        t,
        AppMsg::AcceptReply {
            session: ss,
            error: 0,
        },
    );
    let (cs, crx, ctx) = client.wait_for("connected", |_, m| match *m {
        StackMsg::Connected {
            error: 0,
            session,
            rx,
            tx,
            ..
        } => Some((session, rx, tx)),
        _ => None,
    });
    let reader = std::thread::spawn(move || {
        let mut io = open(&server, srx, stx);
        let mut buf = vec![0u8; 5000];
        let (mut got, mut bad) = (0u64, 0u64);
        while got < TOTAL {
            let n = io.read(&mut buf).unwrap();
            pay(&mut server, &mut io, ss);
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
    let mut io = open(&client, crx, ctx);
    let chunk: Vec<u8> = (0..64 << 10).map(pattern).collect();
    let (mut sent, mut waits) = (0u64, 0u32);
    let start = Instant::now();
    while sent < TOTAL {
        // The pattern repeats every 64 KiB: write from the right offset.
        let off = (sent % chunk.len() as u64) as usize;
        let len = (chunk.len() - off).min((TOTAL - sent) as usize);
        let n = io.write(&chunk[off..off + len]).unwrap();
        pay(&mut client, &mut io, cs);
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
