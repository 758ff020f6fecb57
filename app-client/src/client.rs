//! [`AppClient`]: an app attached to a running stack (VCL's `vppcom_app_create`
//! plus its worker registration), over the app socket.
//!
//! Attach: connect the namespace's SEQPACKET socket, send `AttachReq`,
//! receive `AttachReply` with its fds (mq segment, `app_evtfd`,
//! `wrk_evtfd[0..n]`), map the mq segment and attach the queues: the
//! consumer of every `evt_q[t]` and the producer of every `ctrl_q[t]`.
//! The app stays attached while any handle (a clone of the client, a
//! listener, a stream) lives; the last one detaches.

use ct_sync::atomic::{AtomicBool, Ordering};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ct_app_interface::SessionError;
use ct_app_interface::sapi::SapiSocket;
use ct_app_interface::wire::{AttachReq, SapiMsg, WorkerReply};
use ct_fifo_segment::FifoSegment;
use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::msg_q::MsgQueue;

use crate::app_worker::{AppWorkerIds, AppWorkerShared};
use crate::config::AttachConfig;
use crate::ctrl::Ctrl;
use crate::error::ClientError;
use crate::events::Events;
use crate::sock::AppShared;

/// How long a request on the app socket waits for its reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Stack threads an attach reply may name, at most.
const MAX_THREADS: u32 = 1024;

/// The largest event-queue element accepted (every message fits 256
/// bytes; a queue claiming more is not the stack's).
const MAX_MSG_SIZE: usize = 64 << 10;

/// A client handle's shared part: its worker, and what to tell the stack
/// when the last handle goes.
#[derive(Debug)]
pub(crate) struct ClientInner {
    pub(crate) wrk: Arc<AppWorkerShared>,
    /// The app's first worker, for an added worker (which keeps the app
    /// attached); `None` on the first worker itself.
    parent: Option<Arc<ClientInner>>,
    /// Detached (or worker deleted) already.
    done: AtomicBool,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        if self.done.swap(true, Ordering::AcqRel) || self.wrk.app.is_closed() {
            return;
        }
        // Best effort: the stack also detaches an app whose socket closes.
        let msg = match self.parent {
            Some(_) => SapiMsg::DelWorkerReq {
                wrk_index: self.wrk.ids.wrk_index,
            },
            None => SapiMsg::DetachReq,
        };
        let _ = self.wrk.app.send(&msg);
        if self.parent.is_none() {
            self.wrk.app.close();
        }
    }
}

/// An app attached to the stack; one of its workers. Cheap to clone (all
/// clones are the same worker); `Send + Sync`.
///
/// Its [`AsFd`] / [`AsRawFd`] is the worker's one fd for event loops (an
/// epoll instance over the worker's eventfd and its socket to the
/// daemon): readable for any event of any session, listener or connect of
/// the worker, after [`AppClient::prepare_sleep`] armed it, and when the
/// daemon goes away (the socket hangs up). Listeners and streams give the
/// same fd. The protocol of an app's own loop: arm with `prepare_sleep`
/// (false: news already waits), wait for the fd, drain with
/// [`AppClient::poll_events`] (an error once the daemon is gone), then
/// look at the sessions (non-blocking).
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
/// use std::os::fd::AsFd;
/// use rustix::event::{PollFd, PollFlags, poll};
/// use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
///
/// # fn main() -> std::io::Result<()> {
/// # let sock = std::env::temp_dir().join(format!("app-client-doc-poll-{}.sock", std::process::id()));
/// # let daemon = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock)).unwrap();
/// let app = AppClient::attach(&sock, AttachConfig::new("poll-loop"))?;
/// let peer = AppClient::attach(&sock, AttachConfig::new("poll-peer"))?;
/// let listener = CtListener::bind(&peer, "127.0.0.1:0".parse().unwrap())?;
/// let mut c = CtStream::connect(&app, listener.local_addr()?)?;
/// c.set_nonblocking(true)?;
/// let (mut s, _) = listener.accept()?;
/// s.write_all(b"news")?;
/// let mut got = Vec::new();
/// while got.len() < 4 {
///     if app.prepare_sleep()? {
///         let mut fds = [PollFd::new(&app, PollFlags::IN)];
///         poll(&mut fds, None)?;
///     }
///     app.poll_events()?;
///     let mut buf = [0u8; 16];
///     match c.read(&mut buf) {
///         Ok(n) => got.extend_from_slice(&buf[..n]),
///         Err(e) if e.kind() == ErrorKind::WouldBlock => {}
///         Err(e) => return Err(e),
///     }
/// }
/// assert_eq!(got, b"news");
/// # drop((c, s, listener, app, peer));
/// # assert!(daemon.stop().is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AppClient {
    pub(crate) inner: Arc<ClientInner>,
}

