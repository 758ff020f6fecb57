//! A minimal hand-written app made of app-interface pieces (not app-client):
//! it attaches over the socket, maps the queues and segments it is handed,
//! and speaks the queue messages directly, so tests can also speak them
//! wrong.

#![allow(dead_code)]

use ct_sync::atomic::{AtomicU32, Ordering};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ct_app_interface::io::{IoEvt, IoEvtSink, SessionIo};
use ct_app_interface::sapi::{SapiError, SapiSocket};
use ct_app_interface::wire::{
    AppMsg, AttachReq, CTRL_MSG_SIZE, FifoRef, SapiMsg, SegmentRef, SessionRef, StackMsg,
    WireEndpoint, WorkerReply,
};
use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::{Fifo, FifoSegment, MsgConsumer, MsgProducer, MsgQueue};
use ct_stackd::{Stackd, StackdConfig, StackdCounters};
use hashbrown::HashMap;

/// Collects the events a `SessionIo` owes the worker; the test sends them
/// with [`TestApp::pay`].
#[derive(Default)]
pub struct Owed(pub Vec<IoEvt>);

impl IoEvtSink for Owed {
    type Error = std::convert::Infallible;
    fn io_evt(&mut self, evt: IoEvt) -> Result<(), Self::Error> {
        self.0.push(evt);
        Ok(())
    }
}

/// How long a test waits for anything.
pub const WAIT: Duration = Duration::from_secs(10);

/// A fresh socket path in the temp dir.
pub fn sock_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "stackd-{}-{}-{}.sock",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A daemon with `workers` workers on a fresh socket.
pub fn daemon(workers: u32, tag: &str) -> (Stackd, PathBuf) {
    let path = sock_path(tag);
    let cfg = StackdConfig::new(&path).with_workers(workers);
    (Stackd::start(cfg).unwrap(), path)
}

/// Waits until `f` holds for the daemon's counters.
pub fn wait_counters(
    d: &Stackd,
    what: &str,
    f: impl Fn(&StackdCounters) -> bool,
) -> StackdCounters {
    let c = d.wait_counters(WAIT, &f);
    assert!(f(&c), "timed out waiting for {what}: {c}");
    c
}

/// 127.0.0.1:`port` over TCP (ct serves it between local apps).
pub fn ep(port: u16) -> WireEndpoint {
    WireEndpoint {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
        proto: 0,
    }
}

/// An attach request with defaults and small fifos.
pub fn attach_req(name: &str) -> AttachReq {
    AttachReq {
        name: name.into(),
        rx_fifo_size: 16 << 10,
        tx_fifo_size: 16 << 10,
        segment_size: 2 << 20,
        ..AttachReq::default()
    }
}

/// Sends `msg` and waits for the socket's reply.
pub fn request(sock: &SapiSocket, msg: &SapiMsg) -> (SapiMsg, Vec<std::os::fd::OwnedFd>) {
    sock.send(msg, &[]).unwrap();
    loop {
        match sock.recv() {
            Ok((SapiMsg::SegmentFd { .. }, _)) => continue,
            Ok(r) => return r,
            Err(e) => panic!("reply: {e}"),
        }
    }
}

/// One app worker's queues as the app holds them.
pub struct WorkerQueues {
    pub reply: WorkerReply,
    pub mq: FifoSegment,
    pub evt: Vec<MsgConsumer>,
    pub ctrl: Vec<MsgProducer>,
    pub app_evtfd: EventFd,
    pub wrk_evtfds: Vec<EventFd>,
    /// Sleep this long before each send, so the stack's workers are parked
    /// by then (tests of the wake-up path).
    pub pause_before_send: Option<Duration>,
}

impl WorkerQueues {
    /// Maps what a successful attach or add-worker reply handed over.
    pub fn map(reply: WorkerReply, fds: Vec<std::os::fd::OwnedFd>) -> WorkerQueues {
        assert_eq!(reply.error, 0);
        assert_eq!(fds.len(), 2 + reply.n_threads as usize);
        let mut fds = fds.into_iter();
        let mq = FifoSegment::attach(fds.next().unwrap()).unwrap();
        let app_evtfd = EventFd::from_fd(fds.next().unwrap());
        let wrk_evtfds: Vec<_> = fds.map(EventFd::from_fd).collect();
        let (mut evt, mut ctrl) = (Vec::new(), Vec::new());
        for &(e, c) in &reply.queues {
            evt.push(MsgQueue::attach(&mq, e).unwrap().consumer().unwrap());
            ctrl.push(MsgQueue::attach(&mq, c).unwrap().producer().unwrap());
        }
        WorkerQueues {
            reply,
            mq,
            evt,
            ctrl,
            app_evtfd,
            wrk_evtfds,
            pause_before_send: None,
        }
    }

