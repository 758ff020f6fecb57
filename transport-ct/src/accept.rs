//! Accept on the destination worker (VPP `ct_accept_one`,
//! `ct_init_accepted_session`), the client's connect notification once the
//! server accepted (`ct_session_connect_notify`), and the return of fifos
//! with their segment accounting (`ct_session_dealloc_fifos`).

use ct_fifo_segment::Fifo;
use ct_segment_manager::SegmentHandle;
use ct_session::{
    Session, SessionError, SessionHandle, SessionState, SessionType, StackTime,
    TransportConnectionFlags, TransportProto, Worker,
};
use ct_sync::Arc;

use crate::connect::concrete_ip;
use crate::connection::{CtConnFlags, CtConnection};
use crate::connection::{INVALID_GENERATION, INVALID_WRK};
use crate::ct_main::CtMain;
use crate::pool::CtConnId;
use crate::segments::{CtSegRef, CtSegments, RemovedSegment, SegCtxKey, Side};
use crate::server_fifos::{CtSegmentEvents, CtServerFifos};
use crate::worker::CtWorkerState;

impl CtMain {
    /// Accepts one connect on this worker: moves the half-open here, creates
    /// the server connection and session, gives the session fifos in a ct
    /// segment and tells the server app. The client learns the outcome in
    /// [`CtMain::connect_notify`].
    pub(crate) fn accept_one(&self, wrk: &mut Worker, ho_id: CtConnId) {
        // The app may have given up the half-open meanwhile.
        let Some(ho) = self.half_opens.take_for_accept(ho_id) else {
            tracing::debug!(half_open = %ho_id, "ct half-open gone before accept");
            return;
        };
        let t = wrk.thread_index();
        let cct_id = wrk
            .local_state_mut::<CtWorkerState>()
            .conns
            .insert_with(|id| {
                let mut c = ho.clone();
                c.tc.conn_id = id;
                c.tc.thread_index = t;
                c.flags |= CtConnFlags::HALF_OPEN;
                c
            });
        let cct_tc = Self::conn(wrk, cct_id).map(|c| c.tc);
        if let Some(tc) = cct_tc {
            // The half-open session learns where its connection went.
            if let Err(e) = wrk
                .session_half_open_migrate_notify(&tc)
                .and_then(|()| wrk.session_half_open_migrated_notify(&tc))
            {
                tracing::debug!(error = %e, "ct half-open migrate notify");
            }
        }

        let main = wrk.main().clone();
        let Some(lh) = ho.listener else {
            self.client_connect_failed(wrk, cct_id, SessionError::Refused);
            return;
        };
        let Ok(ll) = main.listen_session_get(lh) else {
            // The listener went away while the connect travelled.
            self.client_connect_failed(wrk, cct_id, SessionError::Refused);
            return;
        };
        // The listener need not be ct's (a global listener of the app's
        // protocol); without its transport here, the port connected to is
        // the port it listens on.
        let lcl_port = wrk
            .transport_for(ll.session_type)
            .ok()
            .and_then(|tr| tr.get_listener(wrk, ll.connection_id))
            .map_or(ho.tc.rmt_port, |tc| tc.lcl_port);
        let server_wrk = self.apps().ok().and_then(|a| a.listener_select_worker(&ll));
        let Some(server_wrk) = server_wrk else {
            self.client_connect_failed(wrk, cct_id, SessionError::Refused);
            return;
        };

        let is_ip4 = ho.tc.rmt_ip.is_ipv4();
        let ss = match wrk.session_alloc(SessionType::new(TransportProto::Ct, is_ip4)) {
            Ok(ss) => ss,
            Err(_) => {
                self.client_connect_failed(wrk, cct_id, SessionError::Alloc);
                return;
            }
        };
        let sct_id = wrk
            .local_state_mut::<CtWorkerState>()
            .conns
            .insert_with(|id| {
                let mut c = CtConnection::new(id, t);
                // The reference leaves the server's remote end zero; here
                // it is the client's local end.
                c.tc.lcl_port = lcl_port;
                c.tc.lcl_ip = concrete_ip(ho.tc.rmt_ip);
                c.tc.rmt_port = ho.tc.lcl_port;
                c.tc.rmt_ip = ho.tc.lcl_ip;
                c.tc.proto = TransportProto::Ct;
                // Accepted ct connections are never in the lookup tables.
                c.tc.flags |= TransportConnectionFlags::NO_LOOKUP;
                c.tc.session = Some(ss);
                c.client_wrk = ho.client_wrk;
                c.client_generation = ho.client_generation;
                c.server_wrk = server_wrk;
                c.client_opaque = ho.client_opaque;
                c.actual_tp = ho.actual_tp;
                c.peer = Some(cct_id);
                c
            });
        if let Some(cct) = Self::conn_mut(wrk, cct_id) {
            cct.peer = Some(sct_id);
            cct.server_wrk = server_wrk;
        }
        if let Ok(s) = wrk.session_get_mut(ss) {
            s.connection_id = sct_id;
            s.listener_handle = Some(lh);
            s.app_wrk_index = server_wrk;
        }

        if let Err(e) = self.init_accepted_session(wrk, server_wrk, sct_id, ss, &ll) {
            tracing::debug!(session = %ss, error = %e, "ct accept: no fifos");
            if let Err(e) = self.connect_notify(wrk, ss, Some(SessionError::Alloc)) {
                tracing::debug!(error = %e, "ct connect notify");
            }
            self.conn_free(wrk, sct_id);
            let _ = wrk.session_free(ss);
            return;
        }

        // The client's fifos are the server's, crossed; each gains a user.
        let (rx, tx, seg, seg_h) = match (wrk.session_get(ss), Self::conn(wrk, sct_id)) {
            (Ok(s), Some(sct)) => (
                s.rx_fifo.clone(),
                s.tx_fifo.clone(),
                sct.seg,
                sct.segment_handle,
            ),
            _ => return,
        };
        if let Some(cct) = Self::conn_mut(wrk, cct_id) {
            cct.seg = seg;
            cct.segment_handle = seg_h;
            if let (Some(rx), Some(tx)) = (&rx, &tx) {
                tx.ref_inc();
                rx.ref_inc();
            }
            cct.client_rx_fifo = tx;
            cct.client_tx_fifo = rx;
        }

        let accepted = wrk
            .session_get_mut(ss)
            .and_then(|s| s.set_state(SessionState::Accepting))
            .and_then(|()| wrk.app_worker_accept_notify(server_wrk, ss));
        if let Err(e) = accepted {
            tracing::debug!(session = %ss, error = %e, "ct accept notify failed");
            if let Err(e) = self.connect_notify(wrk, ss, Some(SessionError::Refused)) {
                tracing::debug!(error = %e, "ct connect notify");
            }
            self.free_server_side(wrk, ss, sct_id);
        }
    }

