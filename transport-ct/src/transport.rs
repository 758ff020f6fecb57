//! ct as a session-layer [`Transport`] (the reference's `cut_thru_proto`
//! vft), listeners (`ct_start_listen`, `ct_stop_listen`) and formatting
//! (`format_ct_connection`, `format_ct_listener`, `format_ct_half_open`).

use ct_session::{
    SessionEndpointCfg, SessionError, SessionHandle, SessionMain, Transport, TransportConnection,
    TransportOptions, TransportProto, TransportServiceType, TransportTxType, Worker,
    format_cli_line,
};

use crate::connection::CtConnection;
use crate::ct_main::CtMain;
use crate::worker::CtWorkerState;

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
        self.segments.has_retiring()
            && self.reap_segments(wrk, std::time::Instant::now(), false) > 0
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
    ) -> Result<u32, SessionError> {
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
        Ok(id.index)
    }

    fn stop_listen(&self, _wrk: &mut Worker, listener_index: u32) -> Result<(), SessionError> {
        let mut pool = self.listeners.write();
        let id = pool.id_of(listener_index).ok_or(SessionError::NoListen)?;
        pool.remove(id);
        Ok(())
    }

    fn connect(
        &self,
        wrk: &mut Worker,
        sep: &SessionEndpointCfg,
        ho: SessionHandle,
    ) -> Result<u32, SessionError> {
        self.session_connect(wrk, sep, ho)
    }

    fn close(&self, wrk: &mut Worker, conn_index: u32) {
        self.session_close(wrk, conn_index);
    }

    fn reset(&self, wrk: &mut Worker, conn_index: u32) {
        self.session_reset(wrk, conn_index);
    }

    fn cleanup(&self, wrk: &mut Worker, conn_index: u32) {
        self.session_cleanup(wrk, conn_index);
    }

    fn cleanup_ho(&self, _wrk: &mut Worker, ho_index: u32) {
        self.half_opens.free(ho_index);
    }

    fn get_connection(&self, wrk: &Worker, conn_index: u32) -> Option<TransportConnection> {
        wrk.local_state::<CtWorkerState>()?
            .conns
            .get_by_index(conn_index)
            .map(|(_, c)| c.tc)
    }

    fn get_listener(&self, _wrk: &Worker, listener_index: u32) -> Option<TransportConnection> {
        self.listeners
            .read()
            .get_by_index(listener_index)
            .map(|(_, c)| c.tc)
    }

    fn get_half_open(&self, _wrk: &Worker, ho_index: u32) -> Option<TransportConnection> {
        self.half_opens.get(ho_index).map(|c| c.tc)
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

    fn format_connection(&self, wrk: &Worker, conn_index: u32, verbose: u32) -> String {
        match wrk
            .local_state::<CtWorkerState>()
            .and_then(|w| w.conns.get_by_index(conn_index))
        {
            Some((_, ct)) => format_line(ct, verbose, "ESTABLISHED"),
            None => "empty\n".to_string(),
        }
    }

    fn format_listener(&self, _wrk: &Worker, listener_index: u32, verbose: u32) -> String {
        match self.listeners.read().get_by_index(listener_index) {
            Some((_, ct)) => format_line(ct, verbose, "LISTEN"),
            None => "empty\n".to_string(),
        }
    }

    fn format_half_open(&self, _wrk: &Worker, ho_index: u32, verbose: u32) -> String {
        match self.half_opens.get(ho_index) {
            Some(ct) => format_line(&ct, verbose, "HALF-OPEN"),
            None => "empty\n".to_string(),
        }
    }
}

/// `[thread:session][CT:T] lcl:port->rmt:port`, padded, then the state when
/// verbose (VPP's `%-60U%-15s`).
fn format_line(ct: &CtConnection, verbose: u32, state: &str) -> String {
    format_cli_line(&ct.format_id(), (verbose > 0).then_some(state))
}
