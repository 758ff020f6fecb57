//! Queuing events for app workers and flushing them (the reference
//! commit's `app_worker_add_event*`, `app_worker_flush_events_inline`,
//! `app_worker_del_all_events` and the session-input node).

use crate::app::{AppLayer, Congested};
use crate::events::{
    APP_EVENTS_PER_FLUSH, AppEvent, CleanupFn, Queued, QueuedAppEvent, SegmentHandle,
};
use crate::state::{SessionCleanupNtf, SessionFlags, SessionState};
use crate::worker::Worker;
use crate::{ListenerHandle, SessionError, SessionHandle};

impl Worker {
    fn check_local(&self, h: SessionHandle) -> Result<(), SessionError> {
        if h.thread_index() != self.thread_index() {
            debug_assert!(
                false,
                "event for {h} queued on thread {}",
                self.thread_index()
            );
            return Err(SessionError::Invalid);
        }
        Ok(())
    }

    /// Queues `evt` for `app_wrk` on this thread; the first event marks the
    /// app worker pending for session-input (VPP
    /// `app_worker_add_event_custom`).
    pub fn app_worker_add_event(&mut self, app_wrk: u32, evt: QueuedAppEvent) {
        self.add_event(app_wrk, evt, None);
    }

    fn add_event(&mut self, app_wrk: u32, event: QueuedAppEvent, action: Option<CleanupFn>) {
        let evt = Queued { event, action };
        tracing::trace!(thread = self.thread_index(), app_wrk, ?evt, "app event");
        self.counters.app_events_queued += 1;
        self.app_events.add(app_wrk, evt);
    }

    fn add_session_event(
        &mut self,
        app_wrk: u32,
        h: SessionHandle,
        evt: QueuedAppEvent,
    ) -> Result<(), SessionError> {
        self.check_local(h)?;
        self.app_worker_add_event(app_wrk, evt);
        Ok(())
    }

    /// Tells `app_wrk` about a new session to accept (VPP
    /// `app_worker_accept_notify`).
    pub fn app_worker_accept_notify(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
    ) -> Result<(), SessionError> {
        tracing::debug!(session = %s, app_wrk, "accept notify");
        self.check_local(s)?;
        // Set when the session was made for the listener, never changed.
        let listener = self.session_get(s).ok().and_then(|s| s.listener_handle);
        self.app_worker_add_event(
            app_wrk,
            AppEvent::Accepted {
                session: s,
                listener,
            },
        );
        Ok(())
    }

    /// Tells `app_wrk` a connect finished: `session` on success, `error`
    /// otherwise; `opaque` is the connect's (VPP `app_worker_connect_notify`).
    pub fn app_worker_connect_notify(
        &mut self,
        app_wrk: u32,
        session: Option<SessionHandle>,
        error: Option<SessionError>,
        opaque: u32,
    ) -> Result<(), SessionError> {
        tracing::debug!(?session, app_wrk, ?error, opaque, "connect notify");
        if let Some(s) = session {
            self.check_local(s)?;
        }
        let result = match (session, error) {
            (_, Some(e)) => Err(e),
            (Some(h), None) => Ok(h),
            (None, None) => Err(SessionError::Unknown),
        };
        self.app_worker_add_event(app_wrk, AppEvent::Connected { opaque, result });
        Ok(())
    }

    /// The peer closed (VPP `app_worker_close_notify`).
    pub fn app_worker_close_notify(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
    ) -> Result<(), SessionError> {
        tracing::debug!(session = %s, app_wrk, "close notify");
        self.add_session_event(app_wrk, s, AppEvent::Disconnected(s))
    }

    /// The peer reset (VPP `app_worker_reset_notify`).
    pub fn app_worker_reset_notify(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
    ) -> Result<(), SessionError> {
        tracing::debug!(session = %s, app_wrk, "reset notify");
        self.add_session_event(app_wrk, s, AppEvent::Reset(s))
    }

    /// The transport closed (VPP `app_worker_transport_closed_notify`).
    pub fn app_worker_transport_closed_notify(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
    ) -> Result<(), SessionError> {
        tracing::debug!(session = %s, app_wrk, "transport closed notify");
        self.add_session_event(app_wrk, s, AppEvent::TransportClosed(s))
    }

    /// Data to read, without coalescing (VPP `app_worker_rx_notify`);
    /// transports use [`Worker::session_enqueue_notify`].
    pub fn app_worker_rx_notify(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
    ) -> Result<(), SessionError> {
        self.add_session_event(app_wrk, s, AppEvent::Rx(s))
    }

