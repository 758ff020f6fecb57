//! ct picks segments by what the accepting worker's slice can allocate:
//! chunks freed on one worker's slice are no room for another worker.

mod common;

use common::*;
use ct_app_worker::{AppEvent, AppKind, AttachOptions, Scope};
use ct_fifo_segment::FifoSegment;
use ct_session::SessionHandle;
use ct_transport_ct::{CtConfig, FIFO_PAIR_MARGIN};

const FIFO: u32 = 64 << 10;
/// Room for 7 sessions by ct's count (size over pair plus margin), after
/// which less than a pair is left in fresh memory.
const SEGMENT: usize = 7 * (2 * FIFO as usize + FIFO_PAIR_MARGIN);

fn opts(name: &str) -> AttachOptions {
    let mut o = AttachOptions::new(name, AppKind::InProcess)
        .with_scope(Scope::LOCAL)
        .with_fifo_sizes(FIFO, FIFO);
    o.evt_q_size = 1 << 12;
    o.segment_size = SEGMENT;
    o
}

/// Connects `n` times; returns the server sessions that were accepted and
/// the number of connects that failed.
fn connect_n(env: &mut Env, server: &App, client: &App, n: usize) -> (Vec<SessionHandle>, usize) {
    for i in 0..n {
        env.connect(client, 80, i as u32);
    }
    env.idle();
    let mut servers = Vec::new();
    for m in drain(&server.q) {
        if let AppEvent::Accepted { session: fifos, .. } = m {
            env.stack
                .accept_reply(server.wrk, fifos.session, Ok(()))
                .unwrap();
            servers.push(fifos.session);
        }
    }
    env.idle();
    let (mut connected, mut failed) = (0, 0);
    for m in drain(&client.q) {
        match m {
            AppEvent::Connected { result: Ok(_), .. } => connected += 1,
            AppEvent::Connected { result: Err(e), .. } => {
                assert_eq!(e, ct_session::SessionError::Alloc);
                failed += 1;
            }
            _ => {}
        }
    }
    assert_eq!(connected + failed, n);
    assert_eq!(servers.len(), connected);
    (servers, failed)
}

/// Closes server session `ss` and then its client, once the client hears.
fn close(env: &mut Env, server: &App, client: &App, ss: SessionHandle) {
    env.stack.disconnect(server.wrk, ss).unwrap();
    env.idle();
    for m in drain(&client.q) {
        if let AppEvent::Disconnected(cs) = m {
            env.stack.disconnect(client.wrk, cs).unwrap();
        }
    }
    env.idle();
}

/// Two workers share one segment until its fresh memory is gone; then
/// sessions accepted on worker 1 close, so the segment's free chunks are
/// all on slice 1. Counted over the whole segment it has room for several
/// pairs, but worker 2 can allocate none there: its connects must go to a
/// new segment, never fail with `Alloc` (the reference's check, and ours
/// before, counted every slice's free chunks).
#[test]
fn chunks_freed_on_one_worker_are_no_room_for_another() {
    let mut env = Env::with_config(
        2,
        CtConfig {
            min_segment_size: SEGMENT,
            ..Default::default()
        },
    );
    let server = env.attach_opts(opts("server"));
    let client = env.attach_opts(opts("client"));
    env.listen(&server, 80);
    drain(&server.q);

    let (mut servers, failed) = connect_n(&mut env, &server, &client, 1);
    assert_eq!(failed, 0);
    let h = env.ct.segments()[0].segment;
    let fs = env
        .stack
        .segment_managers()
        .get_by_index(h.sm_index())
        .unwrap()
        .segment(h)
        .unwrap();
    // How many sessions ct puts in one segment: each takes a pair, and a
    // segment takes another only with more than a pair and its margin left
    // and fewer pairs than its size over that.
    let pair = 2 * FifoSegment::fifo_footprint(FIFO);
    let margin = 2 * FIFO as usize + FIFO_PAIR_MARGIN;
    let usable = fs.available_bytes() + pair;
    let mut n = 1;
    while usable - n * pair > margin && n < fs.size() / margin {
        n += 1;
    }
    assert!(
        usable - n * pair < pair,
        "a pair still fits in fresh memory"
    );

    let (more_servers, failed) = connect_n(&mut env, &server, &client, n - 1);
    servers.extend(more_servers);
    assert_eq!(failed, 0);
    assert_eq!(env.ct.segments().len(), 1, "all in one segment");
    let on_1: Vec<_> = servers
        .iter()
        .copied()
        .filter(|s| s.thread_index() == 1)
        .collect();
    assert!(on_1.len() >= 2 && servers.len() - on_1.len() >= 2);
    for &ss in &on_1[..2] {
        close(&mut env, &server, &client, ss);
    }
    let segs = env.ct.segments();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].server_n_sessions as usize, n - 2);
    // Room in the segment, none for worker 2.
    assert!(fs.available_bytes() > margin);
    assert!(!fs.can_alloc_fifos_w_slice(2, &[FIFO, FIFO]));

    // Worker 1 may reuse its slice's chunks; worker 2 needs a new segment.
    let more = 4;
    let (new, failed) = connect_n(&mut env, &server, &client, more);
    assert_eq!(failed, 0, "connects failed with Alloc");
    let segs = env.ct.segments();
    assert_eq!(segs.len(), 2, "{segs:?}");
    let total: u32 = segs.iter().map(|s| s.server_n_sessions).sum();
    assert_eq!(total as usize, n - 2 + more);

    for ss in on_1[2..]
        .iter()
        .chain(servers.iter().filter(|s| s.thread_index() != 1))
        .chain(&new)
    {
        close(&mut env, &server, &client, *ss);
    }
    env.assert_clean();
}
