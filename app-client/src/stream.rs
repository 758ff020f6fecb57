//! [`CtStream`]: one session, `std::net::TcpStream`-shaped. Data moves
//! through the session's fifos in shared memory; only events go to the
//! stack, on the control queue of the session's thread.
//!
//! Reads return the data first, then end of stream (0) once the peer
//! closed or shut its direction (a half-close: the tx fifo's shutdown
//! flag), or `ConnectionReset` once it reset. Writes after a close or our
//! `shutdown(Write)` fail with `BrokenPipe` (`ConnectionReset` after a
//! reset). Once the app is
//! detached or the daemon is gone (its socket hung up), writes and reads
//! that would block fail `NotConnected`: nobody carries the data any more
//! (bytes already in the rx fifo can still be read). Blocking calls
//! wait on the worker (see `app_worker.rs`), first spinning on the fifo
//! (readable bytes or free space) for the direction's adaptive spell;
//! non-blocking ones look at the event queues once and return
//! `WouldBlock`.
//!
//! As a `TcpStream`, a stream is `Send + Sync` and `Read` / `Write` work
//! on `&CtStream`: a reader thread and a writer thread can share one
//! (`Arc<CtStream>`, [`CtStream::try_clone`], [`CtStream::split`],
//! [`CtStream::into_split`]). Each direction has its own lock
//! (`stream_inner.rs`), so concurrent readers take turns, as do
//! concurrent writers, and a read never waits for a write.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use ct_app_interface::wire::AppMsg;
use ct_sync::atomic::Ordering;

use crate::client::{AppClient, ClientInner};
use crate::connecting::CtConnecting;
use crate::error::{end_err, fifo_err};
use crate::events::NewSession;
use crate::halves::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::slices::{ReadSlices, WriteSlices};
use crate::stream_inner::StreamInner;

/// How long `connect` waits for the stack's answer unless told otherwise.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a stream's I/O has cost so far: the events it sent the stack and
/// how its blocking calls waited (the figures that say whether a stream
/// runs on shared memory alone or on wake-ups). Shared by all handles of
/// the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// TX events sent (a write found the tx fifo's event flag clear).
    pub tx_events: u64,
    /// RX-dequeue events sent (a read found a dequeue notification armed).
    pub rx_events: u64,
    /// Times a blocking call found nothing to do and waited.
    pub waits: u64,
    /// Waits whose spin spell ran out, so the thread slept.
    pub sleeps: u64,
}

/// One session of this app, accepted or connected. A handle: clones made
/// by [`CtStream::try_clone`] (and the halves) are the same session, which
/// closes when the last of them goes, or on [`CtStream::shutdown`] /
/// [`CtStream::reset`] through any of them.
pub struct CtStream {
    pub(crate) inner: Arc<StreamInner>,
}

impl std::fmt::Debug for CtStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtStream")
            .field("session", &self.inner.status.sref)
            .field("lcl", &self.inner.lcl)
            .field("rmt", &self.inner.rmt)
            .field("open", &self.inner.is_open())
            .finish()
    }
}

impl CtStream {
    pub(crate) fn new(client: Arc<ClientInner>, s: NewSession) -> CtStream {
        CtStream {
            inner: Arc::new(StreamInner::new(client, s)),
        }
    }

    /// What the stream's I/O has cost so far.
    pub fn counters(&self) -> StreamCounters {
        self.inner.counters()
    }

