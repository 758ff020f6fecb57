//! [`CtStream`] and its halves: a session with `AsyncRead` /
//! `AsyncWrite`, over the std stream's shared part (`stream_inner.rs`,
//! async steps in `stream_poll.rs`).

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::client::AppClient;
use crate::connecting::CtConnecting;
use crate::stream_inner::StreamInner;

/// One session of this app, tokio-shaped. The session closes when the
/// stream and all its halves are gone.
pub struct CtStream {
    inner: Arc<StreamInner>,
}

impl std::fmt::Debug for CtStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtStream")
            .field("session", &self.inner.status.sref)
            .field("lcl", &self.inner.lcl)
            .field("rmt", &self.inner.rmt)
            .finish()
    }
}

impl CtStream {
    /// Connects to the listener at `addr`; `ConnectionRefused` when nobody
    /// listens there, an error when the daemon goes meanwhile.
    pub async fn connect(client: &AppClient, addr: SocketAddr) -> io::Result<CtStream> {
        let mut c = CtConnecting::start(client, addr)?;
        let s = poll_fn(|cx| c.poll_finish(cx)).await?;
        Ok(CtStream::from_std(s))
    }

    /// A std stream (its other handles stay std; both work at once).
    pub fn from_std(s: crate::CtStream) -> CtStream {
        CtStream { inner: s.inner }
    }

    /// Back to a std stream (in blocking mode unless it was set otherwise).
    pub fn into_std(self) -> crate::CtStream {
        crate::CtStream { inner: self.inner }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.rmt)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.lcl)
    }

    /// Borrowed halves, for two tasks (`tokio::join!`, `select!`).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(&self.inner), WriteHalf(&self.inner))
    }

    /// Owned halves, for two spawned tasks: the session closes when both
    /// are gone (dropping the write half alone shuts nothing; its
    /// `shutdown()` is the half-close).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf(self.inner.clone()),
            OwnedWriteHalf(self.inner),
        )
    }

    /// Closes the session now (both directions), as
    /// [`crate::CtStream::shutdown`] with `Both`.
    pub fn close(&self) -> io::Result<()> {
        self.inner.close(ct_app_interface::wire::AppMsg::Disconnect)
    }

    /// Shuts one or both directions, as [`crate::CtStream::shutdown`].
    pub fn shutdown_std(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Write => self.inner.shutdown_write(),
            Shutdown::Read => self.inner.shutdown_read(),
            Shutdown::Both => self.close(),
        }
    }
}

/// The app worker's fd (see [`AppClient`]'s).
impl AsFd for CtStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.client.wrk.poll_fd()
    }
}

impl AsRawFd for CtStream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// The reading half of a borrowed stream.
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a StreamInner);

/// The writing half of a borrowed stream.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a StreamInner);

/// The reading half of a stream, owned.
#[derive(Debug)]
pub struct OwnedReadHalf(Arc<StreamInner>);

/// The writing half of a stream, owned.
#[derive(Debug)]
pub struct OwnedWriteHalf(Arc<StreamInner>);

fn read_into(
    inner: &StreamInner,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    if buf.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    let dst = buf.initialize_unfilled();
    match inner.poll_read(cx, dst) {
        Poll::Ready(Ok(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

fn write_from(inner: &StreamInner, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    inner.poll_write(cx, buf)
}

macro_rules! async_io {
    ($($read:ty, $write:ty, $inner:expr);*) => {$(
        impl AsyncRead for $read {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let f: fn(&Self) -> &StreamInner = $inner;
                read_into(f(&self), cx, buf)
            }
        }

        impl AsyncWrite for $write {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let f: fn(&Self) -> &StreamInner = $inner;
                write_from(f(&self), cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Written data is in the fifo, and its event went with it.
                Poll::Ready(Ok(()))
            }

            /// The half-close: the peer reads the end of the stream after
            /// what was written, and can still write back.
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let f: fn(&Self) -> &StreamInner = $inner;
                Poll::Ready(f(&self).shutdown_write())
            }
        }
    )*};
}

async_io!(
    CtStream, CtStream, |s| &s.inner;
    ReadHalf<'_>, WriteHalf<'_>, |s| s.0;
    OwnedReadHalf, OwnedWriteHalf, |s| &s.0
);
