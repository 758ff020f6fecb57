//! What a ct-stack app and the stack trade across a process boundary (VPP
//! `application_interface.h` and the app socket API): the records on the
//! app socket, the messages on the shared-memory message queues, and the
//! app-side session I/O that builtin apps (app-worker) and apps in other
//! processes (app-client) both use.
//!
//! - [`SessionError`]: the stack's typed errors, with their wire numbers
//!   ([`SessionError::code`], VPP's `session_error_t`).
//! - [`wire`]: [`AppMsg`] (app to stack) and [`StackMsg`] (stack to app) on
//!   an app worker's queues, [`SapiMsg`] records on the app socket. Every
//!   decoder is total: a peer's bytes give a message or a [`WireError`].
//! - [`io`]: the app's end of a session's fifos (reads, writes, zero-copy
//!   slices) and the events it owes the worker, sent through an
//!   [`IoEvtSink`]: one direction each in [`io::RxEnd`] and
//!   [`io::TxEnd`], both in [`SessionIo`].
//! - [`sapi`]: the app socket ([`SapiListener`], [`SapiSocket`]): records
//!   with fds over `SCM_RIGHTS`, peer credentials, every received fd
//!   closed when a record is refused.
//!
//! This crate depends on fifo-segment only: a program that talks to the
//! stack daemon links it without the session layer.
//!
//! # Example
//!
//! A connect reply, as the stack puts it on an app's event queue and the
//! app reads it back:
//!
//! ```
//! use ct_app_interface::wire::{FifoRef, SegmentRef, SessionRef, StackMsg, WireEndpoint};
//! use ct_app_interface::SessionError;
//!
//! let segment = SegmentRef { handle: 3, generation: 1 };
//! let msg = StackMsg::Connected {
//!     opaque: 42,
//!     error: 0,
//!     session: SessionRef::new(1, 17, 2),
//!     rx: FifoRef { segment, offset: 4096 },
//!     tx: FifoRef { segment, offset: 8192 },
//!     lcl: "10.0.0.1:50000".parse::<std::net::SocketAddr>().unwrap().into(),
//!     rmt: "10.0.0.2:80".parse::<std::net::SocketAddr>().unwrap().into(),
//! };
//! let bytes = msg.encode(); // what goes into the queue
//! assert_eq!(StackMsg::decode(&bytes), Ok(msg));
//!
//! // A failed connect carries VPP's error number.
//! let failed = StackMsg::connect_failed(43, SessionError::Refused.code());
//! match StackMsg::decode(&failed.encode()) {
//!     Ok(StackMsg::Connected { error, .. }) => {
//!         assert_eq!(SessionError::check_code(error), Err(SessionError::Refused));
//!     }
//!     other => panic!("{other:?}"),
//! }
//!
//! // Bytes from a peer are untrusted: garbage is an error, not a panic.
//! assert!(StackMsg::decode(&[0xff, 1, 2]).is_err());
//! # let _ = WireEndpoint::default();
//! ```

mod error;
pub mod io;
pub mod sapi;
pub mod wire;

pub use error::SessionError;
pub use io::{IoError, IoEvt, IoEvtSink, SessionIo};
pub use sapi::{SapiError, SapiListener, SapiSocket};
pub use wire::{AppMsg, SapiMsg, StackMsg, WireError};
