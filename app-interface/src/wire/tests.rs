//! Round trips, sizes and rejections of every wire format, and proptests:
//! decoders over random bytes and over mutated valid encodings never
//! panic, and whatever decodes re-encodes to the same bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn s(thread: u32, index: u32, generation: u32) -> SessionRef {
    SessionRef::new(thread, index, generation)
}

fn seg(handle: u64, generation: u32) -> SegmentRef {
    SegmentRef { handle, generation }
}

fn ep4() -> WireEndpoint {
    WireEndpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
        port: 8080,
        proto: 1,
    }
}

fn ep6() -> WireEndpoint {
    WireEndpoint {
        ip: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 1, 2, 3, 4)),
        port: 65535,
        proto: 255,
    }
}

fn fifo(o: u64) -> FifoRef {
    FifoRef {
        segment: seg(u64::MAX - 3, 7),
        offset: o,
    }
}

fn app_msgs() -> Vec<AppMsg> {
    vec![
        AppMsg::Listen {
            opaque: 1,
            ep: ep4(),
            backlog: 0,
        },
        AppMsg::Listen {
            opaque: u32::MAX,
            ep: ep6(),
            backlog: u32::MAX,
        },
        AppMsg::Unlisten {
            opaque: 2,
            listener: s(0, 1 << 31, 3),
        },
        AppMsg::Connect {
            opaque: 3,
            ep: ep6(),
        },
        AppMsg::Disconnect(s(1, 2, 3)),
        AppMsg::Reset(s(2, 3, 4)),
        AppMsg::AcceptReply {
            session: s(1, 9, 1),
            error: -2,
        },
        AppMsg::IoTx(s(3, u32::MAX, u32::MAX)),
        AppMsg::IoRxDequeue(s(1, 0, 0)),
    ]
}

fn stack_msgs() -> Vec<StackMsg> {
    vec![
        StackMsg::Bound {
            opaque: 5,
            listener: s(0, 7, 1),
            lcl: ep4(),
            error: 0,
        },
        StackMsg::UnlistenReply {
            opaque: 6,
            listener: s(0, 7, 1),
            error: -11,
        },
        StackMsg::Accepted {
            listener: s(0, 7, 1),
            session: s(2, 40, 9),
            rx: fifo(4096),
            tx: fifo(8192),
            rmt: ep6(),
            lcl: ep4(),
        },
        StackMsg::Connected {
            opaque: 7,
            error: 0,
            session: s(1, 41, 2),
            rx: fifo(1),
            tx: fifo(2),
            lcl: ep4(),
            rmt: ep6(),
        },
        StackMsg::connect_failed(8, -2),
        StackMsg::Disconnected(s(1, 1, 1)),
        StackMsg::Reset(s(1, 1, 2)),
        StackMsg::TransportClosed(s(1, 1, 3)),
        StackMsg::Cleanup {
            session: s(1, 1, 4),
            ntf: 1,
        },
        StackMsg::Rx(s(2, 2, 2)),
        StackMsg::Tx(s(2, 2, 3)),
        StackMsg::AddSegment {
            segment: seg(12, 1),
            size: 1 << 30,
        },
        StackMsg::DelSegment(seg(12, 1)),
    ]
}

fn reply(n: u32) -> WorkerReply {
    WorkerReply {
        error: 0,
        app_index: 3,
        app_wrk: 4,
        wrk_index: 1,
        n_threads: n,
        mq_segment: seg(99, 2),
        mq_segment_size: 1 << 20,
        queues: (0..u64::from(n))
            .map(|t| (t * 1000, t * 1000 + 500))
            .collect(),
    }
}