    /// Finds (or adds) a ct segment for the server session and allocates
    /// its fifos there (VPP `ct_init_accepted_session`).
    fn init_accepted_session(
        &self,
        wrk: &mut Worker,
        server_wrk: u32,
        sct_id: CtConnId,
        ss: SessionHandle,
        ll: &Session,
    ) -> Result<(), SessionError> {
        let apps = self.apps()?.clone();
        let sm = apps
            .listen_segment_manager(server_wrk, ll)
            .ok_or(SessionError::Alloc)?;
        // The context is the connecting worker's, even if another worker
        // took its index meanwhile (that one's connect fails later).
        let (client_wrk, client_generation) = Self::conn(wrk, sct_id)
            .map(|c| (c.client_wrk, c.client_generation))
            .ok_or(SessionError::NoSession)?;
        let key = SegCtxKey {
            sm_index: sm.segment_manager_index(),
            client_wrk,
            client_generation,
            server_wrk,
        };
        let slice = ss.thread_index();
        let mut events = AppSegmentEvents {
            wrk,
            apps: &apps,
            sm: &sm,
            server_wrk,
            client_wrk,
            client_generation,
        };
        let CtServerFifos {
            seg_ref,
            segment: seg_h,
            rx,
            tx,
        } = self.segments.alloc_session_fifos(
            key,
            &sm,
            slice,
            CtSegments::fifo_pair_sizes(&sm),
            &mut events,
        )?;
        for f in [&rx, &tx] {
            f.set_master_session(ss.thread_index(), ss.session_index());
        }
        let s = wrk.session_get_mut(ss)?;
        s.rx_fifo = Some(rx);
        s.tx_fifo = Some(tx);
        let sct = Self::conn_mut(wrk, sct_id).ok_or(SessionError::NoSession)?;
        sct.seg = Some(seg_ref);
        sct.segment_handle = Some(seg_h);
        Ok(())
    }

