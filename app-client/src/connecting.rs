//! [`CtConnecting`]: a connect in flight (VCL's non-blocking connect).
//! Many can be in flight from one thread; each finishes when the stack's
//! `Connected` for its opaque is filed.
//!
//! ```no_run
//! use ct_app_client::{AppClient, AttachConfig, CtConnecting};
//!
//! # fn main() -> std::io::Result<()> {
//! let client = AppClient::attach("/run/ct-stack/stackd.sock", AttachConfig::new("cps"))?;
//! let addr = "127.0.0.1:7000".parse().unwrap();
//! let mut pending: Vec<CtConnecting> =
//!     (0..64).map(|_| CtConnecting::start(&client, addr)).collect::<Result<_, _>>()?;
//! let mut streams = Vec::new();
//! while !pending.is_empty() {
//!     client.poll_events()?;
//!     let mut still = Vec::new();
//!     for mut c in pending {
//!         match c.try_finish()? {
//!             Some(s) => streams.push(s),
//!             None => still.push(c),
//!         }
//!     }
//!     pending = still;
//! }
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_interface::SessionError;
use ct_app_interface::wire::AppMsg;

use crate::client::{AppClient, ClientInner};
use crate::error::ClientError;
use crate::stream::CtStream;

/// A connect sent to the stack, not yet answered. Dropping it gives the
/// connect up (a late success is closed).
#[derive(Debug)]
pub struct CtConnecting {
    client: Arc<ClientInner>,
    opaque: u32,
    done: bool,
}

/// A failed connect as the app sees it: with nothing listening there
/// (ct finds no local listener: `NoRoute`, or the listener refused) it is
/// `ConnectionRefused`, as from a kernel.
fn connect_err(e: ClientError) -> io::Error {
    match e {
        ClientError::Session(
            s @ (SessionError::NoRoute | SessionError::NoListen | SessionError::Refused),
        ) => io::Error::new(io::ErrorKind::ConnectionRefused, s),
        e => e.into_io(),
    }
}

impl CtConnecting {
    /// Sends a connect to `addr` (on `ctrl_q[0]`, as VPP's connects go).
    pub fn start(client: &AppClient, addr: SocketAddr) -> io::Result<CtConnecting> {
        let inner = &client.inner;
        let wrk = &inner.wrk;
        wrk.check()?;
        let opaque = wrk.events().start_connect();
        let ep = crate::listener::endpoint(addr);
        if let Err(e) = wrk.ctrl.send(0, &AppMsg::Connect { opaque, ep }) {
            wrk.events().cancel_connect(opaque);
            return Err(e.into());
        }
        Ok(CtConnecting {
            client: inner.clone(),
            opaque,
            done: false,
        })
    }

    /// The stream once the stack answered, `None` while it has not (this
    /// does not drain the queues: see [`AppClient::poll_events`]). After
    /// an answer, success or error, the connect is over.
    pub fn try_finish(&mut self) -> io::Result<Option<CtStream>> {
        if self.done {
            return Err(io::ErrorKind::NotConnected.into());
        }
        let wrk = &self.client.wrk;
        let Some(r) = wrk.events().take_connect(self.opaque) else {
            wrk.check()?;
            return Ok(None);
        };
        self.done = true;
        r.map(|s| Some(CtStream::new(self.client.clone(), s)))
            .map_err(connect_err)
    }

    /// An async finish (the `tokio` feature): the stream once the stack
    /// answered, or `Pending` with the task registered for the answer.
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_finish(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<CtStream>> {
        use std::task::Poll;
        let wrk = self.client.wrk.clone();
        let mut drained = false;
        let mut registered = false;
        loop {
            // try_finish looks at the worker's health when nothing came.
            match self.try_finish() {
                Ok(Some(s)) => return Poll::Ready(Ok(s)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if registered {
                return Poll::Pending;
            }
            if wrk.poll_once(&mut drained).is_ok() {
                continue;
            }
            wrk.events().register_connect(self.opaque, cx.waker());
            crate::tokio::driver::ensure(&wrk);
            registered = true;
        }
    }

    /// Waits up to `timeout` (`None`: forever) for the answer.
    /// `TimedOut` gives the connect up.
    pub fn finish(mut self, timeout: Option<Duration>) -> io::Result<CtStream> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let wrk = self.client.wrk.clone();
        loop {
            let seen = wrk.seq();
            if let Some(s) = self.try_finish()? {
                return Ok(s);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ClientError::Session(SessionError::TimedOut).into());
            }
            wrk.wait(seen, deadline)?;
        }
    }
}

impl Drop for CtConnecting {
    fn drop(&mut self) {
        if !self.done {
            self.client.wrk.events().cancel_connect(self.opaque);
        }
    }
}
