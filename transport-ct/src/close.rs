//! Close, reset and the postponed cleanup (VPP `ct_session_close`,
//! `ct_session_reset`, `ct_program_cleanup`, `ct_handle_cleanups`,
//! `ct_session_postponed_cleanup`, `ct_session_cleanup_server_session`,
//! `ct_session_cleanup`).

use ct_session::{
    SessionCleanupNtf, SessionError, SessionFlags, SessionHandle, SessionState, Worker,
};

use crate::connection::{CtConnFlags, CtConnection};
use crate::ct_main::CtMain;
use crate::pool::CtConnId;
use crate::segments::Side;
use crate::worker::{CtWorkerState, MAX_CLEANUPS_PER_RUN};

impl CtMain {
    /// The app closed its session: unlink the peer (refusing a client that
    /// is still half-open), then clean up later so queued data events are
    /// delivered first.
    pub(crate) fn session_close(&self, wrk: &mut Worker, ct_id: CtConnId) {
        let Some(ct) = Self::conn(wrk, ct_id).cloned() else {
            tracing::debug!(conn = %ct_id, "ct close of an unknown connection");
            return;
        };
        if let Some(peer_id) = ct.peer
            && let Some(peer) = Self::conn_mut(wrk, peer_id)
        {
            peer.peer = None;
            if peer.flags.contains(CtConnFlags::HALF_OPEN) {
                // The server closes before the client was told: refuse it.
                if let Some(ss) = ct.tc.session
                    && let Err(e) = self.connect_notify(wrk, ss, Some(SessionError::Refused))
                {
                    tracing::debug!(error = %e, "ct refuse on close");
                }
                if let Some(ct) = Self::conn_mut(wrk, ct_id) {
                    ct.peer = None;
                }
            }
        }
        self.program_cleanup(wrk, ct_id);
    }

    /// The app reset its session: as a close, but the peer is reset even
    /// with no unread data (VPP's later `ct_session_reset`).
    pub(crate) fn session_reset(&self, wrk: &mut Worker, id: CtConnId) {
        if let Some(ct) = Self::conn_mut(wrk, id) {
            ct.flags |= CtConnFlags::RESET;
        }
        self.session_close(wrk, id);
    }

    fn program_cleanup(&self, wrk: &mut Worker, ct_id: CtConnId) {
        let ctw = wrk.local_state_mut::<CtWorkerState>();
        ctw.pending_cleanups.push_back(ct_id);
        if ctw.have_cleanups {
            return;
        }
        ctw.have_cleanups = true;
        self.schedule_cleanups(wrk);
    }

    fn schedule_cleanups(&self, wrk: &mut Worker) {
        let me = self.me();
        let t = wrk.thread_index();
        if let Err(e) = wrk.send_rpc_evt_to_thread_force(t, move |w| me.handle_cleanups(w)) {
            tracing::warn!(thread = t, error = %e, "ct cleanup rpc not sent");
        }
    }

    /// Runs up to [`MAX_CLEANUPS_PER_RUN`] cleanups; a session with a TX
    /// event still pending on its tx fifo, or an RX event not yet delivered
    /// to its app (VPP's later fix), waits for the next run. A TX flag left
    /// by an app that detached is not waited for (no event will come): its
    /// TX runs now.
    pub(crate) fn handle_cleanups(&self, wrk: &mut Worker) {
        let n = {
            let ctw = wrk.local_state_mut::<CtWorkerState>();
            ctw.have_cleanups = false;
            ctw.pending_cleanups.len().min(MAX_CLEANUPS_PER_RUN)
        };
        for _ in 0..n {
            let Some(id) = wrk
                .local_state_mut::<CtWorkerState>()
                .pending_cleanups
                .pop_front()
            else {
                break;
            };
            let Some(ct) = Self::conn(wrk, id) else {
                continue;
            };
            let (tx_evt, rx_evt, app_gone) = ct
                .tc
                .session
                .and_then(|h| wrk.session_get(h).ok())
                .map_or((false, false, false), |s| {
                    (
                        s.tx_fifo.as_ref().is_some_and(|f| f.has_event()),
                        s.flags.contains(SessionFlags::RX_EVT),
                        !self.session_app_attached(wrk, ct, s.app_wrk_index),
                    )
                });
            if tx_evt
                && app_gone
                && let Some(h) = ct.tc.session
            {
                // A detached app sends no more events: a flag it left set
                // would hold the cleanup forever. Run its TX here instead.
                if let Err(e) = self.custom_tx(wrk, h) {
                    tracing::debug!(session = %h, error = %e, "ct tx of a gone app");
                }
            }
            let busy = (tx_evt && !app_gone) || rx_evt;
            if busy {
                wrk.local_state_mut::<CtWorkerState>()
                    .pending_cleanups
                    .push_back(id);
            } else {
                self.postponed_cleanup(wrk, id);
            }
        }
        let ctw = wrk.local_state_mut::<CtWorkerState>();
        if !ctw.pending_cleanups.is_empty() {
            ctw.have_cleanups = true;
            self.schedule_cleanups(wrk);
        }
    }

    fn close_is_reset(ct: &CtConnection, wrk: &Worker, s: SessionHandle) -> bool {
        if ct.flags.contains(CtConnFlags::RESET) {
            return true;
        }
        let rx = if ct.is_client() {
            ct.client_rx_fifo.clone()
        } else {
            wrk.session_get(s).ok().and_then(|s| s.rx_fifo.clone())
        };
        rx.is_some_and(|f| f.max_dequeue().is_ok_and(|n| n > 0))
    }

