//! An app that writes, closes its session and detaches at once (the TX
//! event and the close still on its control queue when the detach comes):
//! the server still gets the data and the close, and nothing is left in the
//! daemon. Before the fix, a detach that won the race left the TX event
//! unread, ct's cleanup waited for it forever, and the session, its fifos
//! and its ct connection stayed (about 6 rounds in 20).

mod common;

use common::*;
use ct_app_interface::wire::{AppMsg, FifoRef, SapiMsg, SessionRef, StackMsg};

/// One client: connects, writes `data`, sends its TX event, the close and
/// the detach back to back; returns the server's end of the session.
fn client_round(
    path: &std::path::Path,
    server: &mut TestApp,
    round: u32,
    data: &[u8],
) -> (SessionRef, FifoRef, FifoRef) {
    let mut client = TestApp::attach(path, &format!("client-{round}"));
    client.w.send(
        0,
        AppMsg::Connect {
            opaque: round,
            ep: ep(7400),
        },
    );
    let (_, ss, srx, stx) = server.accept_next();
    let (cs, crx, ctx) = client.wait_connected();
    // The segment may be announced on another thread's queue, after the
    // reply.
    if !client.segments.contains_key(&ctx.segment) {
        client.wait_for("the segment", |_, m| {
            matches!(m, StackMsg::AddSegment { segment, .. } if *segment == ctx.segment)
                .then_some(())
        });
    }
    let mut io = client.open(crx, ctx);
    assert_eq!(io.write(data).unwrap(), data.len());
    client.pay(&mut io, cs);
    drop(io);
    client.w.send(cs.thread(), AppMsg::Disconnect(cs));
    match request(&client.sock, &SapiMsg::DetachReq).0 {
        SapiMsg::DetachReply { error } => assert_eq!(error, 0),
        other => panic!("{other:?}"),
    }
    (ss, srx, stx)
}

#[test]
fn close_then_detach_right_after_leaves_nothing() {
    for workers in [1, 2] {
        let (d, path) = daemon(workers, "close-detach");
        let mut server = TestApp::attach(&path, "server");
        server.listen(7400);
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        for round in 0..20 {
            let (ss, srx, stx) = client_round(&path, &mut server, round, &data);
            // The close comes whoever won the race (a close, not a reset:
            // the client left nothing unread).
            let closed = server.wait_for("the client's close", |_, m| match *m {
                StackMsg::Disconnected(s) if s == ss => Some(true),
                StackMsg::Reset(s) if s == ss => Some(false),
                _ => None,
            });
            assert!(closed, "round {round}: reset instead of a close");
            let mut io = server.open(srx, stx);
            let mut buf = vec![0u8; 8192];
            let n = io.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], &data[..], "round {round}");
            server.pay(&mut io, ss);
            drop(io);
            server.w.send(ss.thread(), AppMsg::Disconnect(ss));
            server.backlog.clear();
            // No wait for the cleanup: the next client may reuse this one's
            // app worker index while the server's session still holds the
            // segment (it must still be told of its own segment).
        }
        let c = wait_counters(&d, "every client's session gone", |c| {
            c.apps == 1 && c.ct_connections == 0 && c.fifos == 0
        });
        assert_eq!(c.app_workers, 1, "{c}");
        drop(server);
        d.wait_counters(WAIT, ct_stackd::StackdCounters::is_empty);
        let left = d.stop();
        assert!(
            left.is_empty(),
            "{workers} workers: left after stop: {left}"
        );
    }
}
