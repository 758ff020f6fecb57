//! `std::net` parity against a real daemon in this process: a stream
//! shared by a reader thread and a writer thread, clones, halves, many
//! readers or writers on one stream, and when the session closes.

mod daemon;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::thread;

use ct_app_client::{CtStream, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use daemon::{Daemon, echo_peer};

/// What the two threads stream each way.
const BIG: usize = 16 << 20;

// The static check: a stream, and its halves, cross threads as a
// `TcpStream` does.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<CtStream>();
    send_sync::<ReadHalf<'_>>();
    send_sync::<WriteHalf<'_>>();
    send_sync::<OwnedReadHalf>();
    send_sync::<OwnedWriteHalf>();
};

/// Byte `i` of the test stream (not periodic in any fifo size).
fn pattern(i: usize) -> u8 {
    (i % 251) as u8 ^ (i >> 16) as u8
}

/// Writes `n` pattern bytes in uneven chunks.
fn write_pattern(mut w: impl Write, n: usize) {
    let mut buf = vec![0u8; 12_345];
    let mut at = 0;
    while at < n {
        let k = buf.len().min(n - at);
        for (j, b) in buf[..k].iter_mut().enumerate() {
            *b = pattern(at + j);
        }
        w.write_all(&buf[..k]).unwrap();
        at += k;
    }
}

/// Reads `n` bytes and checks they are the pattern.
fn read_pattern(mut r: impl Read, n: usize) {
    let mut buf = vec![0u8; 7_777];
    let mut at = 0;
    while at < n {
        let k = buf.len().min(n - at);
        let got = r.read(&mut buf[..k]).unwrap();
        assert!(got > 0, "end of stream at {at} of {n}");
        for (j, b) in buf[..got].iter().enumerate() {
            assert_eq!(*b, pattern(at + j), "byte {}", at + j);
        }
        at += got;
    }
}

#[test]
fn a_reader_thread_and_a_writer_thread_share_one_stream() {
    let d = Daemon::start("share");
    let peer = echo_peer(&d, "share-echo", 7201);
    let client = d.attach("share-client");
    let s = Arc::new(CtStream::connect(&client, d.addr(7201)).unwrap());
    let writer = {
        let s = s.clone();
        thread::spawn(move || write_pattern(&*s, BIG))
    };
    let reader = {
        let s = s.clone();
        thread::spawn(move || read_pattern(&*s, BIG))
    };
    writer.join().unwrap();
    reader.join().unwrap();
    drop(s);
    assert_eq!(peer.join().unwrap(), BIG as u64);
    drop(client);
    d.stop();
}

#[test]
fn halves_borrowed_and_owned() {
    let d = Daemon::start("halves");
    let peer = echo_peer(&d, "halves-echo", 7202);
    let client = d.attach("halves-client");
    let s = CtStream::connect(&client, d.addr(7202)).unwrap();
    thread::scope(|sc| {
        let (r, w) = s.split();
        sc.spawn(move || write_pattern(w, 1 << 20));
        sc.spawn(move || read_pattern(r, 1 << 20));
    });
    let (r, w) = s.into_split();
    let writer = thread::spawn(move || write_pattern(w, 1 << 20));
    let reader = thread::spawn(move || read_pattern(r, 1 << 20));
    writer.join().unwrap();
    reader.join().unwrap();
    // Both halves gone: the session closed, the echo peer read its end.
    assert_eq!(peer.join().unwrap(), 2 << 20);
    drop(client);
    d.stop();
}

#[test]
fn lines_on_a_clone_while_writing_on_the_original() {
    let d = Daemon::start("lines");
    let peer = echo_peer(&d, "lines-echo", 7203);
    let client = d.attach("lines-client");
    let s = CtStream::connect(&client, d.addr(7203)).unwrap();
    let clone = s.try_clone().unwrap();
    let reader = thread::spawn(move || {
        BufReader::new(clone)
            .lines()
            .take(1000)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    let mut w = &s;
    for i in 0..1000 {
        writeln!(w, "line {i}").unwrap();
    }
    let lines = reader.join().unwrap();
    assert_eq!(lines.len(), 1000);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("line {i}"));
    }
    drop(s);
    peer.join().unwrap();
    drop(client);
    d.stop();
}

