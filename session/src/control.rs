//! Session control the app layer drives (VPP `session_listen`,
//! `session_stop_listen`, `session_open`, `session_close`, `session_reset`)
//! and its transport side (`session_transport_close` / `_reset` /
//! `_cleanup`, `session_cleanup_half_open`).

use crate::notify::drop_all;
use crate::queue::WorkerEvent;
use crate::state::{SessionFlags, SessionState};
use crate::transport::TransportServiceType;
use crate::transport_format::{TransportDisplay, Verbosity, format_cli_line};
use crate::worker::Worker;
use crate::{ListenerHandle, SessionEndpointCfg, SessionError, SessionHandle, SessionType};

impl Worker {
    fn check_thread(&self, thread: u32, what: &str) -> Result<(), SessionError> {
        if self.thread_index() != thread {
            debug_assert!(
                false,
                "{what} must run on thread {thread}, not {}",
                self.thread_index()
            );
            return Err(SessionError::Invalid);
        }
        Ok(())
    }

    /// Starts the transport listening for the listen session `lh` (VPP
    /// `session_listen`). Runs on thread 0. Lookup tables are the app
    /// layer's to fill (local tables are not the transport's business).
    pub fn session_listen(
        &mut self,
        lh: ListenerHandle,
        sep: &SessionEndpointCfg,
    ) -> Result<(), SessionError> {
        self.check_thread(ListenerHandle::LISTENER_THREAD, "listen")?;
        let ls = self.main().listen_session_get(lh)?;
        let t = self.transport_for(ls.session_type)?;
        let conn = t.start_listen(self, lh, sep)?;
        self.main().listen_session_update(lh, |s| {
            s.connection_id = conn;
            s.opaque = sep.opaque;
        })?;
        tracing::debug!(listener = %lh, endpoint = %sep.endpoint, %conn, "listen");
        Ok(())
    }

    /// Stops the transport listening (VPP `session_stop_listen`). The
    /// listen session stays for the caller to free.
    pub fn session_stop_listen(&mut self, lh: ListenerHandle) -> Result<(), SessionError> {
        self.check_thread(ListenerHandle::LISTENER_THREAD, "stop listen")?;
        let ls = self.main().listen_session_get(lh)?;
        if ls.state() != SessionState::Listening {
            return Err(SessionError::NoListen);
        }
        let t = self.transport_for(ls.session_type)?;
        if t.get_listener(self, ls.connection_id).is_none() {
            // No transport: assume it was cleaned up already.
            return Ok(());
        }
        t.stop_listen(self, ls.connection_id)?;
        tracing::debug!(listener = %lh, "stop listen");
        Ok(())
    }

    /// Asks the transport to connect to `sep` (VPP `session_open` for
    /// virtual-circuit transports): allocates the half-open session on this
    /// thread, which must be the connect thread, and returns its handle; the
    /// app layer records it in its half-open table (`ho_index`). The result
    /// comes later as a connect notification.
    pub fn session_open(
        &mut self,
        sep: &SessionEndpointCfg,
    ) -> Result<SessionHandle, SessionError> {
        self.check_thread(self.main().transport_cl_thread(), "connect")?;
        let st = SessionType::new(sep.endpoint.transport_proto, sep.is_ip4());
        let t = self.transport_for(st)?;
        if t.options().service_type != TransportServiceType::Vc {
            return Err(SessionError::NoSupport);
        }
        let ho = self.session_alloc(st)?;
        {
            let s = self.session_get_mut(ho)?;
            s.flags.insert(SessionFlags::HALF_OPEN);
            s.app_wrk_index = sep.app_wrk_index;
            s.opaque = sep.opaque;
        }
        match t.connect(self, sep, ho) {
            Ok(conn) => {
                // The transport may have finished (or failed) the connect
                // synchronously and freed the half-open already.
                if let Ok(s) = self.session_get_mut(ho) {
                    s.connection_id = conn;
                }
                tracing::debug!(half_open = %ho, endpoint = %sep.endpoint, %conn, "connect");
                Ok(ho)
            }
            Err(e) => {
                let _ = self.session_free(ho);
                tracing::debug!(endpoint = %sep.endpoint, error = %e, "connect failed");
                Err(e)
            }
        }
    }

