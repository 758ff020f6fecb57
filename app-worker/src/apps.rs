//! `Apps`: the app layer of one stack (VPP `app_main` plus the app worker
//! pool): applications, app workers, listeners and namespaces, owned by the
//! stack and shared as `Arc` (no globals). Attach, lookups and namespace
//! management live here; listen/connect in `control`, the session layer's
//! interface in `interface`, detach in `detach`.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use ct_segment_manager::{SegmentHandle, SegmentManagers};
use ct_session::{ListenerHandle, SessionError, SessionFlags, SessionMain, SessionType, Worker};
use ct_sync::{Mutex, RwLock};
use hashbrown::HashMap;

use crate::app_worker::{AppSegmentHook, AppWorker, Delivery, SegmentNote, SegmentNotes};
use crate::application::{AppNameKey, Application};
use crate::handle::{AppHandle, AppListenerHandle, AppWorkerHandle};
use crate::listener::AppListener;
use crate::namespace::{AppNamespace, DEFAULT_NAMESPACE, NamespaceConfig, Namespaces};
use crate::options::{AppKind, AttachOptions, Scope};
use crate::pool::GenPool;
use crate::queue::{AppQueue, app_queue};
use crate::waker::SessionWaker;

/// An application's entry: the app and its workers by map index.
#[derive(Debug)]
pub(crate) struct AppEntry {
    pub(crate) app: Arc<Application>,
    /// wrk_map_index -> app worker pool index.
    pub(crate) workers: BTreeMap<u32, u32>,
    pub(crate) next_map_index: u32,
    pub(crate) detaching: bool,
}

#[derive(Debug, Default)]
pub(crate) struct AppsState {
    pub(crate) apps: GenPool<AppEntry>,
    pub(crate) wrks: GenPool<Arc<AppWorker>>,
    pub(crate) listeners: GenPool<Arc<AppListener>>,
    pub(crate) namespaces: Namespaces,
    pub(crate) by_name: HashMap<AppNameKey, u32>,
}

/// What an attach returns (VPP `vnet_app_attach_args_t` outputs).
#[derive(Debug, Clone)]
pub struct AttachReply {
    /// The application.
    pub app: AppHandle,
    /// Its first worker.
    pub app_wrk: AppWorkerHandle,
    /// The first segment of the worker's connects manager.
    pub segment: SegmentHandle,
    /// The worker's queue (in-process queue apps).
    pub queue: Option<AppQueue>,
}

/// The app layer of a stack.
pub struct Apps {
    pub(crate) main: Weak<SessionMain>,
    pub(crate) sms: Arc<SegmentManagers>,
    pub(crate) state: RwLock<AppsState>,
    pub(crate) notes: Arc<SegmentNotes>,
    /// Serializes attach/detach/listen bookkeeping that spans the lock.
    pub(crate) control: Mutex<()>,
    /// Where the next listen on port 0 starts looking for a free port (an
    /// offset into `EPHEMERAL_PORTS`; moved past each port picked, so a
    /// port just released is not handed out again at once).
    pub(crate) listen_port_cursor: ct_sync::atomic::AtomicU32,
    /// Itself, for RPCs that outlive the caller's borrow.
    pub(crate) me: Weak<Apps>,
}

impl std::fmt::Debug for Apps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.read();
        f.debug_struct("Apps")
            .field("apps", &st.apps.len())
            .field("app_workers", &st.wrks.len())
            .field("listeners", &st.listeners.len())
            .field("namespaces", &st.namespaces.len())
            .finish()
    }
}

impl Apps {
    /// The app layer for `main`'s session layer, allocating segment managers
    /// from `sms`, with the default namespace. Install it with
    /// [`SessionMain::set_app_layer`] (the [`Stack`](crate::Stack) does).
    pub fn new(
        main: &Arc<SessionMain>,
        sms: Arc<SegmentManagers>,
    ) -> Result<Arc<Apps>, SessionError> {
        let mut state = AppsState::default();
        let i = state
            .namespaces
            .add(main.lookup(), NamespaceConfig::new(DEFAULT_NAMESPACE, 0))?;
        debug_assert_eq!(i, 0);
        Ok(Arc::new_cyclic(|me| Apps {
            main: Arc::downgrade(main),
            sms,
            state: RwLock::new(state),
            notes: Arc::new(SegmentNotes::default()),
            control: Mutex::new(()),
            listen_port_cursor: ct_sync::atomic::AtomicU32::new(0),
            me: me.clone(),
        }))
    }

    pub(crate) fn main(&self) -> Result<Arc<SessionMain>, SessionError> {
        self.main.upgrade().ok_or(SessionError::NoApp)
    }