fn sapi_msgs() -> Vec<SapiMsg> {
    vec![
        SapiMsg::AttachReq(AttachReq {
            name: "echo-server".into(),
            namespace_id: "ns1".into(),
            namespace_secret: 0xdead_beef,
            scope: 3,
            rx_fifo_size: 1 << 20,
            tx_fifo_size: 1 << 21,
            segment_size: 1 << 26,
            add_segment_size: 1 << 27,
            evt_q_size: 2048,
        }),
        SapiMsg::AttachReq(AttachReq::default()),
        SapiMsg::AttachReply(reply(3)),
        SapiMsg::AttachReply(reply(SAPI_MAX_THREADS as u32)),
        SapiMsg::AttachReply(WorkerReply::failed(-38)),
        SapiMsg::AddWorkerReq,
        SapiMsg::AddWorkerReply(reply(1)),
        SapiMsg::DelWorkerReq { wrk_index: 2 },
        SapiMsg::DelWorkerReply { error: -21 },
        SapiMsg::DetachReq,
        SapiMsg::DetachReply { error: 0 },
        SapiMsg::SegmentFd {
            segment: seg(5, 6),
            size: 4 << 20,
        },
    ]
}

#[test]
fn app_msgs_round_trip_and_fit_their_ring() {
    for m in app_msgs() {
        let b = m.encode();
        assert_eq!(AppMsg::decode(&b), Ok(m), "{m:?}");
        assert!(b.len() <= CTRL_MSG_SIZE);
        if matches!(m, AppMsg::IoTx(_) | AppMsg::IoRxDequeue(_)) {
            assert!(b.len() <= IO_EVT_MSG_SIZE, "{m:?}: {}", b.len());
        }
    }
}

#[test]
fn stack_msgs_round_trip_and_fit_their_ring() {
    for m in stack_msgs() {
        let b = m.encode();
        assert_eq!(StackMsg::decode(&b), Ok(m), "{m:?}");
        assert!(b.len() <= CTRL_MSG_SIZE);
        if matches!(m, StackMsg::Rx(_) | StackMsg::Tx(_)) {
            assert!(b.len() <= IO_EVT_MSG_SIZE, "{m:?}: {}", b.len());
        }
    }
    // The largest message, for the record.
    let accepted = stack_msgs()[2].encode();
    assert_eq!(accepted.len(), 1 + 2 * 12 + 2 * 20 + 2 * 20);
}

#[test]
fn encode_into_a_used_buffer_replaces_its_message() {
    // The largest message first, then each in turn: a reused buffer must
    // hold exactly the new message, nothing of the one before.
    let msgs = stack_msgs();
    let mut buf = MsgBuf::default();
    let largest = msgs.iter().max_by_key(|m| m.encode().len()).unwrap();
    for m in &msgs {
        largest.encode_into(&mut buf);
        m.encode_into(&mut buf);
        assert_eq!(buf.as_bytes(), m.encode().as_bytes(), "{m:?}");
        assert_eq!(StackMsg::decode(&buf), Ok(*m), "{m:?}");
    }
}

#[test]
fn sapi_msgs_round_trip() {
    for m in sapi_msgs() {
        let b = m.encode().unwrap();
        assert!(b.len() <= SAPI_MAX_RECORD);
        assert_eq!(
            u32::from_le_bytes(b[6..10].try_into().unwrap()) as usize,
            b.len() - SAPI_HEADER_SIZE
        );
        assert_eq!(SapiMsg::decode(&b), Ok(m.clone()), "{m:?}");
    }
}

#[test]
fn expected_fds() {
    assert_eq!(SapiMsg::AttachReply(reply(3)).expected_fds(), 5);
    assert_eq!(SapiMsg::AddWorkerReply(reply(1)).expected_fds(), 3);
    assert_eq!(
        SapiMsg::AttachReply(WorkerReply::failed(-1)).expected_fds(),
        0
    );
    assert_eq!(
        SapiMsg::SegmentFd {
            segment: seg(1, 1),
            size: 1
        }
        .expected_fds(),
        1
    );
    assert_eq!(SapiMsg::DetachReq.expected_fds(), 0);
    assert!(SapiMsg::AttachReply(reply(SAPI_MAX_THREADS as u32)).expected_fds() <= SAPI_MAX_FDS);
}

#[test]
fn session_ref_parts() {
    let r = s(3, 0xabcd_ef01, 9);
    assert_eq!(r.handle, 3 << 32 | 0xabcd_ef01);
    assert_eq!((r.thread(), r.index(), r.generation), (3, 0xabcd_ef01, 9));
    assert_eq!(AppMsg::IoTx(r).session(), Some(r));
    assert_eq!(
        AppMsg::Connect {
            opaque: 0,
            ep: ep4()
        }
        .session(),
        None
    );
    assert_eq!(StackMsg::Rx(r).session(), Some(r));
    assert_eq!(StackMsg::DelSegment(seg(1, 1)).session(), None);
}