    /// The peer hears of the close (reset when this side left data unread),
    /// this side is closed and deleted, its app is told, and the session,
    /// its fifos and the connection are freed once the app saw the cleanup.
    fn postponed_cleanup(&self, wrk: &mut Worker, ct_id: CtConnId) {
        let Some(ct) = Self::conn(wrk, ct_id).cloned() else {
            return;
        };
        let Some(s) = ct.tc.session.filter(|h| wrk.session_is_valid(*h)) else {
            // No session to clean: only the connection remains.
            self.free_conn(wrk, ct_id);
            return;
        };
        let app_wrk = wrk.session_get(s).map_or(u32::MAX, |s| s.app_wrk_index);
        let app_valid = self.session_app_attached(wrk, &ct, app_wrk);

        if let Some(peer) = ct.peer.and_then(|p| Self::conn(wrk, p)).map(|p| p.tc) {
            let r = if Self::close_is_reset(&ct, wrk, s) {
                wrk.session_transport_reset_notify(&peer)
            } else {
                wrk.session_transport_closing_notify(&peer)
            };
            if let Err(e) = r {
                tracing::debug!(error = %e, "ct peer close notify");
            }
        }
        if let Err(e) = wrk.session_transport_closed_notify(&ct.tc) {
            tracing::debug!(error = %e, "ct closed notify");
        }
        // Deleted by hand, not through the session layer's delete notify, so
        // ct decides how the session and its fifos are freed.
        if let Ok(sess) = wrk.session_get_mut(s)
            && let Err(e) = sess.set_state(SessionState::TransportDeleted)
        {
            tracing::warn!(session = %s, error = %e, "ct cleanup state");
        }
        if app_valid
            && let Err(e) = wrk.app_worker_cleanup_notify(app_wrk, s, SessionCleanupNtf::Transport)
        {
            tracing::debug!(error = %e, "ct cleanup notify");
        }

        let me = self.me();
        if ct.is_client() {
            // The client's fifos are the server's: give back the client's
            // references now, with client accounting.
            if let Ok(sess) = wrk.session_get_mut(s) {
                sess.rx_fifo = None;
                sess.tx_fifo = None;
            }
            let (rx, tx) = match Self::conn_mut(wrk, ct_id) {
                Some(c) => (c.client_rx_fifo.take(), c.client_tx_fifo.take()),
                None => (None, None),
            };
            if let (Some(rx), Some(tx)) = (rx, tx) {
                self.dealloc_fifos(wrk, Side::Client, ct.seg, rx, tx);
            }
            let action = move |w: &mut Worker, h: SessionHandle| {
                if let Err(e) = w.session_cleanup(h) {
                    tracing::debug!(session = %h, error = %e, "ct client session cleanup");
                }
                me.free_conn(w, ct_id);
            };
            self.cleanup_session(wrk, app_valid, app_wrk, s, action);
        } else {
            let action =
                move |w: &mut Worker, h: SessionHandle| me.cleanup_server_session(w, h, ct_id);
            self.cleanup_session(wrk, app_valid, app_wrk, s, action);
        }
    }

    /// Frees the session with `action` once its app saw the cleanup, or now
    /// when it has no app.
    fn cleanup_session(
        &self,
        wrk: &mut Worker,
        app_valid: bool,
        app_wrk: u32,
        s: SessionHandle,
        action: impl FnOnce(&mut Worker, SessionHandle) + Send + 'static,
    ) {
        if app_valid {
            if let Err(e) =
                wrk.app_worker_cleanup_notify_custom(app_wrk, s, SessionCleanupNtf::Session, action)
            {
                tracing::warn!(session = %s, error = %e, "ct session cleanup notify");
            }
        } else {
            action(wrk, s);
        }
    }

    /// A server session's cleanup: its fifos with server accounting, the
    /// session, the connection (VPP `ct_session_cleanup_server_session`).
    pub(crate) fn cleanup_server_session(
        &self,
        wrk: &mut Worker,
        s: SessionHandle,
        ct_id: CtConnId,
    ) {
        let peer = Self::conn(wrk, ct_id).and_then(|c| c.peer);
        self.free_server_side(wrk, s, ct_id);
        if let Some(p) = peer
            && let Some(pc) = Self::conn_mut(wrk, p)
            && pc.peer == Some(ct_id)
        {
            pc.peer = None;
        }
    }

    /// Frees a connection whose session is gone, unlinking its peer.
    pub(crate) fn free_conn(&self, wrk: &mut Worker, ct_id: CtConnId) {
        if let Some(ct) = self.conn_free(wrk, ct_id)
            && let Some(p) = ct.peer
            && let Some(peer) = Self::conn_mut(wrk, p)
            && peer.peer == Some(ct_id)
        {
            peer.peer = None;
        }
    }

    /// The session layer frees the connection itself (VPP
    /// `ct_session_cleanup`, after a transport error or for a half-open the
    /// app gave up): unlink the peer, free, and return the side's fifos with
    /// its accounting so nothing leaks.
    pub(crate) fn session_cleanup(&self, wrk: &mut Worker, id: CtConnId) {
        let Some(ct) = Self::conn(wrk, id).cloned() else {
            return;
        };
        self.free_conn(wrk, id);
        // The session layer frees the session next and would hand its fifos
        // to the app layer, which leaves ct's segments alone: return them
        // here, with this side's accounting.
        let (srx, stx) = match ct.tc.session.and_then(|h| wrk.session_get_mut(h).ok()) {
            Some(s) => (s.rx_fifo.take(), s.tx_fifo.take()),
            None => (None, None),
        };
        let (side, fifos) = if ct.is_client() {
            (Side::Client, (ct.client_rx_fifo, ct.client_tx_fifo))
        } else {
            (Side::Server, (srx, stx))
        };
        if let (Some(rx), Some(tx)) = fifos {
            self.dealloc_fifos(wrk, side, ct.seg, rx, tx);
        }
    }
}