    /// The segment managers the apps' fifos come from.
    pub fn segment_managers(&self) -> &Arc<SegmentManagers> {
        &self.sms
    }

    // ---- namespaces (VPP vnet_app_namespace_add_del) ----

    /// Adds (or updates) an app namespace; returns its index.
    pub fn namespace_add(&self, cfg: NamespaceConfig) -> Result<u32, SessionError> {
        let main = self.main()?;
        self.state.write().namespaces.add(main.lookup(), cfg)
    }

    /// Deletes a namespace; refused while apps are attached in it.
    pub fn namespace_del(&self, id: &str) -> Result<(), SessionError> {
        let main = self.main()?;
        self.state.write().namespaces.del(main.lookup(), id)
    }

    /// A copy of namespace `id`.
    pub fn namespace(&self, id: &str) -> Option<AppNamespace> {
        let st = self.state.read();
        let i = st.namespaces.index_of(id)?;
        st.namespaces.get(i).cloned()
    }

    // ---- attach (VPP vnet_application_attach) ----

    /// Attaches an application with its first worker: validates the
    /// namespace ([`SessionError::WrongNsSecret`], `InvalidNs`), refuses an
    /// empty name ([`SessionError::Invalid`]) and a name its owner already
    /// has attached in the namespace ([`SessionError::AppAttached`]),
    /// creates the worker's
    /// connects segment manager with its first segment.
    pub fn attach(&self, opts: AttachOptions) -> Result<AttachReply, SessionError> {
        let _c = self.control.lock();
        let mut st = self.state.write();
        if opts.name.is_empty() {
            return Err(SessionError::Invalid);
        }
        let ns_index = st
            .namespaces
            .validate(opts.namespace_id.as_deref(), opts.namespace_secret)?;
        let key = AppNameKey {
            ns_index,
            owner: opts.owner,
            name: opts.name.clone(),
        };
        if st.by_name.contains_key(&key) {
            return Err(SessionError::AppAttached);
        }
        let ns = st.namespaces.get(ns_index).ok_or(SessionError::InvalidNs)?;
        let scope = if opts.scope.is_empty() {
            Scope::GLOBAL
        } else {
            opts.scope
        };
        let (index, generation) = st.apps.next_key();
        let app = Arc::new(Application {
            handle: AppHandle { index, generation },
            name: opts.name.clone(),
            owner: opts.owner,
            scope,
            ns_index,
            local_table: ns.local_table,
            fib_index: (ns.cfg.ip4_fib_index, ns.cfg.ip6_fib_index),
            props: opts.segment_manager_props(),
            kind: opts.kind.clone(),
            evt_q_size: opts.evt_q_size,
        });
        let inserted = st.apps.insert(AppEntry {
            app: app.clone(),
            workers: BTreeMap::new(),
            next_map_index: 0,
            detaching: false,
        });
        if inserted != Some((index, generation)) {
            return Err(SessionError::Alloc);
        }
        let wrk = match self.alloc_worker_locked(&mut st, &app) {
            Ok(w) => w,
            Err(e) => {
                st.apps.remove(index, generation);
                return Err(e);
            }
        };
        st.by_name.insert(key, index);
        if let Some(ns) = st.namespaces.get_mut(ns_index) {
            ns.n_apps += 1;
        }
        tracing::debug!(app = index, name = %app.name, ?scope, ns_index, "app attached");
        Ok(AttachReply {
            app: app.handle,
            app_wrk: wrk.handle,
            segment: wrk.first_segment,
            queue: wrk.queue.clone(),
        })
    }

    /// Adds a worker to an attached app (VPP `vnet_app_worker_add_del`).
    pub fn add_worker(&self, app: AppHandle) -> Result<AttachReply, SessionError> {
        let _c = self.control.lock();
        let mut st = self.state.write();
        let entry = st
            .apps
            .get_checked(app.index, app.generation)
            .ok_or(SessionError::NoApp)?;
        if entry.detaching {
            return Err(SessionError::NoApp);
        }
        let a = entry.app.clone();
        let wrk = self.alloc_worker_locked(&mut st, &a)?;
        Ok(AttachReply {
            app,
            app_wrk: wrk.handle,
            segment: wrk.first_segment,
            queue: wrk.queue.clone(),
        })
    }

