//! [`CtListener`]: the std listener, accepting asynchronously.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::client::AppClient;
use crate::tokio::CtStream;

/// A listener of this app, tokio-shaped.
#[derive(Debug)]
pub struct CtListener {
    inner: crate::CtListener,
}

impl CtListener {
    /// Listens on `addr` (as [`crate::CtListener::bind`]; the stack's
    /// answer comes at once, so this does not wait on the runtime).
    pub fn bind(client: &AppClient, addr: SocketAddr) -> io::Result<CtListener> {
        crate::CtListener::bind(client, addr).map(Self::from_std)
    }

    /// Listens with a listen backlog of `backlog` sessions (as
    /// [`crate::CtListener::bind_with_backlog`]).
    pub fn bind_with_backlog(
        client: &AppClient,
        addr: SocketAddr,
        backlog: u32,
    ) -> io::Result<CtListener> {
        crate::CtListener::bind_with_backlog(client, addr, backlog).map(Self::from_std)
    }

    /// The std listener, accepting asynchronously from now on.
    pub fn from_std(inner: crate::CtListener) -> CtListener {
        CtListener { inner }
    }

    /// Back to the std listener.
    pub fn into_std(self) -> crate::CtListener {
        self.inner
    }

    /// The address bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The next accepted session and its peer's address. An error when the
    /// daemon went (or the app detached) while waiting.
    pub async fn accept(&self) -> io::Result<(CtStream, SocketAddr)> {
        let (s, rmt) = poll_fn(|cx| self.inner.poll_accept(cx)).await?;
        Ok((CtStream::from_std(s), rmt))
    }

    /// [`CtListener::accept`] as a poll (for hand-written futures).
    pub fn poll_accept(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<(CtStream, SocketAddr)>> {
        self.inner
            .poll_accept(cx)
            .map(|r| r.map(|(s, rmt)| (CtStream::from_std(s), rmt)))
    }
}

/// The app worker's fd (see [`AppClient`]'s).
impl AsFd for CtListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for CtListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
