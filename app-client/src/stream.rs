//! [`CtStream`]: one session, `std::net::TcpStream`-shaped. Data moves
//! through the session's fifos in shared memory (`SessionIo`, the same
//! app-side I/O builtin apps use); only events go to the stack, on the
//! control queue of the session's thread.
//!
//! Reads return the data first, then end of stream (0) once the peer
//! closed, or `ConnectionReset` once it reset. Writes after a close fail
//! with `BrokenPipe` (`ConnectionReset` after a reset). Blocking calls
//! wait on the worker (see `worker.rs`), first spinning on the fifo
//! (readable bytes or free space) for the stream's adaptive spell;
//! non-blocking ones look at the event queues once and return
//! `WouldBlock`.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_interface::SessionError;
use ct_app_interface::io::{IoError, IoEvt, IoEvtSink, SessionIo, SpinSpell};
use ct_app_interface::wire::{AppMsg, SessionRef};
use ct_fifo_segment::FifoError;

use crate::app_worker::AppWorkerShared;
use crate::client::{AppClient, ClientInner};
use crate::connecting::CtConnecting;
use crate::error::ClientError;
use crate::events::{NewSession, SessionStatus, status};

/// How long `connect` waits for the stack's answer unless told otherwise.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a session's IO events go: the control queue of its thread.
#[derive(Debug)]
pub(crate) struct CtrlSink {
    wrk: Arc<AppWorkerShared>,
    sref: SessionRef,
    thread: u32,
}

impl IoEvtSink for CtrlSink {
    type Error = ClientError;

    fn io_evt(&mut self, evt: IoEvt) -> Result<(), ClientError> {
        let msg = match evt {
            IoEvt::Tx => AppMsg::IoTx(self.sref),
            IoEvt::RxDequeue => AppMsg::IoRxDequeue(self.sref),
        };
        self.wrk.ctrl.send(self.thread, &msg)
    }
}

/// A fifo error as the app sees it.
fn fifo_err(e: FifoError) -> io::Error {
    crate::error::to_io(SessionError::from(e))
}

/// The `SessionIo` error as the app sees it.
fn io_err(e: IoError<ClientError>) -> io::Error {
    match e {
        IoError::Fifo(e) => fifo_err(e),
        IoError::Sink(e) => e.into_io(),
    }
}

/// What a stream's I/O has cost so far: the events it sent the stack and
/// how its blocking calls waited (the figures that say whether a stream
/// runs on shared memory alone or on wake-ups).
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

/// One session of this app, accepted or connected.
pub struct CtStream {
    client: Arc<ClientInner>,
    io: Option<SessionIo<CtrlSink>>,
    status: Arc<SessionStatus>,
    thread: u32,
    lcl: SocketAddr,
    rmt: SocketAddr,
    nonblocking: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// How long a blocking call spins on the fifo before it sleeps.
    spell: SpinSpell,
    /// Events sent by fifo pairs this stream held before (closed).
    counters: StreamCounters,
}

impl std::fmt::Debug for CtStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtStream")
            .field("session", &self.status.sref)
            .field("lcl", &self.lcl)
            .field("rmt", &self.rmt)
            .field("open", &self.io.is_some())
            .finish()
    }
}

impl CtStream {
    pub(crate) fn new(client: Arc<ClientInner>, s: NewSession) -> CtStream {
        let sref = s.status.sref;
        let thread = sref.thread();
        let sink = CtrlSink {
            wrk: client.wrk.clone(),
            sref,
            thread,
        };
        CtStream {
            io: Some(SessionIo::from_ends(s.rx, s.tx, sink)),
            client,
            status: s.status,
            thread,
            lcl: s.lcl.socket_addr(),
            rmt: s.rmt.socket_addr(),
            nonblocking: false,
            read_timeout: None,
            write_timeout: None,
            spell: SpinSpell::new(),
            counters: StreamCounters::default(),
        }
    }

