//! App-side session I/O through fifos, with the loop test transport: which
//! writes and reads send events to the worker, and what the apps see.

mod common;

use std::io::{Read, Write};

use common::{assert_nothing_left, env, ext_pair, wait_msg};
use ct_app_worker::{AppEvent, IoMode};

fn count(msgs: &[AppEvent], f: impl Fn(&AppEvent) -> bool) -> usize {
    msgs.iter().filter(|m| f(m)).count()
}

#[test]
fn tx_event_only_on_first_write_after_unset() {
    let mut e = env(0);
    let st = &mut e.stack;
    let mut p = ext_pair(st, 80, 4096, 64);
    let sq = p.server.queue.clone().unwrap();
    sq.drain();
    let tx_before = st.runtime_mut().worker_mut(0).unwrap().counters().tx_events;

    assert_eq!(p.cs.write(b"a").unwrap(), 1);
    assert_eq!(p.cs.tx_events_sent(), 1);
    assert_eq!(p.cs.write(b"b").unwrap(), 1);
    assert_eq!(p.cs.tx_events_sent(), 1, "flag still set: no second event");
    assert!(p.cs.tx_fifo().has_event());
    st.run_until_idle().unwrap();
    let tx_after = st.runtime_mut().worker_mut(0).unwrap().counters().tx_events;
    assert_eq!(tx_after - tx_before, 1, "the worker saw one TX event");
    assert!(!p.cs.tx_fifo().has_event(), "the transport unset the flag");
    let msgs = sq.drain();
    assert_eq!(count(&msgs, |m| matches!(m, AppEvent::Rx(_))), 1);

    assert_eq!(p.cs.write(b"c").unwrap(), 1);
    assert_eq!(p.cs.tx_events_sent(), 2, "first write after the unset");
    st.run_until_idle().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(p.ss.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(
        p.ss.rx_events_sent(),
        0,
        "nobody asked for a dequeue notification"
    );
    assert_eq!(p.ss.read(&mut buf).unwrap(), 0);

    drop((p.ss, p.cs));
    st.detach(p.client.app).unwrap();
    st.detach(p.server.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn rx_dequeue_event_only_when_requested_and_writer_is_woken() {
    let mut e = env(0);
    let st = &mut e.stack;
    let mut p = ext_pair(st, 81, 4096, 64);
    let (sq, cq) = (
        p.server.queue.clone().unwrap(),
        p.client.queue.clone().unwrap(),
    );
    let data: Vec<u8> = (0..3 * 4096u32).map(|i| (i * 7 % 251) as u8).collect();

    // Fill the server's rx fifo, then the client's tx fifo behind it.
    let mut off = p.cs.write(&data).unwrap();
    assert_eq!(off, 4096);
    st.run_until_idle().unwrap();
    off += p.cs.write(&data[off..]).unwrap();
    assert_eq!(off, 8192);
    st.run_until_idle().unwrap();
    assert_eq!(p.ss.max_dequeue().unwrap(), 4096);
    assert_eq!(
        p.cs.max_enqueue().unwrap(),
        0,
        "client tx full behind the peer"
    );
    // Full: the write arms a dequeue notification and gets nothing.
    assert_eq!(p.cs.write(&data[off..]).unwrap(), 0);
    cq.drain();
    sq.drain();

    // The transport asked the reader for a notification: the first read
    // sends exactly one RX-dequeue event.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1000];
    let n = p.ss.read(&mut buf).unwrap();
    got.extend_from_slice(&buf[..n]);
    assert_eq!(p.ss.rx_events_sent(), 1);
    let n = p.ss.read(&mut buf).unwrap();
    got.extend_from_slice(&buf[..n]);
    assert_eq!(p.ss.rx_events_sent(), 1, "request cleared by the first");
    let rx_deq_before = st
        .runtime_mut()
        .worker_mut(0)
        .unwrap()
        .counters()
        .rx_dequeue_events;
    st.run_until_idle().unwrap();
    let w0 = st.runtime_mut().worker_mut(0).unwrap().counters();
    assert_eq!(w0.rx_dequeue_events - rx_deq_before, 1);
    // The transport moved more, and the client (blocked on a full tx fifo)
    // got its TX event.
    let msgs = cq.drain();
    assert!(
        count(&msgs, |m| matches!(m, AppEvent::Tx(_))) >= 1,
        "{msgs:?}"
    );

    // Drain everything through the events.
    while off < data.len() || got.len() < data.len() {
        if off < data.len() {
            off += p.cs.write(&data[off..]).unwrap();
        }
        let n = p.ss.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        st.run_until_idle().unwrap();
    }
    assert_eq!(got, data);
    drop((p.ss, p.cs));
    st.detach(p.client.app).unwrap();
    st.detach(p.server.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn peek_zero_copy_and_io_traits() {
    let mut e = env(1);
    let st = &mut e.stack;
    let mut p = ext_pair(st, 82, 4096, 64);
    // Zero-copy write.
    let (a, _) = p.cs.write_slices().unwrap();
    a[..5].copy_from_slice(b"hello");
    p.cs.commit(5).unwrap();
    assert_eq!(p.cs.tx_events_sent(), 1);
    st.run_until_idle().unwrap();
    // Peek does not consume.
    let mut buf = [0u8; 5];
    assert_eq!(p.ss.peek(1, &mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ello");
    assert_eq!(p.ss.max_dequeue().unwrap(), 5);
    // Zero-copy read.
    let (a, b) = p.ss.read_slices().unwrap();
    assert_eq!([a, b].concat(), b"hello");
    p.ss.release(5).unwrap();
    assert!(p.ss.release(1).is_err(), "release beyond the data");
    // io::Read non-blocking: WouldBlock when empty.
    assert_eq!(p.ss.mode(), IoMode::NonBlocking);
    let err = Read::read(&mut p.ss, &mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    // io::Write, then io::Read.
    p.cs.write_all(b"world").unwrap();
    st.run_until_idle().unwrap();
    let mut s = [0u8; 5];
    p.ss.read_exact(&mut s).unwrap();
    assert_eq!(&s, b"world");
    // Blocking with a timeout and nothing to read: TimedOut, not a hang.
    p.ss.set_mode(IoMode::Blocking(Some(std::time::Duration::from_millis(20))));
    let err = Read::read(&mut p.ss, &mut s).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    drop((p.ss, p.cs));
    st.detach(p.client.app).unwrap();
    st.detach(p.server.app).unwrap();
    assert_nothing_left(st);
}

#[test]
fn close_with_unread_data_resets_the_peer() {
    let mut e = env(0);
    let st = &mut e.stack;
    // Graceful: nothing unread.
    let p = ext_pair(st, 83, 4096, 64);
    let (sq, cq) = (
        p.server.queue.clone().unwrap(),
        p.client.queue.clone().unwrap(),
    );
    sq.drain();
    st.disconnect(p.server.app_wrk, p.ss.handle()).unwrap();
    let m = wait_msg(st, &cq, |m| {
        matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_))
    });
    assert!(
        matches!(m, AppEvent::Disconnected(h) if h == p.cs.handle()),
        "{m:?}"
    );
    st.disconnect(p.client.app_wrk, p.cs.handle()).unwrap();
    wait_msg(st, &sq, |m| {
        matches!(
            m,
            AppEvent::Cleanup {
                ntf: ct_session::SessionCleanupNtf::Session,
                ..
            }
        )
    });
    drop((p.ss, p.cs));
    st.detach(p.client.app).unwrap();
    st.detach(p.server.app).unwrap();

    // Unread data at the server: its close is a reset for the client.
    let mut p = ext_pair(st, 84, 4096, 64);
    let cq = p.client.queue.clone().unwrap();
    p.cs.write(b"unread").unwrap();
    st.run_until_idle().unwrap();
    assert!(p.ss.has_unread());
    st.disconnect(p.server.app_wrk, p.ss.handle()).unwrap();
    let m = wait_msg(st, &cq, |m| {
        matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_))
    });
    assert!(
        matches!(m, AppEvent::Reset(h) if h == p.cs.handle()),
        "{m:?}"
    );
    // Another app's session is not ours to close.
    assert_eq!(
        st.disconnect(p.server.app_wrk, p.cs.handle()).unwrap_err(),
        ct_session::SessionError::Owner
    );
    drop((p.ss, p.cs));
    st.detach(p.client.app).unwrap();
    st.detach(p.server.app).unwrap();
    assert_nothing_left(st);
}
