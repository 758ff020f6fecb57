//! Flow control across ct: a writer that fills the fifo arms a dequeue
//! notification and is woken (a TX event) only by the reader's dequeue;
//! stepped message by message, then with blocking app threads.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use ct_app_worker::{AppEvent, IoMode, Scope};
use ct_echo::{Checksum, Pattern};

#[test]
fn full_fifo_writer_is_woken_by_the_readers_dequeue_notification() {
    let mut env = Env::new(1);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let (mut s, mut c) = (env.io(&sf), env.io(&cf));
    let pattern = Pattern::new();
    let total = 64 * 1024u64;
    let (mut sent, mut got) = (0u64, 0u64);
    let mut rx_sum = Checksum::new();
    let mut rounds = 0;
    while got < total {
        rounds += 1;
        assert!(rounds < 1000, "no progress");
        // Fill the fifo: the last write finds it full.
        loop {
            let chunk = pattern.chunk(sent, (total - sent).min(1000) as usize);
            if chunk.is_empty() {
                break;
            }
            let n = c.write(chunk).unwrap();
            if n == 0 {
                break;
            }
            sent += n as u64;
        }
        env.idle();
        let blocked = sent < total;
        if blocked {
            assert_eq!(c.max_enqueue().unwrap(), 0);
            // Full and nobody read: no TX (space) event for the writer.
            assert!(
                !client
                    .q
                    .drain()
                    .iter()
                    .any(|m| matches!(m, AppEvent::Tx(_))),
                "woken before any dequeue"
            );
        }
        assert!(names(&server.q).contains(&"rx"));
        // The reader takes a little: the writer is told there is room.
        let mut buf = [0u8; 777];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        rx_sum.update(&buf[..n]);
        got += n as u64;
        env.idle();
        if blocked {
            let msgs = client.q.drain();
            assert!(
                msgs.iter()
                    .any(|m| matches!(m, AppEvent::Tx(h) if *h == cf.session)),
                "writer not woken: {:?}",
                msgs.iter().map(name).collect::<Vec<_>>()
            );
        }
        // Drain the rest that is there.
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            rx_sum.update(&buf[..n]);
            got += n as u64;
        }
    }
    assert_eq!(rx_sum.finish(), pattern.checksum(0, total));
    drop((s, c));
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.idle();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.assert_clean();
}

#[test]
fn blocking_writer_and_slow_reader_on_threads_move_every_byte() {
    let mut env = Env::threaded(2);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let (mut s, mut c) = (env.io(&sf), env.io(&cf));
    let apps = env.stack.apps().clone();
    c.set_waker(apps.session_waker(client.wrk, cf.session).unwrap());
    s.set_waker(apps.session_waker(server.wrk, sf.session).unwrap());
    let mode = IoMode::Blocking(Some(Duration::from_secs(20)));
    c.set_mode(mode);
    s.set_mode(mode);
    const TOTAL: u64 = 2 << 20;
    let writer = std::thread::spawn(move || {
        let p = Pattern::new();
        let mut sent = 0u64;
        while sent < TOTAL {
            let chunk = p.chunk(sent, (TOTAL - sent).min(10_000) as usize);
            c.write_all(chunk).unwrap();
            sent += chunk.len() as u64;
        }
        c
    });
    let reader = std::thread::spawn(move || {
        let mut sum = Checksum::new();
        let mut buf = vec![0u8; 1500];
        let mut got = 0u64;
        let mut reads = 0u64;
        while got < TOTAL {
            // The blocking `io::Read`, not the non-blocking inherent read.
            let n = Read::read(&mut s, &mut buf).unwrap();
            sum.update(&buf[..n]);
            got += n as u64;
            reads += 1;
            if reads.is_multiple_of(64) {
                // Slow down now and then so the writer fills the fifo.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        (s, sum.finish())
    });
    let c = writer.join().unwrap();
    let (s, sum) = reader.join().unwrap();
    assert_eq!(sum, Pattern::new().checksum(0, TOTAL));
    // The writer was blocked and woken over and over (4 KiB fifo, 2 MiB).
    assert!(s.rx_events_sent() > 10, "deq ntfs: {}", s.rx_events_sent());
    drop((s, c));
    env.stack.disconnect(client.wrk, cf.session).unwrap();
    env.wait_for(&server.q, |m| {
        matches!(m, AppEvent::Disconnected(_)).then_some(())
    })
    .unwrap();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.assert_clean();
}