    /// Cleanup notification; a session cleanup then frees the session with
    /// [`Worker::session_cleanup`] (VPP `app_worker_cleanup_notify`).
    pub fn app_worker_cleanup_notify(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
        ntf: SessionCleanupNtf,
    ) -> Result<(), SessionError> {
        tracing::debug!(session = %s, app_wrk, ?ntf, "cleanup notify");
        self.add_session_event(app_wrk, s, AppEvent::Cleanup { session: s, ntf })
    }

    /// Cleanup notification whose session cleanup is `action` instead of the
    /// default (VPP `app_worker_cleanup_notify_custom`).
    pub fn app_worker_cleanup_notify_custom(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
        ntf: SessionCleanupNtf,
        action: impl FnOnce(&mut Worker, SessionHandle) + Send + 'static,
    ) -> Result<(), SessionError> {
        tracing::debug!(session = %s, app_wrk, ?ntf, "cleanup notify custom");
        self.check_local(s)?;
        self.add_event(
            app_wrk,
            AppEvent::Cleanup { session: s, ntf },
            Some(Box::new(action)),
        );
        Ok(())
    }

    /// The half-open `ho` is done: the app drops it, then it is freed (VPP
    /// `app_worker_del_half_open`).
    pub fn app_worker_del_half_open(
        &mut self,
        app_wrk: u32,
        ho: SessionHandle,
    ) -> Result<(), SessionError> {
        self.add_session_event(app_wrk, ho, AppEvent::HalfCleanup(ho))
    }

    /// A new segment for the app to map (VPP `app_worker_add_segment_notify`).
    pub fn app_worker_add_segment_notify(&mut self, app_wrk: u32, seg: SegmentHandle) {
        tracing::debug!(app_wrk, segment = %seg, "add segment notify");
        self.app_worker_add_event(
            app_wrk,
            AppEvent::AddSegment {
                handle: seg,
                segment: (),
            },
        );
    }

    /// A segment the app must unmap (VPP `app_worker_del_segment_notify`).
    pub fn app_worker_del_segment_notify(&mut self, app_wrk: u32, seg: SegmentHandle) {
        tracing::debug!(app_wrk, segment = %seg, "del segment notify");
        self.app_worker_add_event(app_wrk, AppEvent::DelSegment(seg));
    }

    /// Listen result (VPP `app_worker_listened_notify`).
    pub fn app_worker_listened_notify(
        &mut self,
        app_wrk: u32,
        handle: ListenerHandle,
        opaque: u32,
        error: Option<SessionError>,
    ) {
        self.app_worker_add_event(
            app_wrk,
            AppEvent::Bound {
                handle,
                opaque,
                error,
            },
        );
    }

    /// Unlisten result (VPP `app_worker_unlisten_reply`).
    pub fn app_worker_unlisten_reply(
        &mut self,
        app_wrk: u32,
        handle: ListenerHandle,
        opaque: u32,
        error: Option<SessionError>,
    ) {
        self.app_worker_add_event(
            app_wrk,
            AppEvent::UnlistenReply {
                handle,
                opaque,
                error,
            },
        );
    }

    /// Allocates an accepted session's fifos through the app layer (VPP
    /// `app_worker_init_accepted`).
    pub fn app_worker_init_accepted(&mut self, s: SessionHandle) -> Result<(), SessionError> {
        let app = self
            .main()
            .app_layer()
            .cloned()
            .ok_or(SessionError::NoApp)?;
        app.init_accepted(self, s)
    }

    /// Allocates a connected session's fifos through the app layer (VPP
    /// `app_worker_init_connected`).
    pub fn app_worker_init_connected(
        &mut self,
        app_wrk: u32,
        s: SessionHandle,
    ) -> Result<(), SessionError> {
        let app = self
            .main()
            .app_layer()
            .cloned()
            .ok_or(SessionError::NoApp)?;
        app.init_connected(self, app_wrk, s)
    }

    /// Events queued for `app_wrk` on this thread.
    pub fn app_worker_pending_events(&self, app_wrk: u32) -> usize {
        self.app_events.len(app_wrk)
    }

    /// Whether `app_wrk`'s queue was congested at its last flush here.
    pub fn app_worker_is_congested(&self, app_wrk: u32) -> bool {
        self.app_events
            .per_app_wrk
            .get(&app_wrk)
            .is_some_and(|q| q.congested)
    }

    /// App workers with events pending on this thread, in flush order.
    pub fn pending_app_workers(&self) -> Vec<u32> {
        self.app_events.pending.iter().copied().collect()
    }