    /// The app closes the session (VPP `session_close`): the close reaches
    /// the transport through the worker's queue, after what is pending.
    pub fn session_close(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let s = self.session_get_mut(h)?;
        if s.flags.contains(SessionFlags::APP_CLOSED) {
            return Ok(());
        }
        // Transports can close on their own and hide the app's close in the
        // state; the flag remembers it.
        s.flags.insert(SessionFlags::APP_CLOSED);
        let state = s.state();
        if state >= SessionState::Closing {
            if state == SessionState::TransportClosed || state == SessionState::TransportDeleted {
                self.program_ctrl(WorkerEvent::Close(h), h.thread_index())?;
            }
            return Ok(());
        }
        if let Some(f) = &s.tx_fifo {
            f.clear_deq_ntf();
        }
        s.set_state(SessionState::Closing)?;
        tracing::debug!(session = %h, "close");
        self.program_ctrl(WorkerEvent::Close(h), h.thread_index())
    }

    /// The app's reply to an accept notification (VPP
    /// `session_mq_accepted_reply_handler`): `accepted == false` closes the
    /// session (the transport tells its peer); otherwise the session becomes
    /// Ready and the transport finishes what waits for the accept
    /// ([`Transport::app_accepted`](crate::Transport::app_accepted): ct
    /// connects the client here). A session the transport closed while the
    /// app was deciding gets its disconnect notification now.
    pub fn session_accepted_reply(
        &mut self,
        h: SessionHandle,
        accepted: bool,
    ) -> Result<(), SessionError> {
        if !accepted {
            return self.session_close(h);
        }
        let s = self.session_get_mut(h)?;
        let state = s.state();
        if state >= SessionState::TransportClosing {
            let app_wrk = s.app_wrk_index;
            return self.app_worker_close_notify(app_wrk, h);
        }
        if state != SessionState::Accepting {
            return Err(SessionError::WrongState);
        }
        s.set_state(SessionState::Ready)?;
        let st = s.session_type;
        let has_data = s
            .rx_fifo
            .as_ref()
            .is_some_and(|f| f.max_dequeue().is_ok_and(|n| n > 0));
        self.transport_for(st)?.app_accepted(self, h)?;
        if has_data && self.session_is_valid(h) {
            self.session_enqueue_notify(h).or_else(|e| match e {
                SessionError::InvalidAppWrk => Ok(()),
                e => Err(e),
            })?;
        }
        Ok(())
    }

    /// The app resets the session: drop unsent data, then reset the
    /// transport (VPP `session_reset`).
    pub fn session_reset(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let s = self.session_get_mut(h)?;
        if s.state() >= SessionState::Closing {
            return Ok(());
        }
        drop_all(s.tx_fifo.as_ref());
        s.set_state(SessionState::Closing)?;
        tracing::debug!(session = %h, "reset");
        self.program_ctrl(WorkerEvent::Reset(h), h.thread_index())
    }

    /// The app's close reaches the transport (VPP `session_transport_close`).
    pub fn session_transport_close(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        self.transport_close_or_reset(h, false)
    }

    /// The app's reset reaches the transport (VPP `session_transport_reset`).
    pub fn session_transport_reset(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        self.transport_close_or_reset(h, true)
    }

    fn transport_close_or_reset(
        &mut self,
        h: SessionHandle,
        reset: bool,
    ) -> Result<(), SessionError> {
        let s = self.session_get_mut(h)?;
        let state = s.state();
        if state >= SessionState::AppClosed {
            if state == SessionState::TransportClosed {
                s.set_state(SessionState::Closed)?;
            } else if state >= SessionState::TransportDeleted {
                // The transport is gone already: just free the session.
                self.session_program_cleanup(h)?;
            }
            return Ok(());
        }
        s.set_state(SessionState::AppClosed)?;
        let (st, conn) = (s.session_type, s.connection_id);
        let t = self.transport_for(st)?;
        if reset {
            t.reset(self, conn);
        } else {
            t.close(self, conn);
        }
        Ok(())
    }