    /// VPP `application_alloc_worker_and_init`.
    fn alloc_worker_locked(
        &self,
        st: &mut AppsState,
        app: &Arc<Application>,
    ) -> Result<Arc<AppWorker>, SessionError> {
        let (index, generation) = st.wrks.next_key();
        let hook = Arc::new(AppSegmentHook {
            app_wrk: index,
            notes: self.notes.clone(),
        });
        let sm = self.sms.alloc(app.props.clone(), hook);
        let first = match sm.init_first() {
            Ok(h) => h,
            Err(e) => {
                sm.app_detach();
                let _ = self.sms.free_safe(sm.handle());
                tracing::debug!(error = %e, "first segment");
                return Err(SessionError::SegCreate);
            }
        };
        sm.set_first_is_protected(true);
        let entry = st
            .apps
            .get_mut(app.handle.index)
            .ok_or(SessionError::NoApp)?;
        let wrk_map_index = entry.next_map_index;
        let (delivery, queue) = match &app.kind {
            AppKind::Builtin(cb) => (Delivery::Builtin(cb.clone()), None),
            AppKind::InProcess => {
                let (tx, rx) = app_queue(app.evt_q_size);
                (Delivery::InProcess(tx), Some(rx))
            }
            AppKind::OutOfProcess(s) => (Delivery::OutOfProcess(s.clone()), None),
        };
        let wrk = Arc::new(AppWorker {
            handle: AppWorkerHandle { index, generation },
            app: app.clone(),
            wrk_map_index,
            connects_sm: sm,
            first_segment: first,
            listen_sms: Mutex::new(HashMap::new()),
            detached_sms: Mutex::new(Vec::new()),
            half_opens: Mutex::new(Default::default()),
            delivery,
            queue,
            wakers: Mutex::new(HashMap::new()),
            any_waker: Default::default(),
            detached: Default::default(),
        });
        if st.wrks.insert(wrk.clone()) != Some((index, generation)) {
            wrk.connects_sm.app_detach();
            let _ = self.sms.free_safe(wrk.connects_sm.handle());
            return Err(SessionError::Alloc);
        }
        let entry = st
            .apps
            .get_mut(app.handle.index)
            .ok_or(SessionError::NoApp)?;
        entry.workers.insert(wrk_map_index, index);
        entry.next_map_index += 1;
        Ok(wrk)
    }

    // ---- lookups ----

    /// VPP `application_get_if_valid`.
    pub fn application_get(&self, app_index: u32) -> Option<Arc<Application>> {
        self.state.read().apps.get(app_index).map(|e| e.app.clone())
    }

    /// The application a handle names (generation checked).
    pub fn application(&self, app: AppHandle) -> Result<Arc<Application>, SessionError> {
        self.state
            .read()
            .apps
            .get_checked(app.index, app.generation)
            .map(|e| e.app.clone())
            .ok_or(SessionError::NoApp)
    }

    /// The application called `name` in namespace `namespace_id` (`None`:
    /// the default one) whose name belongs to `owner`.
    pub fn application_by_name(
        &self,
        namespace_id: Option<&str>,
        owner: Option<u32>,
        name: &str,
    ) -> Option<Arc<Application>> {
        let st = self.state.read();
        let key = AppNameKey {
            ns_index: st
                .namespaces
                .index_of(namespace_id.unwrap_or(DEFAULT_NAMESPACE))?,
            owner,
            name: name.to_owned(),
        };
        let i = *st.by_name.get(&key)?;
        st.apps.get(i).map(|e| e.app.clone())
    }

    /// VPP `app_worker_get_if_valid`: the app worker at pool `index` (what
    /// sessions and ct connections record), unless detached.
    pub fn app_worker_get_if_valid(&self, index: u32) -> Option<Arc<AppWorker>> {
        self.state
            .read()
            .wrks
            .get(index)
            .filter(|w| !w.is_detached())
            .cloned()
    }

    /// Whether pool `index` holds an app worker that is not detached
    /// ([`Apps::app_worker_get_if_valid`] without the `Arc` clone: the
    /// session layer asks before every flush of an app worker's events).
    pub fn app_worker_is_live(&self, index: u32) -> bool {
        self.state
            .read()
            .wrks
            .get(index)
            .is_some_and(|w| !w.is_detached())
    }

    /// The app worker a handle names (generation checked).
    pub fn app_worker(&self, h: AppWorkerHandle) -> Result<Arc<AppWorker>, SessionError> {
        self.state
            .read()
            .wrks
            .get_checked(h.index, h.generation)
            .filter(|w| !w.is_detached())
            .cloned()
            .ok_or(SessionError::InvalidAppWrk)
    }

    /// The app's worker at map index `wrk_map_index` (VPP
    /// `application_get_worker`).
    pub fn application_get_worker(
        &self,
        app_index: u32,
        wrk_map_index: u32,
    ) -> Option<Arc<AppWorker>> {
        let st = self.state.read();
        let w = *st.apps.get(app_index)?.workers.get(&wrk_map_index)?;
        st.wrks.get(w).cloned()
    }

