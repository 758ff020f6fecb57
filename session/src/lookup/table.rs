//! One session table: listeners by endpoint and the session rules (VPP
//! `session_table_t` with its listener entries and `session_rules`).
//!
//! The same type serves as a global table (one per fib and family, where
//! transports' listeners are registered) and as an app namespace's local
//! table (ct listeners of apps with local scope, and local-scope rules); the
//! lookups differ, not the storage. Established connections and half-opens,
//! which VPP keeps in the global tables too, are not kept here: ct
//! connections are never looked up by 5-tuple (VPP flags them `NO_LOOKUP`).

use std::net::IpAddr;

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;

use super::LocalLookup;
use super::rules::{RuleAction, RulesTable, SessionRule};
use crate::SessionError;
use crate::endpoint::{FibProto, SessionEndpoint, TransportProto};
use crate::handle::ListenerHandle;

/// What a listener is registered under: address (zero for a wildcard
/// listener), port (zero for a proxy listener) and protocol. A plain struct:
/// no packing, so no two keys can collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ListenerKey {
    ip: IpAddr,
    port: u16,
    proto: TransportProto,
}

impl ListenerKey {
    pub(crate) fn of(sep: &SessionEndpoint) -> Self {
        Self {
            ip: sep.ip,
            port: sep.port,
            proto: sep.transport_proto,
        }
    }

    /// The same key with the family's zero address: a wildcard listener.
    fn wildcard(mut self) -> Self {
        self.ip = FibProto::of(&self.ip).zero_ip();
        self
    }

    /// The same key with port zero: a proxy listener.
    fn proxy(mut self) -> Self {
        self.port = 0;
        self
    }
}

/// Listeners and rules of one table.
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    listeners: HashMap<ListenerKey, ListenerHandle>,
    rules: RulesTable,
}

impl SessionTable {
    /// Registers `lh` as the listener on `sep`; a listener already there is
    /// [`SessionError::AlreadyListening`], a handle not on the listener
    /// thread is [`SessionError::Invalid`].
    pub(crate) fn add_listener(
        &mut self,
        sep: &SessionEndpoint,
        lh: ListenerHandle,
    ) -> Result<(), SessionError> {
        if !lh.is_on_listener_thread() {
            return Err(SessionError::Invalid);
        }
        match self.listeners.entry(ListenerKey::of(sep)) {
            Entry::Occupied(_) => Err(SessionError::AlreadyListening),
            Entry::Vacant(v) => {
                v.insert(lh);
                Ok(())
            }
        }
    }

    /// Removes the listener on `sep` and returns its handle; none there is
    /// [`SessionError::NoListen`].
    pub(crate) fn del_listener(
        &mut self,
        sep: &SessionEndpoint,
    ) -> Result<ListenerHandle, SessionError> {
        self.listeners
            .remove(&ListenerKey::of(sep))
            .ok_or(SessionError::NoListen)
    }

    fn get(&self, key: &ListenerKey) -> Option<ListenerHandle> {
        self.listeners.get(key).copied()
    }

    /// Global listener lookup (VPP `session_lookup_listener4/6_i`): the exact
    /// endpoint, then, if `use_wildcard`, the zero address on the same port,
    /// then a proxy listener on the address (port zero).
    pub(crate) fn lookup_listener(
        &self,
        sep: &SessionEndpoint,
        use_wildcard: bool,
    ) -> Option<ListenerHandle> {
        let key = ListenerKey::of(sep);
        self.get(&key)
            .or_else(|| use_wildcard.then(|| self.get(&key.wildcard())).flatten())
            .or_else(|| self.get(&key.proxy()))
    }

    /// The first rule that decides `sep` when looked up as a connect's
    /// destination: local side zero, remote side the endpoint. `Allow`
    /// decides nothing (lookups go on), so it is `None` here.
    fn rule_for(&self, sep: &SessionEndpoint) -> Option<LocalLookup> {
        let zero = sep.fib_proto().zero_ip();
        match self
            .rules
            .lookup(sep.transport_proto, &zero, 0, &sep.ip, sep.port)?
        {
            RuleAction::Drop => Some(LocalLookup::Drop),
            RuleAction::App(app_index) => Some(LocalLookup::App(app_index)),
            RuleAction::Allow => None,
        }
    }

    /// Local table lookup (VPP `session_lookup_local_endpoint`): rules first,
    /// then a listener on the exact endpoint, then for a loopback address a
    /// listener on the zero address, then a proxy listener (zero address,
    /// port zero).
    ///
    /// VPP's last step also zeroes the protocol, which makes it find only
    /// TCP proxies; here the protocol is kept.
    pub(crate) fn lookup_local_endpoint(&self, sep: &SessionEndpoint) -> LocalLookup {
        if let Some(decided) = self.rule_for(sep) {
            return decided;
        }
        let key = ListenerKey::of(sep);
        let wildcard = key.wildcard();
        self.get(&key)
            .or_else(|| sep.ip.is_loopback().then(|| self.get(&wildcard)).flatten())
            .or_else(|| self.get(&wildcard.proxy()))
            .map_or(LocalLookup::None, LocalLookup::Listener)
    }

    /// VPP `session_lookup_endpoint_listener`: a listener on the exact
    /// endpoint, then (if `use_rules`) the rules. Here a listener wins over a
    /// rule, unlike in [`Self::lookup_local_endpoint`].
    pub(crate) fn lookup_endpoint_listener(
        &self,
        sep: &SessionEndpoint,
        use_rules: bool,
    ) -> LocalLookup {
        if let Some(lh) = self.get(&ListenerKey::of(sep)) {
            return LocalLookup::Listener(lh);
        }
        use_rules
            .then(|| self.rule_for(sep))
            .flatten()
            .unwrap_or(LocalLookup::None)
    }

    pub(crate) fn add_rule(
        &mut self,
        rule: SessionRule,
        action: RuleAction,
    ) -> Result<Option<RuleAction>, SessionError> {
        self.rules.add(rule, action)
    }

    pub(crate) fn del_rule(&mut self, rule: &SessionRule) -> Result<RuleAction, SessionError> {
        self.rules.del(rule)
    }

    pub(crate) fn listener_count(&self) -> usize {
        self.listeners.len()
    }

    pub(crate) fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub(crate) fn rules(&self) -> &RulesTable {
        &self.rules
    }

    pub(crate) fn listeners(&self) -> impl Iterator<Item = (SessionEndpoint, ListenerHandle)> {
        self.listeners.iter().map(|(k, h)| {
            let sep = SessionEndpoint::new(k.ip, k.port, k.proto);
            (sep, *h)
        })
    }
}