    /// Drops `app_wrk`'s events on this thread, running the cleanups they
    /// carry (session cleanups, half-open frees) so nothing leaks (VPP
    /// `app_worker_del_all_events`; the app layer calls it on every thread
    /// when it deletes an app worker). Returns how many events were dropped.
    pub fn app_worker_del_all_events(&mut self, app_wrk: u32) -> usize {
        self.app_events.pending.remove(&app_wrk);
        let Some(q) = self.app_events.per_app_wrk.remove(&app_wrk) else {
            return 0;
        };
        let n = q.fifo.len();
        tracing::debug!(
            thread = self.thread_index(),
            app_wrk,
            n,
            "app worker events drained"
        );
        for evt in q.fifo {
            if let AppEvent::Rx(h) = &evt.event
                && let Ok(s) = self.session_get_mut(*h)
            {
                s.flags.remove(SessionFlags::RX_EVT);
            }
            self.run_event_actions(evt);
        }
        n
    }

    /// What an event carries for the session layer to do once the app was
    /// told (or will never be).
    fn run_event_actions(&mut self, evt: Queued) {
        match evt.event {
            AppEvent::Cleanup {
                session,
                ntf: SessionCleanupNtf::Session,
            } => match evt.action {
                Some(f) => f(self, session),
                None => {
                    if let Err(e) = self.session_cleanup(session) {
                        tracing::debug!(%session, error = %e, "cleanup of a gone session");
                    }
                }
            },
            AppEvent::HalfCleanup(ho) if self.session_free(ho).is_err() => {
                tracing::debug!(session = %ho, "half-open already freed");
            }
            _ => {}
        }
    }

    /// Session-input: flushes the events of every pending app worker, at
    /// most [`APP_EVENTS_PER_FLUSH`] each, in app worker index order.
    /// Returns how many events were delivered. Without an app layer
    /// installed, events wait.
    pub fn session_input(&mut self) -> usize {
        if self.app_events.pending.is_empty() {
            return 0;
        }
        let Some(app) = self.main().app_layer().cloned() else {
            return 0;
        };
        let pending = self.pending_app_workers();
        let mut delivered = 0;
        for app_wrk in pending {
            if !app.app_worker_is_valid(app_wrk) {
                // App workers drain their events when deleted; one that did
                // not still gets its cleanups run.
                tracing::warn!(app_wrk, "events pending for a deleted app worker");
                self.app_worker_del_all_events(app_wrk);
                continue;
            }
            delivered += self.flush_app_wrk(&*app, app_wrk);
        }
        if delivered > 0 {
            self.counters.input_runs += 1;
        }
        delivered
    }

    fn flush_app_wrk(&mut self, app: &dyn AppLayer, app_wrk: u32) -> usize {
        let n = APP_EVENTS_PER_FLUSH.min(self.app_events.len(app_wrk));
        let mut delivered = 0;
        let mut congested = false;
        for _ in 0..n {
            let Some(evt) = self
                .app_events
                .per_app_wrk
                .get_mut(&app_wrk)
                .and_then(|q| q.fifo.pop_front())
            else {
                break;
            };
            if let AppEvent::Rx(h) = &evt.event {
                match self.session_get_mut(*h) {
                    Ok(s) => {
                        s.flags.remove(SessionFlags::RX_EVT);
                        // The app has not accepted the session yet.
                        if s.state() == SessionState::Accepting {
                            self.counters.rx_skipped += 1;
                            continue;
                        }
                    }
                    Err(_) => {
                        self.counters.rx_skipped += 1;
                        continue;
                    }
                }
            }
            match app.deliver(self, app_wrk, &evt.event) {
                Ok(()) => {
                    delivered += 1;
                    self.counters.app_events_delivered += 1;
                    self.run_event_actions(evt);
                }
                Err(Congested) => {
                    if let AppEvent::Rx(h) = &evt.event
                        && let Ok(s) = self.session_get_mut(*h)
                    {
                        s.flags.insert(SessionFlags::RX_EVT);
                    }
                    self.app_events
                        .per_app_wrk
                        .entry(app_wrk)
                        .or_default()
                        .fifo
                        .push_front(evt);
                    congested = true;
                    break;
                }
            }
        }
        let thread = self.thread_index();
        match self.app_events.per_app_wrk.get_mut(&app_wrk) {
            Some(q) => {
                if congested {
                    if !q.congested {
                        tracing::debug!(thread, app_wrk, "app queue congested");
                    }
                    q.congested = true;
                    self.counters.congested += 1;
                } else {
                    q.congested = false;
                }
                if q.fifo.is_empty() {
                    self.app_events.pending.remove(&app_wrk);
                }
            }
            None => {
                self.app_events.pending.remove(&app_wrk);
            }
        }
        delivered
    }
}