    /// The server accepted (`err == None`) or the connect failed: create
    /// the client's session and tell the client app, or tell it the error
    /// and free the client side (VPP `ct_session_connect_notify`). `ss` is
    /// the server session.
    pub(crate) fn connect_notify(
        &self,
        wrk: &mut Worker,
        ss: SessionHandle,
        err: Option<SessionError>,
    ) -> Result<(), SessionError> {
        let (sct_id, sct) = self.conn_of_session(wrk, ss)?;
        let client = ConnectingClient::of(&sct);
        let Some(cct_id) = sct.peer.filter(|p| Self::conn(wrk, *p).is_some()) else {
            // The client closed while the server decided.
            self.force_disconnect_server(wrk, sct_id);
            return Ok(());
        };
        let ho_tc = Self::conn(wrk, cct_id).map(|c| c.tc);
        if let Some(tc) = ho_tc
            && let Err(e) = wrk.session_half_open_delete_notify(&tc)
        {
            tracing::debug!(error = %e, "ct half-open delete notify");
        }
        if let Some(cct) = Self::conn_mut(wrk, cct_id) {
            cct.flags -= CtConnFlags::HALF_OPEN;
        }
        if let Some(e) = err {
            self.connect_error(wrk, cct_id, client, Some(e));
            return Ok(());
        }
        if !self.client_attached(wrk, client.wrk, client.generation) {
            // The client app went away (its worker's index may name
            // another app's worker by now): nobody to connect.
            self.force_disconnect_server(wrk, sct_id);
            self.connect_error(wrk, cct_id, client, None);
            return Ok(());
        }
        let ConnectingClient {
            wrk: client_wrk,
            opaque,
            ..
        } = client;

        let st = wrk.session_get(ss)?.session_type;
        let cs = match wrk.session_alloc(st) {
            Ok(cs) => cs,
            Err(_) => {
                self.force_disconnect_server(wrk, sct_id);
                self.connect_error(wrk, cct_id, client, Some(SessionError::Alloc));
                return Ok(());
            }
        };
        let (crx, ctx) = {
            let cct = Self::conn_mut(wrk, cct_id).ok_or(SessionError::NoSession)?;
            cct.tc.session = Some(cs);
            (cct.client_rx_fifo.clone(), cct.client_tx_fifo.clone())
        };
        {
            let s = wrk.session_get_mut(cs)?;
            s.listener_handle = None;
            s.set_state(SessionState::Connecting)?;
            s.app_wrk_index = client_wrk;
            s.connection_id = cct_id;
            s.opaque = opaque;
            // The client reads and writes the server's fifos, crossed.
            s.rx_fifo = crx;
            s.tx_fifo = ctx;
        }
        if let Err(e) = wrk.app_worker_connect_notify(client_wrk, Some(cs), None, opaque) {
            tracing::debug!(session = %cs, error = %e, "ct connected notify failed");
            if let Ok(mut s) = wrk.session_free(cs) {
                s.rx_fifo = None;
                s.tx_fifo = None;
            }
            self.force_disconnect_server(wrk, sct_id);
            self.connect_error(wrk, cct_id, client, None);
            return Ok(());
        }
        wrk.session_get_mut(cs)?.set_state(SessionState::Ready)?;
        tracing::debug!(client = %cs, server = %ss, "ct connected");
        Ok(())
    }

    /// The connect failed after the client's connection moved to this
    /// worker: tell the client (`err`), return the client's share of the
    /// fifos (client accounting: the reference's later fix) and free the
    /// connection.
    fn connect_error(
        &self,
        wrk: &mut Worker,
        cct_id: CtConnId,
        client: ConnectingClient,
        err: Option<SessionError>,
    ) {
        if let Some(e) = err
            && self.client_attached(wrk, client.wrk, client.generation)
            && let Err(e) = wrk.app_worker_connect_notify(client.wrk, None, Some(e), client.opaque)
        {
            tracing::debug!(error = %e, "ct connect error notify");
        }
        if let Some(cct) = self.conn_free(wrk, cct_id)
            && let (Some(rx), Some(tx)) = (cct.client_rx_fifo, cct.client_tx_fifo)
        {
            self.dealloc_fifos(wrk, Side::Client, cct.seg, rx, tx);
        }
    }

