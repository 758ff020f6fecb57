//! [`CtListener`]: a listen session, `std::net::TcpListener`-shaped.
//!
//! `bind` sends `Listen` (with the listen backlog) on `ctrl_q[0]` and
//! waits for `Bound`. The stack accepts sessions on it by itself, as a
//! kernel queues connections on a listening socket, so a peer's connect
//! completes without this app's thread; they wait here for `accept()`,
//! which answers each (`AcceptReply`) to free its backlog slot. Dropping
//! the listener unlistens and resets what was never accepted, as closing
//! a listening TCP socket does.

use ct_sync::atomic::{AtomicBool, Ordering};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_interface::SessionError;
use ct_app_interface::io::SpinSpell;
use ct_app_interface::wire::{AppMsg, SessionRef, WireEndpoint};

use crate::client::{AppClient, ClientInner};
use crate::error::ClientError;
use crate::events::status;
use crate::stream::CtStream;

/// The listen backlog [`CtListener::bind`] gets (the stack's default:
/// Linux's `SOMAXCONN` of old, what `std::net::TcpListener::bind` asks
/// for).
pub const DEFAULT_BACKLOG: u32 = 128;

/// How long `bind` waits for the stack's answer.
const BIND_TIMEOUT: Duration = Duration::from_secs(10);

/// The stack's protocol number ct sessions ask for (TCP; the local scope
/// makes them cut-through).
const PROTO_TCP: u8 = 0;

/// The wire endpoint of `addr`.
pub(crate) fn endpoint(addr: SocketAddr) -> WireEndpoint {
    WireEndpoint {
        proto: PROTO_TCP,
        ..WireEndpoint::from(addr)
    }
}

/// A listener of this app.
pub struct CtListener {
    client: Arc<ClientInner>,
    lref: SessionRef,
    lcl: SocketAddr,
    nonblocking: AtomicBool,
    /// How long a blocking `accept` spins on the event queues before it
    /// sleeps.
    spell: SpinSpell,
}

impl std::fmt::Debug for CtListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtListener")
            .field("listener", &self.lref)
            .field("lcl", &self.lcl)
            .finish()
    }
}

