//! The session layer: sessions, lookup tables, the transport registry, the
//! worker runtime and async app events (VPP: `session.c`, `session_lookup.c`,
//! `transport.c`, `session_input.c`).
//!
//! # Shape
//!
//! - [`SessionMain`] (shared, `Arc`): the number of workers, the
//!   [`TransportRegistry`], the [`SessionLookup`] tables, the listen
//!   sessions, one queue sender per thread and the [`AppLayer`]
//!   (installed once). No statics: a stack owns it.
//! - [`Worker`] (one per thread, owned by it): its [`SessionPool`] (slab
//!   plus generations: a stale [`SessionHandle`] is an error, never another
//!   session), its queue, its per-app-worker event fifos, local state for
//!   transports and the app layer ([`Worker::local_state_mut`]), and
//!   [`WorkerCounters`]. Transports and the app layer are called with
//!   `&mut Worker`, so they use this thread's sessions and queue RPCs to
//!   other threads ([`Worker::send_rpc_evt_to_thread_force`]).
//! - Queue events: RPCs (closures run on the worker), IO events from apps
//!   ([`IoEvent::Tx`] runs the transport's `custom_tx`,
//!   [`IoEvent::RxDequeue`] its `app_rx_evt`) and close/reset control
//!   events. [`Worker::poll`] handles what was queued before it (at most a
//!   batch), the transports' pending work, then session-input.
//! - [`Runtime`]: the same loop stepped by one test thread
//!   ([`Runtime::stepping`], [`Runtime::run_until_idle`]: deterministic) or
//!   on one thread per worker ([`Runtime::threaded`]: idle workers spin
//!   briefly then sleep on their [`WorkerParker`], unless told to poll;
//!   senders unpark only a worker whose `sleeping` flag is set, see
//!   [`WorkerWake`]).
//! - [`WorkerInput`]s: other sources of work every worker polls
//!   ([`SessionMain::add_worker_input`]; stackd's app message queues), each
//!   taking part in the sleep hand-off through `prepare_sleep` / `woke`.
//!   [`Worker::io_event`] runs an app's IO event at once, for an input on
//!   the session's thread.
//!   [`Runtime::call`] runs a closure on a worker and returns its result in
//!   both modes ([`SessionMain::call_blocking`] from app threads when
//!   threaded). Code already on a worker never goes through `call`.
//! - [`Transport`] is VPP's `transport_proto_vft_t` as far as a session
//!   layer needs it; [`TransportConnection`] the fields all connections
//!   share. The session layer dispatches by protocol through the registry
//!   and never names a transport.
//! - [`Session`], [`SessionState`] (VPP order; transitions only move
//!   forward, except a rejected accept: an illegal one asserts in debug and
//!   is [`SessionError::WrongState`] in release), [`SessionFlags`].
//!
//! Threads: thread 0 is main, 1..=n workers. Listen sessions are thread 0's,
//! in a pool of their own that every thread can read (workers look at
//! listeners on every accept); their indices start at
//! [`LISTENER_INDEX_BASE`] so they never collide with thread 0's other
//! sessions. Half-opens live on the connect thread
//! ([`SessionMain::transport_cl_thread`]); notifications about them from
//! other threads are moved there as RPCs instead of writing another
//! thread's pool.
//!
//! # Async app events
//!
//! Notifications for apps ([`Worker::session_enqueue_notify`],
//! [`Worker::app_worker_accept_notify`], ...) queue an [`AppEvent`] (as a [`QueuedAppEvent`]) in the
//! app worker's fifo on the session's thread; the first one marks the app
//! worker pending. Session-input ([`Worker::session_input`], part of every
//! poll) flushes pending app workers in index order, at most
//! [`APP_EVENTS_PER_FLUSH`] events each per run. RX events coalesce through
//! [`SessionFlags::RX_EVT`]; an RX for a session still accepting is dropped.
//! An app whose queue is full answers [`Congested`]: the events stay, in
//! order, for the next run. Deleting an app worker drains its events
//! ([`Worker::app_worker_del_all_events`]), running the cleanups they carry.
//!
//! # Differences from VPP
//!
//! - Listen sessions have their own pool (shared, behind a lock) instead of
//!   sitting in main's session pool, because workers read them; see
//!   [`LISTENER_INDEX_BASE`].
//! - Half-open notifications from other threads run as RPCs on the
//!   half-open's thread instead of writing its pool from afar.
//! - RX coalescing is done by [`Worker::session_enqueue_notify`] itself
//!   (VPP coalesces in the transports' enqueue path), so transports that
//!   call it directly, as ct does, get it too.
//! - Worker queues are unbounded crossbeam channels: a send never fails for
//!   lack of room (VPP's message queue can be full).
//! - Dropping the unsent data of a fifo ([`Worker::session_reset`], reset
//!   and delete notifications) is done only when this side can take the
//!   fifo's consumer role; a ct fifo read by the peer app is left to it.
//! - Connection 5-tuple and half-open lookup tables are not kept: the one
//!   transport the stack has (ct) sets `NO_LOOKUP`.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use ct_sync::Mutex;
//! use ct_session::*;
//!
//! /// An app layer that records what it is told.
//! struct Recorder(Mutex<Vec<String>>);
//! impl AppLayer for Recorder {
//!     fn app_worker_is_valid(&self, app_wrk: u32) -> bool { app_wrk == 1 }
//!     fn init_accepted(&self, _: &mut Worker, _: SessionHandle) -> Result<(), SessionError> { Ok(()) }
//!     fn init_connected(&self, _: &mut Worker, _: u32, _: SessionHandle) -> Result<(), SessionError> { Ok(()) }
//!     fn deliver(&self, _: &mut Worker, _: u32, e: &QueuedAppEvent) -> Result<(), Congested> {
//!         self.0.lock().push(e.name().to_string());
//!         Ok(())
//!     }
//!     fn dealloc_fifos(&self, _: &mut Worker, _: Option<ct_fifo_segment::Fifo>, _: Option<ct_fifo_segment::Fifo>) {}
//! }
//!
//! let (main, workers) = SessionMain::new(SessionConfig::new(1));
//! let app = Arc::new(Recorder(Mutex::new(Vec::new())));
//! main.set_app_layer(app.clone()).unwrap();
//! let mut rt = Runtime::stepping(main, workers);
//!
//! // A session on worker 1 owned by app worker 1; data arrives three times.
//! let h = rt.call(1, |wrk| {
//!     let h = wrk.session_alloc(SessionType::new(TransportProto::Tcp, true))?;
//!     let s = wrk.session_get_mut(h)?;
//!     s.app_wrk_index = 1;
//!     s.set_state(SessionState::Ready)?;
//!     for _ in 0..3 {
//!         wrk.session_enqueue_notify(h)?;
//!     }
//!     Ok::<_, SessionError>(h)
//! }).unwrap().unwrap();
//! rt.run_until_idle().unwrap();
//! assert_eq!(*app.0.lock(), vec!["rx"]); // coalesced
//!
//! // Freed sessions leave stale handles behind, never reused ones.
//! rt.call(1, move |wrk| wrk.session_free(h).map(drop)).unwrap().unwrap();
//! let stale = rt.call(1, move |wrk| wrk.session_get(h).is_err()).unwrap();
//! assert!(stale);
//! ```

