//! App namespaces (VPP `application_namespace.c`): a named, secret-guarded
//! scope with its fib indices and its local session table. Namespace 0 is
//! "default", secret 0, always present.

use ct_session::{LocalTableId, SessionError, SessionLookup};
use hashbrown::HashMap;

use crate::pool::GenPool;

/// What a namespace is made of (VPP `vnet_app_namespace_add_del_args_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Namespace id (unique name).
    pub id: String,
    /// Secret apps must present to attach.
    pub secret: u64,
    /// Interface the namespace is bound to, if any.
    pub sw_if_index: Option<u32>,
    /// ip4 fib of the namespace.
    pub ip4_fib_index: u32,
    /// ip6 fib of the namespace.
    pub ip6_fib_index: u32,
}

impl NamespaceConfig {
    /// A namespace `id` with `secret`, in fib 0, bound to no interface.
    pub fn new(id: impl Into<String>, secret: u64) -> Self {
        NamespaceConfig {
            id: id.into(),
            secret,
            sw_if_index: None,
            ip4_fib_index: 0,
            ip6_fib_index: 0,
        }
    }
}

/// One app namespace (VPP `app_namespace_t`).
#[derive(Debug, Clone)]
pub struct AppNamespace {
    /// Its configuration.
    pub cfg: NamespaceConfig,
    /// Its local session table (VPP `local_table_index`).
    pub local_table: LocalTableId,
    /// Apps attached in it.
    pub(crate) n_apps: usize,
}

impl AppNamespace {
    /// The fib index for a family.
    pub fn fib_index(&self, is_ip4: bool) -> u32 {
        if is_ip4 {
            self.cfg.ip4_fib_index
        } else {
            self.cfg.ip6_fib_index
        }
    }
}

/// Id of the namespace every stack has.
pub const DEFAULT_NAMESPACE: &str = "default";

/// All namespaces of a stack.
#[derive(Debug, Default)]
pub(crate) struct Namespaces {
    pool: GenPool<AppNamespace>,
    by_id: HashMap<String, u32>,
}

impl Namespaces {
    /// Adds a namespace, or updates the secret/interface/fibs of an existing
    /// one (VPP updates on a second add). Returns its index.
    pub(crate) fn add(
        &mut self,
        lookup: &SessionLookup,
        cfg: NamespaceConfig,
    ) -> Result<u32, SessionError> {
        if cfg.id.is_empty() {
            return Err(SessionError::Invalid);
        }
        if let Some(&i) = self.by_id.get(&cfg.id) {
            let ns = self.pool.get_mut(i).ok_or(SessionError::InvalidNs)?;
            ns.cfg = cfg;
            return Ok(i);
        }
        let local_table = lookup.alloc_local_table()?;
        let id = cfg.id.clone();
        let (i, _) = match self.pool.insert(AppNamespace {
            cfg,
            local_table,
            n_apps: 0,
        }) {
            Some(k) => k,
            None => {
                let _ = lookup.free_local_table(local_table);
                return Err(SessionError::Alloc);
            }
        };
        self.by_id.insert(id, i);
        Ok(i)
    }

    /// Deletes namespace `id`; refused while apps are attached in it
    /// ([`SessionError::Invalid`]) and for the default namespace.
    pub(crate) fn del(&mut self, lookup: &SessionLookup, id: &str) -> Result<(), SessionError> {
        let &i = self.by_id.get(id).ok_or(SessionError::InvalidNs)?;
        if i == 0 {
            return Err(SessionError::Invalid);
        }
        let ns = self.pool.get(i).ok_or(SessionError::InvalidNs)?;
        if ns.n_apps > 0 {
            return Err(SessionError::Invalid);
        }
        let g = self.pool.generation(i).ok_or(SessionError::InvalidNs)?;
        let ns = self.pool.remove(i, g).ok_or(SessionError::InvalidNs)?;
        self.by_id.remove(id);
        lookup.free_local_table(ns.local_table)
    }

    /// Index of namespace `id`.
    pub(crate) fn index_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn get(&self, i: u32) -> Option<&AppNamespace> {
        self.pool.get(i)
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut AppNamespace> {
        self.pool.get_mut(i)
    }

    /// VPP `app_validate_namespace`: the namespace's index if `secret` is
    /// its secret. No id is the default namespace, which takes any secret
    /// (VPP: the default namespace has secret 0 and apps pass 0).
    pub(crate) fn validate(&self, id: Option<&str>, secret: u64) -> Result<u32, SessionError> {
        let Some(id) = id else { return Ok(0) };
        let i = self.index_of(id).ok_or(SessionError::InvalidNs)?;
        let ns = self.get(i).ok_or(SessionError::InvalidNs)?;
        if i != 0 && ns.cfg.secret != secret {
            return Err(SessionError::WrongNsSecret);
        }
        Ok(i)
    }

    pub(crate) fn len(&self) -> usize {
        self.pool.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_ids_and_deletion() {
        let lookup = SessionLookup::new();
        let mut ns = Namespaces::default();
        assert_eq!(
            ns.add(&lookup, NamespaceConfig::new(DEFAULT_NAMESPACE, 0)),
            Ok(0)
        );
        let i = ns.add(&lookup, NamespaceConfig::new("blue", 7)).unwrap();
        assert_eq!(lookup.local_table_count(), 2);
        assert_eq!(ns.validate(None, 99), Ok(0));
        assert_eq!(ns.validate(Some("blue"), 7), Ok(i));
        assert_eq!(
            ns.validate(Some("blue"), 8),
            Err(SessionError::WrongNsSecret)
        );
        assert_eq!(ns.validate(Some("red"), 7), Err(SessionError::InvalidNs));
        assert_eq!(
            ns.add(&lookup, NamespaceConfig::new("", 1)),
            Err(SessionError::Invalid)
        );
        // A second add updates the secret, same index and table.
        let table = ns.get(i).unwrap().local_table;
        assert_eq!(ns.add(&lookup, NamespaceConfig::new("blue", 9)), Ok(i));
        assert_eq!(ns.get(i).unwrap().local_table, table);
        assert_eq!(ns.validate(Some("blue"), 9), Ok(i));
        // In use: refused; then deleted with its table.
        ns.get_mut(i).unwrap().n_apps = 1;
        assert_eq!(ns.del(&lookup, "blue"), Err(SessionError::Invalid));
        ns.get_mut(i).unwrap().n_apps = 0;
        assert_eq!(ns.del(&lookup, "blue"), Ok(()));
        assert_eq!(lookup.local_table_count(), 1);
        assert_eq!(ns.del(&lookup, "blue"), Err(SessionError::InvalidNs));
        assert_eq!(
            ns.del(&lookup, DEFAULT_NAMESPACE),
            Err(SessionError::Invalid)
        );
    }
}
