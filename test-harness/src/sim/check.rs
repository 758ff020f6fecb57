//! Invariants: cheap ones after every step, and the quiescent ones (nothing
//! leaked) once the world has settled.

use std::collections::BTreeSet;

use ct_session::StackTime;
use ct_transport_ct::{CtSegmentFlags, CtSegmentInfo};

use crate::sim::world::{SimResult, World};

/// What the workers hold, summed over threads.
#[derive(Debug, Default)]
struct WorkerView {
    /// Sessions that are not half-opens.
    sessions: BTreeSet<ct_session::SessionHandle>,
    half_opens: usize,
    pool_len: usize,
    allocated: u64,
    freed: u64,
    queued: usize,
    pending: bool,
    delivered: u64,
    app_queued: u64,
    ct_connections: usize,
}

impl World {
    fn view(&mut self) -> Result<WorkerView, String> {
        let mut v = WorkerView::default();
        let ct = self.ct.clone();
        for t in 0..self.stack.main().n_threads() {
            let w = self
                .stack
                .runtime_mut()
                .worker_mut(t)
                .ok_or("stepping stack without workers")?;
            for s in w.sessions().iter() {
                if s.is_half_open() {
                    v.half_opens += 1;
                } else {
                    v.sessions.insert(s.handle());
                }
            }
            let c = w.counters();
            v.pool_len += w.sessions().len();
            v.allocated += c.sessions_allocated;
            v.freed += c.sessions_freed;
            v.delivered += c.app_events_delivered;
            v.app_queued += c.app_events_queued;
            v.queued += w.queued_events();
            v.pending |= w.has_pending_work();
            v.ct_connections += ct.worker_state(w).map_or(0, |s| s.n_connections());
        }
        Ok(v)
    }

    /// Holds after any step. Also notes which ct segments are empty, and
    /// since when, for [`World::check_settled`].
    pub fn check_always(&mut self) -> SimResult {
        let now = self.stack.runtime_mut().now();
        self.linger_watch.observe(&self.ct.segments(), now);
        self.counters.linger = self.linger_watch.counts;
        let v = self.view()?;
        if v.allocated - v.freed != v.pool_len as u64 {
            return Err(format!(
                "counters disagree: allocated {} - freed {} != {} sessions",
                v.allocated, v.freed, v.pool_len
            ));
        }
        if v.delivered > v.app_queued {
            return Err(format!(
                "{} events delivered but only {} queued",
                v.delivered, v.app_queued
            ));
        }
        for p in &self.pairs {
            for st in [&p.c2s, &p.s2c] {
                if st.read > st.written {
                    return Err(format!("read {} > written {}", st.read, st.written));
                }
            }
        }
        Ok(())
    }

