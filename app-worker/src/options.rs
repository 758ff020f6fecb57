//! Attach options (VPP `APP_OPTIONS_*` of `vnet_app_attach_args_t`).

use std::sync::Arc;

use ct_segment_manager::{SegmentBacking, SegmentManagerProps};

use crate::callbacks::AppCallbacks;
use crate::sink::AppSink;

bitflags::bitflags! {
    /// Where an app's listeners are visible and where its connects look
    /// (VPP `APP_OPTIONS_FLAGS_USE_GLOBAL_SCOPE` / `_USE_LOCAL_SCOPE`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Scope: u8 {
        /// The fib's global session table (network-visible listeners).
        const GLOBAL = 1 << 0;
        /// The app namespace's local table (cut-through peers).
        const LOCAL = 1 << 1;
    }
}

/// Where the app lives, which decides how it hears of events.
#[derive(Clone)]
pub enum AppKind {
    /// In the stack's threads: callbacks run on the worker (VPP builtin
    /// apps, `session_cb_vft_t`).
    Builtin(Arc<dyn AppCallbacks>),
    /// In the stack's process, on its own threads: messages on a bounded
    /// queue per app worker (VPP's app message queue, here an in-process
    /// channel). A full queue is congestion: the stack keeps the events and
    /// retries.
    InProcess,
    /// In another process (what VPP calls an external app): messages handed
    /// to an [`AppSink`] on the session's worker (stackd encodes them onto
    /// the app's shared-memory queue of that thread). A sink that answers
    /// `Err` is congested: the stack keeps the events and retries, as for
    /// `InProcess`.
    OutOfProcess(Arc<dyn AppSink>),
}

impl std::fmt::Debug for AppKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppKind::Builtin(_) => f.write_str("Builtin"),
            AppKind::InProcess => f.write_str("InProcess"),
            AppKind::OutOfProcess(_) => f.write_str("OutOfProcess"),
        }
    }
}

/// Default event queue size (VPP `evt_q_size` default).
pub const DEFAULT_EVT_QUEUE_SIZE: usize = 1024;

/// What an app asks for when it attaches.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The app's name, unique per namespace and owner (VPP keeps names
    /// global; a second app with a name in use is refused with
    /// `SessionError::AppAttached`).
    pub name: String,
    /// Who the name belongs to (stackd: the peer's uid): apps of different
    /// owners never clash, so one owner can neither take nor block another
    /// owner's name. `None` for apps in the stack's own process.
    pub owner: Option<u32>,
    /// Scope; empty means global, as in VPP.
    pub scope: Scope,
    /// App namespace id; `None` is the default namespace.
    pub namespace_id: Option<String>,
    /// The namespace's secret (wrong -> `WrongNsSecret`).
    pub namespace_secret: u64,
    /// First segment size of the app's segment managers.
    pub segment_size: usize,
    /// Size of segments added later; `Some` enables adding segments (VPP
    /// `APP_OPTIONS_ADD_SEGMENT_SIZE`).
    pub add_segment_size: Option<usize>,
    /// Receive fifo size.
    pub rx_fifo_size: u32,
    /// Transmit fifo size.
    pub tx_fifo_size: u32,
    /// Event queue size (in-process queue apps).
    pub evt_q_size: usize,
    /// Memory behind the app's segments.
    pub backing: SegmentBacking,
    /// Builtin (callbacks), in-process (queue) or out-of-process (sink).
    pub kind: AppKind,
}

impl AttachOptions {
    /// Defaults for an app named `name` of `kind`: global scope, default
    /// namespace, VPP's default sizes.
    pub fn new(name: impl Into<String>, kind: AppKind) -> Self {
        let p = SegmentManagerProps::default();
        AttachOptions {
            name: name.into(),
            owner: None,
            scope: Scope::GLOBAL,
            namespace_id: None,
            namespace_secret: 0,
            segment_size: p.segment_size,
            add_segment_size: None,
            rx_fifo_size: p.rx_fifo_size,
            tx_fifo_size: p.tx_fifo_size,
            evt_q_size: DEFAULT_EVT_QUEUE_SIZE,
            backing: SegmentBacking::Memfd,
            kind,
        }
    }

    /// Same options with `scope`.
    #[must_use]
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Same options in namespace `id` with `secret`.
    #[must_use]
    pub fn with_namespace(mut self, id: impl Into<String>, secret: u64) -> Self {
        self.namespace_id = Some(id.into());
        self.namespace_secret = secret;
        self
    }

    /// Same options with the name owned by `owner` (see
    /// [`AttachOptions::owner`]).
    #[must_use]
    pub fn with_owner(mut self, owner: u32) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Same options with these fifo sizes.
    #[must_use]
    pub fn with_fifo_sizes(mut self, rx: u32, tx: u32) -> Self {
        self.rx_fifo_size = rx;
        self.tx_fifo_size = tx;
        self
    }

    /// The segment-manager properties the app's managers get (VPP
    /// `application_segment_manager_properties`).
    pub fn segment_manager_props(&self) -> SegmentManagerProps {
        let mut p = SegmentManagerProps {
            segment_size: self.segment_size,
            rx_fifo_size: self.rx_fifo_size,
            tx_fifo_size: self.tx_fifo_size,
            backing: self.backing,
            ..SegmentManagerProps::default()
        };
        if let Some(sz) = self.add_segment_size {
            p.add_segment_size = sz;
            p.add_segment = true;
        }
        p
    }
}