#[test]
fn directions_do_not_mix() {
    for m in app_msgs() {
        assert!(matches!(
            StackMsg::decode(&m.encode()),
            Err(WireError::UnknownKind(_))
        ));
    }
    for m in stack_msgs() {
        assert!(matches!(
            AppMsg::decode(&m.encode()),
            Err(WireError::UnknownKind(_))
        ));
    }
}

#[test]
fn queue_messages_truncated_or_padded_are_errors() {
    for m in app_msgs() {
        let b = m.encode().to_vec();
        for n in 0..b.len() {
            assert_eq!(
                AppMsg::decode(&b[..n]),
                Err(WireError::Truncated),
                "{m:?} cut at {n}"
            );
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(AppMsg::decode(&long), Err(WireError::TrailingBytes(1)));
    }
    for m in stack_msgs() {
        let b = m.encode().to_vec();
        for n in 0..b.len() {
            assert_eq!(StackMsg::decode(&b[..n]), Err(WireError::Truncated));
        }
        let mut long = b.clone();
        long.extend_from_slice(&[1, 2]);
        assert_eq!(StackMsg::decode(&long), Err(WireError::TrailingBytes(2)));
    }
}

#[test]
fn bad_endpoints_are_errors() {
    let good = AppMsg::Listen {
        opaque: 1,
        ep: ep4(),
        backlog: 128,
    }
    .encode()
    .to_vec();
    // kind(1) opaque(4) then the endpoint: family at 5, address 6..22.
    let mut bad_family = good.clone();
    bad_family[5] = 5;
    assert_eq!(
        AppMsg::decode(&bad_family),
        Err(WireError::Invalid("address family"))
    );
    let mut bad_pad = good.clone();
    bad_pad[6 + 10] = 1;
    assert_eq!(
        AppMsg::decode(&bad_pad),
        Err(WireError::Invalid("ip4 address padding"))
    );
}

#[test]
fn bad_records_are_errors() {
    let good = SapiMsg::DelWorkerReq { wrk_index: 1 }.encode().unwrap();
    let mut b = good.clone();
    b[0] ^= 1;
    assert!(matches!(SapiMsg::decode(&b), Err(WireError::BadMagic(_))));
    let mut b = good.clone();
    b[2] = 2;
    assert_eq!(SapiMsg::decode(&b), Err(WireError::BadVersion(2)));
    let mut b = good.clone();
    b[4] = 77;
    assert_eq!(SapiMsg::decode(&b), Err(WireError::UnknownKind(77)));
    let mut b = good.clone();
    b.push(0);
    assert_eq!(
        SapiMsg::decode(&b),
        Err(WireError::LengthMismatch {
            header: 4,
            actual: 5
        })
    );
    for n in 0..SAPI_HEADER_SIZE {
        assert_eq!(SapiMsg::decode(&good[..n]), Err(WireError::Truncated));
    }
    assert!(matches!(
        SapiMsg::decode(&good[..good.len() - 1]),
        Err(WireError::LengthMismatch { .. })
    ));
    assert_eq!(
        SapiMsg::decode(&vec![0; SAPI_MAX_RECORD + 1]),
        Err(WireError::TooLarge(SAPI_MAX_RECORD + 1))
    );
    // A body shorter than its kind, with a header that agrees.
    let mut b = SapiMsg::DetachReq.encode().unwrap();
    b[4] = 5; // DelWorkerReq wants 4 body bytes
    assert_eq!(SapiMsg::decode(&b), Err(WireError::Truncated));
}

#[test]
fn bad_sapi_bodies_are_errors() {
    let too_long = "x".repeat(SAPI_MAX_NAME + 1);
    let m = SapiMsg::AttachReq(AttachReq {
        name: too_long,
        ..AttachReq::default()
    });
    assert_eq!(m.encode(), Err(WireError::Invalid("name too long")));
    let mut r = reply(2);
    r.queues.pop();
    assert!(SapiMsg::AttachReply(r).encode().is_err());
    let r = reply(SAPI_MAX_THREADS as u32 + 1);
    assert!(SapiMsg::AttachReply(r).encode().is_err());

    // A reply claiming more threads than allowed.
    let mut b = SapiMsg::AttachReply(reply(0)).encode().unwrap();
    let n_threads_at = SAPI_HEADER_SIZE + 16;
    b[n_threads_at..n_threads_at + 4].copy_from_slice(&1000u32.to_le_bytes());
    assert_eq!(
        SapiMsg::decode(&b),
        Err(WireError::Invalid("too many threads"))
    );
    // A name that is not utf-8.
    let mut b = SapiMsg::AttachReq(AttachReq {
        name: "ab".into(),
        ..AttachReq::default()
    })
    .encode()
    .unwrap();
    b[SAPI_HEADER_SIZE + 2] = 0xff;
    assert_eq!(
        SapiMsg::decode(&b),
        Err(WireError::Invalid("name is not utf-8"))
    );
}

#[test]
fn ring_sizes() {
    let rings = |c: ct_fifo_segment::MsgQueueConfig| {
        c.rings
            .iter()
            .map(|r| (r.nitems, r.elsize))
            .collect::<Vec<_>>()
    };
    let defaults: Vec<_> = MSG_Q_RINGS.iter().map(|r| (r.nitems, r.elsize)).collect();
    assert_eq!(rings(msg_q_config(1024)), defaults);
    assert_eq!(rings(msg_q_config(0)), [(16, 64), (16, 256)]);
    assert_eq!(rings(msg_q_config(4096)), [(4096, 64), (2048, 256)]);
    assert_eq!(msg_q_ring_sizes(4096), [(4096, 64), (2048, 256)]);
}

/// Every message through a real queue in a segment: each fits a ring, and
/// what comes out decodes to what went in, in order.
#[test]
fn every_message_through_a_real_queue() {
    use ct_fifo_segment::{FifoSegment, MsgQueue, SegmentFlags};
    let cfg = msg_q_config(64);
    let seg = FifoSegment::create_heap(
        MsgQueue::footprint(&cfg) * 2 + (1 << 16),
        1,
        SegmentFlags::empty(),
    )
    .unwrap();
    let q = MsgQueue::create(&seg, &cfg).unwrap();
    assert!(q.max_msg_size() >= CTRL_MSG_SIZE);
    let mut tx = q.producer().unwrap();
    let mut rx = q.consumer().unwrap();
    let mut buf = vec![0u8; q.max_msg_size()];
    for m in stack_msgs() {
        tx.try_send(&m.encode()).unwrap();
    }
    for m in stack_msgs() {
        let n = rx.try_recv(&mut buf).unwrap().unwrap();
        assert_eq!(StackMsg::decode(&buf[..n]), Ok(m));
    }
    for m in app_msgs() {
        tx.try_send(&m.encode()).unwrap();
        let n = rx.try_recv(&mut buf).unwrap().unwrap();
        assert_eq!(AppMsg::decode(&buf[..n]), Ok(m));
    }
    assert!(rx.try_recv(&mut buf).unwrap().is_none());
}

// ---- proptest ----

fn arb_session() -> impl Strategy<Value = SessionRef> {
    (any::<u64>(), any::<u32>()).prop_map(|(handle, generation)| SessionRef { handle, generation })
}

fn arb_segment() -> impl Strategy<Value = SegmentRef> {
    (any::<u64>(), any::<u32>()).prop_map(|(handle, generation)| SegmentRef { handle, generation })
}

fn arb_fifo() -> impl Strategy<Value = FifoRef> {
    (arb_segment(), any::<u64>()).prop_map(|(segment, offset)| FifoRef { segment, offset })
}

fn arb_ep() -> impl Strategy<Value = WireEndpoint> {
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ];
    (ip, any::<u16>(), any::<u8>()).prop_map(|(ip, port, proto)| WireEndpoint { ip, port, proto })
}

