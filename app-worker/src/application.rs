//! `Application`: what an attach creates (VPP `application_t`): name,
//! scope, namespace, segment-manager properties and how it hears of events.
//! Immutable once attached and shared as `Arc`; its workers and listeners
//! live in [`Apps`](crate::Apps).

use ct_segment_manager::SegmentManagerProps;
use ct_session::LocalTableId;

use crate::handle::AppHandle;
use crate::options::{AppKind, Scope};

/// What an app name is unique under: its namespace and its owner (so
/// names in different namespaces, or of different owners, never clash).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AppNameKey {
    pub(crate) ns_index: u32,
    pub(crate) owner: Option<u32>,
    pub(crate) name: String,
}

/// An attached application (VPP `application_t`).
#[derive(Debug)]
pub struct Application {
    pub(crate) handle: AppHandle,
    pub(crate) name: String,
    pub(crate) owner: Option<u32>,
    pub(crate) scope: Scope,
    pub(crate) ns_index: u32,
    pub(crate) local_table: LocalTableId,
    pub(crate) fib_index: (u32, u32),
    pub(crate) props: SegmentManagerProps,
    pub(crate) kind: AppKind,
    pub(crate) evt_q_size: usize,
}

impl Application {
    /// The application's handle.
    pub fn handle(&self) -> AppHandle {
        self.handle
    }

    /// Its pool index (VPP `app_index`).
    pub fn index(&self) -> u32 {
        self.handle.index
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Who its name belongs to ([`crate::AttachOptions::owner`]).
    pub fn owner(&self) -> Option<u32> {
        self.owner
    }

    /// The key its name is unique under.
    pub(crate) fn name_key(&self) -> AppNameKey {
        AppNameKey {
            ns_index: self.ns_index,
            owner: self.owner,
            name: self.name.clone(),
        }
    }

    /// Its scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// VPP `application_has_global_scope`.
    pub fn has_global_scope(&self) -> bool {
        self.scope.contains(Scope::GLOBAL)
    }

    /// VPP `application_has_local_scope`.
    pub fn has_local_scope(&self) -> bool {
        self.scope.contains(Scope::LOCAL)
    }

    /// Its namespace's index.
    pub fn ns_index(&self) -> u32 {
        self.ns_index
    }

    /// VPP `application_local_session_table`: the namespace's local table,
    /// for apps with local scope.
    pub fn local_session_table(&self) -> Option<LocalTableId> {
        self.has_local_scope().then_some(self.local_table)
    }

    /// The namespace's fib index for a family.
    pub fn fib_index(&self, is_ip4: bool) -> u32 {
        if is_ip4 {
            self.fib_index.0
        } else {
            self.fib_index.1
        }
    }

    /// VPP `application_segment_manager_properties`: what its segment
    /// managers are made with (ct sizes its segments and fifos from it).
    pub fn segment_manager_properties(&self) -> &SegmentManagerProps {
        &self.props
    }

    /// Whether it is a builtin (callbacks) app.
    pub fn is_builtin(&self) -> bool {
        matches!(self.kind, AppKind::Builtin(_))
    }

    /// Event queue size (in-process queue apps).
    pub fn evt_q_size(&self) -> usize {
        self.evt_q_size
    }
}
