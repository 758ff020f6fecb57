//! Sink apps (`AppKind::OutOfProcess`): every message reaches the sink on the
//! session's worker, with the app worker's handle; a congested sink hands
//! messages back and gets each again later, none lost, none twice; a
//! congested sink's connects are refused.

mod common;

use ct_sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::collections::HashMap;
use std::sync::Arc;

use common::{assert_nothing_left, env, ep};
use ct_app_worker::{
    AppEvent, AppKind, AppSession, AppSink, AppWorkerHandle, AttachOptions, SessionFifos,
};
use ct_session::{SessionError, Worker};
use ct_sync::Mutex;

/// Records what it is given; hands messages back while `congested`.
#[derive(Default)]
struct TestSink {
    msgs: Mutex<Vec<(u32, AppWorkerHandle, AppEvent)>>,
    congested: AtomicBool,
    handed_back: AtomicUsize,
}

impl AppSink for TestSink {
    fn deliver(
        &self,
        wrk: &mut Worker,
        app_wrk: AppWorkerHandle,
        msg: AppEvent,
    ) -> Result<(), AppEvent> {
        if self.congested.load(Ordering::Relaxed) {
            self.handed_back.fetch_add(1, Ordering::Relaxed);
            return Err(msg);
        }
        if let Some(h) = msg.session() {
            assert_eq!(
                h.thread_index(),
                wrk.thread_index(),
                "on the session's thread"
            );
        }
        self.msgs.lock().push((wrk.thread_index(), app_wrk, msg));
        Ok(())
    }

    fn is_congested(&self, _thread: u32) -> bool {
        self.congested.load(Ordering::Relaxed)
    }
}

impl TestSink {
    fn names(&self) -> Vec<&'static str> {
        self.msgs.lock().iter().map(|(_, _, m)| name(m)).collect()
    }

    fn count(&self, n: &str) -> usize {
        self.names().iter().filter(|x| **x == n).count()
    }

    fn take(&self) -> Vec<AppEvent> {
        self.msgs.lock().drain(..).map(|(_, _, m)| m).collect()
    }
}

fn name(m: &AppEvent) -> &'static str {
    m.name().trim_start_matches("app-")
}

#[test]
fn sink_gets_every_message_and_congestion_loses_nothing() {
    const N: u32 = 6;
    let mut e = env(1);
    let st = &mut e.stack;
    let srv = Arc::new(TestSink::default());
    let cli = Arc::new(TestSink::default());
    let s = st
        .attach(AttachOptions::new(
            "srv",
            AppKind::OutOfProcess(srv.clone()),
        ))
        .unwrap();
    assert!(s.queue.is_none(), "a sink app has no queue of its own");
    // 256 KiB fifos in 1 MiB segments: the connects add segments.
    let mut o = AttachOptions::new("cli", AppKind::OutOfProcess(cli.clone()))
        .with_fifo_sizes(256 << 10, 256 << 10);
    o.add_segment_size = Some(1 << 20);
    let c = st.attach(o).unwrap();
    st.listen(s.app_wrk, ep("0.0.0.0", 4000)).unwrap();

    // A congested sink: connects are refused (VPP app_worker_mq_is_congested).
    cli.congested.store(true, Ordering::Relaxed);
    assert_eq!(
        st.connect(c.app_wrk, ep("10.0.0.1", 4000), 100),
        Err(SessionError::Refused)
    );
    cli.congested.store(false, Ordering::Relaxed);

    for i in 0..N {
        st.connect(c.app_wrk, ep("10.0.0.1", 4000), i).unwrap();
    }
    st.run_until_idle().unwrap();
    let accepted: Vec<SessionFifos> = srv
        .take()
        .into_iter()
        .filter_map(|m| match m {
            AppEvent::Accepted {
                session: fifos,
                listener,
            } => {
                assert!(listener.is_some());
                Some(fifos)
            }
            _ => None,
        })
        .collect();
    assert_eq!(accepted.len(), N as usize);

    // The client's sink is congested while the connects complete: every
    // message is handed back and kept.
    cli.congested.store(true, Ordering::Relaxed);
    for f in &accepted {
        st.accept_reply(s.app_wrk, f.session, Ok(())).unwrap();
    }
    st.run_until_idle().unwrap();
    assert!(cli.handed_back.load(Ordering::Relaxed) > 0);
    assert!(cli.msgs.lock().is_empty());
    let pending = st
        .runtime_mut()
        .workers_mut()
        .unwrap()
        .iter()
        .map(|w| w.app_worker_pending_events(c.app_wrk.index()))
        .sum::<usize>();
    assert!(pending > 0, "kept, not dropped");
    // A retry while still congested changes nothing.
    st.run_until_idle().unwrap();
    assert!(cli.msgs.lock().is_empty());

    // Uncongested: everything arrives once, each added segment (with the
    // segment itself, for its fd) right before the connect that needed it.
    cli.congested.store(false, Ordering::Relaxed);
    st.run_until_idle().unwrap();
    for (_, h, _) in cli.msgs.lock().iter() {
        assert_eq!(*h, c.app_wrk);
    }
    let names = cli.names();
    let msgs = cli.take();
    let mut opaques = Vec::new();
    let mut sessions: HashMap<u32, AppSession> = HashMap::new();
    let mut added = 0;
    for (i, m) in msgs.iter().enumerate() {
        match m {
            AppEvent::Connected { opaque, result } => {
                let f = result.as_ref().unwrap();
                opaques.push(*opaque);
                let io = AppSession::from_fifos(st.main().clone(), f).unwrap();
                sessions.insert(*opaque, io);
            }
            AppEvent::AddSegment { segment, .. } => {
                assert!(segment.is_some(), "the segment travels with the message");
                assert_eq!(names.get(i + 1), Some(&"connected"), "{names:?}");
                added += 1;
            }
            other => panic!("unexpected {}", name(other)),
        }
    }
    opaques.sort_unstable();
    assert_eq!(opaques, (0..N).collect::<Vec<_>>(), "each connect once");
    assert!(added >= 1, "segments were added: {names:?}");

    // Data from the client reaches the server's sink as rx.
    for io in sessions.values_mut() {
        assert_eq!(io.write(b"ping").unwrap(), 4);
    }
    st.run_until_idle().unwrap();
    assert_eq!(srv.count("rx"), N as usize, "{:?}", srv.names());

    // Close everything from the client: the server hears disconnects, the
    // client gets cleanups and del-segments for the emptied segments.
    let handles: Vec<_> = sessions.values().map(|io| io.handle()).collect();
    drop(sessions);
    for h in handles {
        st.disconnect(c.app_wrk, h).unwrap();
    }
    st.run_until_idle().unwrap();
    assert_eq!(srv.count("disconnected"), N as usize, "{:?}", srv.names());
    assert_eq!(cli.count("del-segment"), added, "{:?}", cli.names());
    st.detach(c.app).unwrap();
    st.detach(s.app).unwrap();
    assert_nothing_left(st);
}
