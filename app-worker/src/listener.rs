//! App listeners (VPP `app_listener_t`): one listen request of an app, with
//! its global and/or local listen sessions and the app workers that share
//! its accepts.

use ct_sync::atomic::{AtomicU32, Ordering};
use std::collections::BTreeSet;

use ct_sync::Mutex;

use ct_session::{ListenerHandle, SessionEndpoint};

/// One app listener.
#[derive(Debug)]
pub struct AppListener {
    pub(crate) app_index: u32,
    pub(crate) endpoint: SessionEndpoint,
    /// The listen session in the global table (global scope).
    pub(crate) global: Option<ListenerHandle>,
    /// The listen session in the namespace's local table (local scope,
    /// local endpoint).
    pub(crate) local: Option<ListenerHandle>,
    /// App workers (their index in the app) that accept on it.
    pub(crate) workers: Mutex<BTreeSet<u32>>,
    /// Last worker picked (VPP `accept_rotor`).
    pub(crate) accept_rotor: AtomicU32,
}

impl AppListener {
    /// The owning application's index.
    pub fn app_index(&self) -> u32 {
        self.app_index
    }

    /// Its endpoint.
    pub fn endpoint(&self) -> &SessionEndpoint {
        &self.endpoint
    }

    /// Its global listen session.
    pub fn global_session(&self) -> Option<ListenerHandle> {
        self.global
    }

    /// Its local listen session.
    pub fn local_session(&self) -> Option<ListenerHandle> {
        self.local
    }

    /// Map indices of the app workers listening.
    pub fn workers(&self) -> Vec<u32> {
        self.workers.lock().iter().copied().collect()
    }

    /// Its listen sessions.
    pub(crate) fn sessions(&self) -> impl Iterator<Item = ListenerHandle> + '_ {
        self.global.iter().chain(self.local.iter()).copied()
    }

    /// Round-robin over the listening workers, after the last one picked
    /// (VPP `app_listener_select_worker`). `None` without workers.
    pub(crate) fn select_worker(&self) -> Option<u32> {
        let workers = self.workers.lock();
        let last = self.accept_rotor.load(Ordering::Relaxed);
        let next = workers
            .range(last.saturating_add(1)..)
            .next()
            .or_else(|| workers.iter().next())
            .copied()?;
        self.accept_rotor.store(next, Ordering::Relaxed);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_session::TransportProto;

    fn al(workers: &[u32]) -> AppListener {
        AppListener {
            app_index: 0,
            endpoint: SessionEndpoint::new("0.0.0.0".parse().unwrap(), 1, TransportProto::Tcp),
            global: None,
            local: None,
            workers: Mutex::new(workers.iter().copied().collect()),
            accept_rotor: AtomicU32::new(0),
        }
    }

    #[test]
    fn select_worker_rotates_after_the_last_pick() {
        let l = al(&[0, 2, 5]);
        let picks: Vec<_> = (0..6).map(|_| l.select_worker().unwrap()).collect();
        assert_eq!(picks, vec![2, 5, 0, 2, 5, 0]);
        assert_eq!(al(&[]).select_worker(), None);
        let one = al(&[3]);
        assert_eq!(
            (one.select_worker(), one.select_worker()),
            (Some(3), Some(3))
        );
    }
}
