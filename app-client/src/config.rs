//! What an app asks for when it attaches (VPP's attach options as VCL
//! fills them from `vcl.conf`).

use ct_sync::unmodeled::atomic::{AtomicU32, Ordering};
use std::io;
use std::path::Path;

/// Default names handed out in this process, so that two default configs
/// of one process differ too. Process-private bookkeeping: unmodeled.
static DEFAULT_NAMES: AtomicU32 = AtomicU32::new(0);

/// Longest program-name part of a default name (the stack names the app's
/// shared memory after it, and names have limits there).
const MAX_PROGRAM_NAME: usize = 32;

/// Session lookup scope bits (VPP `APP_OPTIONS_FLAGS_USE_{GLOBAL,LOCAL}_SCOPE`).
pub mod scope {
    /// The global session table.
    pub const GLOBAL: u8 = 1 << 0;
    /// The namespace's local table: cut-through between apps.
    pub const LOCAL: u8 = 1 << 1;
}

/// Attach options. [`AttachConfig::new`] gives local scope (ct between
/// programs), the default namespace and 64 KiB fifos.
///
/// The stack refuses a second app with a name in use. [`AttachConfig::default`]
/// makes a name no other running app has: `{program}-{pid}-{n}` (the
/// program's file name, this process's id, a counter), so two copies of
/// a program, or two attaches in one, each get their own:
///
/// ```
/// use ct_app_client::AttachConfig;
///
/// let (a, b) = (AttachConfig::default(), AttachConfig::default());
/// assert_ne!(a.name, b.name);
/// assert!(a.name.contains(&std::process::id().to_string()));
/// ```
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
    /// The uid the daemon must run as (checked with `SO_PEERCRED` on the
    /// app socket before anything is sent): a socket path another user
    /// could have bound is refused with `PermissionDenied`. `None`: any.
    pub daemon_uid: Option<u32>,
}

impl AttachConfig {
    /// A name unique among running apps: `{program}-{pid}-{n}`.
    pub fn unique_name() -> String {
        let arg0 = std::env::args_os().next();
        let program = arg0
            .as_deref()
            .map(Path::new)
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "app".to_owned());
        let program: String = program.chars().take(MAX_PROGRAM_NAME).collect();
        let n = DEFAULT_NAMES.fetch_add(1, Ordering::Relaxed);
        format!("{program}-{}-{n}", std::process::id())
    }

    /// Refuses here what the stack would refuse as invalid, with a message
    /// that says which option.
    pub(crate) fn validate(&self) -> io::Result<()> {
        let bad = |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        if self.name.is_empty() {
            return bad("empty app name");
        }
        if self.scope & !(scope::GLOBAL | scope::LOCAL) != 0 {
            return bad("unknown scope bits");
        }
        let fifos = u64::from(self.rx_fifo_size) + u64::from(self.tx_fifo_size);
        if self.segment_size != 0
            && self.rx_fifo_size != 0
            && self.tx_fifo_size != 0
            && fifos > self.segment_size
        {
            return bad("a session's fifos do not fit the segment");
        }
        Ok(())
    }

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
            daemon_uid: None,
        }
    }

    /// Same, in namespace `id` with `secret`.
    #[must_use]
    pub fn with_namespace(mut self, id: impl Into<String>, secret: u64) -> Self {
        self.namespace_id = id.into();
        self.namespace_secret = secret;
        self
    }

    /// Same, attaching only to a daemon running as `uid` (see
    /// [`AttachConfig::daemon_uid`]).
    #[must_use]
    pub fn with_daemon_uid(mut self, uid: u32) -> Self {
        self.daemon_uid = Some(uid);
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

impl Default for AttachConfig {
    /// [`AttachConfig::new`] with [`AttachConfig::unique_name`].
    fn default() -> Self {
        Self::new(Self::unique_name())
    }
}

/// Refuses a daemon whose socket peer is not `uid` (`SO_PEERCRED`).
pub(crate) fn check_daemon_uid(
    sock: &ct_app_interface::sapi::SapiSocket,
    uid: u32,
) -> io::Result<()> {
    let (pid, peer_uid, _) = sock.peer_cred().map_err(|e| match e {
        ct_app_interface::sapi::SapiError::Io(e) => e,
        e => io::Error::other(e),
    })?;
    if peer_uid != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the stack at the app socket runs as uid {peer_uid} (pid {pid}), not {uid}"),
        ));
    }
    Ok(())
}