    /// The connect failed before a server session existed: the half-open
    /// session goes and the client hears `err`.
    fn client_connect_failed(&self, wrk: &mut Worker, cct_id: CtConnId, err: SessionError) {
        let Some(cct) = Self::conn(wrk, cct_id).cloned() else {
            return;
        };
        if let Err(e) = wrk.session_half_open_delete_notify(&cct.tc) {
            tracing::debug!(error = %e, "ct half-open delete notify");
        }
        self.connect_error(wrk, cct_id, ConnectingClient::of(&cct), Some(err));
    }

    /// Whether the client app worker that connected (`client_wrk` with
    /// `generation`) is still attached: a worker that took its index since
    /// is another app's.
    pub(crate) fn client_attached(&self, wrk: &Worker, client_wrk: u32, generation: u32) -> bool {
        self.apps()
            .is_ok_and(|a| client_attached(wrk, a.as_ref(), client_wrk, generation))
    }

    /// Whether the app worker `app_wrk` of `ct`'s session is still the one
    /// the session was made for: a client's is checked with its generation.
    pub(crate) fn session_app_attached(
        &self,
        wrk: &Worker,
        ct: &CtConnection,
        app_wrk: u32,
    ) -> bool {
        if ct.is_client() {
            self.client_attached(wrk, app_wrk, ct.client_generation)
        } else {
            wrk.main().app_worker_is_valid(app_wrk)
        }
    }

    /// The client is gone before the server's app accepted: the server
    /// session closes (VPP `ct_session_force_disconnect_server`).
    pub(crate) fn force_disconnect_server(&self, wrk: &mut Worker, sct_id: CtConnId) {
        let Some(sct) = Self::conn_mut(wrk, sct_id) else {
            return;
        };
        sct.peer = None;
        let tc = sct.tc;
        if let Err(e) = wrk.session_transport_closing_notify(&tc) {
            tracing::debug!(error = %e, "ct force disconnect server");
        }
    }

    /// Frees a server session that never reached its app: fifos (server
    /// accounting), session, connection.
    pub(crate) fn free_server_side(&self, wrk: &mut Worker, ss: SessionHandle, sct_id: CtConnId) {
        let (rx, tx) = match wrk.session_free(ss) {
            Ok(mut s) => (s.rx_fifo.take(), s.tx_fifo.take()),
            Err(_) => (None, None),
        };
        if let Some(sct) = self.conn_free(wrk, sct_id)
            && let (Some(rx), Some(tx)) = (rx, tx)
        {
            self.dealloc_fifos(wrk, Side::Server, sct.seg, rx, tx);
        }
    }

    /// Returns one side's fifos (one reference each) and counts the side's
    /// session off its ct segment; the last session of both sides removes
    /// the segment: the client app is told (if still attached), the server's
    /// segment manager deletes it (telling the server through its hook) and
    /// is freed if its app detached and it holds no fifos (VPP
    /// `ct_session_dealloc_fifos`).
    pub(crate) fn dealloc_fifos(
        &self,
        wrk: &mut Worker,
        side: Side,
        seg: Option<CtSegRef>,
        rx: Fifo,
        tx: Fifo,
    ) {
        let Ok(apps) = self.apps().cloned() else {
            return;
        };
        let sms = apps.segment_managers();
        let sm = match sms.get_by_index(rx.segment_manager_index()) {
            Ok(sm) => sm,
            Err(e) => {
                tracing::error!(error = %e, "ct fifo without a segment manager");
                return;
            }
        };
        let mut events = AppSegmentEvents {
            wrk,
            apps: &apps,
            sm: &sm,
            // A release adds no segment.
            server_wrk: INVALID_WRK,
            client_wrk: INVALID_WRK,
            client_generation: INVALID_GENERATION,
        };
        if let Err(e) = self
            .segments
            .free_session_fifos(side, seg, &sm, &rx, &tx, &mut events)
        {
            tracing::error!(error = %e, ?side, "ct fifo free");
        }
    }
}

