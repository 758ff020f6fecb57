//! Notifications transports send the session layer (VPP
//! `session_enqueue_notify`, `session_dequeue_notify`,
//! `session_transport_*_notify`, `session_half_open_*_notify`) and session
//! cleanup.

use ct_fifo_segment::Fifo;

use crate::events::AppEvent;
use crate::state::{SessionCleanupNtf, SessionFlags, SessionState};
use crate::transport::TransportConnection;
use crate::worker::Worker;
use crate::{SessionError, SessionHandle};

/// Drops what a fifo holds when this side can take the consumer role; a
/// fifo whose consumer is held elsewhere (a ct peer app reads it) is left
/// to that consumer.
pub(crate) fn drop_all(f: Option<&Fifo>) {
    if let Some(f) = f
        && let Ok(mut c) = f.consumer()
    {
        let _ = c.dequeue_drop_all();
    }
}

impl Worker {
    fn tc_session(&self, tc: &TransportConnection) -> Result<SessionHandle, SessionError> {
        tc.session()
    }

    /// New data in `h`'s rx fifo: queues an RX event for its app worker on
    /// this thread, unless one is already queued (coalesced through
    /// [`SessionFlags::RX_EVT`]). [`SessionError::InvalidAppWrk`] when the
    /// session has no live app worker.
    pub fn session_enqueue_notify(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let s = self.session_get(h)?;
        let (app_wrk, pending) = (s.app_wrk_index, s.flags.contains(SessionFlags::RX_EVT));
        if !self.main().app_worker_is_valid(app_wrk) {
            return Err(SessionError::InvalidAppWrk);
        }
        if pending {
            self.counters.rx_coalesced += 1;
            return Ok(());
        }
        self.session_get_mut(h)?.flags.insert(SessionFlags::RX_EVT);
        self.app_worker_add_event(app_wrk, AppEvent::Rx(h));
        Ok(())
    }

    /// Space in `h`'s tx fifo: clears the fifo's dequeue-notification
    /// request first (so the consumer can ask again), then queues a TX event
    /// for the app worker.
    pub fn session_dequeue_notify(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let main = self.main().clone();
        let s = self.session_get(h)?;
        if let Some(f) = &s.tx_fifo {
            f.clear_deq_ntf();
        }
        let app_wrk = s.app_wrk_index;
        if !main.app_worker_is_valid(app_wrk) {
            return Err(SessionError::InvalidAppWrk);
        }
        self.app_worker_add_event(app_wrk, AppEvent::Tx(h));
        Ok(())
    }