impl CtListener {
    /// Listens on `addr` with the default listen backlog
    /// ([`DEFAULT_BACKLOG`]; see [`CtListener::bind_with_backlog`]).
    /// `AddrInUse` when something listens there already. Port 0 picks a
    /// free port (from 32768..=60999, as Linux's default range);
    /// [`CtListener::local_addr`] shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use ct_app_client::{AppClient, AttachConfig, CtListener};
    /// # let sock = std::env::temp_dir().join(format!("app-client-doc-bind-{}.sock", std::process::id()));
    /// # let daemon = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock)).unwrap();
    ///
    /// let app = AppClient::attach(&sock, AttachConfig::new("doc-bind"))?;
    /// let addr = "127.0.0.1:7101".parse().unwrap();
    /// let listener = CtListener::bind(&app, addr)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// // One listener per address in a namespace.
    /// let again = CtListener::bind(&app, addr).unwrap_err();
    /// assert_eq!(again.kind(), ErrorKind::AddrInUse);
    /// # drop((listener, app));
    /// # assert!(daemon.stop().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(client: &AppClient, addr: SocketAddr) -> io::Result<CtListener> {
        Self::listen(client, addr, 0)
    }

    /// Listens on `addr` with a listen backlog of `backlog` sessions (as
    /// `listen(2)`'s, or tokio's `TcpSocket::listen`): the stack accepts
    /// up to `backlog` sessions the app has not taken with
    /// [`accept`](CtListener::accept) yet, and refuses connects beyond
    /// them (`ConnectionRefused` at the peer). [`bind`](CtListener::bind)
    /// uses the stack's default, [`DEFAULT_BACKLOG`]. 0 is taken as 1 (one
    /// session may always wait, as on Linux); the stack bounds large
    /// values (ct-stackd at 4096).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
    /// # let sock = std::env::temp_dir().join(format!("app-client-doc-backlog-{}.sock", std::process::id()));
    /// # let daemon = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock)).unwrap();
    ///
    /// let server = AppClient::attach(&sock, AttachConfig::new("doc-backlog-server"))?;
    /// let client = AppClient::attach(&sock, AttachConfig::new("doc-backlog-client"))?;
    /// let addr = "127.0.0.1:7102".parse().unwrap();
    /// let listener = CtListener::bind_with_backlog(&server, addr, 1)?;
    /// // One connect completes before the server accepts; the next is refused.
    /// let first = CtStream::connect(&client, addr)?;
    /// let refused = CtStream::connect(&client, addr).unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    /// // Accepting frees the slot (a later connect completes).
    /// let (_s, _) = listener.accept()?;
    /// # drop((first, _s, listener, server, client));
    /// # assert!(daemon.stop().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_with_backlog(
        client: &AppClient,
        addr: SocketAddr,
        backlog: u32,
    ) -> io::Result<CtListener> {
        Self::listen(client, addr, backlog.max(1))
    }

    /// `Listen` with `backlog` on the wire (0: the stack's default).
    fn listen(client: &AppClient, addr: SocketAddr, backlog: u32) -> io::Result<CtListener> {
        let inner = &client.inner;
        let wrk = &inner.wrk;
        wrk.check()?;
        let opaque = wrk.events().start_bind();
        let ep = endpoint(addr);
        if let Err(e) = wrk.ctrl.send(
            0,
            &AppMsg::Listen {
                opaque,
                ep,
                backlog,
            },
        ) {
            wrk.events().cancel_bind(opaque);
            return Err(e.into());
        }
        let deadline = Instant::now() + BIND_TIMEOUT;
        loop {
            let seen = wrk.seq();
            if let Some(r) = wrk.events().take_bind(opaque) {
                let (lref, lcl) = r.map_err(crate::error::to_io)?;
                return Ok(CtListener {
                    client: inner.clone(),
                    lref,
                    lcl: lcl.socket_addr(),
                    nonblocking: AtomicBool::new(false),
                    spell: SpinSpell::new(),
                });
            }
            if Instant::now() >= deadline {
                wrk.events().cancel_bind(opaque);
                return Err(ClientError::Session(SessionError::TimedOut).into());
            }
            if let Err(e) = wrk.wait(seen, Some(deadline)) {
                wrk.events().cancel_bind(opaque);
                return Err(e.into());
            }
        }
    }

    /// The address bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.lcl)
    }

    /// Non-blocking mode: `accept` returns `WouldBlock` when nothing waits.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// The next accepted session and its peer's address (the client's
    /// local address and port, which its `local_addr` shows). A session the
    /// stack described wrongly (a segment never sent, a fifo outside its
    /// segment) is an `InvalidData` error here, and was refused.
    pub fn accept(&self) -> io::Result<(CtStream, SocketAddr)> {
        let wrk = &self.client.wrk;
        let mut polled = false;
        loop {
            let seen = wrk.seq();
            if let Some(r) = self.take(None)? {
                return Ok(r);
            }
            wrk.check()?;
            if self.nonblocking.load(Ordering::Relaxed) {
                wrk.poll_once(&mut polled)?;
                continue;
            }
            // An accept needs an event: the wait spins draining the queues.
            wrk.wait_or(seen, None, &self.spell, || false)?;
        }
    }

    /// The next session of the backlog, if one waits; with none, `waker`
    /// (an async accept's) is registered under the lock the filer pushes
    /// under, so the next one wakes it.
    fn take(&self, waker: Option<&std::task::Waker>) -> io::Result<Option<(CtStream, SocketAddr)>> {
        let wrk = &self.client.wrk;
        let next = {
            let mut ev = wrk.events();
            match ev.listener(self.lref) {
                Some(slot) => {
                    let next = slot.backlog.pop_front();
                    if let (None, Some(w)) = (&next, waker) {
                        slot.waker = Some(w.clone());
                    }
                    next
                }
                None => return Err(ClientError::Session(SessionError::NoListen).into()),
            }
        };
        match next {
            Some(Ok(s)) => {
                // The app takes it: its backlog slot frees (a session
                // the stack cleaned up meanwhile holds none).
                let sref = s.status.sref;
                let reply = AppMsg::AcceptReply {
                    session: sref,
                    error: 0,
                };
                let sent = if s.status.flags() & status::CLEANED == 0 {
                    wrk.ctrl.send(sref.thread(), &reply)
                } else {
                    Ok(())
                };
                let stream = CtStream::new(self.client.clone(), s);
                sent?;
                let rmt = stream.peer_addr()?;
                Ok(Some((stream, rmt)))
            }
            Some(Err(e)) => Err(e.into()),
            None => Ok(None),
        }
    }

    /// An async accept (the `tokio` feature): the next session, or
    /// `Pending` with the task registered for the next `Accepted`.
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_accept(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<(CtStream, SocketAddr)>> {
        use std::task::Poll;
        let wrk = &self.client.wrk;
        let mut drained = false;
        let mut registered = false;
        loop {
            match self.take(registered.then_some(cx.waker())) {
                Ok(Some(r)) => return Poll::Ready(Ok(r)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // After the registration too: a worker that broke meanwhile
            // woke everybody before we were there.
            if let Err(e) = wrk.check() {
                return Poll::Ready(Err(e.into()));
            }
            if registered {
                return Poll::Pending;
            }
            if wrk.poll_once(&mut drained).is_ok() {
                continue;
            }
            crate::tokio::driver::ensure(wrk);
            registered = true;
        }
    }

    /// An endless iterator over [`CtListener::accept`]'s streams.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<CtStream>> + '_ {
        std::iter::repeat_with(|| self.accept().map(|(s, _)| s))
    }
}

/// The app worker's fd ([`AppClient`]'s): shared by every listener and
/// stream of the worker, readable (once [`AppClient::prepare_sleep`]
/// armed the queues) when the stack sent the worker anything (or the
/// daemon went), a new session for
/// this listener or news of another. Not this listener's own readiness:
/// when it fires, call [`AppClient::poll_events`] (or a non-blocking
/// [`CtListener::accept`], which drains the queues itself).
impl AsFd for CtListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.client.wrk.poll_fd()
    }
}

impl AsRawFd for CtListener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl Drop for CtListener {
    fn drop(&mut self) {
        let wrk = &self.client.wrk;
        let pending = wrk.events().remove_listener(self.lref);
        for s in pending {
            let sref = s.status.sref;
            drop(s);
            let _ = wrk.ctrl.send(sref.thread(), &AppMsg::Reset(sref));
        }
        if !wrk.app.is_closed() {
            let _ = wrk.ctrl.send(
                0,
                &AppMsg::Unlisten {
                    opaque: 0,
                    listener: self.lref,
                },
            );
        }
    }
}
