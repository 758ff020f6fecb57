//! A fake stack for app-client's tests: the stack's side of one app
//! worker made of the real pieces (a memfd mq segment with `evt_q[t]` /
//! `ctrl_q[t]`, eventfds, the app socket), played by the test thread.
//! It answers what the test tells it to and sends what the test writes,
//! including what a real stack never would.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use ct_app_client::{AppClient, AttachConfig};
use ct_app_interface::sapi::SapiSocket;
use ct_app_interface::wire::{
    AppMsg, FifoRef, SapiMsg, SegmentRef, SessionRef, StackMsg, WireEndpoint, WorkerReply,
    msg_q_config,
};
use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::msg_q::{MsgConsumer, MsgProducer, MsgQueue, MsgQueueConfig, RingConfig};
use ct_fifo_segment::{Consumer, Fifo, FifoSegment, Producer, SegmentFlags};

/// How long the fake stack waits for the app.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// One stack thread's pair of queues, and their offsets.
pub struct StackQueues {
    pub evt: MsgProducer,
    pub ctrl: MsgConsumer,
    pub evt_off: u64,
    pub ctrl_off: u64,
}

/// The stack's side of one app worker.
pub struct FakeStack {
    /// The stack's end of the app socket.
    pub sock: SapiSocket,
    pub mq: FifoSegment,
    pub queues: Vec<StackQueues>,
    pub app_evtfd: EventFd,
    pub wrk_evtfd: Vec<EventFd>,
    /// Signals the app's eventfd when `try_send` asks (false: never, to
    /// test that nothing depends on a wake-up it did not ask for).
    pub signal: bool,
}

/// Queue rings: IO events, control messages, `items` slots each (small
/// to test a full queue).
pub fn queue_config(items: u32) -> MsgQueueConfig {
    MsgQueueConfig {
        rings: vec![
            RingConfig {
                nitems: items,
                elsize: 64,
            },
            RingConfig {
                nitems: items,
                elsize: 256,
            },
        ],
    }
}

impl FakeStack {
    /// A stack with `n_threads` threads and the app's end of the socket.
    pub fn new(n_threads: u32) -> (FakeStack, SapiSocket) {
        Self::with_ctrl_items(n_threads, 256)
    }

    /// Same, with `ctrl_items` slots per ring in `ctrl_q`.
    pub fn with_ctrl_items(n_threads: u32, ctrl_items: u32) -> (FakeStack, SapiSocket) {
        let (stack_end, app_end) = SapiSocket::pair().unwrap();
        let evt_cfg = msg_q_config(256);
        let ctrl_cfg = queue_config(ctrl_items);
        let size = 4096
            + n_threads as usize
                * (MsgQueue::footprint(&evt_cfg) + MsgQueue::footprint(&ctrl_cfg) + 256);
        let mq = FifoSegment::create("fake-mq", size, 1, SegmentFlags::empty()).unwrap();
        let queues = (0..n_threads)
            .map(|_| {
                let e = MsgQueue::create(&mq, &evt_cfg).unwrap();
                let c = MsgQueue::create(&mq, &ctrl_cfg).unwrap();
                StackQueues {
                    evt: e.producer().unwrap(),
                    ctrl: c.consumer().unwrap(),
                    evt_off: e.offset(),
                    ctrl_off: c.offset(),
                }
            })
            .collect();
        let stack = FakeStack {
            sock: stack_end,
            mq,
            queues,
            app_evtfd: EventFd::new().unwrap(),
            wrk_evtfd: (0..n_threads).map(|_| EventFd::new().unwrap()).collect(),
            signal: true,
        };
        (stack, app_end)
    }

    /// A fake stack and an app attached to it.
    pub fn attach(n_threads: u32) -> (FakeStack, AppClient) {
        let (mut stack, app_end) = Self::new(n_threads);
        let client =
            stack.serve(move || AppClient::attach_socket(app_end, AttachConfig::new("test-app")));
        (stack, client.unwrap())
    }

    /// The attach reply for this worker.
    pub fn reply(&self) -> WorkerReply {
        WorkerReply {
            error: 0,
            app_index: 3,
            app_wrk: 4,
            wrk_index: 0,
            n_threads: self.queues.len() as u32,
            mq_segment: SegmentRef {
                handle: 0xabc,
                generation: 1,
            },
            mq_segment_size: self.mq.size() as u64,
            queues: self
                .queues
                .iter()
                .map(|q| (q.evt_off, q.ctrl_off))
                .collect(),
        }
    }

