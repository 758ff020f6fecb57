//! Applications and app workers on the ct-stack session layer (VPP:
//! `application.c`, `application_worker.c`, `application_namespace.c`,
//! `application_interface.h`).
//!
//! - [`Apps`] is the app layer a stack owns: applications, app workers
//!   (generational handles), app listeners and namespaces. It implements
//!   the session layer's [`AppLayer`](ct_session::AppLayer): it
//!   allocates accepted and connected sessions' fifos from the right
//!   segment manager and delivers events, as callbacks to builtin apps
//!   ([`AppCallbacks`]), or as the session layer's [`AppEvent`]s, resolved
//!   (a new session's fifos, a new segment), on a bounded queue to
//!   in-process ones ([`AppQueue`], congestion when full) or handed to an
//!   [`AppSink`] (apps in other processes; a sink may be congested too).
//!   Control calls ([`Apps::listen`], [`Apps::connect`], ...) take the
//!   `&mut Worker` they run on, so an input polling app queues (stackd)
//!   runs them from a worker.
//! - Control: attach with [`AttachOptions`] (scope, namespace + secret,
//!   sizes, kind), [`Apps::listen`] into the global and/or local table per
//!   scope, [`Apps::connect`] (local scope goes through the ct transport
//!   when registered), disconnect, reset, accept reply, detach.
//! - [`AppSession`]: the app's end of a session: fifo reads and writes with
//!   the events the session's worker needs, zero-copy, `std::io::Read` /
//!   `Write`, blocking or not.
//! - [`Stack`] ties session layer, runtime, segment managers and apps
//!   together; [`StackHandle`] is its control surface for app threads.
//!
//! Deviations from VPP, each for a reason:
//! - Segment add/del notifications are async app events like the rest (a
//!   segment manager's hook records them, the app layer queues them right
//!   after the call), so an app cannot refuse a segment synchronously.
//! - Sessions record app workers by pool index only (as VPP); the pool
//!   reuses the oldest free slot, and detach closes every session of the
//!   worker first, so an index is not reused while sessions name it.
//! - There are no interface addresses: a listen is not checked against the
//!   namespace's fib (VPP's `InvalidNs`), and a local-only app listening on
//!   a non-local address gets [`SessionError::Scope`](ct_session::SessionError)
//!   (VPP: -1).
//! - Closing a session with unread data in its rx fifo resets it, for every
//!   transport (VPP leaves it to ct and VCL).
//! - App names are unique per namespace and owner ([`AttachOptions::owner`],
//!   stackd's peer uid), not globally as in VPP: a second app with a name
//!   its owner holds in the namespace is `AppAttached` (VPP
//!   `SESSION_E_APP_ATTACHED`).
//!
//! ```
//! use std::net::Ipv4Addr;
//! use ct_app_worker::{AppKind, AttachOptions, Scope, Stack};
//! use ct_session::{SessionEndpoint, SessionError, TransportProto};
//!
//! let mut stack = Stack::new(0).unwrap();
//! let client = stack
//!     .attach(AttachOptions::new("client", AppKind::InProcess).with_scope(Scope::LOCAL))
//!     .unwrap();
//! let zero = SessionEndpoint::new(Ipv4Addr::UNSPECIFIED.into(), 80, TransportProto::Tcp);
//! assert_eq!(stack.connect(client.app_wrk, zero, 0), Err(SessionError::InvalidRmtIp));
//! stack.detach(client.app).unwrap();
//! ```

mod app_layer;
mod app_worker;
mod application;
mod apps;
mod callbacks;
mod control;
mod detach;
mod handle;
mod io;
mod listener;
mod namespace;
mod options;
mod pool;
mod queue;
mod sink;
mod stack;
mod waker;

pub use app_worker::AppWorker;
pub use application::Application;
pub use apps::{Apps, AttachReply};
pub use callbacks::{AppCallbacks, AppCtx};
/// The session layer's app events and session fifos, as apps receive them.
pub use ct_session::{AppEvent, SessionFifos};
pub use detach::DetachHow;
pub use handle::{AppHandle, AppListenerHandle, AppWorkerHandle};
pub use io::{AppSession, IoMode};
pub use listener::AppListener;
pub use namespace::{AppNamespace, DEFAULT_NAMESPACE, NamespaceConfig};
pub use options::{AppKind, AttachOptions, DEFAULT_EVT_QUEUE_SIZE, Scope};
pub use queue::AppQueue;
pub use sink::AppSink;
pub use stack::{Stack, StackHandle};
pub use waker::SessionWaker;
