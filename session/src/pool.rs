//! Session pools: a slab of sessions per thread, each slot with a
//! generation so a handle to a freed session is rejected instead of reaching
//! the session that reused the slot (VPP `session_alloc`, `session_free`,
//! `session_get`, `session_is_valid` over `wrk->sessions`).

use slab::Slab;

use crate::session::Session;
use crate::{SessionError, SessionHandle, SessionType};

/// The sessions of one thread (or the listener pool).
///
/// Indices are `index_base + slab key`: the listener pool shares thread 0
/// with main's own sessions, and a disjoint index range keeps their handles
/// apart (see [`crate::LISTENER_INDEX_BASE`]).
#[derive(Debug)]
pub struct SessionPool {
    thread_index: u32,
    index_base: u32,
    slots: Slab<Session>,
    /// Generation per slab key, bumped on every free.
    generations: Vec<u32>,
}

impl SessionPool {
    /// An empty pool for `thread_index`.
    pub fn new(thread_index: u32) -> Self {
        Self::with_index_base(thread_index, 0)
    }

    /// An empty pool whose indices start at `index_base`.
    pub fn with_index_base(thread_index: u32, index_base: u32) -> Self {
        SessionPool {
            thread_index,
            index_base,
            slots: Slab::new(),
            generations: Vec::new(),
        }
    }

    /// The thread the pool belongs to.
    pub fn thread_index(&self) -> u32 {
        self.thread_index
    }

    /// Allocates a session in state Created and returns it.
    pub fn alloc(&mut self, session_type: SessionType) -> Result<&mut Session, SessionError> {
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        let index = u32::try_from(key)
            .ok()
            .and_then(|k| k.checked_add(self.index_base))
            .filter(|i| self.index_base != 0 || *i < crate::LISTENER_INDEX_BASE)
            .ok_or(SessionError::Alloc)?;
        if self.generations.len() <= key {
            self.generations.resize(key + 1, 0);
        }
        let handle = SessionHandle::new(self.thread_index, index, self.generations[key]);
        Ok(entry.insert(Session::new(handle, session_type)))
    }

    fn key_of(&self, handle: SessionHandle) -> Option<usize> {
        if handle.thread_index() != self.thread_index {
            return None;
        }
        let key = handle.session_index().checked_sub(self.index_base)? as usize;
        (self.slots.contains(key) && self.generations.get(key) == Some(&handle.generation()))
            .then_some(key)
    }

    /// Frees the session `handle` names, returning it (its fifos are the
    /// caller's to release).
    pub fn free(&mut self, handle: SessionHandle) -> Result<Session, SessionError> {
        let key = self.key_of(handle).ok_or(SessionError::NoSession)?;
        self.generations[key] = self.generations[key].wrapping_add(1);
        Ok(self.slots.remove(key))
    }

    /// The session, if `handle` names a live one.
    pub fn get(&self, handle: SessionHandle) -> Result<&Session, SessionError> {
        let key = self.key_of(handle).ok_or(SessionError::NoSession)?;
        Ok(&self.slots[key])
    }

    /// The session, mutably.
    pub fn get_mut(&mut self, handle: SessionHandle) -> Result<&mut Session, SessionError> {
        let key = self.key_of(handle).ok_or(SessionError::NoSession)?;
        Ok(&mut self.slots[key])
    }

    /// The live session at `index` whatever its generation (VPP
    /// `session_get`): for transports that keep VPP's bare indices. Prefer
    /// handles.
    pub fn get_by_index(&self, index: u32) -> Option<&Session> {
        let key = index.checked_sub(self.index_base)? as usize;
        self.slots.get(key)
    }

    /// Whether `handle` names a live session.
    pub fn is_valid(&self, handle: SessionHandle) -> bool {
        self.key_of(handle).is_some()
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the pool holds no session.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Live sessions, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slots.iter().map(|(_, s)| s)
    }

    /// Handles of all live sessions, in index order.
    pub fn handles(&self) -> Vec<SessionHandle> {
        self.iter().map(Session::handle).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SessionState, TransportProto};

    fn st() -> SessionType {
        SessionType::new(TransportProto::Ct, true)
    }

    #[test]
    fn alloc_get_free_and_stale_generation() {
        let mut pool = SessionPool::new(2);
        let h = pool.alloc(st()).unwrap().handle();
        assert_eq!(h.thread_index(), 2);
        assert_eq!(pool.get(h).unwrap().state(), SessionState::Created);
        assert!(pool.is_valid(h));
        pool.free(h).unwrap();
        assert!(!pool.is_valid(h));
        assert_eq!(pool.get(h).unwrap_err(), SessionError::NoSession);
        assert_eq!(pool.free(h).unwrap_err(), SessionError::NoSession);
        // The slot is reused with a new generation: the old handle stays stale.
        let h2 = pool.alloc(st()).unwrap().handle();
        assert_eq!(h2.session_index(), h.session_index());
        assert_ne!(h2.generation(), h.generation());
        assert!(pool.get(h).is_err());
        assert!(pool.get(h2).is_ok());
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn wrong_thread_or_unknown_index_is_error() {
        let mut pool = SessionPool::new(1);
        let h = pool.alloc(st()).unwrap().handle();
        let other = SessionHandle::new(2, h.session_index(), h.generation());
        assert!(pool.get(other).is_err());
        assert!(pool.get(SessionHandle::new(1, 999, 0)).is_err());
        assert!(pool.get_mut(SessionHandle::new(1, 999, 0)).is_err());
    }

    #[test]
    fn index_base_keeps_ranges_apart() {
        let mut lp = SessionPool::with_index_base(0, crate::LISTENER_INDEX_BASE);
        let mut mp = SessionPool::new(0);
        let l = lp.alloc(st()).unwrap().handle();
        let m = mp.alloc(st()).unwrap().handle();
        assert_ne!(l.as_u64(), m.as_u64());
        assert!(lp.get(m).is_err());
        assert!(mp.get(l).is_err());
        assert!(lp.get(l).is_ok());
        assert_eq!(lp.get_by_index(l.session_index()).unwrap().handle(), l);
    }
}
