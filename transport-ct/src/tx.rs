//! Data events (VPP `ct_custom_tx`, `ct_session_tx`, `ct_app_rx_evt`): ct
//! moves no data, only tells the peer's app that there is some to read, or
//! the writer that there is room again.

use ct_fifo_segment::DeqNtf;
use ct_session::{SessionError, SessionHandle, SessionState, TransportConnection, Worker};

use crate::connection::CtConnFlags;
use crate::ct_main::CtMain;
use crate::worker::CtWorkerState;

impl CtMain {
    /// A TX event: clear the tx fifo's event flag first (an app write after
    /// this point sends a new event), then notify the peer. Reports one unit
    /// of work so the scheduler counts the dispatch.
    pub(crate) fn custom_tx(
        &self,
        wrk: &mut Worker,
        h: SessionHandle,
    ) -> Result<u32, SessionError> {
        let s = wrk.session_get(h)?;
        if let Some(f) = &s.tx_fifo {
            f.unset_event();
        }
        self.session_tx(wrk, h);
        Ok(1)
    }

    fn session_can_tx(state: SessionState) -> bool {
        matches!(
            state,
            SessionState::Ready | SessionState::Closing | SessionState::AppClosed
        )
    }

    /// VPP `ct_session_tx`: an RX event for the peer's app. With VPP's later
    /// fix: if the writer asked for a dequeue notification and its fifo is
    /// already empty (the reader drained it while this event travelled, so
    /// the reader may have checked before the request was armed), the
    /// writer is notified now instead of never.
    fn session_tx(&self, wrk: &mut Worker, h: SessionHandle) -> bool {
        let Ok(s) = wrk.session_get(h) else {
            return false;
        };
        if !Self::session_can_tx(s.state()) {
            return false;
        }
        let tx = s.tx_fifo.clone();
        let Ok((_, ct)) = self.conn_of_session(wrk, h) else {
            return false;
        };
        let Some(peer_s) = ct
            .peer
            .and_then(|p| Self::conn(wrk, p))
            .and_then(|p| p.tc.session)
        else {
            return false;
        };
        match wrk.session_get(peer_s) {
            Ok(ps) if ps.state() < SessionState::TransportClosing => {}
            _ => return false,
        }
        if let Some(tx) = tx {
            let want = tx.want_deq_ntf();
            if !want.is_empty() && tx.is_empty().unwrap_or(false) {
                tx.del_want_deq_ntf(want);
                if let Err(e) = wrk.session_dequeue_notify(h) {
                    tracing::debug!(session = %h, error = %e, "ct drained deq ntf");
                }
            }
        }
        wrk.session_enqueue_notify(peer_s).is_ok()
    }

    /// VPP `ct_app_rx_evt`: the reader dequeued from a fifo whose writer
    /// asked for a notification; tell the writer, when both sides are
    /// established and the writer is not closing. With VPP's later fixes:
    /// the fifo's sent-notification mark is reset first (so the writer can
    /// be told again), and if the writer filled the fifo again while this
    /// event travelled, the notification is not sent but asked for again.
    pub(crate) fn app_rx_evt(
        &self,
        wrk: &mut Worker,
        tc: &TransportConnection,
    ) -> Result<(), SessionError> {
        let h = tc.session()?;
        let s = wrk.session_get(h)?;
        if s.state() < SessionState::Ready {
            return Err(SessionError::WrongState);
        }
        let rx = s.rx_fifo.clone();
        let ct = wrk
            .local_state::<CtWorkerState>()
            .and_then(|w| w.conns.get(tc.conn_id))
            .cloned()
            .filter(|c| c.tc.session == Some(h))
            .ok_or(SessionError::NoSession)?;
        let peer = ct
            .peer
            .and_then(|p| Self::conn(wrk, p))
            .filter(|p| !p.flags.contains(CtConnFlags::HALF_OPEN))
            .ok_or(SessionError::NoSession)?;
        let ps_h = peer.tc.session.ok_or(SessionError::NoSession)?;
        let ps = wrk.session_get(ps_h)?;
        if ps.state() >= SessionState::TransportClosing {
            return Err(SessionError::WrongState);
        }
        let ps_tx = ps.tx_fifo.clone();
        if let Some(rx) = &rx {
            rx.reset_has_deq_ntf();
        }
        if let (Some(rx), Some(ptx)) = (&rx, &ps_tx)
            && ptx.max_enqueue().is_ok_and(|n| n == 0)
        {
            // Full again: this notification would wake the writer for
            // nothing; ask for the next one instead.
            rx.add_want_deq_ntf(DeqNtf::NOTIF);
            return Ok(());
        }
        wrk.session_dequeue_notify(ps_h)
    }
}
