//! The transport interface: what a transport plugs into the session layer
//! (VPP `transport_proto_vft_t`), its options, and the connection fields
//! every transport shares (VPP `transport_connection_t`).

use std::fmt;
use std::net::IpAddr;

use crate::transport_format::{CliLine, Verbosity};
use crate::transport_id::TransportConnId;
use crate::worker::Worker;
use crate::{SessionEndpointCfg, SessionError, SessionHandle, TransportProto};

bitflags::bitflags! {
    /// Transport connection flags (VPP `transport_connection_flags_t`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TransportConnectionFlags: u8 {
        /// The connection is not in the session lookup tables (ct).
        const NO_LOOKUP = 1 << 0;
        /// Connection is tx paced.
        const IS_TX_PACED = 1 << 1;
        /// The connection is descheduled from tx.
        const DESCHED = 1 << 2;
        /// Connectionless.
        const CLESS = 1 << 3;
    }
}

/// The fields every transport connection has (VPP `transport_connection_t`).
/// Transports embed one in their connection and hand copies to the session
/// layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportConnection {
    /// Local address.
    pub lcl_ip: IpAddr,
    /// Remote address.
    pub rmt_ip: IpAddr,
    /// Local port (host order).
    pub lcl_port: u16,
    /// Remote port (host order).
    pub rmt_port: u16,
    /// Transport protocol the connection is registered under.
    pub proto: TransportProto,
    /// Thread that owns the connection.
    pub thread_index: u32,
    /// The connection's id in its transport's pool on that thread (VPP
    /// `c_index`, plus the slot's generation).
    pub conn_id: TransportConnId,
    /// The session the connection belongs to (a half-open's session for
    /// half-opens, the listen session for listeners); `None` until attached.
    pub session: Option<SessionHandle>,
    /// Flags.
    pub flags: TransportConnectionFlags,
}

impl TransportConnection {
    /// A connection with unspecified ip4 addresses, zero ports and no session.
    pub fn new(proto: TransportProto, thread_index: u32, conn_id: TransportConnId) -> Self {
        let any = IpAddr::from([0u8, 0, 0, 0]);
        TransportConnection {
            lcl_ip: any,
            rmt_ip: any,
            lcl_port: 0,
            rmt_port: 0,
            proto,
            thread_index,
            conn_id,
            session: None,
            flags: TransportConnectionFlags::empty(),
        }
    }

    /// Whether the connection is ip4.
    pub fn is_ip4(&self) -> bool {
        self.lcl_ip.is_ipv4()
    }

    /// The session, or [`SessionError::NoSession`] when none is attached.
    pub fn session(&self) -> Result<SessionHandle, SessionError> {
        self.session.ok_or(SessionError::NoSession)
    }

    /// VPP's connection id: `[thread:session][S:P] lcl:port->rmt:port`, where
    /// `S` is the transport's short name and `P` the short name of the
    /// protocol the app sees (they differ for ct: `[CT:T]`).
    pub fn format_id(&self, transport_short: &str, actual_tp: TransportProto) -> String {
        let s_index = self.session.map_or(u32::MAX, |h| h.session_index());
        format!(
            "[{}:{}][{}:{}] {}:{}->{}:{}",
            self.thread_index,
            s_index as i32,
            transport_short,
            actual_tp.short_name(),
            self.lcl_ip,
            self.lcl_port,
            self.rmt_ip,
            self.rmt_port
        )
    }
}

/// How a transport sends (VPP `transport_tx_fn_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportTxType {
    /// Stream transport sending through the session layer's tx path.
    Peek,
    /// Datagram transport.
    Dgram,
    /// The transport moves data itself (`custom_tx`, as ct does).
    Internal,
}

/// What service a transport offers (VPP `transport_service_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportServiceType {
    /// Virtual circuit: connect creates a half-open, then an established session.
    Vc,
    /// Connectionless.
    Cl,
    /// Application-level transport.
    App,
}

/// A transport's registration options (VPP `transport_options_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportOptions {
    /// Long name ("ct").
    pub name: &'static str,
    /// Short name used in `show session` lines ("C").
    pub short_name: &'static str,
    /// How the transport sends.
    pub tx_type: TransportTxType,
    /// The service it offers.
    pub service_type: TransportServiceType,
}

/// A transport, as the session layer sees it (VPP `transport_proto_vft_t`).
///
/// Calls that run on a worker get that worker (`&mut Worker`): the
/// transport keeps its per-thread state in the worker
/// ([`Worker::local_state_mut`]) and uses the worker's sessions and
/// queues. Listeners are handled on thread 0; connects on the transport's
/// connect thread ([`crate::SessionMain::transport_cl_thread`]); the rest on
/// the connection's thread. `get_listener` and `get_half_open` may be called
/// from any thread, so a transport keeps listeners and half-opens where any
/// thread can read them soundly (moved or locked, never read unlocked from
/// another thread's pool).
///
/// Connections, listeners and half-opens are named by [`TransportConnId`]
/// (index and generation): the transport checks the generation on every
/// call, so a stale id finds nothing (`None`, an error, or no effect for
/// the calls that return nothing) instead of whatever reused the slot.
///
/// The `format_*` methods write VPP's `show session` text for the object
/// (id padded to 60 columns, then the state in 15 when the verbosity shows
/// it; see [`crate::CliLine`]); [`crate::TransportDisplay`] makes a
/// `Display` of them.
pub trait Transport: Send + Sync {
    /// Name, short name, tx type, service type.
    fn options(&self) -> TransportOptions;