fn arb_app_msg() -> impl Strategy<Value = AppMsg> {
    prop_oneof![
        (any::<u32>(), arb_ep(), any::<u32>()).prop_map(|(opaque, ep, backlog)| AppMsg::Listen {
            opaque,
            ep,
            backlog
        }),
        (any::<u32>(), arb_session())
            .prop_map(|(opaque, listener)| AppMsg::Unlisten { opaque, listener }),
        (any::<u32>(), arb_ep()).prop_map(|(opaque, ep)| AppMsg::Connect { opaque, ep }),
        arb_session().prop_map(AppMsg::Disconnect),
        arb_session().prop_map(AppMsg::Reset),
        (arb_session(), any::<i32>())
            .prop_map(|(session, error)| AppMsg::AcceptReply { session, error }),
        arb_session().prop_map(AppMsg::IoTx),
        arb_session().prop_map(AppMsg::IoRxDequeue),
    ]
}

fn arb_stack_msg() -> impl Strategy<Value = StackMsg> {
    prop_oneof![
        (any::<u32>(), arb_session(), arb_ep(), any::<i32>()).prop_map(
            |(opaque, listener, lcl, error)| StackMsg::Bound {
                opaque,
                listener,
                lcl,
                error
            }
        ),
        (any::<u32>(), arb_session(), any::<i32>()).prop_map(|(opaque, listener, error)| {
            StackMsg::UnlistenReply {
                opaque,
                listener,
                error,
            }
        }),
        (
            arb_session(),
            arb_session(),
            arb_fifo(),
            arb_fifo(),
            arb_ep(),
            arb_ep()
        )
            .prop_map(|(listener, session, rx, tx, rmt, lcl)| StackMsg::Accepted {
                listener,
                session,
                rx,
                tx,
                rmt,
                lcl
            }),
        (
            (any::<u32>(), any::<i32>(), arb_session()),
            arb_fifo(),
            arb_fifo(),
            arb_ep(),
            arb_ep()
        )
            .prop_map(
                |((opaque, error, session), rx, tx, lcl, rmt)| StackMsg::Connected {
                    opaque,
                    error,
                    session,
                    rx,
                    tx,
                    lcl,
                    rmt
                }
            ),
        arb_session().prop_map(StackMsg::Disconnected),
        arb_session().prop_map(StackMsg::Reset),
        arb_session().prop_map(StackMsg::TransportClosed),
        (arb_session(), any::<u8>()).prop_map(|(session, ntf)| StackMsg::Cleanup { session, ntf }),
        arb_session().prop_map(StackMsg::Rx),
        arb_session().prop_map(StackMsg::Tx),
        (arb_segment(), any::<u64>())
            .prop_map(|(segment, size)| StackMsg::AddSegment { segment, size }),
        arb_segment().prop_map(StackMsg::DelSegment),
    ]
}

