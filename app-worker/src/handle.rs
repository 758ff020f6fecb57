//! Handles the app layer gives out: pool index plus generation, so a handle
//! kept past a detach (or an unlisten) is refused instead of reaching
//! whatever reused the slot.

use std::fmt;

/// Names an application (VPP `app_index`, plus a generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl AppHandle {
    /// The application's pool index (what listen sessions record as
    /// `app_index`).
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The slot's generation when the application attached.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for AppHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app {}", self.index)
    }
}

/// Names an app worker (VPP `wrk_index` in the app worker pool, plus a
/// generation). Sessions record only the index
/// ([`Session::app_wrk_index`](ct_session::Session::app_wrk_index)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppWorkerHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl AppWorkerHandle {
    /// The app worker's pool index (VPP `app_wrk->wrk_index`).
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The slot's generation when the worker was added.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for AppWorkerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app-wrk {}", self.index)
    }
}

/// Names an app listener: the application, the listener's index in it and
/// its generation (VPP `app_listener_handle`: `app_index << 32 | al_index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppListenerHandle {
    pub(crate) app: AppHandle,
    pub(crate) al_index: u32,
    pub(crate) generation: u32,
}

impl AppListenerHandle {
    /// The owning application.
    pub const fn app(self) -> AppHandle {
        self.app
    }

    /// The listener's index in its application (VPP `al_index`).
    pub const fn al_index(self) -> u32 {
        self.al_index
    }

    /// VPP's value: `app_index << 32 | al_index` (no generation).
    pub const fn as_u64(self) -> u64 {
        (self.app.index as u64) << 32 | self.al_index as u64
    }
}

impl fmt::Display for AppListenerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app-listener {}:{}", self.app.index, self.al_index)
    }
}
