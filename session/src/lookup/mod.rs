//! Session lookup: where connects find their listeners (VPP
//! `session_lookup.c`, with the table choice of `application_namespace.c`).
//!
//! A [`SessionLookup`] owns every session table of a stack:
//!
//! - **Global tables**, one per fib index and family, allocated on first use
//!   (VPP `session_table_get_or_alloc`). Transports' listeners are registered
//!   here by endpoint; a listener on the zero address is a wildcard listener
//!   and one on port zero a proxy listener. [`SessionLookup::lookup_listener`]
//!   and [`SessionLookup::lookup_listener_wildcard`] search them.
//! - **Local tables**, one per app namespace, allocated and freed by whoever
//!   owns namespaces ([`SessionLookup::alloc_local_table`], which hands out a
//!   generation-checked [`LocalTableId`], the role of the namespace's
//!   `local_table_index`). They hold the listeners of apps with local scope
//!   and the namespace's local-scope session rules;
//!   [`SessionLookup::lookup_local_endpoint`] searches them, rules first.
//!
//! Both kinds hold session rules ([`SessionRule`], [`RuleAction`]), matched
//! longest-prefix first. A lookup answers with a [`LocalLookup`]: a
//! listener, a rule's drop (VPP's `SESSION_DROP_HANDLE`) or app index, or
//! nothing (VPP's `SESSION_INVALID_HANDLE`).
//!
//! Thread safety: the whole set of tables sits behind one
//! [`ct_sync::RwLock`]. Every connect reads it; listens, unlistens
//! and rule changes, which are rare, write it. One lock keeps a lookup that
//! walks a local table and then a global one consistent with a concurrent
//! listen, and it is never held while calling out.
//!
//! What a found listener handle names is the pools' business: a handle whose
//! session was freed is reported stale by the pool, not here.
//!
//! ```
//! use ct_session::{LocalLookup, SessionEndpoint, SessionHandle, SessionLookup, TransportProto};
//!
//! let lookup = SessionLookup::new();
//! let listener = SessionHandle::new(0, 1, 0);
//! let any = SessionEndpoint::new("0.0.0.0".parse().unwrap(), 8080, TransportProto::Tcp);
//! lookup.add_listener(&any, listener).unwrap();
//!
//! let rmt = SessionEndpoint::new("10.0.0.1".parse().unwrap(), 8080, TransportProto::Tcp);
//! assert_eq!(lookup.lookup_listener_wildcard(&rmt), Some(listener));
//!
//! let ns = lookup.alloc_local_table().unwrap();
//! lookup.add_local_listener(ns, &any, listener).unwrap();
//! let lo = SessionEndpoint::new("127.0.0.1".parse().unwrap(), 8080, TransportProto::Tcp);
//! assert_eq!(lookup.lookup_local_endpoint(ns, &lo), Ok(LocalLookup::Listener(listener)));
//! ```

mod ports;
mod rules;
mod table;
mod tables;

// The tests use real threads and the lock outside a loom model.
#[cfg(all(test, not(loom)))]
mod tests;

use std::fmt;

use ct_sync::RwLock;

pub use ports::EPHEMERAL_PORTS;
pub use rules::{IpPrefix, RuleAction, RulesTable, SessionRule};

use crate::SessionError;
use crate::endpoint::{FibProto, SessionEndpoint};
use crate::handle::ListenerHandle;
use tables::Tables;

/// Names a local (app namespace) table: index plus generation, so an id kept
/// after its table was freed is refused ([`SessionError::InvalidNs`]) rather
/// than reaching a table allocated later in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalTableId {
    index: u32,
    generation: u32,
}

impl LocalTableId {
    /// The table's slot index (VPP's local table index).
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The slot's generation when the table was allocated.
    pub const fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for LocalTableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "local table {}", self.index)
    }
}

/// Names any session table: a fib's global table or a local one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableId {
    /// The global table of a fib (VPP `session_lookup_get_index_for_fib`).
    Fib {
        /// The family.
        fib_proto: FibProto,
        /// The fib index.
        fib_index: u32,
    },
    /// An app namespace's local table.
    Local(LocalTableId),
}

impl TableId {
    /// The global table that endpoints like `sep` are registered in.
    pub const fn for_endpoint(sep: &SessionEndpoint) -> Self {
        Self::Fib {
            fib_proto: sep.fib_proto(),
            fib_index: sep.fib_index,
        }
    }
}

/// The answer of a table lookup, in place of VPP's special handle values.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalLookup {
    /// A rule filters the endpoint (VPP `SESSION_DROP_HANDLE`): the connect
    /// fails with [`SessionError::Filtered`].
    Drop,
    /// A listener serves the endpoint.
    Listener(ListenerHandle),
    /// A rule sends connects for the endpoint to this app (its pool index):
    /// the app layer picks that app's listener (VPP
    /// `session_lookup_action_to_session`).
    App(u32),
    /// Nothing matched (VPP `SESSION_INVALID_HANDLE`).
    None,
}

