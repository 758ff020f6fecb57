//! [`CtListener`]: a listen session, `std::net::TcpListener`-shaped.
//!
//! `bind` sends `Listen` on `ctrl_q[0]` and waits for `Bound`; sessions
//! the stack accepts on it are answered (`AcceptReply`) as they are
//! filed, like a kernel's backlog, and wait there for `accept()`.
//! Dropping the listener unlistens and closes what was never accepted.

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
use crate::stream::CtStream;

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
    /// Listens on `addr`. `AddrInUse` when something listens there already.
    /// Port 0 picks a free port (from 32768..=60999, as Linux's default
    /// range); [`CtListener::local_addr`] shows it.
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
        let inner = &client.inner;
        let wrk = &inner.wrk;
        wrk.check()?;
        let opaque = wrk.events().start_bind();
        let ep = endpoint(addr);
        if let Err(e) = wrk.ctrl.send(0, &AppMsg::Listen { opaque, ep }) {
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
            let next = {
                let mut ev = wrk.events();
                match ev.listener(self.lref) {
                    Some(slot) => slot.backlog.pop_front(),
                    None => return Err(ClientError::Session(SessionError::NoListen).into()),
                }
            };
            match next {
                Some(Ok(s)) => {
                    let stream = CtStream::new(self.client.clone(), s);
                    let rmt = stream.peer_addr()?;
                    return Ok((stream, rmt));
                }
                Some(Err(e)) => return Err(e.into()),
                None => {}
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

    /// An endless iterator over [`CtListener::accept`]'s streams.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<CtStream>> + '_ {
        std::iter::repeat_with(|| self.accept().map(|(s, _)| s))
    }
}

/// The app worker's event fd ([`AppClient`]'s): shared by every listener
/// and stream of the worker, readable (once [`AppClient::prepare_sleep`]
/// armed it) when the stack sent the worker anything, a new session for
/// this listener or news of another. Not this listener's own readiness:
/// when it fires, call [`AppClient::poll_events`] (or a non-blocking
/// [`CtListener::accept`], which drains the queues itself).
impl AsFd for CtListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.client.wrk.evtfd()
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
            let _ = wrk.ctrl.send(sref.thread(), &AppMsg::Disconnect(sref));
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