fn arb_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..40)
        .prop_map(|c| c.into_iter().collect::<String>())
        .prop_filter("fits", |s| s.len() <= SAPI_MAX_NAME)
}

fn arb_reply() -> impl Strategy<Value = WorkerReply> {
    (
        (any::<i32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        arb_segment(),
        any::<u64>(),
        proptest::collection::vec((any::<u64>(), any::<u64>()), 0..=SAPI_MAX_THREADS),
    )
        .prop_map(
            |((error, app_index, app_wrk, wrk_index), mq_segment, mq_segment_size, queues)| {
                WorkerReply {
                    error,
                    app_index,
                    app_wrk,
                    wrk_index,
                    n_threads: queues.len() as u32,
                    mq_segment,
                    mq_segment_size,
                    queues,
                }
            },
        )
}

fn arb_sapi_msg() -> impl Strategy<Value = SapiMsg> {
    prop_oneof![
        (
            arb_name(),
            arb_name(),
            any::<u64>(),
            any::<u8>(),
            (any::<u32>(), any::<u32>()),
            (any::<u64>(), any::<u64>(), any::<u32>())
        )
            .prop_map(
                |(name, namespace_id, namespace_secret, scope, (rx, tx), (seg, add, q))| {
                    SapiMsg::AttachReq(AttachReq {
                        name,
                        namespace_id,
                        namespace_secret,
                        scope,
                        rx_fifo_size: rx,
                        tx_fifo_size: tx,
                        segment_size: seg,
                        add_segment_size: add,
                        evt_q_size: q,
                    })
                }
            ),
        arb_reply().prop_map(SapiMsg::AttachReply),
        Just(SapiMsg::AddWorkerReq),
        arb_reply().prop_map(SapiMsg::AddWorkerReply),
        any::<u32>().prop_map(|wrk_index| SapiMsg::DelWorkerReq { wrk_index }),
        any::<i32>().prop_map(|error| SapiMsg::DelWorkerReply { error }),
        Just(SapiMsg::DetachReq),
        any::<i32>().prop_map(|error| SapiMsg::DetachReply { error }),
        (arb_segment(), any::<u64>())
            .prop_map(|(segment, size)| SapiMsg::SegmentFd { segment, size }),
    ]
}

/// Changes to a valid encoding: overwrite bytes, cut, extend.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Append(Vec<u8>),
}

