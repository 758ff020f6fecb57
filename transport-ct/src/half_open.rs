//! Half-open connections (the reference's half-opens in the first worker's
//! pool, `ho_reusable` and its lock).
//!
//! The connect thread allocates them; the worker that accepts the connect
//! moves the connection out. The reference copies the half-open out of the
//! connect thread's pool from the accepting thread without a lock and hands
//! the index back through a locked reuse list; here the pool itself is
//! locked, the accepting worker takes a copy and marks the slot migrated
//! under that lock, then hands the slot back through the reuse list, which
//! the connect thread drains on its next allocation (so the slot is never
//! freed under a reader, and a stale id never reaches a reused slot).

use ct_sync::Mutex;

use crate::connection::CtConnection;
use crate::pool::{CtConnId, Pool};

#[derive(Debug)]
struct HoSlot {
    conn: CtConnection,
    /// Taken by an accepting worker: only the reuse list may free it.
    migrated: bool,
}

/// The half-open pool and the reuse list.
#[derive(Debug, Default)]
pub struct HalfOpens {
    pool: Mutex<Pool<HoSlot>>,
    reusable: Mutex<Vec<CtConnId>>,
}

impl HalfOpens {
    /// Frees the slots accepting workers handed back, then allocates a
    /// half-open built by `make` from its id (VPP `ct_half_open_alloc`).
    pub fn alloc(&self, make: impl FnOnce(CtConnId) -> CtConnection) -> CtConnId {
        let reusable = std::mem::take(&mut *self.reusable.lock());
        let mut pool = self.pool.lock();
        for id in reusable {
            let freed = pool.remove(id);
            debug_assert!(freed.is_some_and(|s| s.migrated), "reused half-open {id}");
        }
        pool.insert_with(|id| HoSlot {
            conn: make(id),
            migrated: false,
        })
    }

    /// An accepting worker takes the half-open: a copy, with the slot marked
    /// migrated and queued for reuse. `None` if it was freed (the app gave
    /// up) or taken already.
    pub fn take_for_accept(&self, id: CtConnId) -> Option<CtConnection> {
        let conn = {
            let mut pool = self.pool.lock();
            let slot = pool.get_mut(id)?;
            if slot.migrated {
                return None;
            }
            slot.migrated = true;
            slot.conn.clone()
        };
        self.reusable.lock().push(id);
        Some(conn)
    }

    /// A copy of the half-open `id` unless it migrated or is stale (VPP
    /// `ct_half_open_get`; any thread).
    pub fn get(&self, id: CtConnId) -> Option<CtConnection> {
        let pool = self.pool.lock();
        let slot = pool.get(id)?;
        (!slot.migrated).then(|| slot.conn.clone())
    }

    /// Frees the half-open `id` (VPP `ct_cleanup_ho`); a migrated one
    /// belongs to the reuse list and is left alone, a stale one is not
    /// there. Returns whether it freed.
    pub fn free(&self, id: CtConnId) -> bool {
        let mut pool = self.pool.lock();
        if pool.get(id).is_none_or(|s| s.migrated) {
            return false;
        }
        pool.remove(id).is_some()
    }

    /// Slots in use (live half-opens plus migrated ones not reused yet).
    pub fn len(&self) -> usize {
        self.pool.lock().len()
    }

    /// Live (not migrated) half-opens.
    pub fn n_live(&self) -> usize {
        self.pool.lock().iter().filter(|(_, s)| !s.migrated).count()
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots waiting in the reuse list.
    pub fn n_reusable(&self) -> usize {
        self.reusable.lock().len()
    }
}
