//! `CtConnection`: a ct transport connection (VPP `ct_connection_t`): the
//! common transport fields plus the peer link, the two app workers, the
//! segment accounting and, on the client side, the server's fifos crossed.

use ct_fifo_segment::Fifo;
use ct_segment_manager::SegmentHandle;
use ct_session::{ListenerHandle, TransportConnection, TransportProto};

use crate::pool::CtConnId;
use crate::segments::CtSegRef;

bitflags::bitflags! {
    /// ct connection flags (VPP `ct_connection_flags_t`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct CtConnFlags: u8 {
        /// The connecting side.
        const CLIENT = 1 << 0;
        /// Client side whose server has not accepted yet.
        const HALF_OPEN = 1 << 1;
        /// The app reset the session: the peer gets a reset, not a close.
        const RESET = 1 << 2;
    }
}

/// VPP's `APP_INVALID_INDEX` for the app worker fields.
pub const INVALID_WRK: u32 = u32::MAX;

/// The client generation of a connection with no client (listeners).
pub const INVALID_GENERATION: u32 = u32::MAX;

/// A ct connection. Established connections live in their worker's pool;
/// half-opens on the connect thread's locked pool; listeners in a locked
/// pool any thread may read.
#[derive(Debug, Clone)]
pub struct CtConnection {
    /// Common transport fields; `tc.session` is this side's session (the
    /// half-open session for half-opens, the listen session for listeners).
    pub tc: TransportConnection,
    /// The other side, on the same thread (`None` once it closed).
    pub peer: Option<CtConnId>,
    /// Half-opens: the listener connected to.
    pub listener: Option<ListenerHandle>,
    /// Client app worker.
    pub client_wrk: u32,
    /// The client app worker's generation at connect time: a worker that
    /// later takes `client_wrk`'s index is not this connect's client.
    pub client_generation: u32,
    /// Server app worker.
    pub server_wrk: u32,
    /// The client's connect opaque.
    pub client_opaque: u32,
    /// The protocol the apps asked for (the `T` of `[CT:T]`).
    pub actual_tp: TransportProto,
    /// Where the session's fifos are accounted.
    pub seg: Option<CtSegRef>,
    /// The segment holding the fifos.
    pub segment_handle: Option<SegmentHandle>,
    /// Client side: what the client reads (the server's tx fifo).
    pub client_rx_fifo: Option<Fifo>,
    /// Client side: what the client writes (the server's rx fifo).
    pub client_tx_fifo: Option<Fifo>,
    /// Flags.
    pub flags: CtConnFlags,
}

impl CtConnection {
    /// A blank connection for `id` on `thread` (VPP `ct_connection_alloc`).
    pub fn new(id: CtConnId, thread: u32) -> Self {
        Self {
            tc: TransportConnection::new(TransportProto::Ct, thread, id),
            peer: None,
            listener: None,
            client_wrk: INVALID_WRK,
            client_generation: INVALID_GENERATION,
            server_wrk: INVALID_WRK,
            client_opaque: 0,
            actual_tp: TransportProto::Tcp,
            seg: None,
            segment_handle: None,
            client_rx_fifo: None,
            client_tx_fifo: None,
            flags: CtConnFlags::empty(),
        }
    }

    /// The connection's id in its pool.
    pub fn id(&self) -> CtConnId {
        self.tc.conn_id
    }

    /// The connecting side?
    pub fn is_client(&self) -> bool {
        self.flags.contains(CtConnFlags::CLIENT)
    }

    /// A client connection's ends, as its local port is held by.
    pub fn client_ends(&self) -> crate::ClientEnds {
        crate::ClientEnds {
            lcl_ip: self.tc.lcl_ip,
            lcl_port: self.tc.lcl_port,
            rmt_ip: self.tc.rmt_ip,
            rmt_port: self.tc.rmt_port,
        }
    }

    /// VPP's connection id text: `[thread:session][CT:T] lcl:port->rmt:port`.
    pub fn format_id(&self) -> String {
        self.tc.format_id("CT", self.actual_tp)
    }
}