    /// Enables or disables the transport for the stack (VPP `enable`), once,
    /// before any worker runs.
    fn enable(&self, main: &crate::SessionMain, is_en: bool) -> Result<(), SessionError> {
        let _ = (main, is_en);
        Ok(())
    }

    /// Starts listening on `sep` for the listen session `listener`; returns
    /// the listener's id. Runs on thread 0.
    fn start_listen(
        &self,
        wrk: &mut Worker,
        listener: SessionHandle,
        sep: &SessionEndpointCfg,
    ) -> Result<TransportConnId, SessionError>;

    /// Stops the listener `listener` ([`SessionError::NoListen`] if stale).
    /// Runs on thread 0.
    fn stop_listen(&self, wrk: &mut Worker, listener: TransportConnId) -> Result<(), SessionError>;

    /// Opens a connection to `sep` for the half-open session `ho`; returns
    /// the half-open's id. Runs on the connect thread.
    fn connect(
        &self,
        wrk: &mut Worker,
        sep: &SessionEndpointCfg,
        ho: SessionHandle,
    ) -> Result<TransportConnId, SessionError>;

    /// The app closed the session: close the connection gracefully (a stale
    /// `conn` does nothing).
    fn close(&self, wrk: &mut Worker, conn: TransportConnId);

    /// The app reset the session (VPP falls back to close when a transport
    /// has no reset).
    fn reset(&self, wrk: &mut Worker, conn: TransportConnId) {
        self.close(wrk, conn)
    }

    /// Frees the connection; no delete notification follows (a stale
    /// `conn` does nothing).
    fn cleanup(&self, wrk: &mut Worker, conn: TransportConnId);

    /// Frees the half-open `ho` (a stale one does nothing).
    fn cleanup_ho(&self, wrk: &mut Worker, ho: TransportConnId);

    /// The connection's common fields, if it is live on this worker.
    fn get_connection(&self, wrk: &Worker, conn: TransportConnId) -> Option<TransportConnection>;

    /// The listener's common fields, if it is live (any thread).
    fn get_listener(&self, wrk: &Worker, listener: TransportConnId) -> Option<TransportConnection>;

    /// The half-open's common fields, if it is live (any thread).
    fn get_half_open(&self, wrk: &Worker, ho: TransportConnId) -> Option<TransportConnection>;

    /// The app wrote to `session`'s tx fifo (a TX event): send. Returns how
    /// much work was done (VPP counts it as packets sent).
    fn custom_tx(&self, wrk: &mut Worker, session: SessionHandle) -> Result<u32, SessionError> {
        let _ = (wrk, session);
        Err(SessionError::NoSupport)
    }

    /// The app dequeued from a fifo whose producer asked for a dequeue
    /// notification (the async rx event): tell the producer's side.
    fn app_rx_evt(&self, wrk: &mut Worker, conn: &TransportConnection) -> Result<(), SessionError> {
        let _ = (wrk, conn);
        Err(SessionError::NoSupport)
    }

    /// The app accepted `session`, which this transport created without a
    /// transport connection of its own to finish (VPP's special case for
    /// cut-through in `session_mq_accepted_reply_handler`): ct creates the
    /// client's session and tells the client here. The session is Ready.
    /// Transports that finish accepts themselves keep the default.
    fn app_accepted(&self, wrk: &mut Worker, session: SessionHandle) -> Result<(), SessionError> {
        let _ = (wrk, session);
        Ok(())
    }

    /// Pending work the transport does on every worker loop iteration;
    /// returns whether it did any. Most transports use RPCs instead.
    fn worker_poll(&self, wrk: &mut Worker) -> bool {
        let _ = wrk;
        false
    }

    /// Writes the connection's `show session` text into `f`. The default
    /// writes VPP's row for what [`Transport::get_connection`] gives (its
    /// id, "ESTABLISHED" when verbose) and nothing for an unknown id.
    fn format_connection(
        &self,
        wrk: &Worker,
        conn: TransportConnId,
        verbosity: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write_row(f, self.get_connection(wrk, conn), verbosity, "ESTABLISHED")
    }

    /// Writes the listener's `show session` text into `f` (by default as
    /// [`Transport::format_connection`], state "LISTEN").
    fn format_listener(
        &self,
        wrk: &Worker,
        listener: TransportConnId,
        verbosity: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write_row(f, self.get_listener(wrk, listener), verbosity, "LISTEN")
    }

    /// Writes the half-open's `show session` text into `f` (by default as
    /// [`Transport::format_connection`], state "HALF-OPEN").
    fn format_half_open(
        &self,
        wrk: &Worker,
        ho: TransportConnId,
        verbosity: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write_row(f, self.get_half_open(wrk, ho), verbosity, "HALF-OPEN")
    }
}

/// The default `format_*` row: the connection's id, and `state` when the
/// verbosity shows states.
fn write_row(
    f: &mut fmt::Formatter<'_>,
    tc: Option<TransportConnection>,
    verbosity: Verbosity,
    state: &str,
) -> fmt::Result {
    match tc {
        Some(tc) => fmt::Display::fmt(
            &CliLine {
                id: &tc.to_string(),
                state: verbosity.shows_state().then_some(state),
            },
            f,
        ),
        None => Ok(()),
    }
}

impl fmt::Display for TransportConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_id(self.proto.short_name(), self.proto))
    }
}