impl LocalLookup {
    /// The listener, if the answer is one.
    pub const fn listener(self) -> Option<ListenerHandle> {
        match self {
            Self::Listener(lh) => Some(lh),
            _ => None,
        }
    }

    /// Whether nothing matched.
    pub const fn is_none(self) -> bool {
        matches!(self, Self::None)
    }
}

/// Every session table of a stack, behind one reader-writer lock (see the
/// module docs). Shared by reference (or `Arc`) between threads.
#[derive(Debug, Default)]
pub struct SessionLookup {
    tables: RwLock<Tables>,
}

impl SessionLookup {
    /// A lookup with no tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// The global table of `fib_index` in `fib_proto`, allocated if it does
    /// not exist yet (VPP `session_lookup_get_or_alloc_index_for_fib`). The
    /// invalid fib index `u32::MAX` is [`SessionError::Invalid`].
    pub fn get_or_alloc_fib_table(
        &self,
        fib_proto: FibProto,
        fib_index: u32,
    ) -> Result<TableId, SessionError> {
        self.tables.write().fib_table_mut(fib_proto, fib_index)?;
        Ok(TableId::Fib {
            fib_proto,
            fib_index,
        })
    }

    /// The global table of `fib_index` in `fib_proto`, if allocated (VPP
    /// `session_lookup_get_index_for_fib`).
    pub fn fib_table(&self, fib_proto: FibProto, fib_index: u32) -> Option<TableId> {
        let tables = self.tables.read();
        tables
            .fib_table(fib_proto, fib_index)
            .map(|_| TableId::Fib {
                fib_proto,
                fib_index,
            })
    }

    /// Allocates an empty local table for an app namespace; running out of
    /// `u32` slot indices is [`SessionError::Alloc`].
    pub fn alloc_local_table(&self) -> Result<LocalTableId, SessionError> {
        self.tables.write().alloc_local()
    }

    /// Frees a local table with whatever listeners and rules it still holds
    /// (the entries are only names: the listen sessions stay with their
    /// owners, whose later unlisten gets [`SessionError::InvalidNs`]). A
    /// stale or unknown id is [`SessionError::InvalidNs`].
    pub fn free_local_table(&self, id: LocalTableId) -> Result<(), SessionError> {
        self.tables.write().free_local(id)
    }

    /// Registers a listener in the global table of `sep`'s fib and family,
    /// allocating the table if needed (VPP `session_lookup_add_connection`
    /// for a listener). A listener already on the endpoint is
    /// [`SessionError::AlreadyListening`]; a handle not on the listener
    /// thread, or fib index `u32::MAX`, is [`SessionError::Invalid`].
    pub fn add_listener(
        &self,
        sep: &SessionEndpoint,
        lh: ListenerHandle,
    ) -> Result<(), SessionError> {
        self.tables
            .write()
            .fib_table_mut(sep.fib_proto(), sep.fib_index)?
            .add_listener(sep, lh)
    }

    /// Removes the global listener on `sep` and returns its handle; no
    /// listener there is [`SessionError::NoListen`].
    pub fn del_listener(&self, sep: &SessionEndpoint) -> Result<ListenerHandle, SessionError> {
        let mut tables = self.tables.write();
        tables
            .fib_table_existing_mut(sep.fib_proto(), sep.fib_index)
            .ok_or(SessionError::NoListen)?
            .del_listener(sep)
    }

    /// Registers a listener in a local table (VPP
    /// `session_lookup_add_session_endpoint` on the namespace's table).
    /// Errors as [`Self::add_listener`], and [`SessionError::InvalidNs`] for
    /// a stale table id.
    pub fn add_local_listener(
        &self,
        table: LocalTableId,
        sep: &SessionEndpoint,
        lh: ListenerHandle,
    ) -> Result<(), SessionError> {
        self.tables.write().local_mut(table)?.add_listener(sep, lh)
    }

    /// Removes a local listener and returns its handle; no listener there is
    /// [`SessionError::NoListen`], a stale table id
    /// [`SessionError::InvalidNs`].
    pub fn del_local_listener(
        &self,
        table: LocalTableId,
        sep: &SessionEndpoint,
    ) -> Result<ListenerHandle, SessionError> {
        self.tables.write().local_mut(table)?.del_listener(sep)
    }

    /// The global listener on exactly `sep`, or else a proxy listener (port
    /// zero) on its address (VPP `session_lookup_listener`). No table for
    /// the fib means no listener.
    pub fn lookup_listener(&self, sep: &SessionEndpoint) -> Option<ListenerHandle> {
        let tables = self.tables.read();
        tables
            .fib_table(sep.fib_proto(), sep.fib_index)?
            .lookup_listener(sep, false)
    }

    /// As [`Self::lookup_listener`], also trying a wildcard listener (zero
    /// address, same port) before the proxy one (VPP
    /// `session_lookup_listener_wildcard`): the global step of ct's connect.
    pub fn lookup_listener_wildcard(&self, sep: &SessionEndpoint) -> Option<ListenerHandle> {
        let tables = self.tables.read();
        tables
            .fib_table(sep.fib_proto(), sep.fib_index)?
            .lookup_listener(sep, true)
    }