fn arb_mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            1 => any::<usize>().prop_map(Mutation::Truncate),
            1 => proptest::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
        ],
        1..6,
    )
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        match m {
            Mutation::Set(i, v) if !b.is_empty() => {
                let n = b.len();
                b[i % n] = *v;
            }
            Mutation::Set(..) => {}
            Mutation::Truncate(n) => {
                let keep = n % (b.len() + 1);
                b.truncate(keep);
            }
            Mutation::Append(x) => b.extend_from_slice(x),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn app_msg_round_trips(m in arb_app_msg()) {
        let b = m.encode();
        prop_assert!(b.len() <= CTRL_MSG_SIZE);
        prop_assert_eq!(AppMsg::decode(&b), Ok(m));
    }

    #[test]
    fn stack_msg_round_trips(m in arb_stack_msg()) {
        let b = m.encode();
        prop_assert!(b.len() <= CTRL_MSG_SIZE);
        prop_assert_eq!(StackMsg::decode(&b), Ok(m));
    }

    #[test]
    fn sapi_msg_round_trips(m in arb_sapi_msg()) {
        let b = m.encode().unwrap();
        prop_assert!(b.len() <= SAPI_MAX_RECORD);
        prop_assert_eq!(SapiMsg::decode(&b), Ok(m));
    }

    /// Any bytes: an error or a message whose encoding is those bytes.
    #[test]
    fn decoders_are_total_on_random_bytes(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = AppMsg::decode(&b) {
            prop_assert_eq!(&m.encode()[..], &b[..]);
        }
        if let Ok(m) = StackMsg::decode(&b) {
            prop_assert_eq!(&m.encode()[..], &b[..]);
        }
        if let Ok(m) = SapiMsg::decode(&b) {
            prop_assert_eq!(m.encode().unwrap(), b);
        }
    }

    /// Random bytes behind a valid record header reach the body decoders.
    #[test]
    fn sapi_decoder_total_behind_valid_header(
        kind in 0u16..12,
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut b = Vec::new();
        b.extend_from_slice(&SAPI_MAGIC.to_le_bytes());
        b.extend_from_slice(&SAPI_VERSION.to_le_bytes());
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&(body.len() as u32).to_le_bytes());
        b.extend_from_slice(&body);
        if let Ok(m) = SapiMsg::decode(&b) {
            prop_assert_eq!(m.encode().unwrap(), b);
        }
    }

    #[test]
    fn mutated_app_msgs(m in arb_app_msg(), ms in arb_mutations()) {
        let b = mutate(m.encode().to_vec(), &ms);
        if let Ok(m2) = AppMsg::decode(&b) {
            prop_assert_eq!(&m2.encode()[..], &b[..]);
        }
    }

    #[test]
    fn mutated_stack_msgs(m in arb_stack_msg(), ms in arb_mutations()) {
        let b = mutate(m.encode().to_vec(), &ms);
        if let Ok(m2) = StackMsg::decode(&b) {
            prop_assert_eq!(&m2.encode()[..], &b[..]);
        }
    }

    #[test]
    fn mutated_sapi_msgs(m in arb_sapi_msg(), ms in arb_mutations()) {
        let b = mutate(m.encode().unwrap(), &ms);
        if let Ok(m2) = SapiMsg::decode(&b) {
            prop_assert_eq!(m2.encode().unwrap(), b);
        }
    }
}
