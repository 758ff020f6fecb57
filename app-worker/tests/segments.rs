//! Segment notifications: segments a manager adds for more fifos reach the
//! app as add-segment events before the sessions that use them; emptied
//! extra segments go with a del-segment event.

mod common;

use common::{Recorder, assert_nothing_left, env, ep};
use ct_app_worker::{AppKind, AttachOptions};

#[test]
fn added_and_deleted_segments_are_announced() {
    let mut e = env(0);
    let st = &mut e.stack;
    let srv = Recorder::new();
    let cli = Recorder::new();
    let s = st
        .attach(AttachOptions::new("srv", AppKind::Builtin(srv.clone())))
        .unwrap();
    // 256 KiB fifos: a 1 MiB segment holds about two pairs;
    // more connects need more segments, which the client may add.
    let mut o = AttachOptions::new("cli", AppKind::Builtin(cli.clone()))
        .with_fifo_sizes(256 << 10, 256 << 10);
    o.add_segment_size = Some(1 << 20);
    let c = st.attach(o).unwrap();
    st.listen(s.app_wrk, ep("0.0.0.0", 3000)).unwrap();
    for i in 0..6 {
        st.connect(c.app_wrk, ep("10.0.0.9", 3000), i).unwrap();
    }
    st.run_until_idle().unwrap();
    let ok = cli
        .connected
        .lock()
        .iter()
        .filter(|(_, r)| r.is_ok())
        .count();
    assert_eq!(ok, 6);
    let sm = st
        .apps()
        .app_worker(c.app_wrk)
        .unwrap()
        .connect_segment_manager()
        .clone();
    let n_segs = sm.num_segments();
    assert!(n_segs >= 2, "segments added: {n_segs}");
    // Every added segment was announced (the first came with the attach).
    assert_eq!(cli.segments.lock().len(), n_segs - 1);
    let names = cli.names();
    // Each segment was added while allocating a session's fifos: the app
    // hears of it right before that session's connected event.
    for (i, n) in names.iter().enumerate() {
        if n == "add-segment" {
            assert_eq!(
                names.get(i + 1).map(String::as_str),
                Some("connected"),
                "{names:?}"
            );
        }
    }
    // Close all: emptied extra segments are deleted and announced.
    let sessions: Vec<_> = cli
        .connected
        .lock()
        .iter()
        .map(|(_, r)| r.unwrap())
        .collect();
    for h in sessions {
        st.disconnect(c.app_wrk, h).unwrap();
    }
    st.run_until_idle().unwrap();
    assert_eq!(sm.num_fifos(), 0);
    assert_eq!(cli.count("del-segment"), n_segs - 1, "{:?}", cli.names());
    assert_eq!(sm.num_segments(), 1, "the protected first segment stays");
    st.detach(c.app).unwrap();
    st.detach(s.app).unwrap();
    assert_nothing_left(st);
}
