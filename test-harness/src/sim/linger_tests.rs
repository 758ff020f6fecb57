//! The simulator exercises ct's segment linger: a fixed schedule where a
//! segment lingers after its last session, is revived by the next connect
//! between the same two apps, and goes once the clock passed the linger;
//! and the settle checks see a segment kept past it.

use std::time::Duration;

use crate::sim::{Op, World, run_schedule};

const LINGER: Duration = Duration::from_millis(5);

/// Two apps with one established session; app1 is the client.
pub(crate) const ESTABLISH: [Op; 7] = [
    Op::Attach { slot: 0 },
    Op::Attach { slot: 1 },
    Op::Listen { slot: 0, port: 0 },
    Op::Connect { slot: 1, port: 0 },
    Op::Settle,
    Op::AcceptReply { pick: 0, ok: true },
    Op::Settle,
];

/// The client closes (the server app hears and closes too): the session
/// and its segment's last counts go.
const CLOSE_BOTH: [Op; 2] = [Op::Close { pick: 1 }, Op::Settle];

/// Applies `ops` with the checks `run_schedule` makes after each.
fn run(w: &mut World, ops: &[Op]) {
    for op in ops {
        w.apply(*op).unwrap_or_else(|e| panic!("{op}: {e}"));
        w.check_always().unwrap_or_else(|e| panic!("{op}: {e}"));
        if *op == Op::Settle {
            w.check_settled().unwrap_or_else(|e| panic!("{op}: {e}"));
        }
    }
}

/// The one ct segment: its handle and its (client, server) counts.
fn only_segment(w: &World) -> (ct_session::SegmentHandle, (u32, u32)) {
    let segs = w.ct.segments();
    assert_eq!(segs.len(), 1, "{segs:?}");
    let s = &segs[0];
    (s.segment, (s.client_n_sessions, s.server_n_sessions))
}

#[test]
fn a_segment_lingers_is_revived_and_goes_once_the_clock_passed_the_linger() {
    let mut w = World::new(1, LINGER).unwrap();
    run(&mut w, &ESTABLISH);
    let (seg, counts) = only_segment(&w);
    assert_eq!(counts, (1, 1));

    run(&mut w, &CLOSE_BOTH);
    assert!(w.ends.is_empty());
    assert_eq!(only_segment(&w), (seg, (0, 0)), "lingers, empty");
    assert_eq!(w.ct.n_lingering_segments(), 1);
    run(&mut w, &[Op::Advance { us: 1_000 }, Op::Settle]);
    assert_eq!(only_segment(&w), (seg, (0, 0)), "short of the linger");

    // The next connect between the same apps takes the same segment.
    run(&mut w, &ESTABLISH[3..]);
    assert_eq!(only_segment(&w), (seg, (1, 1)), "revived");
    assert_eq!(
        (w.counters.linger.lingered, w.counters.linger.revived),
        (1, 1)
    );

    run(&mut w, &CLOSE_BOTH);
    run(&mut w, &[Op::Advance { us: 4_000 }, Op::Settle]);
    assert_eq!(
        only_segment(&w),
        (seg, (0, 0)),
        "lingers anew from its close"
    );
    run(&mut w, &[Op::Advance { us: 1_000 }, Op::Settle]);
    assert!(w.ct.segments().is_empty(), "{:?}", w.ct.segments());
    assert_eq!(w.ct.n_lingering_segments(), 0);
    assert_eq!(w.counters.linger.lingered, 2);
    assert_eq!(w.counters.linger.removed, 1);
    w.check_nothing_lingers().unwrap();

    // The whole schedule passes the end checks too, linger or not.
    let ops: Vec<Op> = [&ESTABLISH[..], &CLOSE_BOTH, &ESTABLISH[3..], &CLOSE_BOTH].concat();
    for linger in [LINGER, Duration::ZERO] {
        let c = run_schedule(1, linger, &ops).unwrap_or_else(|(i, e)| panic!("step {i}: {e}"));
        assert_eq!(c.linger.lingered, if linger.is_zero() { 0 } else { 2 });
    }
}

#[test]
fn the_checks_see_a_segment_kept_past_its_linger() {
    let mut w = World::new(0, LINGER).unwrap();
    run(&mut w, &ESTABLISH);
    run(&mut w, &CLOSE_BOTH);
    // Time passes but no worker looks: as if the reap never ran.
    w.stack.runtime_mut().advance_clock(LINGER);
    let e = w.check_settled().unwrap_err();
    assert!(e.contains("kept past its linger"), "{e}");
    let e = w.check_nothing_lingers().unwrap_err();
    assert!(e.contains("kept past its linger"), "{e}");
    // Once the workers ran, it went.
    w.settle().unwrap();
    w.check_nothing_lingers().unwrap();
}