    /// The fds an attach reply carries, in order.
    pub fn reply_fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = vec![self.mq.fd().unwrap(), self.app_evtfd.as_fd()];
        fds.extend(self.wrk_evtfd.iter().map(|e| e.as_fd()));
        fds
    }

    /// Receives the attach request and answers it.
    pub fn answer_attach(&mut self) -> SapiMsg {
        let (req, fds) = self.recv_record();
        assert!(fds.is_empty());
        assert!(matches!(req, SapiMsg::AttachReq(_)), "{req:?}");
        let reply = SapiMsg::AttachReply(self.reply());
        self.sock.send(&reply, &self.reply_fds()).unwrap();
        req
    }

    /// Runs `app` on another thread while this thread answers the
    /// attach.
    pub fn serve<T: Send>(&mut self, app: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            let h = s.spawn(app);
            self.answer_attach();
            h.join().unwrap()
        })
    }

    /// The next socket record, waiting up to [`TIMEOUT`].
    pub fn recv_record(&self) -> (SapiMsg, Vec<std::os::fd::OwnedFd>) {
        let deadline = Instant::now() + TIMEOUT;
        self.sock.set_nonblocking(true).unwrap();
        loop {
            match self.sock.recv() {
                Ok(r) => return r,
                Err(e) if e.is_would_block() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("fake stack: socket: {e}"),
            }
        }
    }

    /// Puts `msg` on `evt_q[t]`, signalling the app if it sleeps.
    pub fn send(&mut self, t: u32, msg: &StackMsg) {
        self.send_raw(t, msg.encode().as_bytes());
    }

    /// Puts raw bytes on `evt_q[t]`.
    pub fn send_raw(&mut self, t: u32, bytes: &[u8]) {
        let wake = self.queues[t as usize].evt.try_send(bytes).unwrap();
        if wake && self.signal {
            self.app_evtfd.signal().unwrap();
        }
    }

    /// The next message on `ctrl_q[t]`, waiting up to [`TIMEOUT`].
    pub fn recv(&mut self, t: u32) -> AppMsg {
        self.try_recv_for(t, TIMEOUT)
            .unwrap_or_else(|| panic!("fake stack: nothing on ctrl_q[{t}]"))
    }

    /// The next message on `ctrl_q[t]` within `d`.
    pub fn try_recv_for(&mut self, t: u32, d: Duration) -> Option<AppMsg> {
        let deadline = Instant::now() + d;
        let mut buf = [0u8; 256];
        loop {
            if let Some(n) = self.queues[t as usize].ctrl.try_recv(&mut buf).unwrap() {
                return Some(AppMsg::decode(&buf[..n]).unwrap());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Sends `seg`'s fd as `r`, then `AddSegment` on `evt_q[t]` (the
    /// stack's order).
    pub fn add_segment(&mut self, t: u32, r: SegmentRef, seg: &FifoSegment) {
        let size = seg.size() as u64;
        self.sock
            .send(
                &SapiMsg::SegmentFd { segment: r, size },
                &[seg.fd().unwrap()],
            )
            .unwrap();
        self.send(t, &StackMsg::AddSegment { segment: r, size });
    }
}

/// A ct segment of the fake stack, and its reference.
pub struct CtSeg {
    pub seg: FifoSegment,
    pub r: SegmentRef,
}

impl CtSeg {
    pub fn new(handle: u64) -> CtSeg {
        CtSeg {
            seg: FifoSegment::create("fake-ct", 1 << 20, 1, SegmentFlags::empty()).unwrap(),
            r: SegmentRef {
                handle,
                generation: 1,
            },
        }
    }

    /// A fifo for a session, and its reference.
    pub fn fifo(&self, size: u32) -> (Fifo, FifoRef) {
        let f = self.seg.alloc_fifo_w_slice(0, size).unwrap();
        let r = FifoRef {
            segment: self.r,
            offset: f.offset(),
        };
        (f, r)
    }
}

/// The peer's end of a session the fake stack opened: it produces the
/// app's rx fifo and consumes its tx fifo.
pub struct Peer {
    pub to_app: Producer,
    pub from_app: Consumer,
    pub rx: FifoRef,
    pub tx: FifoRef,
}

impl Peer {
    pub fn new(seg: &CtSeg, size: u32) -> Peer {
        let (rx, rx_ref) = seg.fifo(size);
        let (tx, tx_ref) = seg.fifo(size);
        Peer {
            to_app: rx.producer().unwrap(),
            from_app: tx.consumer().unwrap(),
            rx: rx_ref,
            tx: tx_ref,
        }
    }

    /// Reads what the app wrote, waiting up to [`TIMEOUT`] for `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        let mut got = 0;
        let deadline = Instant::now() + TIMEOUT;
        while got < n {
            got += self.from_app.dequeue(&mut out[got..]).unwrap();
            assert!(Instant::now() < deadline, "peer: only {got} of {n} bytes");
        }
        out
    }
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn ep(s: &str) -> WireEndpoint {
    WireEndpoint::from(addr(s))
}

/// Listens through the app and answers with listener `l`.
pub fn bind(
    stack: &mut FakeStack,
    client: &AppClient,
    at: &str,
    l: SessionRef,
) -> ct_app_client::CtListener {
    std::thread::scope(|s| {
        let h = s.spawn(|| ct_app_client::CtListener::bind(client, addr(at)));
        let AppMsg::Listen {
            opaque, ep: got, ..
        } = stack.recv(0)
        else {
            panic!("not a listen")
        };
        assert_eq!(got, ep(at));
        stack.send(
            0,
            &StackMsg::Bound {
                opaque,
                listener: l,
                lcl: got,
                error: 0,
            },
        );
        h.join().unwrap().unwrap()
    })
}

/// Sends an `Accepted` for session `s` on listener `l` with `peer`'s fifos.
pub fn accepted(
    stack: &mut FakeStack,
    l: SessionRef,
    s: SessionRef,
    peer: &Peer,
    rmt: &str,
    lcl: &str,
) {
    stack.send(
        s.thread(),
        &StackMsg::Accepted {
            listener: l,
            session: s,
            rx: peer.rx,
            tx: peer.tx,
            rmt: ep(rmt),
            lcl: ep(lcl),
        },
    );
}