    /// The transport started closing (the peer closed): tell the app, unless
    /// it has not accepted the session yet (VPP
    /// `session_transport_closing_notify`).
    pub fn session_transport_closing_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        let h = self.tc_session(tc)?;
        let main = self.main().clone();
        let s = self.session_get_mut(h)?;
        if s.state() >= SessionState::TransportClosing {
            return Ok(());
        }
        let accepting = s.state() == SessionState::Accepting;
        s.set_state(SessionState::TransportClosing)?;
        let app_wrk = s.app_wrk_index;
        // An accept may still be rejected: the app hears of the close with
        // its reply.
        if accepting || !main.app_worker_is_valid(app_wrk) {
            return Ok(());
        }
        self.app_worker_close_notify(app_wrk, h)
    }

    /// The transport is closed: no more data (VPP
    /// `session_transport_closed_notify`).
    pub fn session_transport_closed_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        let h = self.tc_session(tc)?;
        let state = match self.session_get(h) {
            Ok(s) => s.state(),
            Err(_) => return Ok(()),
        };
        if state == SessionState::Ready {
            self.session_transport_closing_notify(tc)?;
            let s = self.session_get_mut(h)?;
            drop_all(s.tx_fifo.as_ref());
            s.set_state(SessionState::TransportClosed)?;
        } else if state <= SessionState::Closing {
            self.session_get_mut(h)?
                .set_state(SessionState::TransportClosed)?;
        } else if state == SessionState::AppClosed {
            self.session_get_mut(h)?.set_state(SessionState::Closed)?;
        }
        let app_wrk = self.session_get(h)?.app_wrk_index;
        if self.main().app_worker_is_valid(app_wrk) {
            self.app_worker_transport_closed_notify(app_wrk, h)?;
        }
        Ok(())
    }

    /// The peer reset (VPP `session_transport_reset_notify`).
    pub fn session_transport_reset_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        let h = self.tc_session(tc)?;
        let main = self.main().clone();
        let s = self.session_get_mut(h)?;
        drop_all(s.tx_fifo.as_ref());
        if s.state() >= SessionState::TransportClosing {
            return Ok(());
        }
        let accepting = s.state() == SessionState::Accepting;
        s.set_state(SessionState::TransportClosing)?;
        let app_wrk = s.app_wrk_index;
        if accepting || !main.app_worker_is_valid(app_wrk) {
            return Ok(());
        }
        self.app_worker_reset_notify(app_wrk, h)
    }

    /// The transport connection is being deleted (VPP
    /// `session_transport_delete_notify`).
    pub fn session_transport_delete_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        let h = self.tc_session(tc)?;
        let Ok(s) = self.session_get(h) else {
            // The app may have been removed already.
            return Ok(());
        };
        match s.state() {
            SessionState::Created => {
                // Accept not sent yet: clean up everything.
                self.session_cleanup(h)
            }
            SessionState::Accepting
            | SessionState::TransportClosing
            | SessionState::Closing
            | SessionState::TransportClosed => {
                // Wait for the app's reply before removing the session.
                let s = self.session_get_mut(h)?;
                s.set_state(SessionState::TransportDeleted)?;
                self.session_cleanup_notify(h, SessionCleanupNtf::Transport)?;
                drop_all(self.session_get(h).ok().and_then(|s| s.tx_fifo.as_ref()));
                Ok(())
            }
            SessionState::AppClosed => {
                let s = self.session_get_mut(h)?;
                s.set_state(SessionState::TransportDeleted)?;
                self.session_cleanup_notify(h, SessionCleanupNtf::Transport)?;
                drop_all(self.session_get(h).ok().and_then(|s| s.tx_fifo.as_ref()));
                // Both sides confirmed the close: the queued close frees it.
                self.program_ctrl(crate::queue::WorkerEvent::Close(h), h.thread_index())
            }
            SessionState::TransportDeleted => Ok(()),
            SessionState::Closed => {
                self.session_cleanup_notify(h, SessionCleanupNtf::Transport)?;
                self.session_get_mut(h)?
                    .set_state(SessionState::TransportDeleted)?;
                self.session_program_cleanup(h)
            }
            other => {
                tracing::warn!(session = %h, state = %other, "delete notify in unexpected state");
                self.session_cleanup_notify(h, SessionCleanupNtf::Transport)?;
                self.session_get_mut(h)?
                    .set_state(SessionState::TransportDeleted)?;
                self.session_program_cleanup(h)
            }
        }
    }

    /// A transport accepted a connection whose session is in Created: move
    /// it to Accepting and tell the app (VPP `session_stream_accept_notify`).
    pub fn session_stream_accept_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        let h = self.tc_session(tc)?;
        let main = self.main().clone();
        let s = self.session_get_mut(h)?;
        let app_wrk = s.app_wrk_index;
        if !main.app_worker_is_valid(app_wrk) {
            return Err(SessionError::InvalidAppWrk);
        }
        if s.state() != SessionState::Created {
            return Ok(());
        }
        s.set_state(SessionState::Accepting)?;
        self.app_worker_accept_notify(app_wrk, h)
    }

    /// Runs `f` with the half-open's thread's worker: now when that is this
    /// thread, else as an RPC there (half-opens live on the connect thread,
    /// transports finish connects on others; VPP writes the half-open from
    /// the other thread, we move the update to its owner).
    fn on_ho_thread(
        &mut self,
        tc: &TransportConnection,
        f: impl FnOnce(&mut Worker, &TransportConnection) -> Result<(), SessionError> + Send + 'static,
    ) -> Result<(), SessionError> {
        let ho = self.tc_session(tc)?;
        if ho.thread_index() == self.thread_index() {
            f(self, tc)
        } else {
            let tc = *tc;
            self.send_rpc_evt_to_thread_force(ho.thread_index(), move |wrk| {
                if let Err(e) = f(wrk, &tc) {
                    tracing::debug!(error = %e, "half-open notification");
                }
            })
        }
    }

    /// The half-open connection is done (connected or failed): free the
    /// half-open session through its app worker (VPP
    /// `session_half_open_delete_notify`).
    pub fn session_half_open_delete_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        self.on_ho_thread(tc, |wrk, tc| {
            let ho = tc.session()?;
            wrk.session_get_mut(ho)?
                .set_state(SessionState::TransportDeleted)?;
            wrk.session_half_open_free(ho)
        })
    }

    fn session_half_open_free(&mut self, ho: SessionHandle) -> Result<(), SessionError> {
        let app_wrk = self.session_get(ho)?.app_wrk_index;
        if self.main().app_worker_is_valid(app_wrk) {
            self.app_worker_del_half_open(app_wrk, ho)
        } else {
            self.session_free(ho).map(drop)
        }
    }

    /// The half-open's transport connection is moving to another thread
    /// (VPP `session_half_open_migrate_notify`).
    pub fn session_half_open_migrate_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        debug_assert!(
            tc.flags
                .contains(crate::transport::TransportConnectionFlags::NO_LOOKUP)
        );
        self.on_ho_thread(tc, |wrk, tc| {
            let s = wrk.session_get_mut(tc.session()?)?;
            s.flags.insert(SessionFlags::IS_MIGRATING);
            s.connection_id = crate::TransportConnId::INVALID;
            Ok(())
        })
    }

    /// The half-open's connection now lives at `tc` (its new thread and
    /// index). If the app gave up meanwhile (half-open Closed), the
    /// half-open is deleted (VPP `session_half_open_migrated_notify`).
    pub fn session_half_open_migrated_notify(
        &mut self,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        self.on_ho_thread(tc, |wrk, tc| {
            let ho = tc.session()?;
            let s = wrk.session_get_mut(ho)?;
            if s.state() == SessionState::Closed {
                s.set_state(SessionState::TransportDeleted)?;
                return wrk.session_half_open_free(ho);
            }
            s.connection_id = tc.conn_id;
            // VPP overloads app_index with the connection's new thread.
            s.app_index = tc.thread_index;
            Ok(())
        })
    }

    fn session_cleanup_notify(
        &mut self,
        h: SessionHandle,
        ntf: SessionCleanupNtf,
    ) -> Result<(), SessionError> {
        let app_wrk = self.session_get(h)?.app_wrk_index;
        if self.main().app_worker_is_valid(app_wrk) {
            return self.app_worker_cleanup_notify(app_wrk, h, ntf);
        }
        match ntf {
            SessionCleanupNtf::Transport => Ok(()),
            SessionCleanupNtf::Session => self.session_cleanup(h),
        }
    }

    /// Schedules the free of a session whose transport is deleted: through
    /// its app worker's cleanup event, or now without one (VPP
    /// `session_program_cleanup`).
    pub fn session_program_cleanup(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let state = self.session_get(h)?.state();
        if state != SessionState::TransportDeleted {
            debug_assert!(false, "program cleanup of {h} in state {state}");
            return Err(SessionError::WrongState);
        }
        self.session_cleanup_notify(h, SessionCleanupNtf::Session)
    }

    /// Frees the session and returns its fifos to the app layer (VPP
    /// `session_cleanup`).
    pub fn session_cleanup(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let mut s = self.session_free(h)?;
        let (rx, tx) = (s.rx_fifo.take(), s.tx_fifo.take());
        if rx.is_some() || tx.is_some() {
            match self.main().app_layer().cloned() {
                Some(app) => app.dealloc_fifos(self, rx, tx),
                None => tracing::error!(session = %h, "fifos without an app layer to free them"),
            }
        }
        Ok(())
    }
}