#[test]
fn the_last_clone_closes_the_session() {
    let d = Daemon::start("clones");
    let server = d.attach("clones-server");
    let listener = ct_app_client::CtListener::bind(&server, d.addr(7204)).unwrap();
    let client = d.attach("clones-client");
    let (a, mut srv) = d.pair(&client, &listener);
    let b = a.try_clone().unwrap();
    let c = b.try_clone().unwrap();
    drop(a);
    drop(b);
    // One handle is left: the session is open, data still flows.
    (&c).write_all(b"still here").unwrap();
    let mut buf = [0u8; 10];
    srv.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still here");
    drop(c);
    // The last handle went: the peer reads the end of the stream.
    assert_eq!(srv.read(&mut buf).unwrap(), 0);
    drop((srv, listener, client, server));
    d.stop();
}

#[test]
fn concurrent_writers_and_readers_take_turns() {
    const PER_WRITER: usize = 1 << 20;
    let d = Daemon::start("turns");
    let server = d.attach("turns-server");
    let listener = ct_app_client::CtListener::bind(&server, d.addr(7205)).unwrap();
    let client = d.attach("turns-client");
    let (c, srv) = d.pair(&client, &listener);
    thread::scope(|sc| {
        // Three readers on one stream count the byte values they see.
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let mut r = &srv;
                sc.spawn(move || {
                    let mut seen = [0usize; 5];
                    let mut buf = [0u8; 3000];
                    loop {
                        let n = r.read(&mut buf).unwrap();
                        if n == 0 {
                            return seen;
                        }
                        for b in &buf[..n] {
                            seen[usize::from(*b)] += 1;
                        }
                    }
                })
            })
            .collect();
        // Four writers on the other, one byte value each: their chunks
        // interleave, but no byte is lost or doubled.
        let writers: Vec<_> = (1..=4u8)
            .map(|v| {
                let mut w = &c;
                sc.spawn(move || {
                    let chunk = vec![v; 10_000];
                    let mut left = PER_WRITER;
                    while left > 0 {
                        let k = left.min(chunk.len());
                        w.write_all(&chunk[..k]).unwrap();
                        left -= k;
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        // Closed: the readers take what is left, then see the end.
        c.shutdown(Shutdown::Both).unwrap();
        let mut total = [0usize; 5];
        for r in readers {
            for (t, n) in total.iter_mut().zip(r.join().unwrap()) {
                *t += n;
            }
        }
        assert_eq!(total, [0, PER_WRITER, PER_WRITER, PER_WRITER, PER_WRITER]);
    });
    drop((c, srv, listener, client, server));
    d.stop();
}

#[test]
fn a_shutdown_ends_a_read_blocked_in_another_thread() {
    let d = Daemon::start("unblock");
    let server = d.attach("unblock-server");
    let listener = ct_app_client::CtListener::bind(&server, d.addr(7206)).unwrap();
    let client = d.attach("unblock-client");
    let (c, srv) = d.pair(&client, &listener);
    thread::scope(|sc| {
        let reader = sc.spawn(|| (&c).read(&mut [0u8; 4]));
        thread::sleep(std::time::Duration::from_millis(50));
        // The reader holds the rx end: the close wakes it and it lets go.
        c.shutdown(Shutdown::Both).unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), 0);
    });
    assert_eq!((&srv).read(&mut [0u8; 4]).unwrap(), 0);
    assert_eq!(
        (&c).write(b"x").unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe
    );
    drop((c, srv, listener, client, server));
    d.stop();
}