    /// What the stream's I/O has cost so far.
    pub fn counters(&self) -> StreamCounters {
        let mut s = self.counters;
        if let Some(io) = &self.io {
            s.tx_events += io.tx_events_sent();
            s.rx_events += io.rx_events_sent();
        }
        s
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

    /// Same, waiting at most `timeout` for the stack's answer (`TimedOut`).
    /// [`CtConnecting`] is the non-blocking form.
    pub fn connect_timeout(
        client: &AppClient,
        addr: SocketAddr,
        timeout: Duration,
    ) -> io::Result<CtStream> {
        CtConnecting::start(client, addr)?.finish(Some(timeout))
    }

    fn wrk(&self) -> &AppWorkerShared {
        &self.client.wrk
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.rmt)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.lcl)
    }

    /// The stack's handle of the session (`thread << 32 | index`).
    pub fn session_handle(&self) -> u64 {
        self.status.sref.handle
    }

    /// Non-blocking mode: reads and writes that cannot progress return
    /// `WouldBlock`.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking = nonblocking;
        Ok(())
    }

    /// How long a blocking read waits (`None`: forever); past it, `TimedOut`.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout = t;
        Ok(())
    }

    /// How long a blocking write waits (`None`: forever); past it, `TimedOut`.
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout = t;
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.read_timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.write_timeout)
    }

    /// Closes the session, whatever `how` says: the session layer has no
    /// half-close, so the peer sees the end of stream (a reset if data this
    /// side never read is left). Reads return 0 afterwards, writes
    /// `BrokenPipe`.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        let _ = how;
        self.close(AppMsg::Disconnect)
    }

    /// Resets the session: the peer sees `ConnectionReset`, unread data is
    /// dropped.
    pub fn reset(&mut self) -> io::Result<()> {
        self.close(AppMsg::Reset)
    }

    fn close(&mut self, msg: fn(SessionRef) -> AppMsg) -> io::Result<()> {
        if !self.drop_io() {
            return Ok(());
        }
        let sref = self.status.sref;
        let wrk = self.wrk();
        wrk.events().forget_session(sref);
        if self.status.flags() & status::CLEANED != 0 || wrk.app.is_closed() {
            return Ok(());
        }
        wrk.ctrl
            .send(self.thread, &msg(sref))
            .map_err(ClientError::into_io)
    }

    /// Bytes waiting to be read.
    pub fn max_dequeue(&self) -> io::Result<u32> {
        match &self.io {
            Some(io) => io.max_dequeue().map_err(fifo_err),
            None => Ok(0),
        }
    }

    /// Room to write.
    pub fn max_enqueue(&self) -> io::Result<u32> {
        match &self.io {
            Some(io) => io.max_enqueue().map_err(fifo_err),
            None => Ok(0),
        }
    }

    /// Lets go of the fifos (keeping their event counts). Returns whether
    /// the stream held them.
    fn drop_io(&mut self) -> bool {
        let Some(io) = self.io.take() else {
            return false;
        };
        self.counters.tx_events += io.tx_events_sent();
        self.counters.rx_events += io.rx_events_sent();
        // Our fifo handles go before the stack may free (and reuse) them.
        drop(io);
        true
    }

    fn open_io(&mut self) -> io::Result<&mut SessionIo<CtrlSink>> {
        self.io
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// Zero-copy read: the readable bytes as two slices (empty when none);
    /// then [`CtStream::release`] what was consumed. Never waits.
    pub fn read_slices(&self) -> io::Result<(&[u8], &[u8])> {
        match &self.io {
            Some(io) => io.read_slices().map_err(fifo_err),
            None => Ok((&[], &[])),
        }
    }

    /// Consumes `n` bytes seen through [`CtStream::read_slices`].
    pub fn release(&mut self, n: u32) -> io::Result<()> {
        self.open_io()?.release(n).map_err(io_err)
    }

    /// Zero-copy write: the free space as two slices; fill them, then
    /// [`CtStream::commit`]. Never waits.
    pub fn write_slices(&mut self) -> io::Result<(&mut [u8], &mut [u8])> {
        self.open_io()?.write_slices().map_err(fifo_err)
    }

    /// Publishes `n` bytes written through [`CtStream::write_slices`].
    pub fn commit(&mut self, n: u32) -> io::Result<()> {
        self.open_io()?.commit(n).map_err(io_err)
    }

    /// Waits (in blocking mode; up to the read timeout) until there are
    /// bytes to read; returns how many, 0 at end of stream.
    pub fn readable(&mut self) -> io::Result<usize> {
        self.wait_for(
            self.read_timeout,
            |io| io.max_dequeue().map_err(fifo_err),
            true,
        )
    }

    /// Waits (in blocking mode; up to the write timeout) until there is
    /// room to write; returns how much.
    pub fn writable(&mut self) -> io::Result<usize> {
        self.wait_for(
            self.write_timeout,
            |io| {
                let n = io.max_enqueue().map_err(fifo_err)?;
                if n == 0 {
                    // Full: ask the reader's side to tell us when it drains.
                    io.tx_fifo()
                        .add_want_deq_ntf(ct_fifo_segment::DeqNtf::NOTIF);
                    let n = io.max_enqueue().map_err(fifo_err)?;
                    if n > 0 {
                        io.tx_fifo()
                            .del_want_deq_ntf(ct_fifo_segment::DeqNtf::NOTIF);
                    }
                    return Ok(n);
                }
                Ok(n)
            },
            false,
        )
    }

    /// Runs `op` until it makes progress: the loop every blocking call
    /// shares. `reading` decides what the end of the session means: end of
    /// stream (0) for reads, `BrokenPipe` for writes; a reset is
    /// `ConnectionReset` for both.
    fn wait_for(
        &mut self,
        timeout: Option<Duration>,
        mut op: impl FnMut(&mut SessionIo<CtrlSink>) -> io::Result<u32>,
        reading: bool,
    ) -> io::Result<usize> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut polled = false;
        loop {
            let seen = self.wrk().seq();
            let flags = self.status.flags();
            if flags & status::CLEANED != 0 {
                // The stack freed the session and may reuse its fifos:
                // nothing in them is ours any more.
                self.drop_io();
            }
            let Some(io) = self.io.as_mut() else {
                return if reading {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::BrokenPipe.into())
                };
            };
            if !reading && flags & status::ENDED != 0 {
                return Err(ended(flags));
            }
            let n = op(io)?;
            if n > 0 {
                return Ok(n as usize);
            }
            if reading && flags & status::ENDED != 0 {
                // Everything sent before the close is in the fifo already.
                return if flags & status::RESET != 0 {
                    Err(ClientError::Reset.into_io())
                } else {
                    Ok(0)
                };
            }
            // The field, not `self.wrk()`: the counters below are borrowed too.
            let wrk = &*self.client.wrk;
            wrk.check()?;
            if self.nonblocking {
                if !polled && wrk.poll_quiet()? > 0 {
                    polled = true;
                    continue;
                }
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::ErrorKind::TimedOut.into());
            }
            // The data (or the room) usually lands in the fifo before the
            // event that announces it: look there while spinning. The late
            // event is a spurious wake-up of a later wait.
            self.counters.waits += 1;
            let io = self.io.as_ref();
            let slept = wrk.wait_or(seen, deadline, &self.spell, || {
                io.is_none_or(|io| {
                    let n = if reading {
                        io.max_dequeue()
                    } else {
                        io.max_enqueue()
                    };
                    // An error is for `op` to report.
                    n.map_or(true, |n| n > 0)
                })
            })?;
            self.counters.sleeps += u64::from(slept);
        }
    }
}

/// The error a write sees once the session ended.
fn ended(flags: u32) -> io::Error {
    if flags & status::RESET != 0 {
        ClientError::Reset.into_io()
    } else {
        io::ErrorKind::BrokenPipe.into()
    }
}

impl io::Read for CtStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let timeout = self.read_timeout;
        self.wait_for(
            timeout,
            |io| io.read(buf).map(|n| n as u32).map_err(io_err),
            true,
        )
    }
}

impl io::Write for CtStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let timeout = self.write_timeout;
        self.wait_for(
            timeout,
            |io| io.write(buf).map(|n| n as u32).map_err(io_err),
            false,
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        // Written data is in the fifo, and its event went out with it.
        Ok(())
    }
}

impl Drop for CtStream {
    fn drop(&mut self) {
        let _ = self.close(AppMsg::Disconnect);
    }
}