    /// The app listener of listen session `ls` (VPP
    /// `app_listener_get_w_session`).
    pub fn app_listener_get_w_session(
        &self,
        ls: ListenerHandle,
    ) -> Result<Arc<AppListener>, SessionError> {
        let main = self.main()?;
        let s = main.listen_session_get(ls)?;
        self.state
            .read()
            .listeners
            .get(s.al_index)
            .filter(|al| al.app_index == s.app_index)
            .cloned()
            .ok_or(SessionError::NoListen)
    }

    /// The app index of listen session `ls`'s owner.
    pub fn listener_app_index(&self, ls: ListenerHandle) -> Result<u32, SessionError> {
        Ok(self.app_listener_get_w_session(ls)?.app_index)
    }

    /// The app's first listen session of type `st` (VPP
    /// `app_worker_first_listener`, what a session rule pointing at an app
    /// resolves to).
    pub fn app_first_listener(&self, app_index: u32, st: SessionType) -> Option<ListenerHandle> {
        let main = self.main().ok()?;
        let ls: Vec<ListenerHandle> = {
            let st = self.state.read();
            st.listeners
                .iter()
                .filter(|(_, _, al)| al.app_index == app_index)
                .flat_map(|(_, _, al)| al.sessions().collect::<Vec<_>>())
                .collect()
        };
        ls.into_iter().find(|lh| {
            main.listen_session_get(*lh)
                .is_ok_and(|s| s.session_type == st && !s.flags.contains(SessionFlags::PROXY))
        })
    }

    /// The app listener a handle names.
    pub fn app_listener(&self, h: AppListenerHandle) -> Result<Arc<AppListener>, SessionError> {
        self.state
            .read()
            .listeners
            .get_checked(h.al_index, h.generation)
            .filter(|al| al.app_index == h.app.index)
            .cloned()
            .ok_or(SessionError::NoListen)
    }

    /// VPP `application_listener_select_worker`: the app worker that gets
    /// the next session accepted on listen session `ls` (round-robin over
    /// the listener's workers).
    pub fn application_listener_select_worker(
        &self,
        ls: ListenerHandle,
    ) -> Result<Arc<AppWorker>, SessionError> {
        let al = self.app_listener_get_w_session(ls)?;
        let st = self.state.read();
        let map_index = al.select_worker().ok_or(SessionError::NoListen)?;
        let w = *st
            .apps
            .get(al.app_index)
            .ok_or(SessionError::NoApp)?
            .workers
            .get(&map_index)
            .ok_or(SessionError::InvalidAppWrk)?;
        st.wrks
            .get(w)
            .filter(|w| !w.is_detached())
            .cloned()
            .ok_or(SessionError::InvalidAppWrk)
    }

    /// The waker of session `h` for app worker `app_wrk` (created on first
    /// use): signalled on every event about the session, marked closed on
    /// disconnect, reset and cleanup. For blocking I/O.
    pub fn session_waker(
        &self,
        app_wrk: AppWorkerHandle,
        h: ct_session::SessionHandle,
    ) -> Result<Arc<SessionWaker>, SessionError> {
        let w = self.app_worker(app_wrk)?;
        let waker = w.wakers.lock().entry(h).or_default().clone();
        w.any_waker.store(true, ct_sync::atomic::Ordering::Release);
        Ok(waker)
    }

    /// Applications attached.
    pub fn n_apps(&self) -> usize {
        self.state.read().apps.len()
    }

    /// App workers alive.
    pub fn n_app_workers(&self) -> usize {
        self.state.read().wrks.len()
    }

    /// App listeners alive.
    pub fn n_listeners(&self) -> usize {
        self.state.read().listeners.len()
    }

    /// Queues the segment add/del notifications raised by segment-manager
    /// calls since the last flush as app events on `wrk`, in order. The app
    /// layer flushes after its own segment-manager calls; code that calls a
    /// manager of an app worker outside the app layer (ct deleting its
    /// segments with `lock_and_del_segment`) flushes right after, so the
    /// app hears of the segment from the same thread.
    pub fn flush_segment_notes(&self, wrk: &mut Worker) {
        for note in self.notes.take() {
            match note {
                SegmentNote::Add(w, h) => {
                    if self.app_worker_get_if_valid(w).is_some() {
                        wrk.app_worker_add_segment_notify(w, h);
                    }
                }
                SegmentNote::Del(w, h) => {
                    if self.app_worker_get_if_valid(w).is_some() {
                        wrk.app_worker_del_segment_notify(w, h);
                    }
                }
            }
        }
    }
}
