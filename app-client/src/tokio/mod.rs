//! Async listeners and streams for tokio (the `tokio` feature), shaped
//! as tokio's `TcpListener` / `TcpStream`: [`CtListener::bind`] and
//! [`CtListener::accept`], [`CtStream::connect`], `AsyncRead` /
//! `AsyncWrite` on streams and their halves ([`CtStream::split`],
//! [`CtStream::into_split`]), `shutdown()` the half-close of the write
//! side.
//!
//! They are the std types' sessions (one implementation: a std stream
//! converts with [`CtStream::from_std`]), waited for without a thread:
//! a task that finds nothing to do spins cooperatively for a short
//! adaptive spell, then registers its waker with the session's readiness
//! and parks. One task per app worker, spawned on the first wait, drains
//! the worker's queues when its fd fires and wakes the tasks the events
//! are for (`driver.rs`); when the daemon goes every parked task wakes
//! with an error. Use them inside a tokio runtime (current-thread or
//! multi-thread).
//!
//! ```
//! use ct_app_client::tokio::{CtListener, CtStream};
//! use ct_app_client::{AppClient, AttachConfig};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # fn main() -> std::io::Result<()> {
//! # let sock = std::env::temp_dir().join(format!("app-client-doc-tokio-{}.sock", std::process::id()));
//! # let daemon = ct_stackd::Stackd::start(ct_stackd::StackdConfig::new(&sock)).unwrap();
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     let app = AppClient::attach(&sock, AttachConfig::new("doc-tokio"))?;
//!     let listener = CtListener::bind(&app, "127.0.0.1:7200".parse().unwrap())?;
//!     let addr = listener.local_addr()?;
//!     let server = tokio::spawn(async move {
//!         let (mut s, _) = listener.accept().await?;
//!         let mut buf = [0u8; 4];
//!         s.read_exact(&mut buf).await?;
//!         s.write_all(&buf).await?;
//!         std::io::Result::Ok(())
//!     });
//!     let mut c = CtStream::connect(&app, addr).await?;
//!     c.write_all(b"ping").await?;
//!     let mut buf = [0u8; 4];
//!     c.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"ping");
//!     server.await.unwrap()
//! })?;
//! # drop(rt);
//! # assert!(daemon.stop().is_empty());
//! # Ok(())
//! # }
//! ```

pub(crate) mod driver;
mod listener;
mod stream;

pub use listener::CtListener;
pub use stream::{CtStream, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
