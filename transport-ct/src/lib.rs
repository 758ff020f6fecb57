//! The cut-through (ct) transport: sessions between two apps of one stack
//! paired through shared-memory fifos, with no copy inside the stack (VPP:
//! `application_local.c`, as of the reference commit, with the fixes VPP
//! made to it later).
//!
//! A client app connects to a local listener; the connect travels to a
//! worker (round-robin, main skipped when there are workers), which creates
//! the server's session with fifos in a custom-use segment of the server's
//! listen segment manager and tells the server. Once the server accepts
//! ([`ct_session::Worker::session_accepted_reply`]), the client's session is
//! created on the same worker with the server's fifos crossed (the client's
//! rx is the server's tx) and the client is told. From then on the apps
//! move data through the fifos; ct only turns TX events into RX events for
//! the peer ([`ct_session::Transport::custom_tx`]) and dequeue notifications
//! into TX events for the writer ([`ct_session::Transport::app_rx_evt`]).
//!
//! - [`CtMain`]: the transport's state, a value the stack owns and registers
//!   for (Ct, ip4) and (Ct, ip6) with [`CtMain::register`].
//! - [`CtAppLayer`]: what ct needs from the app layer.
//! - [`CtConnection`], [`CtConnId`]: connections and their generational ids.
//! - [`CtSegments`]: the segment accounting (rwlock + atomic counters).
//!
//! Threads: established connections live in their worker's local state;
//! half-opens in a locked pool (accepting workers move them out); listeners
//! in a pool any thread may read. See the crate README for the differences
//! from the reference.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use ct_app_worker::{AppKind, AppEvent, AppSession, AttachOptions, Scope, Stack};
//! use ct_session::{SessionEndpoint, TransportProto};
//! use ct_transport_ct::{CtConfig, CtMain};
//!
//! // A stack stepped on this thread, with ct registered for (Ct, ip4/ip6).
//! let mut stack = Stack::new(0).unwrap();
//! let ct = CtMain::new(CtConfig { min_segment_size: 1 << 20, ..Default::default() });
//! ct.register(stack.main(), stack.apps().clone()).unwrap();
//!
//! let app = |name| AttachOptions::new(name, AppKind::InProcess).with_scope(Scope::LOCAL);
//! let server = stack.attach(app("server")).unwrap();
//! let client = stack.attach(app("client")).unwrap();
//! let ep = SessionEndpoint::new(Ipv4Addr::LOCALHOST.into(), 8000, TransportProto::Tcp);
//! stack.listen(server.app_wrk, ep).unwrap();
//! stack.connect(client.app_wrk, ep, 42).unwrap();
//! stack.run_until_idle().unwrap();
//!
//! // The server accepts; only then is the client connected.
//! let (sq, cq) = (server.queue.unwrap(), client.queue.unwrap());
//! let sf = sq.drain().into_iter().find_map(|m| match m {
//!     AppEvent::Accepted { session: fifos, .. } => Some(fifos),
//!     _ => None,
//! }).unwrap();
//! stack.accept_reply(server.app_wrk, sf.session, Ok(())).unwrap();
//! stack.run_until_idle().unwrap();
//! let cf = cq.drain().into_iter().find_map(|m| match m {
//!     AppEvent::Connected { opaque: 42, result } => Some(result.unwrap()),
//!     _ => None,
//! }).unwrap();
//!
//! // Data goes app -> shared fifo -> app; ct only moves the events.
//! let mut c = AppSession::from_fifos(stack.main().clone(), &cf).unwrap();
//! let mut s = AppSession::from_fifos(stack.main().clone(), &sf).unwrap();
//! c.write(b"hello").unwrap();
//! stack.run_until_idle().unwrap();
//! let mut buf = [0u8; 5];
//! assert_eq!(s.read(&mut buf).unwrap(), 5);
//! assert_eq!(&buf, b"hello");
//! assert_eq!(ct.segments().len(), 1);
//! ```

mod accept;
mod app_layer;
mod app_layer_impl;
mod client_ports;
mod close;
mod connect;
mod connection;
mod ct_main;
mod half_open;
mod linger;
mod pending;
mod pool;
mod segments;
mod server_fifos;
mod transport;
mod tx;
mod worker;

pub use app_layer::CtAppLayer;
pub use client_ports::{ClientEnds, ClientPorts};
pub use connection::{CtConnFlags, CtConnection, INVALID_GENERATION, INVALID_WRK};
pub use ct_main::{CtConfig, CtMain};
pub use half_open::HalfOpens;
pub use pending::{FwrkPending, MAX_CONNECTS_PER_RUN, PendingConnects};
pub use pool::CtConnId;
pub use segments::{
    CtSegRef, CtSegmentFlags, CtSegmentInfo, CtSegments, DEFAULT_MIN_SEGMENT_SIZE,
    FIFO_PAIR_MARGIN, RemovedSegment, SegCtxKey, Side,
};
pub use server_fifos::{CtSegmentEvents, CtServerFifos};
pub use worker::{CtWorkerState, MAX_CLEANUPS_PER_RUN};
