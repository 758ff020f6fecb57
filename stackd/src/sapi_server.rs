//! The app socket API server (VPP's `use-app-socket-api`): one
//! `SOCK_SEQPACKET` listener per app namespace, one thread per connection.
//! A connection is one app: its peer is identified with `SO_PEERCRED`, its
//! records (attach, add/del worker, detach) are answered with replies (fds
//! with `SCM_RIGHTS`), and its hangup detaches it.
//!
//! Threads sleep in `poll` on their socket and the daemon's stop eventfd
//! (signalled once, never drained), so a stop reaches every one of them
//! without timeouts.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ct_app_interface::sapi::{SapiError, SapiListener, SapiSocket};
use ct_app_interface::wire::{SapiMsg, WorkerReply};
use ct_fifo_segment::eventfd::EventFd;
use ct_session::SessionError;
use rustix::event::{PollFd, PollFlags, Timespec};

use crate::app_conn::AppWorkerConn;
use crate::app_state::{AppState, PeerCred};
use crate::config::{AccessRules, NamespaceCfg, SOCKET_MODE};
use crate::counters::SharedCounters;
use crate::error::StackdError;
use crate::ops::{AppOps, DetachReason};

/// How long a reply may wait for room in the app's socket before the app
/// counts as gone.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// What every server thread shares.
pub(crate) struct ServerCtx {
    pub(crate) ops: Arc<AppOps>,
    pub(crate) counters: Arc<SharedCounters>,
    pub(crate) stop: Arc<EventFd>,
    /// Who may attach.
    pub(crate) access: AccessRules,
}

/// What `poll` saw.
enum Ready {
    Socket,
    Stop,
}

