//! Connect: the lookups that pick a local listener (VPP
//! `ct_session_connect`), the half-open, and how connects travel to the
//! worker that accepts them (`ct_program_connect_to_wrk`,
//! `ct_fwrk_flush_connects`, `ct_accept_rpc_wrk_handler`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ct_session::{
    LocalLookup, Session, SessionEndpointCfg, SessionError, SessionFlags, SessionHandle,
    TransportConnectionFlags, TransportProto, Worker,
};

use crate::connection::{CtConnFlags, CtConnection};
use crate::ct_main::CtMain;
use crate::pending::MAX_CONNECTS_PER_RUN;
use crate::pool::CtConnId;
use crate::worker::CtWorkerState;

impl CtMain {
    /// Whether `ll` is a catch-all (proxy) listener of the connecting app:
    /// connecting through it would loop, so the connect goes to the global
    /// scope (VPP `ct_listener_is_self_proxy`; the reference refused every
    /// listener of the connecting app, VPP later allowed self connects).
    fn listener_is_self_proxy(app_index: u32, ll: &Session) -> bool {
        ll.flags.contains(SessionFlags::PROXY) && ll.app_index == app_index
    }

    /// VPP `ct_session_connect`: finds the listener to connect to, then
    /// creates the half-open. Runs on the connect thread.
    pub(crate) fn session_connect(
        &self,
        wrk: &mut Worker,
        sep: &SessionEndpointCfg,
        ho: SessionHandle,
    ) -> Result<CtConnId, SessionError> {
        let apps = self.apps()?.clone();
        let app_index = apps
            .app_index(sep.app_wrk_index)
            .ok_or(SessionError::InvalidAppWrk)?;
        let lsep = sep.lookup_endpoint();
        let main = wrk.main().clone();

        if let Some(table) = apps.local_table(app_index) {
            let found = match main.lookup().lookup_local_endpoint(table, &lsep)? {
                LocalLookup::Drop => return Err(SessionError::Filtered),
                LocalLookup::Listener(lh) => Some(lh),
                // A rule pointing at the connecting app would loop back.
                LocalLookup::App(a) if a == app_index => None,
                LocalLookup::App(a) => apps.app_listener(a, &lsep),
                LocalLookup::None => None,
            };
            if let Some(lh) = found
                && let Ok(ll) = main.listen_session_get(lh)
                && !Self::listener_is_self_proxy(app_index, &ll)
            {
                return self.connect(wrk, sep, lh, ho);
            }
        }

        // Nothing local: locally attached destinations in the global scope,
        // if the app may go there.
        if lsep.is_local() {
            return Err(SessionError::NoRoute);
        }
        if !apps.has_global_scope(app_index) {
            return Err(SessionError::Scope);
        }
        if let Some(lh) = main.lookup().lookup_listener_wildcard(&lsep)
            && let Ok(ll) = main.listen_session_get(lh)
            && !Self::listener_is_self_proxy(app_index, &ll)
        {
            return self.connect(wrk, sep, lh, ho);
        }
        // No local destination: not an error, the caller tries elsewhere.
        Err(SessionError::LocalConnect)
    }

    /// VPP `ct_connect`: the client half-open, then the connect is
    /// programmed on a worker; the client hears back once the server
    /// accepted.
    fn connect(
        &self,
        wrk: &mut Worker,
        sep: &SessionEndpointCfg,
        lh: SessionHandle,
        ho: SessionHandle,
    ) -> Result<CtConnId, SessionError> {
        let fwrk = self.layout()?.fwrk_thread;
        let client_generation = self
            .apps()?
            .app_worker_generation(sep.app_wrk_index)
            .ok_or(SessionError::InvalidAppWrk)?;
        // The reference leaves the client's local end zero; here it gets a
        // concrete address and a port of its own, so both apps see real
        // ends. The address is the listener's, or for a wildcard listener
        // the address connected to (both ends are on this host, as a
        // kernel picks the destination's own address as the source).
        let rmt_ip = concrete_ip(sep.endpoint.ip);
        let lcl_ip = Self::listener_ip(wrk, lh)
            .filter(|ip| !ip.is_unspecified() && ip.is_ipv4() == rmt_ip.is_ipv4())
            .unwrap_or(rmt_ip);
        let lcl_port = self.client_ports.alloc(lcl_ip, rmt_ip, sep.endpoint.port);
        let id = self.half_opens.alloc(|id| {
            let mut c = CtConnection::new(id, fwrk);
            c.tc.rmt_ip = rmt_ip;
            c.tc.rmt_port = sep.endpoint.port;
            c.tc.lcl_ip = lcl_ip;
            c.tc.lcl_port = lcl_port;
            c.tc.proto = TransportProto::Ct;
            c.tc.flags |= TransportConnectionFlags::NO_LOOKUP;
            c.tc.session = Some(ho);
            c.client_opaque = sep.opaque;
            c.client_wrk = sep.app_wrk_index;
            c.client_generation = client_generation;
            c.listener = Some(lh);
            c.flags |= CtConnFlags::CLIENT;
            c.actual_tp = sep.original_tp;
            c
        });
        tracing::debug!(half_open = %id, listener = %lh, "ct connect");
        if let Err(e) = self.program_connect_to_wrk(wrk, id) {
            // Nobody will accept it, and the caller never learns its id:
            // the half-open and its port go now.
            if let Some(c) = self.half_opens.get(id)
                && self.half_opens.free(id)
            {
                self.release_client_port(&c);
            }
            return Err(e);
        }
        Ok(id)
    }

