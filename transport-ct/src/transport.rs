//! ct as a session-layer [`Transport`] (the reference's `cut_thru_proto`
//! vft), listeners (`ct_start_listen`, `ct_stop_listen`) and formatting
//! (`format_ct_connection`, `format_ct_listener`, `format_ct_half_open`).

use std::fmt::{self, Display};

use ct_session::{
    CliLine, SessionEndpointCfg, SessionError, SessionHandle, SessionMain, Transport,
    TransportConnection, TransportOptions, TransportProto, TransportServiceType, TransportTxType,
    Verbosity, Worker,
};

use crate::connection::CtConnection;
use crate::ct_main::CtMain;
use crate::pool::CtConnId;

impl Transport for CtMain {
    fn options(&self) -> TransportOptions {
        TransportOptions {
            name: "ct",
            short_name: "C",
            tx_type: TransportTxType::Internal,
            service_type: TransportServiceType::Vc,
        }
    }

    /// Removes lingering segments that are due.
    fn worker_poll(&self, wrk: &mut Worker) -> bool {
        self.segments.has_retiring() && {
            let now = wrk.now();
            self.reap_segments(wrk, now, false) > 0
        }
    }

    fn enable(&self, main: &SessionMain, is_en: bool) -> Result<(), SessionError> {
        if is_en {
            self.init_layout(main);
        }
        Ok(())
    }

    fn start_listen(
        &self,
        _wrk: &mut Worker,
        listener: SessionHandle,
        sep: &SessionEndpointCfg,
    ) -> Result<CtConnId, SessionError> {
        let id = self.listeners.write().insert_with(|id| {
            let mut c = CtConnection::new(id, 0);
            c.server_wrk = sep.app_wrk_index;
            c.tc.lcl_ip = sep.endpoint.ip;
            c.tc.rmt_ip = sep.endpoint.fib_proto().zero_ip();
            c.tc.lcl_port = sep.endpoint.port;
            c.tc.proto = TransportProto::Ct;
            c.tc.session = Some(listener);
            c.actual_tp = sep.original_tp;
            c
        });
        tracing::debug!(%listener, conn = %id, "ct listen");
        Ok(id)
    }

    fn stop_listen(&self, _wrk: &mut Worker, listener: CtConnId) -> Result<(), SessionError> {
        self.listeners
            .write()
            .remove(listener)
            .map(drop)
            .ok_or(SessionError::NoListen)
    }

    fn connect(
        &self,
        wrk: &mut Worker,
        sep: &SessionEndpointCfg,
        ho: SessionHandle,
    ) -> Result<CtConnId, SessionError> {
        self.session_connect(wrk, sep, ho)
    }

    fn close(&self, wrk: &mut Worker, conn: CtConnId) {
        self.session_close(wrk, conn);
    }

    fn reset(&self, wrk: &mut Worker, conn: CtConnId) {
        self.session_reset(wrk, conn);
    }

    fn cleanup(&self, wrk: &mut Worker, conn: CtConnId) {
        self.session_cleanup(wrk, conn);
    }

    fn cleanup_ho(&self, _wrk: &mut Worker, ho: CtConnId) {
        // Only a half-open that never migrated holds its port here; a
        // migrated one's port goes with the worker's connection.
        if let Some(c) = self.half_opens.get(ho)
            && self.half_opens.free(ho)
        {
            self.release_client_port(&c);
        }
    }

    fn get_connection(&self, wrk: &Worker, conn: CtConnId) -> Option<TransportConnection> {
        Self::conn(wrk, conn).map(|c| c.tc)
    }

    fn get_listener(&self, _wrk: &Worker, listener: CtConnId) -> Option<TransportConnection> {
        self.listeners.read().get(listener).map(|c| c.tc)
    }

    fn get_half_open(&self, _wrk: &Worker, ho: CtConnId) -> Option<TransportConnection> {
        self.half_opens.get(ho).map(|c| c.tc)
    }

    fn custom_tx(&self, wrk: &mut Worker, session: SessionHandle) -> Result<u32, SessionError> {
        CtMain::custom_tx(self, wrk, session)
    }

    fn app_rx_evt(&self, wrk: &mut Worker, conn: &TransportConnection) -> Result<(), SessionError> {
        CtMain::app_rx_evt(self, wrk, conn)
    }

    fn app_accepted(&self, wrk: &mut Worker, session: SessionHandle) -> Result<(), SessionError> {
        self.connect_notify(wrk, session, None)
    }

    fn format_connection(
        &self,
        wrk: &Worker,
        conn: CtConnId,
        verbosity: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write_line(f, Self::conn(wrk, conn), verbosity, "ESTABLISHED")
    }

    fn format_listener(
        &self,
        _wrk: &Worker,
        listener: CtConnId,
        verbosity: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write_line(f, self.listeners.read().get(listener), verbosity, "LISTEN")
    }

    fn format_half_open(
        &self,
        _wrk: &Worker,
        ho: CtConnId,
        verbosity: Verbosity,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write_line(f, self.half_opens.get(ho).as_ref(), verbosity, "HALF-OPEN")
    }
}

/// `[thread:session][CT:T] lcl:port->rmt:port`, padded, then the state when
/// verbose (VPP's `%-60U%-15s`); `empty` for a stale id, as the reference
/// prints for a freed connection.
fn write_line(
    f: &mut fmt::Formatter<'_>,
    ct: Option<&CtConnection>,
    verbosity: Verbosity,
    state: &str,
) -> fmt::Result {
    match ct {
        Some(ct) => CliLine {
            id: &ct.format_id(),
            state: verbosity.shows_state().then_some(state),
        }
        .fmt(f),
        None => f.write_str("empty\n"),
    }
}
