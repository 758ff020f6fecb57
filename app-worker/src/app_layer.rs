//! The session layer's [`AppLayer`], implemented by [`Apps`] (VPP's
//! `app_worker_*` calls the session layer makes, and the delivery of async
//! events: session_cb_vft_t callbacks for builtin apps, messages for
//! in-process and out-of-process ones).

use std::sync::Arc;

use ct_fifo_segment::{Fifo, SegmentFlags};
use ct_segment_manager::SmError;
use ct_session::{
    AppEvent, AppLayer, Congested, QueuedAppEvent, SessionCleanupNtf, SessionError, SessionFifos,
    SessionHandle, Worker,
};

use crate::app_worker::{AppWorker, Delivery};
use crate::apps::Apps;
use crate::callbacks::{AppCallbacks, AppCtx};

/// A segment-manager error as the session layer reports it.
pub(crate) fn sm_err(e: SmError) -> SessionError {
    match e {
        SmError::SegNoSpace => SessionError::SegNoSpace,
        SmError::SegNoSpace2 => SessionError::SegNoSpace2,
        SmError::SegCreate(_) => SessionError::SegCreate,
        _ => SessionError::Alloc,
    }
}

impl Apps {
    fn session_fifos(wrk: &Worker, h: SessionHandle) -> Result<SessionFifos, SessionError> {
        let s = wrk.session_get(h)?;
        match (&s.rx_fifo, &s.tx_fifo) {
            (Some(rx), Some(tx)) => Ok(SessionFifos {
                session: h,
                rx_fifo: rx.clone(),
                tx_fifo: tx.clone(),
            }),
            _ => Err(SessionError::NoSession),
        }
    }

    /// `event` as an in-process or out-of-process app receives it: the
    /// session's fifos and the segment as they are now (see [`AppEvent`]);
    /// `None` for an accepted session gone meanwhile and for the app
    /// layer's own events.
    fn resolve(&self, wrk: &Worker, event: &QueuedAppEvent) -> Option<AppEvent> {
        Some(match event {
            AppEvent::Rx(h) => AppEvent::Rx(*h),
            AppEvent::Tx(h) => AppEvent::Tx(*h),
            AppEvent::Accepted { session, listener } => AppEvent::Accepted {
                session: Self::session_fifos(wrk, *session).ok()?,
                listener: *listener,
            },
            AppEvent::Connected { opaque, result } => AppEvent::Connected {
                opaque: *opaque,
                result: result.and_then(|h| Self::session_fifos(wrk, h)),
            },
            AppEvent::Disconnected(h) => AppEvent::Disconnected(*h),
            AppEvent::Reset(h) => AppEvent::Reset(*h),
            AppEvent::TransportClosed(h) => AppEvent::TransportClosed(*h),
            AppEvent::Cleanup { session, ntf } => AppEvent::Cleanup {
                session: *session,
                ntf: *ntf,
            },
            AppEvent::AddSegment { handle, .. } => AppEvent::AddSegment {
                handle: *handle,
                segment: self.sms.segment(*handle).ok(),
            },
            AppEvent::DelSegment(h) => AppEvent::DelSegment(*h),
            AppEvent::Bound {
                handle,
                opaque,
                error,
            } => AppEvent::Bound {
                handle: *handle,
                opaque: *opaque,
                error: *error,
            },
            AppEvent::UnlistenReply {
                handle,
                opaque,
                error,
            } => AppEvent::UnlistenReply {
                handle: *handle,
                opaque: *opaque,
                error: *error,
            },
            AppEvent::HalfCleanup(_) => return None,
        })
    }

    /// Runs a builtin app's callback for `event`.
    fn run_callback(
        &self,
        wrk: &mut Worker,
        w: &Arc<AppWorker>,
        cb: &Arc<dyn AppCallbacks>,
        event: &QueuedAppEvent,
    ) {
        let mut ctx = AppCtx::new(wrk, self, w);
        match event {
            AppEvent::Accepted { session: h, .. } => {
                let accepted = cb.accept(&mut ctx, *h).is_ok();
                if let Err(e) = ctx.wrk.session_accepted_reply(*h, accepted) {
                    tracing::debug!(session = %h, error = %e, "accept reply");
                }
            }
            AppEvent::Connected { opaque, result } => cb.connected(&mut ctx, *opaque, *result),
            AppEvent::Rx(h) => cb.rx(&mut ctx, *h),
            AppEvent::Tx(h) => cb.tx(&mut ctx, *h),
            AppEvent::Disconnected(h) => cb.disconnect(&mut ctx, *h),
            AppEvent::Reset(h) => cb.reset(&mut ctx, *h),
            AppEvent::TransportClosed(h) => cb.transport_closed(&mut ctx, *h),
            AppEvent::Cleanup { session, ntf, .. } => cb.cleanup(&mut ctx, *session, *ntf),
            AppEvent::AddSegment { handle, .. } => cb.add_segment(&mut ctx, *handle),
            AppEvent::DelSegment(h) => cb.del_segment(&mut ctx, *h),
            AppEvent::Bound { .. } | AppEvent::UnlistenReply { .. } | AppEvent::HalfCleanup(_) => {}
        }
    }