/// Waits until `fd` is ready for `events` or the daemon stops (`timeout`:
/// `None` forever; `Ok(None)` when it passed).
fn wait(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    stop: &EventFd,
    timeout: Option<Duration>,
) -> std::io::Result<Option<Ready>> {
    let ts = timeout.and_then(|d| Timespec::try_from(d).ok());
    let mut fds = [PollFd::new(&fd, events), PollFd::new(stop, PollFlags::IN)];
    match rustix::event::poll(&mut fds, ts.as_ref()) {
        Ok(0) => Ok(None),
        Ok(_) if !fds[1].revents().is_empty() => Ok(Some(Ready::Stop)),
        Ok(_) => Ok(Some(Ready::Socket)),
        Err(rustix::io::Errno::INTR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Binds namespace `ns`'s socket (making its directory; a socket file a
/// dead daemon left is replaced), gives it mode [`SOCKET_MODE`] and the
/// configured group, and starts its accept thread.
pub(crate) fn spawn(ns: NamespaceCfg, ctx: Arc<ServerCtx>) -> Result<JoinHandle<()>, StackdError> {
    let sock_err = |path: &Path, what, source| StackdError::Socket {
        path: path.to_owned(),
        what,
        source,
    };
    let dir = ns.socket.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        // `create_dir_all` says only "File exists" for a file where the
        // directory should be.
        if dir.exists() && !dir.is_dir() {
            return Err(StackdError::Config(format!(
                "socket directory {} exists and is not a directory",
                dir.display()
            )));
        }
        return Err(sock_err(dir, "create directory", e));
    }
    // Only a socket may be replaced: a path that names anything else is a
    // mistake in the options, and its file is not ours to delete.
    if let Ok(m) = std::fs::symlink_metadata(&ns.socket) {
        use std::os::unix::fs::FileTypeExt;
        if !m.file_type().is_socket() {
            return Err(StackdError::Config(format!(
                "{} exists and is not a socket",
                ns.socket.display()
            )));
        }
    }
    let io = |e: SapiError| match e {
        SapiError::Io(e) => e,
        e => std::io::Error::other(e),
    };
    let listener =
        SapiListener::bind(&ns.socket).map_err(|e| sock_err(&ns.socket, "bind", io(e)))?;
    listener.set_nonblocking(true)?;
    // The mode the umask left is replaced: who may connect is the owner
    // and the socket's group (ARCHITECTURE.md, "Operating ct-stackd").
    rustix::fs::chmod(&ns.socket, rustix::fs::Mode::from_raw_mode(SOCKET_MODE))
        .map_err(|e| sock_err(&ns.socket, "chmod", e.into()))?;
    if let Some(g) = ctx.access.socket_group {
        rustix::fs::chown(&ns.socket, None, Some(rustix::fs::Gid::from_raw(g)))
            .map_err(|e| sock_err(&ns.socket, "chown to the socket group", e.into()))?;
    }
    let name = format!("stackd-sapi-{}", ns.id);
    Ok(std::thread::Builder::new()
        .name(name)
        .spawn(move || accept_loop(listener, ns, ctx))?)
}

/// How often a failure that persists (an fd limit) is logged again.
const ACCEPT_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Accept failures, logged at most once per
/// [`ACCEPT_FAILURE_LOG_INTERVAL`] with how many came since the last line.
#[derive(Default)]
struct AcceptFailures {
    last_logged: Option<Instant>,
    since: u64,
}

impl AcceptFailures {
    fn record(&mut self, ns: &NamespaceCfg, e: &SapiError) {
        self.since += 1;
        let due = self
            .last_logged
            .is_none_or(|t| t.elapsed() >= ACCEPT_FAILURE_LOG_INTERVAL);
        if due {
            tracing::warn!(ns = %ns.id, socket = %ns.socket.display(), error = %e, failures = self.since, "app socket accept failed (fd limit?)");
            self.last_logged = Some(Instant::now());
            self.since = 0;
        }
    }
}

fn accept_loop(listener: SapiListener, ns: NamespaceCfg, ctx: Arc<ServerCtx>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    let mut failures = AcceptFailures::default();
    loop {
        match wait(listener.as_fd(), PollFlags::IN, &ctx.stop, None) {
            Ok(Some(Ready::Stop)) => break,
            Ok(Some(Ready::Socket)) => {}
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(ns = %ns.id, socket = %ns.socket.display(), error = %e, "app socket poll failed: no more attaches on it");
                break;
            }
        }
        let sock = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.is_would_block() => continue,
            Err(e) => {
                failures.record(&ns, &e);
                // A persistent failure (fd limit) must not spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        conns.retain(|h| !h.is_finished());
        let (ctx2, ns_id) = (ctx.clone(), ns.id.clone());
        match std::thread::Builder::new()
            .name(format!("stackd-app-{}", ns.id))
            .spawn(move || serve(sock, ns_id, ctx2))
        {
            Ok(h) => conns.push(h),
            Err(e) => tracing::error!(ns = %ns.id, error = %e, "app connection thread"),
        }
    }
    // The listener's drop removes the socket file.
    for h in conns {
        let _ = h.join();
    }
}

/// Serves one app until it hangs up, is detached, or the daemon stops.
fn serve(sock: SapiSocket, namespace: String, ctx: Arc<ServerCtx>) {
    let cred = match sock.peer_cred() {
        Ok((pid, uid, gid)) => PeerCred { pid, uid, gid },
        Err(e) => {
            tracing::warn!(error = %e, "peer credentials");
            return;
        }
    };
    if let Err(e) = sock.set_nonblocking(true) {
        tracing::warn!(error = %e, "app socket nonblocking");
        return;
    }
    if !ctx.access.allows(cred.uid, cred.gid) {
        tracing::warn!(ns = %namespace, pid = cred.pid, uid = cred.uid, gid = cred.gid, "app refused: uid and gid not allowed to attach");
        SharedCounters::bump(&ctx.counters.access_refused);
        refuse(&sock, &ctx);
        return;
    }
    let st = Arc::new(AppState::new(sock, cred, namespace));
    tracing::debug!(pid = cred.pid, uid = cred.uid, ns = %st.namespace, "app connected");
    let why = loop {
        match wait(st.socket.as_fd(), PollFlags::IN, &ctx.stop, None) {
            Ok(Some(Ready::Stop)) => break DetachReason::Stop,
            Ok(Some(Ready::Socket)) | Ok(None) => {}
            Err(e) => {
                tracing::warn!(pid = cred.pid, uid = cred.uid, ns = %st.namespace, error = %e, "app socket poll failed");
                break DetachReason::Hangup;
            }
        }
        match st.socket.recv() {
            // Requests carry no fds (`recv` refuses, and closes, any).
            Ok((msg, _no_fds)) => {
                SharedCounters::bump(&ctx.counters.records_in);
                if let Err(e) = handle(&ctx, &st, msg) {
                    tracing::warn!(pid = cred.pid, uid = cred.uid, ns = %st.namespace, error = %e, "app socket: reply not sent, detaching");
                    break DetachReason::Hangup;
                }
            }
            Err(e) if e.is_would_block() => {}
            Err(SapiError::Closed) => break DetachReason::Hangup,
            Err(e) => bad_record(&ctx, &st, &e),
        }
        if st.strikes() >= ctx.ops.max_strikes() {
            break DetachReason::Strikes;
        }
    };
    let _ = ctx.ops.detach(&st, why);
    tracing::debug!(pid = cred.pid, ?why, "app connection closed");
}

/// Answers the first record of a peer the access rules refuse (an attach
/// gets [`SessionError::NotPermitted`]), then the socket closes.
fn refuse(sock: &SapiSocket, ctx: &ServerCtx) {
    let ready = wait(sock.as_fd(), PollFlags::IN, &ctx.stop, Some(REPLY_TIMEOUT));
    if let Ok(Some(Ready::Socket)) = ready
        && let Ok((SapiMsg::AttachReq(_), _)) = sock.recv()
    {
        let code = SessionError::NotPermitted.code();
        let _ = sock.send(&SapiMsg::AttachReply(WorkerReply::failed(code)), &[]);
    }
}

fn bad_record(ctx: &ServerCtx, st: &Arc<AppState>, what: &dyn std::fmt::Display) {
    SharedCounters::bump(&ctx.counters.bad_records);
    ctx.ops.strikes.strike(st, what);
}

/// Answers one record.
fn handle(ctx: &ServerCtx, st: &Arc<AppState>, msg: SapiMsg) -> Result<(), SapiError> {
    match msg {
        SapiMsg::AttachReq(req) => {
            let r = ctx.ops.attach(st, &req);
            let sent = reply_worker(ctx, st, r.as_ref(), SapiMsg::AttachReply);
            if sent.is_err() && r.is_ok() {
                // The app never learnt of its queues: nobody to serve.
                let _ = ctx.ops.detach(st, DetachReason::Hangup);
            }
            sent
        }
        SapiMsg::AddWorkerReq => {
            let r = ctx.ops.add_worker(st);
            reply_worker(ctx, st, r.as_ref(), SapiMsg::AddWorkerReply)
        }
        SapiMsg::DelWorkerReq { wrk_index } => {
            let error = ctx
                .ops
                .del_worker(st, wrk_index)
                .map_or_else(|e| e.code(), |()| 0);
            send(ctx, st, &SapiMsg::DelWorkerReply { error }, &[])
        }
        SapiMsg::DetachReq => {
            let error = ctx
                .ops
                .detach(st, DetachReason::Request)
                .map_or_else(|e| e.code(), |()| 0);
            send(ctx, st, &SapiMsg::DetachReply { error }, &[])
        }
        other => {
            // Stack-to-app records coming from an app.
            bad_record(ctx, st, &format_args!("unexpected record {other:?}"));
            Ok(())
        }
    }
}

fn reply_worker(
    ctx: &ServerCtx,
    st: &AppState,
    r: Result<&Arc<AppWorkerConn>, &StackdError>,
    wrap: fn(WorkerReply) -> SapiMsg,
) -> Result<(), SapiError> {
    match r {
        Ok(conn) => match conn.reply_fds(&ctx.ops.wrk_evtfds) {
            Ok(fds) => send(ctx, st, &wrap(conn.reply()), &fds),
            Err(e) => send(ctx, st, &wrap(WorkerReply::failed(e.code())), &[]),
        },
        Err(e) => {
            tracing::debug!(pid = st.cred.pid, error = %e, "app request refused");
            send(ctx, st, &wrap(WorkerReply::failed(e.code())), &[])
        }
    }
}

/// Sends a reply, waiting (bounded) for room in the socket.
fn send(
    ctx: &ServerCtx,
    st: &AppState,
    msg: &SapiMsg,
    fds: &[BorrowedFd<'_>],
) -> Result<(), SapiError> {
    loop {
        match st.socket.send(msg, fds) {
            Err(e) if e.is_would_block() => {
                match wait(
                    st.socket.as_fd(),
                    PollFlags::OUT,
                    &ctx.stop,
                    Some(REPLY_TIMEOUT),
                ) {
                    Ok(Some(Ready::Socket)) => continue,
                    _ => return Err(SapiError::Closed),
                }
            }
            r => return r,
        }
    }
}