    /// The address the listen session `lh` listens on, from its transport
    /// (the listener need not be ct's).
    fn listener_ip(wrk: &Worker, lh: SessionHandle) -> Option<IpAddr> {
        let ll = wrk.main().listen_session_get(lh).ok()?;
        wrk.transport_for(ll.session_type)
            .ok()?
            .get_listener(wrk, ll.connection_id)
            .map(|tc| tc.lcl_ip)
    }

    /// The thread the `n`-th connect is accepted on: round-robin over the
    /// workers, skipping main when there are workers.
    pub fn connect_thread(n_workers: u32, n: u32) -> u32 {
        if n_workers == 0 { 0 } else { n % n_workers + 1 }
    }

    /// VPP `ct_program_connect_to_wrk`: batches the connect on the connect
    /// thread; one RPC flushes the batch after the session layer finished
    /// the half-open session.
    fn program_connect_to_wrk(&self, wrk: &mut Worker, id: CtConnId) -> Result<(), SessionError> {
        let layout = self.layout()?;
        let n = self
            .n_sessions
            .fetch_add(1, ct_sync::atomic::Ordering::Relaxed)
            + 1;
        let thread = Self::connect_thread(layout.n_workers, n);
        if self.fwrk_pending.add(thread, id) {
            let me = self.me();
            wrk.send_rpc_evt_to_thread_force(layout.fwrk_thread, move |w| me.flush_connects(w))?;
        }
        Ok(())
    }

    /// VPP `ct_fwrk_flush_connects`: hands each destination its batch and
    /// wakes the ones that have no accept RPC scheduled.
    fn flush_connects(&self, wrk: &mut Worker) {
        let Ok(layout) = self.layout() else { return };
        for (thread, ids) in self.fwrk_pending.take_all() {
            let Some(pending) = layout.pending.get(thread as usize) else {
                continue;
            };
            if pending.push_many(ids) {
                let me = self.me();
                if let Err(e) = wrk.send_rpc_evt_to_thread_force(thread, move |w| me.accept_rpc(w))
                {
                    tracing::warn!(thread, error = %e, "ct accept rpc not sent");
                }
            }
        }
    }

    /// VPP `ct_accept_rpc_wrk_handler`: accepts at most
    /// [`MAX_CONNECTS_PER_RUN`] connects, then reschedules itself for the
    /// rest so other work runs in between.
    fn accept_rpc(&self, wrk: &mut Worker) {
        let Ok(layout) = self.layout() else { return };
        let t = wrk.thread_index();
        let Some(pending) = layout.pending.get(t as usize) else {
            return;
        };
        let mut burst = std::mem::take(&mut wrk.local_state_mut::<CtWorkerState>().new_connects);
        burst.clear();
        let again = pending.take_burst(MAX_CONNECTS_PER_RUN, &mut burst);
        for &ho in &burst {
            self.accept_one(wrk, ho);
        }
        burst.clear();
        wrk.local_state_mut::<CtWorkerState>().new_connects = burst;
        if again {
            let me = self.me();
            if let Err(e) = wrk.send_rpc_evt_to_thread_force(t, move |w| me.accept_rpc(w)) {
                tracing::warn!(thread = t, error = %e, "ct accept rpc not rescheduled");
            }
        }
    }
}

/// `ip`, or the family's loopback address for the zero address (a connect
/// to, or a listener on, "any" is a local one).
pub(crate) fn concrete_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) if a.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(a) if a.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        other => other,
    }
}