/// What the client holds and has seen (for tests and monitoring).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCounters {
    /// Sessions this worker holds (accepted or connected, not closed).
    pub sessions: usize,
    /// Listeners this worker holds.
    pub listeners: usize,
    /// Segments the app has mapped.
    pub segments: usize,
    /// Messages received on the event queues.
    pub events: u64,
    /// Messages about sessions or requests no longer held (dropped).
    pub ignored_events: u64,
    /// Messages refused as protocol violations.
    pub protocol_errors: u64,
    /// Socket records refused.
    pub bad_records: u64,
    /// Control messages waiting for room in a full queue.
    pub ctrl_backlog: usize,
    /// Messages waiting in the event queues, not handled yet.
    pub queued_events: usize,
}

fn sapi_io(e: ct_app_interface::sapi::SapiError) -> io::Error {
    ClientError::protocol(format_args!("app socket: {e}")).into_io()
}

impl AppClient {
    /// Attaches to the stack listening on `socket_path`. A name another
    /// app is attached with is `AddrInUse` ([`ClientError::NameInUse`]);
    /// [`AttachConfig::default`] makes a name of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use ct_app_client::{AppClient, AttachConfig};
    /// # let sock = std::env::temp_dir().join(format!("app-client-doc-attach-{}.sock", std::process::id()));
    /// # let daemon = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock)).unwrap();
    ///
    /// // `sock` is the path a running ct-stackd listens on.
    /// let app = AppClient::attach(&sock, AttachConfig::new("doc-attach"))?;
    /// assert_eq!(app.counters().bad_records, 0);
    /// drop(app); // detaches: the daemon frees what the app held
    /// # assert!(daemon.stop().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn attach(socket_path: impl AsRef<Path>, cfg: AttachConfig) -> io::Result<AppClient> {
        let sock = SapiSocket::connect(socket_path.as_ref()).map_err(|e| match e {
            ct_app_interface::sapi::SapiError::Io(e) => e,
            e => sapi_io(e),
        })?;
        Self::attach_socket(sock, cfg)
    }

    /// Attaches over an app socket already connected to the stack (one
    /// end of [`SapiSocket::pair`], or a socket the program inherited).
    pub fn attach_socket(sock: SapiSocket, cfg: AttachConfig) -> io::Result<AppClient> {
        cfg.validate()?;
        if let Some(uid) = cfg.daemon_uid {
            crate::config::check_daemon_uid(&sock, uid)?;
        }
        let name = cfg.name.clone();
        let app = Arc::new(AppShared::new(sock)?);
        let req = SapiMsg::AttachReq(AttachReq {
            name: cfg.name,
            namespace_id: cfg.namespace_id,
            namespace_secret: cfg.namespace_secret,
            scope: cfg.scope,
            rx_fifo_size: cfg.rx_fifo_size,
            tx_fifo_size: cfg.tx_fifo_size,
            segment_size: cfg.segment_size,
            add_segment_size: cfg.add_segment_size,
            evt_q_size: cfg.evt_q_size,
        });
        let (reply, fds) = app.request(
            &req,
            |m| matches!(m, SapiMsg::AttachReply(_)),
            REQUEST_TIMEOUT,
        )?;
        let SapiMsg::AttachReply(reply) = reply else {
            return Err(ClientError::protocol("not an attach reply").into());
        };
        if SessionError::check_code(reply.error) == Err(SessionError::AppAttached) {
            let source = SessionError::AppAttached;
            return Err(ClientError::NameInUse { name, source }.into());
        }
        let wrk = worker_from_reply(app.clone(), &reply, fds).inspect_err(|_| {
            // Attached but unusable: say so, the stack frees what it made.
            let _ = app.send(&SapiMsg::DetachReq);
            app.close();
        })?;
        Ok(AppClient {
            inner: Arc::new(ClientInner {
                wrk: Arc::new(wrk),
                parent: None,
                done: AtomicBool::new(false),
            }),
        })
    }

    /// Adds a worker to the app (VCL's worker registration): a client
    /// with queues of its own, for another thread. The app stays attached
    /// while it lives; dropping it deletes the worker.
    pub fn add_worker(&self) -> io::Result<AppClient> {
        let app = self.inner.wrk.app.clone();
        let (reply, fds) = app.request(
            &SapiMsg::AddWorkerReq,
            |m| matches!(m, SapiMsg::AddWorkerReply(_)),
            REQUEST_TIMEOUT,
        )?;
        let SapiMsg::AddWorkerReply(reply) = reply else {
            return Err(ClientError::protocol("not an add-worker reply").into());
        };
        let wrk_index = reply.wrk_index;
        let wrk = worker_from_reply(app.clone(), &reply, fds).inspect_err(|_| {
            if reply.error == 0 {
                let _ = app.send(&SapiMsg::DelWorkerReq { wrk_index });
            }
        })?;
        let parent = match &self.inner.parent {
            Some(p) => p.clone(),
            None => self.inner.clone(),
        };
        Ok(AppClient {
            inner: Arc::new(ClientInner {
                wrk: Arc::new(wrk),
                parent: Some(parent),
                done: AtomicBool::new(false),
            }),
        })
    }

    /// Detaches the app now and waits for the stack's answer: every
    /// session and listener of the app goes (their handles then fail).
    /// On an added worker, deletes only that worker.
    pub fn detach(self) -> io::Result<()> {
        let inner = &self.inner;
        if inner.done.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let app = &inner.wrk.app;
        let r = match &inner.parent {
            Some(_) => app.request(
                &SapiMsg::DelWorkerReq {
                    wrk_index: inner.wrk.ids.wrk_index,
                },
                |m| matches!(m, SapiMsg::DelWorkerReply { .. }),
                REQUEST_TIMEOUT,
            ),
            None => app.request(
                &SapiMsg::DetachReq,
                |m| matches!(m, SapiMsg::DetachReply { .. }),
                REQUEST_TIMEOUT,
            ),
        };
        if inner.parent.is_none() {
            app.close();
        }
        inner.wrk.wake_all();
        match r? {
            (SapiMsg::DelWorkerReply { error } | SapiMsg::DetachReply { error }, _) => {
                SessionError::check_code(error).map_err(crate::error::to_io)
            }
            _ => Err(ClientError::protocol("not a detach reply").into()),
        }
    }

    /// The app's index at the stack.
    pub fn app_index(&self) -> u32 {
        self.inner.wrk.ids.app_index
    }

    /// This worker's index within the app.
    pub fn worker_index(&self) -> u32 {
        self.inner.wrk.ids.wrk_index
    }

    /// The stack's app-worker index of this worker.
    pub fn app_worker(&self) -> u32 {
        self.inner.wrk.ids.app_wrk
    }

    /// Stack threads (one event queue and one control queue each).
    pub fn n_threads(&self) -> u32 {
        self.inner.wrk.ctrl.n_threads()
    }

    /// Handles what the stack sent (for an app in its own poll loop:
    /// call it when [`AsFd`] is readable). Returns the messages handled;
    /// an error if one of them violated the protocol (the others were
    /// still handled) or the stack is gone.
    pub fn poll_events(&self) -> io::Result<usize> {
        self.inner.wrk.poll().map_err(ClientError::into_io)
    }

    /// Before sleeping on [`AsFd`] in the app's own poll loop: arms every
    /// event queue so the stack signals the fd on its next message. True
    /// when it is safe to sleep; false when news already waits (call
    /// [`AppClient::poll_events`] instead of sleeping).
    pub fn prepare_sleep(&self) -> io::Result<bool> {
        self.inner.wrk.prepare_sleep().map_err(ClientError::into_io)
    }

    /// What the client holds and has seen.
    pub fn counters(&self) -> ClientCounters {
        let w = &self.inner.wrk;
        let ev = w.events();
        let (sessions, listeners) = ev.live();
        ClientCounters {
            sessions,
            listeners,
            segments: w.app.segments().lock().len(),
            events: ev.counters.events,
            ignored_events: ev.counters.ignored,
            protocol_errors: ev.counters.protocol_errors,
            bad_records: w.app.bad_records(),
            ctrl_backlog: w.ctrl.backlog(),
            queued_events: ev.consumers.iter().map(|c| c.len()).sum(),
        }
    }

    /// Whether the app is still attached (the stack has not hung up).
    pub fn is_attached(&self) -> bool {
        !self.inner.wrk.app.is_closed()
    }
}

