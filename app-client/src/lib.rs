//! The app side of ct-stack for programs that talk to a running
//! `ct-stackd` (VPP VCL's role): attach by socket path, map the segments
//! the stack sends, and use `std::net`-shaped listeners and streams whose
//! data moves through cut-through fifos in shared memory.
//!
//! Depends on fifo-segment and app-interface only, never on the session
//! layer: the stack lives in another process.
//!
//! - [`AppClient`] attaches (one app worker; [`AppClient::add_worker`]
//!   for more; [`AttachConfig::default`] picks an app name of its own, a
//!   name in use is `AddrInUse`) and owns the worker's message queues: `evt_q[t]` from each
//!   stack thread, `ctrl_q[t]` to it, and the eventfds that wake a
//!   sleeping side.
//! - [`CtListener`] / [`CtStream`]: `bind`, `accept`, `connect`, `Read`,
//!   `Write`, `shutdown`, non-blocking mode, timeouts (as std on Unix: an
//!   expired one is `WouldBlock`, a zero one `InvalidInput`; set through
//!   `&self`), zero-copy slices ([`ReadSlices`], [`WriteSlices`]);
//!   `Read` / `Write` on `&CtStream` too, `Send + Sync`, with
//!   [`CtStream::try_clone`], [`CtStream::split`] and
//!   [`CtStream::into_split`]: a reader thread and a writer thread share
//!   one stream (one lock per direction: readers take turns, writers take
//!   turns, neither waits for the other);
//!   [`CtConnecting`] for connects in flight without blocking.
//! - No thread of its own: whoever waits drains the queues and files what
//!   came per session, listener and request. An app with its own poll
//!   loop polls [`AppClient`]'s fd ([`AsFd`](std::os::fd::AsFd),
//!   [`AsRawFd`](std::os::fd::AsRawFd); a listener's and a stream's are
//!   the same fd, the worker's: readable for any event of the worker and
//!   when the daemon goes) and calls [`AppClient::poll_events`].
//! - With the `tokio` feature, `ct_app_client::tokio` has async listeners
//!   and streams (`AsyncRead` / `AsyncWrite`, halves, async `accept` and
//!   `connect`) on the same sessions, for any tokio runtime.
//! - Errors are `std::io::Error`s of the kinds `std::net` uses
//!   (`ConnectionRefused`, `AddrInUse`, `ConnectionReset`, `WouldBlock`...)
//!   with the stack's [`SessionError`] inside ([`session_error`]), or a
//!   [`ClientError`].
//! - Everything the stack sends is checked: an unknown segment, a fifo
//!   outside its segment, a malformed message is an error, never a panic.
//!
//! # Example
//!
//! One thread can bind, connect and then accept: the stack accepts for
//! the server app (up to its listen backlog), so the connect completes
//! before the server's `accept`.
//!
//! ```
//! use std::io::{Read, Write};
//! use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
//!
//! # fn main() -> std::io::Result<()> {
//! # let sock = std::env::temp_dir().join(format!("app-client-doc-lib-{}.sock", std::process::id()));
//! # let daemon = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock)).unwrap();
//! let server = AppClient::attach(&sock, AttachConfig::new("server"))?;
//! let client = AppClient::attach(&sock, AttachConfig::new("client"))?;
//! let addr = "127.0.0.1:7000".parse().unwrap();
//! let listener = CtListener::bind(&server, addr)?;
//! let mut c = CtStream::connect(&client, addr)?;
//! let (mut s, _peer) = listener.accept()?;
//! c.write_all(b"ping")?;
//! let mut buf = [0u8; 4];
//! s.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"ping");
//! # drop((c, s, listener, server, client));
//! # assert!(daemon.stop().is_empty());
//! # Ok(())
//! # }
//! ```

mod app_worker;
mod client;
mod config;
mod connecting;
mod ctrl;
mod ctrl_sink;
mod error;
mod events;
mod halves;
mod listener;
#[cfg(not(loom))]
mod readiness;
// Public under loom only, for the model of its hand-off (tests/loom.rs).
#[cfg(loom)]
#[doc(hidden)]
pub mod readiness;
mod segments;
mod slices;
mod sock;
mod stream;
mod stream_inner;
#[cfg(feature = "tokio")]
mod stream_poll;
mod timeout;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use client::{AppClient, ClientCounters};
pub use config::{AttachConfig, scope};
pub use connecting::CtConnecting;
pub use ct_app_interface::SessionError;
pub use error::{ClientError, client_error, error_kind, session_error, to_io};
pub use halves::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use listener::{CtListener, DEFAULT_BACKLOG};
pub use slices::{ReadSlices, WriteSlices};
pub use stream::{CtStream, StreamCounters};