mod app;
mod clock;
mod control;
mod counters;
mod endpoint;
mod error;
mod events;
mod handle;
mod input;
mod lookup;
mod notify;
mod parker;
mod pool;
mod queue;
mod registry;
mod runtime;
mod session;
mod session_main;
mod state;
mod transport;
mod transport_format;
mod transport_id;
mod worker;
mod worker_input;

pub use app::{AppLayer, Congested};
pub use clock::{StackTime, WorkerClock};
pub use counters::WorkerCounters;
pub use endpoint::{FibProto, SessionEndpoint, SessionEndpointCfg, SessionType, TransportProto};
pub use error::SessionError;
pub use events::{
    APP_EVENTS_PER_FLUSH, AppEvent, CleanupFn, QueuedAppEvent, SegmentHandle, SessionFifos,
};
pub use handle::{ListenerHandle, SessionHandle};
pub use lookup::{
    EPHEMERAL_PORTS, IpPrefix, LocalLookup, LocalTableId, RuleAction, RulesTable, SessionLookup,
    SessionRule, TableId,
};
pub use parker::{ThreadParker, WorkerParker, WorkerWake};
pub use pool::SessionPool;
pub use queue::{IoEvent, Rpc};
pub use registry::TransportRegistry;
pub use runtime::{MAX_IDLE_ROUNDS, Runtime, ThreadedConfig};
pub use session::{APP_INVALID_INDEX, Session};
pub use session_main::{DEFAULT_EVENT_BATCH, LISTENER_INDEX_BASE, SessionConfig, SessionMain};
pub use state::{SessionCleanupNtf, SessionFlags, SessionState};
pub use transport::{
    Transport, TransportConnection, TransportConnectionFlags, TransportOptions,
    TransportServiceType, TransportTxType,
};
pub use transport_format::{
    CliLine, SESSION_CLI_ID_LEN, SESSION_CLI_STATE_LEN, TransportDisplay, TransportObject,
    Verbosity, format_cli_line,
};
pub use transport_id::TransportConnId;
pub use worker::Worker;
pub use worker_input::WorkerInput;