/// ct's side of the segment accounting: apps hear of added and removed
/// segments, the server's segment manager deletes removed ones.
pub(crate) struct AppSegmentEvents<'a> {
    pub(crate) wrk: &'a mut Worker,
    pub(crate) apps: &'a std::sync::Arc<dyn crate::app_layer::CtAppLayer>,
    pub(crate) sm: &'a Arc<ct_segment_manager::SegmentManager>,
    pub(crate) server_wrk: u32,
    pub(crate) client_wrk: u32,
    pub(crate) client_generation: u32,
}

/// Who a connect answers to: the client app worker as it was when it
/// connected, and its opaque.
#[derive(Debug, Clone, Copy)]
struct ConnectingClient {
    wrk: u32,
    generation: u32,
    opaque: u32,
}

impl ConnectingClient {
    fn of(c: &CtConnection) -> Self {
        Self {
            wrk: c.client_wrk,
            generation: c.client_generation,
            opaque: c.client_opaque,
        }
    }
}

impl CtSegmentEvents for AppSegmentEvents<'_> {
    fn segment_added(&mut self, h: SegmentHandle) -> Result<(), SessionError> {
        let (wrk, apps) = (&mut *self.wrk, self.apps);
        apps.add_segment_notify(wrk, self.server_wrk, h)?;
        // A worker that took a gone client's index must not hear of the
        // segment (the connect fails later, before anything names it).
        if !client_attached(wrk, apps.as_ref(), self.client_wrk, self.client_generation) {
            return Ok(());
        }
        if let Err(e) = apps.add_segment_notify(wrk, self.client_wrk, h) {
            apps.del_segment_notify(wrk, self.server_wrk, h);
            return Err(e);
        }
        Ok(())
    }

    fn slow_path_done(&mut self) {
        self.apps.flush_segment_notifications(self.wrk);
    }

    /// The client app is told (if still attached), the server's segment
    /// manager deletes the segment (telling the server through its hook)
    /// and is freed if its app detached and it holds no fifos.
    fn segment_removed(&mut self, removed: &RemovedSegment) {
        let (wrk, apps, sm) = (&mut *self.wrk, self.apps, self.sm);
        tell_client_removed(wrk, apps.as_ref(), removed);
        delete_segment(sm, removed.segment.segment_index());
        apps.flush_segment_notifications(wrk);
        if sm.app_detached()
            && !sm.has_fifos()
            && let Err(e) = apps.segment_managers().free_safe(sm.handle())
        {
            tracing::debug!(error = %e, "ct segment manager free");
        }
    }

    fn now(&self) -> StackTime {
        self.wrk.now()
    }
}

/// Tells the client app worker of a removed segment, unless it detached
/// (its connects manager goes with its sessions: no notification then) or
/// its index now names another worker.
pub(crate) fn tell_client_removed(
    wrk: &mut Worker,
    apps: &dyn crate::app_layer::CtAppLayer,
    removed: &RemovedSegment,
) {
    let client_wrk = removed.key.client_wrk;
    let attached = client_attached(wrk, apps, client_wrk, removed.key.client_generation)
        && apps
            .connect_segment_manager(client_wrk)
            .is_none_or(|csm| !csm.app_detached());
    if attached {
        apps.del_segment_notify(wrk, client_wrk, removed.segment);
    }
}

fn delete_segment(sm: &Arc<ct_segment_manager::SegmentManager>, index: u32) {
    if let Err(e) = sm.lock_and_del_segment(index) {
        tracing::warn!(sm = sm.segment_manager_index(), index, error = %e, "ct segment delete");
    }
}

/// Whether app worker `client_wrk` is live and still has `generation`: a
/// detached client's index may name another app's worker by now.
fn client_attached(
    wrk: &Worker,
    apps: &dyn crate::app_layer::CtAppLayer,
    client_wrk: u32,
    generation: u32,
) -> bool {
    wrk.main().app_worker_is_valid(client_wrk)
        && apps.app_worker_generation(client_wrk) == Some(generation)
}
