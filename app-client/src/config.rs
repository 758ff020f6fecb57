//! What an app asks for when it attaches (VPP's attach options as VCL
//! fills them from `vcl.conf`).

/// Session lookup scope bits (VPP `APP_OPTIONS_FLAGS_USE_{GLOBAL,LOCAL}_SCOPE`).
pub mod scope {
    /// The global session table.
    pub const GLOBAL: u8 = 1 << 0;
    /// The namespace's local table: cut-through between apps.
    pub const LOCAL: u8 = 1 << 1;
}

/// Attach options. [`AttachConfig::new`] gives local scope (ct between
/// programs), the default namespace and 64 KiB fifos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachConfig {
    /// The app's name (shows in the stack's listings).
    pub name: String,
    /// The app namespace; empty is the default namespace.
    pub namespace_id: String,
    /// The namespace's secret.
    pub namespace_secret: u64,
    /// Scope bits ([`scope`]).
    pub scope: u8,
    /// Receive fifo size of the app's sessions.
    pub rx_fifo_size: u32,
    /// Transmit fifo size of the app's sessions.
    pub tx_fifo_size: u32,
    /// First segment size.
    pub segment_size: u64,
    /// Size of segments added later (0: none added).
    pub add_segment_size: u64,
    /// Messages each of the app worker's event queues holds.
    pub evt_q_size: u32,
}

impl AttachConfig {
    /// Defaults for an app called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AttachConfig {
            name: name.into(),
            namespace_id: String::new(),
            namespace_secret: 0,
            scope: scope::LOCAL,
            rx_fifo_size: 64 << 10,
            tx_fifo_size: 64 << 10,
            segment_size: 32 << 20,
            add_segment_size: 32 << 20,
            evt_q_size: 1024,
        }
    }

    /// Same, in namespace `id` with `secret`.
    #[must_use]
    pub fn with_namespace(mut self, id: impl Into<String>, secret: u64) -> Self {
        self.namespace_id = id.into();
        self.namespace_secret = secret;
        self
    }

    /// Same, with both fifos of `size` bytes.
    #[must_use]
    pub fn with_fifo_size(mut self, size: u32) -> Self {
        self.rx_fifo_size = size;
        self.tx_fifo_size = size;
        self
    }
}
