//! Detach (VPP `vnet_application_detach` -> `app_worker_free` for every
//! worker): in steps, because the app's state is spread over threads.
//!
//! 1. [`Apps::detach_listeners`] on thread 0: the app stops listening;
//!    listen segment managers are detached (freed when empty).
//! 2. [`Apps::detach_invalidate`]: the app's workers stop being valid, so
//!    the session layer neither delivers to them nor asks them for fifos.
//! 3. [`Apps::detach_on_thread`] on every thread: the workers' pending
//!    events are dropped (their cleanups run), the TX events their apps
//!    signalled but the stack never read are run, their sessions closed
//!    (reset when unread data waits), their half-opens cleaned up.
//! 4. [`Apps::detach_finish`]: connects segment managers detached (freed
//!    now if empty, else by the last fifo dealloc), the app removed.
//!
//! [`Stack::detach`](crate::Stack::detach) runs the steps in order.
//! Deleting one worker of an app runs steps 2-4 for that worker alone
//! ([`Apps::worker_del_invalidate`], [`Apps::worker_del_finish`]).

use std::sync::Arc;

use ct_session::{IoEvent, SessionError, SessionState, Worker};

use crate::app_worker::AppWorker;
use crate::apps::Apps;
use crate::handle::{AppHandle, AppListenerHandle, AppWorkerHandle};

/// How a detach ends the app's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetachHow {
    /// Close them (a reset only where unread data waits): the app asked to
    /// go, or the stack is stopping.
    Close,
    /// Reset them all: the app died (its process or socket went away), so
    /// what its peers got may be cut short and must not look like an
    /// orderly end of stream.
    Reset,
}

impl Apps {
    /// Step 1 (thread 0): marks the app detaching and removes its
    /// listeners.
    pub fn detach_listeners(&self, wrk: &mut Worker, app: AppHandle) -> Result<(), SessionError> {
        Self::check_thread(wrk, ct_session::ListenerHandle::LISTENER_THREAD)?;
        let _c = self.control.lock();
        let (wrks, listeners) = {
            let mut st = self.state.write();
            let entry = st
                .apps
                .get_checked_mut(app.index, app.generation)
                .ok_or(SessionError::NoApp)?;
            entry.detaching = true;
            let ws: Vec<u32> = entry.workers.values().copied().collect();
            let wrks: Vec<Arc<AppWorker>> =
                ws.iter().filter_map(|&i| st.wrks.get(i).cloned()).collect();
            let ls: Vec<_> = st
                .listeners
                .iter()
                .filter(|(_, _, al)| al.app_index == app.index)
                .map(|(i, g, al)| {
                    (
                        AppListenerHandle {
                            app,
                            al_index: i,
                            generation: g,
                        },
                        al.clone(),
                    )
                })
                .collect();
            (wrks, ls)
        };
        for (alh, al) in listeners {
            for w in &wrks {
                for ls in al.sessions() {
                    self.worker_stop_listen_session(w, ls);
                }
                al.workers.lock().remove(&w.wrk_map_index);
            }
            self.listener_cleanup(wrk, alh, &al);
        }
        Ok(())
    }