    /// Puts raw bytes on `ctrl_q[thread]`, waking the worker if it sleeps.
    pub fn send_raw(&mut self, thread: u32, bytes: &[u8]) {
        if let Some(p) = self.pause_before_send {
            std::thread::sleep(p);
        }
        let wake = self.ctrl[thread as usize].try_send(bytes).unwrap();
        if wake {
            self.wrk_evtfds[thread as usize].signal().unwrap();
        }
    }

    /// Puts `msg` on `ctrl_q[thread]`, waiting while the queue is full
    /// (the stack drains it).
    pub fn send_when_room(&mut self, thread: u32, msg: AppMsg) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.ctrl[thread as usize].try_send(&msg.encode()) {
                Ok(wake) => {
                    if wake {
                        self.wrk_evtfds[thread as usize].signal().unwrap();
                    }
                    return;
                }
                Err(ct_fifo_segment::MsgQueueError::Full) => {
                    assert!(Instant::now() < deadline, "control queue stays full");
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Puts `msg` on `ctrl_q[thread]`.
    pub fn send(&mut self, thread: u32, msg: AppMsg) {
        self.send_raw(thread, &msg.encode());
    }

    /// The next event from any thread, sleeping on the app eventfd when
    /// every queue is empty; `None` at `deadline`.
    pub fn recv(&mut self, deadline: Instant) -> Option<(u32, StackMsg)> {
        let mut buf = [0u8; CTRL_MSG_SIZE];
        loop {
            for (t, q) in self.evt.iter_mut().enumerate() {
                if let Some(n) = q.try_recv(&mut buf).unwrap() {
                    return Some((t as u32, StackMsg::decode(&buf[..n]).unwrap()));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let quiet = self.evt.iter().all(|q| q.prepare_sleep().unwrap());
            let mut timed_out = false;
            if quiet {
                timed_out = !self.app_evtfd.wait(Some(deadline - now)).unwrap();
                self.app_evtfd.drain();
            }
            for q in &self.evt {
                q.woke();
            }
            // A message that came while we slept without a signal is a
            // lost wake-up, not a late message.
            if timed_out {
                assert!(
                    self.evt.iter().all(|q| q.is_empty()),
                    "lost wake-up: a message waited while the app slept"
                );
                return None;
            }
        }
    }
}

/// A test app: one socket, its first worker's queues, the segments it
/// mapped.
pub struct TestApp {
    pub sock: SapiSocket,
    pub w: WorkerQueues,
    pub segments: HashMap<SegmentRef, FifoSegment>,
    /// Events set aside by `wait_for`.
    pub backlog: Vec<(u32, StackMsg)>,
}

impl TestApp {
    /// Attaches `req` on `path`; the reply's error on failure.
    pub fn attach_with(path: &Path, req: AttachReq) -> Result<TestApp, i32> {
        let sock = SapiSocket::connect(path).unwrap();
        let (reply, fds) = request(&sock, &SapiMsg::AttachReq(req));
        let SapiMsg::AttachReply(reply) = reply else {
            panic!("not an attach reply: {reply:?}");
        };
        if reply.error != 0 {
            return Err(reply.error);
        }
        Ok(TestApp {
            sock,
            w: WorkerQueues::map(reply, fds),
            segments: HashMap::new(),
            backlog: Vec::new(),
        })
    }

    /// Attaches app `name` in the default namespace.
    pub fn attach(path: &Path, name: &str) -> TestApp {
        Self::attach_with(path, attach_req(name)).unwrap()
    }

    /// Maps a segment: its fd is already waiting on the socket.
    fn map_segment(&mut self, seg: SegmentRef) {
        while !self.segments.contains_key(&seg) {
            match self.sock.recv() {
                Ok((SapiMsg::SegmentFd { segment, .. }, mut fds)) => {
                    let s = FifoSegment::attach(fds.pop().unwrap()).unwrap();
                    self.segments.insert(segment, s);
                }
                Ok(other) => panic!("unexpected record {other:?}"),
                Err(e) => panic!("segment fd for {seg:?}: {e}"),
            }
        }
    }

    /// The next event off the queues (segments mapped as they are
    /// announced, unmapped as they go).
    fn pull(&mut self, deadline: Instant) -> Option<(u32, StackMsg)> {
        let (t, m) = self.w.recv(deadline)?;
        match m {
            StackMsg::AddSegment { segment, .. } => self.map_segment(segment),
            StackMsg::DelSegment(s) => {
                self.segments.remove(&s);
            }
            _ => {}
        }
        Some((t, m))
    }

    /// The next event, set-aside ones first.
    pub fn next(&mut self, deadline: Instant) -> Option<(u32, StackMsg)> {
        if !self.backlog.is_empty() {
            return Some(self.backlog.remove(0));
        }
        self.pull(deadline)
    }

    /// The app's I/O end of a session whose fifos a message named.
    pub fn open(&self, rx: FifoRef, tx: FifoRef) -> SessionIo<Owed> {
        SessionIo::new(&self.fifo(rx), &self.fifo(tx), Owed::default()).unwrap()
    }

    /// Sends the IO events `io` owes the session's worker.
    pub fn pay(&mut self, io: &mut SessionIo<Owed>, s: SessionRef) {
        for e in io.sink_mut().0.drain(..) {
            let m = match e {
                IoEvt::Tx => AppMsg::IoTx(s),
                IoEvt::RxDequeue => AppMsg::IoRxDequeue(s),
            };
            self.w.send_when_room(s.thread(), m);
        }
    }

    /// Waits for the next session to accept and accepts it; returns the
    /// thread it came on, the session and its fifos.
    pub fn accept_next(&mut self) -> (u32, SessionRef, FifoRef, FifoRef) {
        let (t, (ss, rx, tx)) = self.wait_for("accepted", |t, m| match *m {
            StackMsg::Accepted {
                session, rx, tx, ..
            } => Some((t, (session, rx, tx))),
            _ => None,
        });
        self.w.send(
            t,
            AppMsg::AcceptReply {
                session: ss,
                error: 0,
            },
        );
        (t, ss, rx, tx)
    }

    /// Listens on 127.0.0.1:`port` (opaque 1) and waits for the bind.
    pub fn listen(&mut self, port: u16) {
        self.w.send(
            0,
            AppMsg::Listen {
                opaque: 1,
                ep: ep(port),
                backlog: 0,
            },
        );
        self.wait_for("bound", |_, m| {
            matches!(m, StackMsg::Bound { error: 0, .. }).then_some(())
        });
    }

    /// Waits for a connect that succeeded; returns the session and its
    /// fifos.
    pub fn wait_connected(&mut self) -> (SessionRef, FifoRef, FifoRef) {
        self.wait_for("connected", |_, m| match *m {
            StackMsg::Connected {
                error: 0,
                session,
                rx,
                tx,
                ..
            } => Some((session, rx, tx)),
            _ => None,
        })
    }

    /// Waits for the first event `pick` takes; the others are set aside,
    /// in order, for later.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(u32, &StackMsg) -> Option<T>,
    ) -> T {
        if let Some((i, v)) = self
            .backlog
            .iter()
            .enumerate()
            .find_map(|(i, (t, m))| pick(*t, m).map(|v| (i, v)))
        {
            self.backlog.remove(i);
            return v;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let Some((t, m)) = self.pull(deadline) else {
                panic!("timed out waiting for {what}; set aside {:?}", self.backlog);
            };
            if let Some(v) = pick(t, &m) {
                return v;
            }
            self.backlog.push((t, m));
        }
    }

    /// Opens a fifo the stack named.
    pub fn fifo(&self, f: FifoRef) -> Fifo {
        let seg = self
            .segments
            .get(&f.segment)
            .unwrap_or_else(|| panic!("segment {:?} not mapped", f.segment));
        seg.fifo_at(f.offset).unwrap()
    }

    /// Whether the stack closed the socket (the app was detached).
    pub fn socket_closed(&self, deadline: Instant) -> bool {
        self.sock.set_nonblocking(true).unwrap();
        loop {
            match self.sock.recv() {
                Err(SapiError::Closed) => return true,
                Err(e) if e.is_would_block() => {}
                Ok(_) => {}
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
