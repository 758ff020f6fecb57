//! RxEnd and TxEnd on their own (SessionIo's tests cover them as a pair):
//! each end keeps its own count, one sink serves both by reference, and
//! `room` arms the full-fifo notification as a write does.

use ct_fifo_segment::{DeqNtf, FifoSegment, ReaderState, SegmentFlags};

use super::{IoEvt, IoEvtSink, RxEnd, TxEnd};

/// Records events.
#[derive(Default)]
struct Rec(Vec<IoEvt>);

impl IoEvtSink for Rec {
    type Error = ();
    fn io_evt(&mut self, evt: IoEvt) -> Result<(), ()> {
        self.0.push(evt);
        Ok(())
    }
}

fn seg() -> FifoSegment {
    FifoSegment::create_heap(1 << 20, 1, SegmentFlags::empty()).unwrap()
}

#[test]
fn each_end_counts_its_own_events_into_one_sink() {
    let seg = seg();
    let rx = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    let tx = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    let mut r = RxEnd::new(rx.consumer().unwrap());
    let mut w = TxEnd::new(tx.producer().unwrap());
    let mut peer = rx.producer().unwrap();
    let mut sink = Rec::default();

    assert_eq!(w.write(b"ab", &mut sink).unwrap(), 2);
    assert_eq!(w.write(b"cd", &mut sink).unwrap(), 2, "flag set: no event");
    peer.enqueue(b"xyz").unwrap();
    rx.add_want_deq_ntf(DeqNtf::NOTIF);
    let mut buf = [0u8; 2];
    assert_eq!(r.read(&mut buf, &mut sink).unwrap(), 2);
    assert_eq!(r.drop_bytes(1, &mut sink).unwrap(), 1, "asked once");
    assert!(!r.has_unread());

    assert_eq!(sink.0, [IoEvt::Tx, IoEvt::RxDequeue]);
    assert_eq!((w.events_sent(), r.events_sent()), (1, 1));
    assert_eq!(r.fifo().offset(), rx.offset());
    assert_eq!(w.fifo().offset(), tx.offset());
}

#[test]
fn room_arms_when_full_and_disarms_when_not() {
    let seg = seg();
    let tx = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    let mut w = TxEnd::new(tx.producer().unwrap());
    let mut reader = tx.consumer().unwrap();
    let mut sink = Rec::default();
    assert_eq!(w.room().unwrap(), 4096);
    assert!(tx.want_deq_ntf().is_empty());

    let (a, b) = w.write_slices().unwrap();
    let n = (a.len() + b.len()) as u32;
    w.commit(n, &mut sink).unwrap();
    assert_eq!(sink.0, [IoEvt::Tx]);
    assert_eq!(w.room().unwrap(), 0);
    assert!(tx.want_deq_ntf().contains(DeqNtf::NOTIF), "armed");
    // Nothing was written, so nothing was said.
    assert_eq!(w.events_sent(), 1);

    let mut buf = [0u8; 10];
    reader.dequeue(&mut buf).unwrap();
    assert!(tx.needs_deq_ntf(10));
    tx.clear_deq_ntf();
    assert_eq!(w.room().unwrap(), 10);
    assert!(tx.want_deq_ntf().is_empty());
}

#[test]
fn ends_move_to_threads_of_their_own() {
    fn send<T: Send>() {}
    send::<RxEnd>();
    send::<TxEnd>();
}

#[test]
fn a_shut_tx_end_has_no_room_and_the_rx_end_sees_the_peers_end() {
    let seg = seg();
    let f = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    let mut w = TxEnd::new(f.producer().unwrap());
    let r = RxEnd::new(f.consumer().unwrap());
    let mut sink = Rec::default();
    assert_eq!(w.room().unwrap(), 4096);
    assert!(!r.peer_shutdown().unwrap());
    w.shutdown(&mut sink).unwrap();
    assert!(w.is_shut());
    assert_eq!(w.room(), Err(ct_fifo_segment::FifoError::Shutdown));
    assert!(r.peer_shutdown().unwrap());
    assert_eq!(sink.0, [IoEvt::Tx]);
}

/// The writer rule: a reader waiting on the fifo itself is told directly
/// (polling: nothing to send; asleep on the futex word: woken, the word
/// moved on), an idle one through the TX event, as before.
#[test]
fn a_waiting_reader_is_told_without_an_event() {
    let seg = seg();
    let tx = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    let mut w = TxEnd::new(tx.producer().unwrap());
    let mut sink = Rec::default();

    tx.set_reader_state(ReaderState::Sleeping);
    w.write(b"a", &mut sink).unwrap();
    assert!(sink.0.is_empty(), "a sleeping reader needs no event");
    assert!(!tx.has_event());
    assert_eq!(tx.reader_state(), ReaderState::Spinning, "woken");

    let (a, _) = w.write_slices().unwrap();
    a[0] = b'b';
    w.commit(1, &mut sink).unwrap();
    assert!(sink.0.is_empty(), "a polling reader sees the data");
    assert_eq!(w.direct_wakes(), 2);

    tx.set_reader_state(ReaderState::Idle);
    w.write(b"c", &mut sink).unwrap();
    assert_eq!(sink.0, [IoEvt::Tx], "an idle reader gets the event");
    assert_eq!(w.events_sent(), 1);
}

/// A reader asleep in another thread is woken by a write alone.
#[test]
fn a_write_wakes_a_reader_asleep_in_another_thread() {
    let seg = seg();
    let fifo = seg.alloc_fifo_w_slice(0, 4096).unwrap();
    let mut w = TxEnd::new(fifo.producer().unwrap());
    let mut rx = fifo.consumer().unwrap();
    let reader = std::thread::spawn(move || {
        let f = rx.fifo().clone();
        let mut buf = [0u8; 4];
        loop {
            f.set_reader_state(ReaderState::Sleeping);
            let n = rx.dequeue(&mut buf).unwrap();
            if n > 0 {
                f.set_reader_state(ReaderState::Idle);
                return buf[..n].to_vec();
            }
            f.reader_sleep(std::time::Duration::from_secs(30));
        }
    });
    while fifo.reader_state() != ReaderState::Sleeping {
        std::thread::yield_now();
    }
    let mut sink = Rec::default();
    w.write(b"hi", &mut sink).unwrap();
    assert_eq!(reader.join().unwrap(), b"hi");
    assert!(sink.0.is_empty());
}