    /// Step 2: the app's workers become invalid; returns their indices.
    pub fn detach_invalidate(&self, app: AppHandle) -> Result<Vec<u32>, SessionError> {
        let st = self.state.read();
        let entry = st
            .apps
            .get_checked(app.index, app.generation)
            .ok_or(SessionError::NoApp)?;
        let mut out = Vec::new();
        for &i in entry.workers.values() {
            if let Some(w) = st.wrks.get(i) {
                w.detached.store(true, ct_sync::atomic::Ordering::Release);
                for waker in w.wakers.lock().values() {
                    waker.wake(true);
                }
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Step 3 (every thread): drops the workers' pending events here, runs
    /// the TX events their sessions still flag (the app's queue that would
    /// carry them is no longer read), closes their sessions here and, on the
    /// connect thread, cleans up their half-opens. Returns how many sessions
    /// it closed.
    pub fn detach_on_thread(&self, wrk: &mut Worker, app_wrks: &[u32]) -> usize {
        self.detach_on_thread_with(wrk, app_wrks, DetachHow::Close)
    }

    /// [`Apps::detach_on_thread`], closing or resetting the sessions as
    /// `how` says.
    pub fn detach_on_thread_with(
        &self,
        wrk: &mut Worker,
        app_wrks: &[u32],
        how: DetachHow,
    ) -> usize {
        for &i in app_wrks {
            wrk.app_worker_del_all_events(i);
        }
        let ours: Vec<_> = wrk
            .sessions()
            .iter()
            .filter(|s| app_wrks.contains(&s.app_wrk_index))
            .map(|s| (s.handle(), s.is_half_open(), s.state()))
            .collect();
        // A TX event the app signalled (tx fifo flag set) but the stack has
        // not read is lost with the app's queues: run it now, closing or
        // not, so the peer hears of the last data before the close and the
        // transport's cleanup (which waits for that event) can go on.
        for &(h, half_open, _) in &ours {
            let pending_tx = !half_open
                && wrk
                    .session_get(h)
                    .ok()
                    .and_then(|s| s.tx_fifo.as_ref())
                    .is_some_and(|f| f.has_event());
            if pending_tx && let Err(e) = wrk.io_event(h, IoEvent::Tx) {
                tracing::debug!(session = %h, error = %e, "detach pending tx");
            }
        }
        let mut closed = 0;
        for (h, half_open, state) in ours {
            let r = if half_open {
                wrk.session_cleanup_half_open(h)
            } else if state < SessionState::Closing {
                closed += 1;
                let unread = wrk
                    .session_get(h)
                    .ok()
                    .and_then(|s| s.rx_fifo.as_ref())
                    .is_some_and(|f| f.max_dequeue().is_ok_and(|n| n > 0));
                if unread || how == DetachHow::Reset {
                    wrk.session_reset(h)
                } else {
                    wrk.session_close(h)
                }
            } else {
                Ok(())
            };
            if let Err(e) = r {
                tracing::debug!(session = %h, error = %e, "detach close");
            }
        }
        closed
    }

    /// Step 4: detaches the workers' segment managers and removes the app.
    pub fn detach_finish(&self, app: AppHandle) -> Result<(), SessionError> {
        let _c = self.control.lock();
        let mut st = self.state.write();
        let entry = st
            .apps
            .remove(app.index, app.generation)
            .ok_or(SessionError::NoApp)?;
        st.by_name.remove(&entry.app.name_key());
        if let Some(ns) = st.namespaces.get_mut(entry.app.ns_index) {
            ns.n_apps = ns.n_apps.saturating_sub(1);
        }
        let mut wrks = Vec::new();
        for &i in entry.workers.values() {
            if let Some(g) = st.wrks.generation(i)
                && let Some(w) = st.wrks.remove(i, g)
            {
                wrks.push(w);
            }
        }
        drop(st);
        for w in wrks {
            self.release_worker(&w);
        }
        tracing::debug!(%app, "app detached");
        Ok(())
    }

    /// A removed worker's segment managers detached (freed now if empty,
    /// else by the last fifo dealloc), its tables cleared.
    fn release_worker(&self, w: &AppWorker) {
        w.detached.store(true, ct_sync::atomic::Ordering::Release);
        w.connects_sm.set_first_is_protected(false);
        if let Err(e) = self.sms.init_free(w.connects_sm.handle()) {
            tracing::debug!(error = %e, "connects segment manager free");
        }
        let listen: Vec<_> = w.listen_sms.lock().drain().map(|(_, sm)| sm).collect();
        let detached: Vec<_> = w.detached_sms.lock().drain(..).collect();
        for sm in listen.into_iter().chain(detached) {
            sm.set_first_is_protected(false);
            sm.app_detach();
            let _ = self.sms.free_safe(sm.handle());
        }
        w.half_opens.lock().clear();
        w.wakers.lock().clear();
    }

    /// Deleting one worker of an app (VPP `vnet_app_worker_add_del` with
    /// `is_add = 0`) runs the detach steps for that worker alone: the
    /// caller unlistens it first, calls this (step 2: the worker stops
    /// being valid), then [`Apps::detach_on_thread`] with its index on every
    /// thread, then [`Apps::worker_del_finish`]. An app's last worker, or
    /// one still listening, is [`SessionError::Invalid`]; a stale handle
    /// [`SessionError::InvalidAppWrk`].
    pub fn worker_del_invalidate(&self, h: AppWorkerHandle) -> Result<(), SessionError> {
        let _c = self.control.lock();
        let st = self.state.read();
        let w = st
            .wrks
            .get_checked(h.index, h.generation)
            .ok_or(SessionError::InvalidAppWrk)?;
        let entry = st.apps.get(w.app_index()).ok_or(SessionError::NoApp)?;
        if entry.detaching || entry.workers.len() <= 1 || !w.listen_sms.lock().is_empty() {
            return Err(SessionError::Invalid);
        }
        w.detached.store(true, ct_sync::atomic::Ordering::Release);
        for waker in w.wakers.lock().values() {
            waker.wake(true);
        }
        Ok(())
    }

    /// The last step of deleting one worker: out of its app and the pool,
    /// its segment managers detached.
    pub fn worker_del_finish(&self, h: AppWorkerHandle) -> Result<(), SessionError> {
        let _c = self.control.lock();
        let mut st = self.state.write();
        let w = st
            .wrks
            .remove(h.index, h.generation)
            .ok_or(SessionError::InvalidAppWrk)?;
        if let Some(entry) = st.apps.get_mut(w.app_index()) {
            entry.workers.remove(&w.wrk_map_index);
        }
        drop(st);
        self.release_worker(&w);
        tracing::debug!(app_wrk = %h, "app worker deleted");
        Ok(())
    }
}
