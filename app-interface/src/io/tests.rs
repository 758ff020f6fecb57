//! SessionIo against real fifos in a heap segment, with the worker's side
//! played by the test (the other role of each fifo).

use ct_fifo_segment::{Consumer, DeqNtf, Fifo, FifoError, FifoSegment, Producer, SegmentFlags};

use super::{IoError, IoEvt, IoEvtSink, SessionIo};
use crate::SessionError;

/// Records events; fails them while `fail` is set.
#[derive(Default)]
struct Rec {
    evts: Vec<IoEvt>,
    fail: bool,
}

impl IoEvtSink for Rec {
    type Error = &'static str;
    fn io_evt(&mut self, evt: IoEvt) -> Result<(), &'static str> {
        if self.fail {
            return Err("queue gone");
        }
        self.evts.push(evt);
        Ok(())
    }
}

struct Setup {
    seg: FifoSegment,
    io: SessionIo<Rec>,
    /// The peer's end of the app's rx fifo.
    rx_prod: Producer,
    /// The peer's end of the app's tx fifo.
    tx_cons: Consumer,
    rx: Fifo,
    tx: Fifo,
}

fn setup(size: u32) -> Setup {
    let seg = FifoSegment::create_heap(1 << 20, 1, SegmentFlags::empty()).unwrap();
    let rx = seg.alloc_fifo_w_slice(0, size).unwrap();
    let tx = seg.alloc_fifo_w_slice(0, size).unwrap();
    let io = SessionIo::new(&rx, &tx, Rec::default()).unwrap();
    Setup {
        rx_prod: rx.producer().unwrap(),
        tx_cons: tx.consumer().unwrap(),
        seg,
        io,
        rx,
        tx,
    }
}