impl AsFd for AppClient {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.wrk.poll_fd()
    }
}

impl AsRawFd for AppClient {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// The worker an attach or add-worker reply describes, from its fds: the
/// mq segment, `app_evtfd`, then `wrk_evtfd[0..n_threads]`.
fn worker_from_reply(
    app: Arc<AppShared>,
    reply: &WorkerReply,
    fds: Vec<OwnedFd>,
) -> Result<AppWorkerShared, ClientError> {
    SessionError::check_code(reply.error)?;
    let n = reply.n_threads;
    if n == 0 || n > MAX_THREADS || reply.queues.len() != n as usize {
        return Err(ClientError::protocol(format_args!(
            "{n} threads with {} queue pairs",
            reply.queues.len()
        )));
    }
    if fds.len() != 2 + n as usize {
        return Err(ClientError::protocol(format_args!(
            "{} fds for {n} threads",
            fds.len()
        )));
    }
    let mut fds = fds.into_iter();
    let (Some(mq_fd), Some(app_fd)) = (fds.next(), fds.next()) else {
        return Err(ClientError::protocol("attach reply without fds"));
    };
    let mq_segment = FifoSegment::attach(mq_fd)
        .map_err(|e| ClientError::protocol(format_args!("mq segment: {e}")))?;
    if mq_segment.size() as u64 != reply.mq_segment_size {
        return Err(ClientError::protocol("mq segment size differs from its fd"));
    }
    // Our reads of a peer's eventfd must never block.
    let nonblocking = |fd: OwnedFd| {
        rustix::io::ioctl_fionbio(&fd, true)
            .map(|()| EventFd::from_fd(fd))
            .map_err(|e| ClientError::protocol(format_args!("eventfd: {e}")))
    };
    let app_evtfd = nonblocking(app_fd)?;
    let wrk_evtfd = fds.map(nonblocking).collect::<Result<Vec<_>, _>>()?;
    let mq = |off: u64| {
        MsgQueue::attach(&mq_segment, off)
            .map_err(|e| ClientError::protocol(format_args!("queue at {off:#x}: {e}")))
    };
    let mut consumers = Vec::with_capacity(n as usize);
    let mut producers = Vec::with_capacity(n as usize);
    let mut max_msg_size = 0;
    for &(evt_off, ctrl_off) in &reply.queues {
        let role = |e| ClientError::protocol(format_args!("queue role: {e}"));
        let evt_q = mq(evt_off)?;
        if evt_q.max_msg_size() > MAX_MSG_SIZE {
            return Err(ClientError::protocol("event queue elements too large"));
        }
        max_msg_size = max_msg_size.max(evt_q.max_msg_size());
        consumers.push(evt_q.consumer().map_err(role)?);
        producers.push(mq(ctrl_off)?.producer().map_err(role)?);
    }
    AppWorkerShared::new(
        app,
        AppWorkerIds {
            app_index: reply.app_index,
            app_wrk: reply.app_wrk,
            wrk_index: reply.wrk_index,
        },
        mq_segment,
        Ctrl::new(producers, wrk_evtfd),
        Events::new(consumers, max_msg_size),
        app_evtfd,
    )
}