    /// Holds once settled: what the stack holds is exactly what the apps
    /// know of.
    pub fn check_settled(&mut self) -> SimResult {
        self.check_always()?;
        let v = self.view()?;
        if v.queued > 0 || v.pending {
            return Err(format!(
                "settled but {} events queued (pending work: {})",
                v.queued, v.pending
            ));
        }
        let model: BTreeSet<_> = self.ends.iter().map(|e| e.h).collect();
        if model != v.sessions {
            let leaked: Vec<_> = v.sessions.difference(&model).collect();
            let lost: Vec<_> = model.difference(&v.sessions).collect();
            return Err(format!(
                "sessions: leaked (in the stack, no app knows) {leaked:?}; lost (apps hold, stack freed) {lost:?}"
            ));
        }
        let pending_accepts = self
            .ends
            .iter()
            .filter(|e| !e.is_client && e.accepted.is_none())
            .count();
        if pending_accepts == 0 && v.half_opens > 0 {
            return Err(format!(
                "{} half-open sessions with no accept pending",
                v.half_opens
            ));
        }
        if self.ct.n_half_opens() > 0 {
            return Err(format!(
                "{} ct half-opens not taken by a worker",
                self.ct.n_half_opens()
            ));
        }
        // One ct connection per session; a client waiting for its server's
        // accept has one too, unless its app detached meanwhile.
        if v.ct_connections < model.len() || v.ct_connections > model.len() + pending_accepts {
            return Err(format!(
                "{} ct connections for {} sessions and {} pending accepts",
                v.ct_connections,
                model.len(),
                pending_accepts
            ));
        }
        // A ct client holds its local port as long as its connection
        // lives: never more ports than client connections.
        let model_clients = self.ends.iter().filter(|e| e.is_client).count();
        let ports = self.ct.n_client_ports();
        if ports < model_clients || ports > model_clients + pending_accepts {
            return Err(format!(
                "{ports} ct client ports held for {model_clients} clients and {pending_accepts} pending accepts"
            ));
        }
        let segs = self.ct.segments();
        let (clients, servers) = segs.iter().fold((0u64, 0u64), |(c, s), x| {
            (
                c + u64::from(x.client_n_sessions),
                s + u64::from(x.server_n_sessions),
            )
        });
        // ct counts a client on its segment from the connect on (the
        // server's fifos are made then), before the accept, unless the
        // client's app detached meanwhile.
        let model_clients = self.ends.iter().filter(|e| e.is_client).count() as u64;
        let model_servers = self.ends.iter().filter(|e| !e.is_client).count() as u64;
        if clients < model_clients
            || clients > model_clients + pending_accepts as u64
            || servers != model_servers
        {
            return Err(format!(
                "ct accounting: {clients} client / {servers} server sessions counted, apps hold {model_clients} / {model_servers}"
            ));
        }
        let now = self.stack.runtime_mut().now();
        self.check_segments_settled(&segs, model.is_empty(), now)?;
        let apps = self.apps.iter().flatten().count();
        let listeners: usize = self.apps.iter().flatten().map(|a| a.listeners.len()).sum();
        if self.stack.apps().n_apps() != apps {
            return Err(format!(
                "{} apps attached, the model has {apps}",
                self.stack.apps().n_apps()
            ));
        }
        if self.ct.n_listeners() != listeners || self.stack.main().n_listeners() != listeners {
            return Err(format!(
                "listeners: ct {} session layer {} model {listeners}",
                self.ct.n_listeners(),
                self.stack.main().n_listeners()
            ));
        }
        // A connects manager per app, a listen manager per listener; more
        // only while sessions still hold fifos of a stopped listener.
        let sms = self.stack.segment_managers().len();
        if sms < apps + listeners || (model.is_empty() && sms != apps + listeners) {
            return Err(format!(
                "{sms} segment managers for {apps} apps and {listeners} listeners ({} sessions)",
                model.len()
            ));
        }
        Ok(())
    }

    /// Settled: every ct segment counts sessions or waits out its linger
    /// (empty on both sides, on ct's retiring list, not past its linger);
    /// with no session at all, only lingering ones are left.
    fn check_segments_settled(
        &self,
        segs: &[CtSegmentInfo],
        no_session: bool,
        now: StackTime,
    ) -> SimResult {
        let both = CtSegmentFlags::CLIENT_DETACHED | CtSegmentFlags::SERVER_DETACHED;
        let mut keys = BTreeSet::new();
        let mut live = 0;
        for s in segs {
            keys.insert(s.key);
            if s.client_n_sessions > 0 || s.server_n_sessions > 0 {
                live += 1;
            } else if !s.flags.contains(both) {
                return Err(format!(
                    "ct segment {} counts no session but is not detached on both sides ({:?})",
                    s.segment, s.flags
                ));
            }
        }
        let empty = segs.len() - live;
        // The retiring list holds every lingering segment, and revived ones
        // until a worker's next look at it.
        let retiring = self.ct.n_lingering_segments();
        if self.linger.is_zero() && (empty > 0 || retiring > 0) {
            return Err(format!(
                "no linger, yet {empty} empty ct segments and {retiring} retiring"
            ));
        }
        if empty > retiring {
            return Err(format!(
                "{empty} empty ct segments but only {retiring} retiring: leaked"
            ));
        }
        if no_session && live > 0 {
            return Err(format!(
                "no session but ct keeps {live} segments counting sessions"
            ));
        }
        if self.ct.n_segment_contexts() != keys.len() {
            return Err(format!(
                "{} ct segment contexts for {} with segments",
                self.ct.n_segment_contexts(),
                keys.len()
            ));
        }
        self.linger_watch.check_none_overdue(now, self.linger)
    }

    /// Settled after the clock passed the linger and the workers ran: what
    /// [`World::check_settled`] demands, and nothing lingers any more.
    pub fn check_nothing_lingers(&mut self) -> SimResult {
        self.check_settled()?;
        let empty = self.linger_watch.n_empty();
        let retiring = self.ct.n_lingering_segments();
        if empty > 0 || retiring > 0 {
            return Err(format!(
                "past the linger, {empty} empty ct segments and {retiring} retiring are left"
            ));
        }
        Ok(())
    }
}
