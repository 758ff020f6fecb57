//! The cut-through (ct) transport: sessions between two apps of one stack
//! paired through shared-memory fifos, with no copy inside the stack (VPP:
//! `application_local.c`, as of the reference commit, with the fixes VPP
//! made to it later).
//!
//! A client app connects to a local listener; the connect travels to a
//! worker (round-robin, main skipped when there are workers), which creates
//! the server's session with fifos in a custom-use segment of the server's
//! listen segment manager and tells the server. Once the server accepts
//! ([`session::Worker::session_accepted_reply`]), the client's session is
//! created on the same worker with the server's fifos crossed (the client's
//! rx is the server's tx) and the client is told. From then on the apps
//! move data through the fifos; ct only turns TX events into RX events for
//! the peer ([`session::Transport::custom_tx`]) and dequeue notifications
//! into TX events for the writer ([`session::Transport::app_rx_evt`]).
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
//! use std::sync::Arc;
//! use session::{SessionConfig, SessionMain, TransportProto, SessionType};
//! use transport_ct::{CtConfig, CtMain};
//!
//! # struct NoApps(segment_manager::SegmentManagers);
//! # impl transport_ct::CtAppLayer for NoApps {
//! #     fn app_index(&self, _: u32) -> Option<u32> { None }
//! #     fn has_global_scope(&self, _: u32) -> bool { false }
//! #     fn local_table(&self, _: u32) -> Option<session::LocalTableId> { None }
//! #     fn app_listener(&self, _: u32, _: &session::SessionEndpoint) -> Option<session::ListenerHandle> { None }
//! #     fn listener_select_worker(&self, _: &session::Session) -> Option<u32> { None }
//! #     fn listen_segment_manager(&self, _: u32, _: &session::Session)
//! #         -> Option<fifo_segment::sync::Arc<segment_manager::SegmentManager>> { None }
//! #     fn connect_segment_manager(&self, _: u32)
//! #         -> Option<fifo_segment::sync::Arc<segment_manager::SegmentManager>> { None }
//! #     fn segment_managers(&self) -> &segment_manager::SegmentManagers { &self.0 }
//! # }
//! let (main, _workers) = SessionMain::new(SessionConfig::new(2));
//! let ct = CtMain::new(CtConfig::default());
//! // The stack's app layer implements CtAppLayer (here a stand-in).
//! let apps = Arc::new(NoApps(segment_manager::SegmentManagers::new(3)));
//! ct.register(&main, apps).unwrap();
//! assert!(main.transports().get_for(SessionType::new(TransportProto::Ct, false)).is_ok());
//! // Connects spread over workers 1 and 2, never main.
//! assert_eq!(CtMain::connect_thread(2, 1), 2);
//! assert_eq!(CtMain::connect_thread(2, 2), 1);
//! ```
#![forbid(unsafe_code)]

mod accept;
mod app_layer;
mod apps;
mod close;
mod connect;
mod connection;
mod ct_main;
mod half_open;
mod pending;
mod pool;
mod segments;
mod transport;
mod tx;
mod worker;

pub use apps::CtAppLayer;
pub use connection::{CtConnFlags, CtConnection, INVALID_WRK};
pub use ct_main::{CtConfig, CtMain};
pub use half_open::HalfOpens;
pub use pending::{FwrkPending, MAX_CONNECTS_PER_RUN, PendingConnects};
pub use pool::CtConnId;
pub use segments::{
    CtSegRef, CtSegmentFlags, CtSegmentInfo, CtSegments, DEFAULT_MIN_SEGMENT_SIZE,
    FIFO_PAIR_MARGIN, RemovedSegment, SegCtxKey, Side,
};
pub use worker::{CtWorker, MAX_CLEANUPS_PER_RUN};