    /// Frees one fifo of a session whose other fifo is gone.
    fn free_one_fifo(&self, f: &Fifo) -> Result<(), SmError> {
        let sm = self.sms.get_by_index(f.segment_manager_index())?;
        let g = sm.get_segment_w_lock(f.segment_index())?;
        g.free_fifo(f).map(drop)
    }

    /// Fifos in a custom-use segment belong to the transport that made it
    /// (ct frees its sessions' fifos itself).
    fn in_custom_segment(&self, f: &Fifo) -> bool {
        self.sms
            .get_by_index(f.segment_manager_index())
            .ok()
            .and_then(|sm| {
                sm.get_segment_w_lock(f.segment_index())
                    .ok()
                    .map(|g| g.segment().flags().contains(SegmentFlags::CUSTOM_USE))
            })
            .unwrap_or(false)
    }
}

impl AppLayer for Apps {
    fn app_worker_is_valid(&self, app_wrk: u32) -> bool {
        self.app_worker_is_live(app_wrk)
    }

    /// VPP `app_worker_init_accepted`: the listener's next worker takes the
    /// session; its fifos come from that worker's manager for the listener.
    fn init_accepted(&self, wrk: &mut Worker, h: SessionHandle) -> Result<(), SessionError> {
        let lh = wrk
            .session_get(h)?
            .listener_handle
            .ok_or(SessionError::NoListen)?;
        let w = self.application_listener_select_worker(lh)?;
        if w.is_congested(wrk.thread_index()) {
            return Err(SessionError::Refused);
        }
        let sm = w.listen_segment_manager(lh)?;
        let pair = sm.alloc_session_fifos(wrk.thread_index()).map_err(sm_err);
        self.flush_segment_notes(wrk);
        let pair = pair?;
        for f in [&pair.rx, &pair.tx] {
            f.set_master_session(h.thread_index(), h.session_index());
        }
        let s = wrk.session_get_mut(h)?;
        s.app_wrk_index = w.wrk_index();
        s.rx_fifo = Some(pair.rx);
        s.tx_fifo = Some(pair.tx);
        Ok(())
    }

    /// VPP `app_worker_init_connected`: fifos from the worker's connects
    /// manager.
    fn init_connected(
        &self,
        wrk: &mut Worker,
        app_wrk: u32,
        h: SessionHandle,
    ) -> Result<(), SessionError> {
        let w = self
            .app_worker_get_if_valid(app_wrk)
            .ok_or(SessionError::InvalidAppWrk)?;
        let pair = w
            .connects_sm
            .alloc_session_fifos(wrk.thread_index())
            .map_err(sm_err);
        self.flush_segment_notes(wrk);
        let pair = pair?;
        for f in [&pair.rx, &pair.tx] {
            f.set_master_session(h.thread_index(), h.session_index());
        }
        let s = wrk.session_get_mut(h)?;
        s.rx_fifo = Some(pair.rx);
        s.tx_fifo = Some(pair.tx);
        Ok(())
    }

    fn deliver(
        &self,
        wrk: &mut Worker,
        app_wrk: u32,
        event: &QueuedAppEvent,
    ) -> Result<(), Congested> {
        let Some(w) = self.app_worker_get_if_valid(app_wrk) else {
            // Detached meanwhile: nobody to tell; the session layer still
            // runs the event's cleanup.
            return Ok(());
        };
        if let AppEvent::HalfCleanup(ho) = event {
            w.half_opens.lock().remove(ho);
            return Ok(());
        }
        match &w.delivery {
            Delivery::InProcess(q) => {
                if let Some(ev) = self.resolve(wrk, event) {
                    q.try_send(ev).map_err(|_| Congested)?;
                }
            }
            Delivery::OutOfProcess(s) => {
                if let Some(ev) = self.resolve(wrk, event) {
                    // A handed-back event is dropped here and resolved
                    // again from the kept one on the retry.
                    s.deliver(wrk, w.handle, ev).map_err(|_| Congested)?;
                }
            }
            Delivery::Builtin(cb) => self.run_callback(wrk, &w, cb, event),
        }
        if let Some(h) = event.session()
            && w.has_wakers()
        {
            let closed = matches!(
                event,
                AppEvent::Disconnected(_)
                    | AppEvent::Reset(_)
                    | AppEvent::TransportClosed(_)
                    | AppEvent::Cleanup { .. }
            );
            w.wake(h, closed);
            if let AppEvent::Cleanup {
                ntf: SessionCleanupNtf::Session,
                ..
            } = event
            {
                w.wakers.lock().remove(&h);
            }
        }
        Ok(())
    }

    /// VPP `segment_manager_dealloc_fifos`, except for fifos in custom-use
    /// segments, which their transport frees.
    fn dealloc_fifos(&self, wrk: &mut Worker, rx: Option<Fifo>, tx: Option<Fifo>) {
        if let Some(f) = rx.as_ref().or(tx.as_ref())
            && self.in_custom_segment(f)
        {
            tracing::debug!("fifos in a custom-use segment left to their transport");
            return;
        }
        let r = match (&rx, &tx) {
            (Some(rx), Some(tx)) => self.sms.dealloc_fifos(rx, tx),
            (Some(f), None) | (None, Some(f)) => self.free_one_fifo(f),
            (None, None) => Ok(()),
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "dealloc fifos");
        }
        self.flush_segment_notes(wrk);
    }
}
