//! One attached app as the daemon sees it: its socket, who is at the other
//! end (`SO_PEERCRED`), its handle in the stack once attached, and its
//! strikes (bad messages) with the detach state that ends them.

use ct_sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use ct_app_interface::sapi::SapiSocket;
use ct_app_worker::AppHandle;

/// The peer process of an app socket (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// One app (one socket connection).
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) socket: SapiSocket,
    pub(crate) cred: PeerCred,
    /// The namespace of the socket it came in on.
    pub(crate) namespace: String,
    app: OnceLock<AppHandle>,
    strikes: AtomicU32,
    /// Set once a detach was asked for (strikes, hangup, stop): the
    /// workers stop reading its queues.
    detaching: AtomicBool,
    /// Set by whoever runs the detach, so it runs once.
    detached: AtomicBool,
}

impl AppState {
    pub(crate) fn new(socket: SapiSocket, cred: PeerCred, namespace: String) -> Self {
        AppState {
            socket,
            cred,
            namespace,
            app: OnceLock::new(),
            strikes: AtomicU32::new(0),
            detaching: AtomicBool::new(false),
            detached: AtomicBool::new(false),
        }
    }

    /// The app's handle, once attached.
    pub(crate) fn app(&self) -> Option<AppHandle> {
        self.app.get().copied()
    }

    /// Records the handle the attach gave; false if one was set already.
    pub(crate) fn set_app(&self, app: AppHandle) -> bool {
        self.app.set(app).is_ok()
    }

    /// Counts a strike; true when this one reaches `max` (once: later
    /// strikes return false).
    pub(crate) fn strike(&self, max: u32) -> bool {
        self.strikes.fetch_add(1, Ordering::Relaxed) + 1 == max.max(1)
    }

    /// Strikes so far.
    pub(crate) fn strikes(&self) -> u32 {
        self.strikes.load(Ordering::Relaxed)
    }

    /// Marks the app as going away; workers skip its queues from now on.
    pub(crate) fn set_detaching(&self) {
        self.detaching.store(true, Ordering::Release);
    }

    /// Whether the app is going away.
    pub(crate) fn is_detaching(&self) -> bool {
        self.detaching.load(Ordering::Acquire)
    }

    /// Shuts the socket both ways: the app's connection thread and the app
    /// see it closed.
    pub(crate) fn shutdown(&self) {
        self.socket.shutdown();
    }

    /// Claims the detach: true for the first caller only.
    pub(crate) fn claim_detach(&self) -> bool {
        self.set_detaching();
        !self.detached.swap(true, Ordering::AcqRel)
    }
}