    /// Looks `sep` up in a local table (VPP `session_lookup_local_endpoint`),
    /// in order: the rules (a `Drop` or app rule decides; `Allow` goes on),
    /// a listener on the exact endpoint, for a loopback address a listener on
    /// the zero address, and a proxy listener. A stale table id is
    /// [`SessionError::InvalidNs`].
    pub fn lookup_local_endpoint(
        &self,
        table: LocalTableId,
        sep: &SessionEndpoint,
    ) -> Result<LocalLookup, SessionError> {
        Ok(self.tables.read().local(table)?.lookup_local_endpoint(sep))
    }

    /// A listener on exactly `sep` in any table, else (with `use_rules`) the
    /// table's rules (VPP `session_lookup_endpoint_listener`, used to find
    /// an app's existing listener). Unlike [`Self::lookup_local_endpoint`],
    /// a listener wins over a rule. A fib without a table answers
    /// [`LocalLookup::None`]; a stale local id is
    /// [`SessionError::InvalidNs`].
    pub fn lookup_endpoint_listener(
        &self,
        table: TableId,
        sep: &SessionEndpoint,
        use_rules: bool,
    ) -> Result<LocalLookup, SessionError> {
        let tables = self.tables.read();
        Ok(tables.table(table)?.map_or(LocalLookup::None, |t| {
            t.lookup_endpoint_listener(sep, use_rules)
        }))
    }

    /// Adds a session rule to a table (VPP `vnet_session_rule_add_del` for
    /// one scope); a rule with the same match has its action replaced, and
    /// the replaced action is returned.
    ///
    /// In a local table the rule's local side is cleared (any address, any
    /// port), as VPP does for local-scope rules: local lookups match on the
    /// remote side only. A fib table is allocated if needed and the rule's
    /// family must be the table's. Errors: [`SessionError::Invalid`] for a
    /// bad rule (not TCP/UDP, mixed or wrong family, fib `u32::MAX`),
    /// [`SessionError::InvalidNs`] for a stale local id.
    pub fn add_rule(
        &self,
        table: TableId,
        rule: SessionRule,
        action: RuleAction,
    ) -> Result<Option<RuleAction>, SessionError> {
        let rule = scoped_rule(table, rule)?;
        self.tables.write().table_mut(table)?.add_rule(rule, action)
    }

    /// Removes the rule with `rule`'s match (after the same local-side
    /// clearing as [`Self::add_rule`]) and returns its action. No such rule
    /// is [`SessionError::Invalid`]; a stale local id
    /// [`SessionError::InvalidNs`].
    pub fn del_rule(&self, table: TableId, rule: &SessionRule) -> Result<RuleAction, SessionError> {
        let rule = scoped_rule(table, *rule)?;
        let mut tables = self.tables.write();
        let t = match table {
            TableId::Fib {
                fib_proto,
                fib_index,
            } => tables.fib_table_existing_mut(fib_proto, fib_index),
            TableId::Local(id) => Some(tables.local_mut(id)?),
        };
        t.ok_or(SessionError::Invalid)?.del_rule(&rule)
    }

    /// The listeners of a table, with the table's fib index set on global
    /// ones (a `show session table` view). A fib without a table has none.
    pub fn listeners(
        &self,
        table: TableId,
    ) -> Result<Vec<(SessionEndpoint, ListenerHandle)>, SessionError> {
        let tables = self.tables.read();
        let fib_index = match table {
            TableId::Fib { fib_index, .. } => fib_index,
            TableId::Local(_) => 0,
        };
        Ok(tables.table(table)?.map_or_else(Vec::new, |t| {
            t.listeners()
                .map(|(sep, lh)| (sep.with_fib_index(fib_index), lh))
                .collect()
        }))
    }

    /// The rules of a table, most specific first.
    pub fn rules(&self, table: TableId) -> Result<Vec<(SessionRule, RuleAction)>, SessionError> {
        let tables = self.tables.read();
        Ok(tables
            .table(table)?
            .map_or_else(Vec::new, |t| t.rules().iter().copied().collect()))
    }

    /// Listeners registered in all tables together: zero once every listener
    /// was removed (the leak check of simulator runs).
    pub fn listener_count(&self) -> usize {
        self.tables.read().listener_count()
    }

    /// Rules in all tables together.
    pub fn rule_count(&self) -> usize {
        self.tables.read().rule_count()
    }

    /// Local tables currently allocated.
    pub fn local_table_count(&self) -> usize {
        self.tables.read().local_count()
    }
}

/// Validates `rule` for `table` and, for a local table, clears its local
/// side.
fn scoped_rule(table: TableId, mut rule: SessionRule) -> Result<SessionRule, SessionError> {
    rule.validate()?;
    match table {
        TableId::Fib { fib_proto, .. } if rule.fib_proto() != fib_proto => {
            Err(SessionError::Invalid)
        }
        TableId::Fib { .. } => Ok(rule),
        TableId::Local(_) => {
            rule.lcl = IpPrefix::any(rule.fib_proto());
            rule.lcl_port = 0;
            Ok(rule)
        }
    }
}