    /// Frees the transport connection and the session after a transport
    /// error, with no delete notification to come (VPP
    /// `session_transport_cleanup`).
    pub fn session_transport_cleanup(&mut self, h: SessionHandle) -> Result<(), SessionError> {
        let s = self.session_get(h)?;
        if s.state() != SessionState::TransportDeleted {
            let (st, conn) = (s.session_type, s.connection_id);
            self.transport_for(st)?.cleanup(self, conn);
        }
        self.session_cleanup(h)
    }

    /// The app gives up a half-open (detach before the connect finished;
    /// VPP `session_cleanup_half_open`). Runs on the connect thread.
    pub fn session_cleanup_half_open(&mut self, ho: SessionHandle) -> Result<(), SessionError> {
        let s = self.session_get_mut(ho)?;
        let (st, conn) = (s.session_type, s.connection_id);
        if s.flags.contains(SessionFlags::IS_MIGRATING) {
            if conn.is_invalid() {
                // Still moving: Closed tells the migrated notify to delete it.
                s.set_state(SessionState::Closed)?;
                return Ok(());
            }
            // Migrated: the connection is an ordinary one on its new thread.
            let thread = s.app_index;
            let t = self.transport_for(st)?;
            self.send_rpc_evt_to_thread(thread, move |wrk| t.cleanup(wrk, conn))?;
        } else if s.state() != SessionState::TransportDeleted {
            self.transport_for(st)?.cleanup_ho(self, conn);
        }
        self.session_free(ho).map(drop)
    }

    /// A session's `show session` line (VPP `format_session`): the
    /// transport's text for the connection, listener or half-open, then,
    /// when `verbose == 1`, the rx and tx fifo fill.
    pub fn format_session(&self, h: SessionHandle, verbose: u32) -> Result<String, SessionError> {
        let s = self.session_get(h)?;
        if s.state() >= SessionState::TransportDeleted {
            return Ok(format!("{} CLOSED", s.handle()));
        }
        let fill = |f: &Option<ct_fifo_segment::Fifo>| {
            f.as_ref().and_then(|f| f.max_dequeue().ok()).unwrap_or(0)
        };
        let counts = if verbose == 1 {
            format!("{:<10}{:<10}", fill(&s.rx_fifo), fill(&s.tx_fifo))
        } else {
            String::new()
        };
        let t = self.transport_for(s.session_type)?;
        let state = s.state();
        let (id, v) = (s.connection_id, Verbosity::from(verbose));
        let mut out = if state >= SessionState::Accepting || state == SessionState::Created {
            format!("{}{counts}", TransportDisplay::connection(&*t, self, id, v))
        } else if state == SessionState::Connecting && s.is_half_open() {
            format!("{}{counts}", TransportDisplay::half_open(&*t, self, id, v))
        } else if state == SessionState::Connecting {
            TransportDisplay::connection(&*t, self, id, v).to_string()
        } else {
            format_cli_line(&s.to_string(), None)
        };
        if verbose > 1 {
            out.push_str(&format!(
                " session: state: {} opaque: {:#x} flags: {}\n",
                state, s.opaque, s.flags
            ));
        }
        Ok(out)
    }

    /// A listen session's `show session` line.
    pub fn format_listener(
        &self,
        lh: ListenerHandle,
        verbose: u32,
    ) -> Result<String, SessionError> {
        let ls = self.main().listen_session_get(lh)?;
        let t = self.transport_for(ls.session_type)?;
        Ok(
            TransportDisplay::listener(&*t, self, ls.connection_id, Verbosity::from(verbose))
                .to_string(),
        )
    }
}