    /// Connects to the listener at `addr` (ct: a listener of an app in
    /// this namespace). `ConnectionRefused` when nobody listens there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{ErrorKind, Read, Write};
    /// use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
    /// # let sock = std::env::temp_dir().join(format!("app-client-doc-connect-{}.sock", std::process::id()));
    /// # let daemon = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock)).unwrap();
    ///
    /// let server = AppClient::attach(&sock, AttachConfig::new("doc-server"))?;
    /// let client = AppClient::attach(&sock, AttachConfig::new("doc-client"))?;
    /// let addr = "127.0.0.1:7102".parse().unwrap();
    /// let refused = CtStream::connect(&client, addr).unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    ///
    /// let listener = CtListener::bind(&server, addr)?;
    /// let accepter = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
    ///     let (mut s, _) = listener.accept()?;
    ///     let mut got = Vec::new();
    ///     s.read_to_end(&mut got)?;
    ///     Ok(got)
    /// });
    /// let mut stream = CtStream::connect(&client, addr)?;
    /// stream.write_all(b"ping")?;
    /// drop(stream); // the server reads to the end
    /// assert_eq!(accepter.join().unwrap()?, b"ping");
    /// # drop((client, server));
    /// # assert!(daemon.stop().is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(client: &AppClient, addr: SocketAddr) -> io::Result<CtStream> {
        Self::connect_timeout(client, addr, DEFAULT_CONNECT_TIMEOUT)
    }

    /// Same, waiting at most `timeout` for the stack's answer (`TimedOut`,
    /// as std's `connect_timeout`). [`CtConnecting`] is the non-blocking
    /// form.
    pub fn connect_timeout(
        client: &AppClient,
        addr: SocketAddr,
        timeout: Duration,
    ) -> io::Result<CtStream> {
        CtConnecting::start(client, addr)?.finish(Some(timeout))
    }

    /// Another handle on the same session (as `TcpStream::try_clone`):
    /// options and counters are shared; the session closes when the last
    /// handle goes.
    pub fn try_clone(&self) -> io::Result<CtStream> {
        Ok(CtStream {
            inner: self.inner.clone(),
        })
    }

    /// Borrowed read and write halves, for two threads (tokio's names).
    pub fn split(&self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf::new(self), WriteHalf::new(self))
    }

    /// Owned read and write halves: the session closes when both are
    /// gone (dropping one alone shuts nothing; [`CtStream::shutdown`]
    /// through either does).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let read = OwnedReadHalf::new(CtStream {
            inner: self.inner.clone(),
        });
        (read, OwnedWriteHalf::new(self))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.rmt)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.lcl)
    }

    /// The stack's handle of the session (`thread << 32 | index`).
    pub fn session_handle(&self) -> u64 {
        self.inner.status.sref.handle
    }

    /// Non-blocking mode: reads and writes that cannot progress return
    /// `WouldBlock`. For every handle of the stream.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// How long a blocking read waits (`None`: forever); past it,
    /// `WouldBlock`, as `std::net` on Unix. `Some(Duration::ZERO)` is
    /// `InvalidInput`, as in std.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.inner.read_timeout.set(t)
    }

    /// How long a blocking write waits (`None`: forever); past it,
    /// `WouldBlock`. `Some(Duration::ZERO)` is `InvalidInput`.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.inner.write_timeout.set(t)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.read_timeout.get())
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.write_timeout.get())
    }

    /// Shuts down one or both directions, for every handle (as
    /// `TcpStream::shutdown`):
    ///
    /// - `Write`: a half-close. The peer reads what was written, then the
    ///   end of the stream (0), and can still write back; this side's reads
    ///   go on and see that reply. Writes fail `BrokenPipe` from now on.
    /// - `Read`: reads return 0 at once; what the peer sends is dropped,
    ///   so its writes go on succeeding.
    /// - `Both`: closes the session: the peer sees the end of stream (a
    ///   reset if data this side never read is left), reads return 0,
    ///   writes `BrokenPipe`.
    ///
    /// A read or write blocked in another thread returns as the next one
    /// would. Shutting a direction again, or after a close, does nothing.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Write => self.inner.shutdown_write(),
            Shutdown::Read => self.inner.shutdown_read(),
            Shutdown::Both => self.inner.close(AppMsg::Disconnect),
        }
    }

    /// Resets the session: the peer sees `ConnectionReset`, unread data is
    /// dropped.
    pub fn reset(&self) -> io::Result<()> {
        self.inner.close(AppMsg::Reset)
    }

    /// Bytes waiting to be read (a read in progress on another thread may
    /// take them first).
    pub fn max_dequeue(&self) -> io::Result<u32> {
        self.inner.peek_max_dequeue().map_err(fifo_err)
    }

    /// Room to write (a write in progress on another thread may take it
    /// first).
    pub fn max_enqueue(&self) -> io::Result<u32> {
        self.inner.peek_max_enqueue().map_err(fifo_err)
    }

    /// Zero-copy read: the rx end, held (other reads wait) until the
    /// guard goes; its [`ReadSlices::slices`] are the readable bytes, its
    /// [`ReadSlices::release`] consumes them. Never waits for data. Drop
    /// the guard before closing the stream from the same thread (the
    /// close takes the end).
    pub fn read_slices(&self) -> ReadSlices<'_> {
        ReadSlices::new(&self.inner)
    }

    /// Zero-copy write: the tx end, held until the guard goes; fill
    /// [`WriteSlices::slices`], then [`WriteSlices::commit`]. Never waits
    /// for room. Drop the guard before closing the stream from the same
    /// thread.
    pub fn write_slices(&self) -> WriteSlices<'_> {
        WriteSlices::new(&self.inner)
    }

    /// Waits (in blocking mode; up to the read timeout) until there are
    /// bytes to read; returns how many, 0 at end of stream.
    pub fn readable(&self) -> io::Result<usize> {
        self.inner.wait_rx(|e, _| e.max_dequeue().map_err(fifo_err))
    }

    /// Waits (in blocking mode; up to the write timeout) until there is
    /// room to write; returns how much.
    pub fn writable(&self) -> io::Result<usize> {
        self.inner.wait_tx(|e, _| e.room().map_err(fifo_err))
    }
}

impl io::Read for &CtStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.inner
            .wait_rx(|e, mut sink| e.read(buf, &mut sink).map(|n| n as u32).map_err(end_err))
    }
}

impl io::Write for &CtStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.inner
            .wait_tx(|e, mut sink| e.write(buf, &mut sink).map(|n| n as u32).map_err(end_err))
    }

    fn flush(&mut self) -> io::Result<()> {
        // Written data is in the fifo, and its event went out with it.
        Ok(())
    }
}

/// The app worker's fd ([`AppClient`]'s), shared by every stream and
/// listener of the worker: readable (once [`AppClient::prepare_sleep`]
/// armed the queues) when the stack sent the worker anything, this
/// stream's data or close among it, and when the daemon goes. Not the
/// stream's own readiness: data can sit in the fifo with the fd quiet (its
/// event was taken by an earlier drain). When it fires, call
/// [`AppClient::poll_events`], then read or write in non-blocking mode
/// until `WouldBlock`.
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

impl io::Read for CtStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl io::Write for CtStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}