#[test]
fn a_burst_of_writes_sends_one_tx_event() {
    let mut s = setup(4096);
    assert_eq!(s.io.write(b"abc").unwrap(), 3);
    assert_eq!(s.io.write(b"def").unwrap(), 3);
    assert_eq!(s.io.sink().evts, [IoEvt::Tx]);
    assert_eq!(s.io.tx_events_sent(), 1);
    // The worker handles the event: clears the flag, reads.
    s.tx.unset_event();
    let mut buf = [0u8; 16];
    assert_eq!(s.tx_cons.dequeue(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"abcdef");
    s.io.write(b"g").unwrap();
    assert_eq!(s.io.sink().evts, [IoEvt::Tx, IoEvt::Tx]);
    // Empty writes and commits of 0 send nothing.
    s.tx.unset_event();
    assert_eq!(s.io.write(b"").unwrap(), 0);
    s.io.commit(0).unwrap();
    assert_eq!(s.io.tx_events_sent(), 2);
}

#[test]
fn a_full_fifo_arms_the_dequeue_notification() {
    let mut s = setup(4096);
    let big = vec![7u8; 4096];
    assert_eq!(s.io.write(&big).unwrap(), 4096);
    assert!(s.tx.want_deq_ntf().is_empty());
    assert_eq!(s.io.write(b"more").unwrap(), 0);
    assert!(s.tx.want_deq_ntf().contains(DeqNtf::NOTIF));
    assert_eq!(s.io.max_enqueue().unwrap(), 0);
    // The reader drains; its needs_deq_ntf says to tell us.
    let mut buf = vec![0u8; 100];
    let n = s.tx_cons.dequeue(&mut buf).unwrap() as u32;
    assert!(s.tx.needs_deq_ntf(n));
    s.tx.clear_deq_ntf();
    // Room again: the write goes through without arming.
    assert_eq!(s.io.write(b"more").unwrap(), 4);
    assert!(s.tx.want_deq_ntf().is_empty());
}

#[test]
fn rx_dequeue_event_only_when_the_producer_asked_and_once() {
    let mut s = setup(4096);
    s.rx_prod.enqueue(b"hello world").unwrap();
    let mut buf = [0u8; 5];
    assert_eq!(s.io.read(&mut buf).unwrap(), 5);
    assert!(s.io.sink().evts.is_empty());
    s.rx.add_want_deq_ntf(DeqNtf::NOTIF);
    assert_eq!(s.io.read(&mut buf).unwrap(), 5);
    assert_eq!(s.io.sink().evts, [IoEvt::RxDequeue]);
    assert_eq!(s.io.read(&mut buf).unwrap(), 1);
    assert_eq!(s.io.rx_events_sent(), 1, "NOTIF is one-shot");
    // Reading nothing sends nothing, even when asked.
    s.rx.add_want_deq_ntf(DeqNtf::NOTIF);
    assert_eq!(s.io.read(&mut buf).unwrap(), 0);
    assert_eq!(s.io.rx_events_sent(), 1);
}

#[test]
fn peek_drop_and_unread() {
    let mut s = setup(4096);
    assert!(!s.io.has_unread());
    s.rx_prod.enqueue(b"0123456789").unwrap();
    assert!(s.io.has_unread());
    assert_eq!(s.io.max_dequeue().unwrap(), 10);
    let mut buf = [0u8; 3];
    assert_eq!(s.io.peek(4, &mut buf).unwrap(), 3);
    assert_eq!(&buf, b"456");
    s.rx.add_want_deq_ntf(DeqNtf::NOTIF);
    assert_eq!(s.io.drop_bytes(8).unwrap(), 8);
    assert_eq!(s.io.sink().evts, [IoEvt::RxDequeue]);
    assert_eq!(s.io.max_dequeue().unwrap(), 2);
}

#[test]
fn zero_copy_both_ways() {
    let mut s = setup(4096);
    let (a, _b) = s.io.write_slices().unwrap();
    a[..4].copy_from_slice(b"zero");
    s.io.commit(4).unwrap();
    assert_eq!(s.io.sink().evts, [IoEvt::Tx]);
    let mut buf = [0u8; 4];
    assert_eq!(s.tx_cons.dequeue(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"zero");

    s.rx_prod.enqueue(b"copy").unwrap();
    s.rx.add_want_deq_ntf(DeqNtf::NOTIF);
    let (a, b) = s.io.read_slices().unwrap();
    assert_eq!([a, b].concat(), b"copy");
    s.io.release(4).unwrap();
    assert_eq!(s.io.sink().evts, [IoEvt::Tx, IoEvt::RxDequeue]);
    assert!(matches!(
        s.io.commit(5000),
        Err(IoError::Fifo(FifoError::OutOfRange))
    ));
}

#[test]
fn sink_failure_is_reported_after_the_data_moved() {
    let mut s = setup(4096);
    s.io.sink_mut().fail = true;
    assert_eq!(s.io.write(b"x"), Err(IoError::Sink("queue gone")));
    assert_eq!(s.io.max_enqueue().unwrap(), 4095, "the byte is in the fifo");
    assert_eq!(s.io.tx_events_sent(), 1);
}

#[test]
fn freed_fifos_are_errors() {
    let mut s = setup(4096);
    s.seg.free_fifo(&s.rx).unwrap();
    let mut buf = [0u8; 4];
    assert!(matches!(
        s.io.read(&mut buf),
        Err(IoError::Fifo(FifoError::Freed))
    ));
    assert_eq!(
        SessionError::from(IoError::<SessionError>::Fifo(FifoError::Freed)),
        SessionError::NoSession
    );
    assert_eq!(
        SessionError::from(IoError::Sink(SessionError::Congested)),
        SessionError::Congested
    );
}

#[test]
fn roles_are_taken() {
    let s = setup(4096);
    assert!(matches!(
        SessionIo::new(&s.rx, &s.tx, Rec::default()),
        Err(FifoError::RoleTaken)
    ));
}

#[test]
fn shutdown_tx_forces_an_event_and_ends_writes() {
    let mut s = setup(4096);
    assert_eq!(s.io.write(b"req").unwrap(), 3);
    assert_eq!(s.io.sink().evts, [IoEvt::Tx]);
    // An event is still pending; the shutdown sends one anyway.
    s.io.shutdown_tx().unwrap();
    assert_eq!(s.io.sink().evts, [IoEvt::Tx, IoEvt::Tx]);
    assert!(s.io.tx_shut() && s.tx.is_shut());
    s.io.shutdown_tx().unwrap();
    assert_eq!(s.io.tx_events_sent(), 2);
    assert_eq!(s.io.write(b"x"), Err(IoError::Fifo(FifoError::Shutdown)));
    assert_eq!(s.io.write(b""), Err(IoError::Fifo(FifoError::Shutdown)));
    assert_eq!(s.io.write_slices().err(), Some(FifoError::Shutdown));
    assert_eq!(
        SessionError::from(IoError::<SessionError>::Fifo(FifoError::Shutdown)),
        SessionError::WrongState
    );
    // The peer reads the data, then the end.
    assert!(!s.tx_cons.at_eof().unwrap());
    let mut buf = [0u8; 8];
    assert_eq!(s.tx_cons.dequeue(&mut buf).unwrap(), 3);
    assert!(s.tx_cons.at_eof().unwrap());
    // Our direction of reading is untouched: the peer's reply arrives.
    assert_eq!(s.rx_prod.enqueue(b"reply").unwrap(), 5);
    assert!(!s.io.peer_shutdown().unwrap());
    assert_eq!(s.io.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"reply");
    assert!(!s.io.peer_shutdown().unwrap());
    s.rx_prod.shutdown().unwrap();
    assert!(s.io.peer_shutdown().unwrap());
    let _ = &s.seg;
}
