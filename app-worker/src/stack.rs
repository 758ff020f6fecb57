//! `Stack`: the object that ties a stack together: the session layer
//! (`SessionMain` and its workers' [`Runtime`]), the segment managers and
//! the app layer. Tests and programs build one, register transports, attach
//! apps and drive it (stepping) or let it run (threads).
//!
//! Control calls run on the worker that owns what they touch (listens on
//! thread 0, connects on the connect thread, session calls on the session's
//! thread): [`Stack`] gets there with [`Runtime::call`] (which steps a
//! stepping runtime), [`StackHandle`] (for app threads of a threaded stack)
//! with [`SessionMain::call_blocking`].

use std::sync::Arc;

use ct_segment_manager::SegmentManagers;
use ct_session::{
    Runtime, SessionConfig, SessionEndpoint, SessionError, SessionHandle, SessionMain,
    ThreadedConfig, Transport, TransportProto, Worker,
};

use crate::apps::{Apps, AttachReply};
use crate::detach::DetachHow;
use crate::handle::{AppHandle, AppListenerHandle, AppWorkerHandle};
use crate::options::AttachOptions;

/// The app control calls, the same on [`Stack`] (stepping or threaded) and
/// [`StackHandle`] (app threads of a threaded stack): each runs on the
/// worker that owns what it touches, through the type's [`Exec`].
macro_rules! control_calls {
    () => {
        /// Attaches an app (see [`Apps::attach`]).
        pub fn attach(&self, opts: AttachOptions) -> Result<AttachReply, SessionError> {
            Exec::apps(self).attach(opts)
        }

        /// Listens (see [`Apps::listen`]).
        pub fn listen(
            &mut self,
            app_wrk: AppWorkerHandle,
            sep: SessionEndpoint,
        ) -> Result<AppListenerHandle, SessionError> {
            Exec::listen(self, app_wrk, sep)
        }

        /// Stops listening (see [`Apps::unlisten`]).
        pub fn unlisten(
            &mut self,
            app_wrk: AppWorkerHandle,
            alh: AppListenerHandle,
        ) -> Result<(), SessionError> {
            Exec::unlisten(self, app_wrk, alh)
        }

        /// Connects (see [`Apps::connect`]); returns the half-open.
        pub fn connect(
            &mut self,
            app_wrk: AppWorkerHandle,
            rmt: SessionEndpoint,
            opaque: u32,
        ) -> Result<SessionHandle, SessionError> {
            Exec::connect(self, app_wrk, rmt, opaque)
        }

        /// Closes a session (reset if unread data waits).
        pub fn disconnect(
            &mut self,
            app_wrk: AppWorkerHandle,
            h: SessionHandle,
        ) -> Result<(), SessionError> {
            Exec::disconnect(self, app_wrk, h)
        }

        /// Resets a session.
        pub fn reset(
            &mut self,
            app_wrk: AppWorkerHandle,
            h: SessionHandle,
        ) -> Result<(), SessionError> {
            Exec::reset(self, app_wrk, h)
        }

        /// A queue or out-of-process app's accept reply.
        pub fn accept_reply(
            &mut self,
            app_wrk: AppWorkerHandle,
            h: SessionHandle,
            result: Result<(), SessionError>,
        ) -> Result<(), SessionError> {
            Exec::accept_reply(self, app_wrk, h, result)
        }

        /// Detaches an app: listeners, sessions, events, segment managers
        /// (see the `detach` module). Fifos still in use are freed as their
        /// sessions finish closing (run the stack until idle).
        pub fn detach(&mut self, app: AppHandle) -> Result<(), SessionError> {
            Exec::detach(self, app, DetachHow::Close)
        }

        /// Detaches an app that died: like [`Self::detach`], but every
        /// session of the app is reset, so its peers do not mistake a cut
        /// stream for an orderly close.
        pub fn detach_reset(&mut self, app: AppHandle) -> Result<(), SessionError> {
            Exec::detach(self, app, DetachHow::Reset)
        }
    };
}

/// Runs a closure on a thread's worker and returns its result.
trait Exec {
    fn apps(&self) -> &Arc<Apps>;
    fn session_main(&self) -> &Arc<SessionMain>;
    fn exec<R: Send + 'static>(
        &mut self,
        thread: u32,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<R, SessionError>;

    fn listen(
        &mut self,
        app_wrk: AppWorkerHandle,
        sep: SessionEndpoint,
    ) -> Result<AppListenerHandle, SessionError> {
        let apps = self.apps().clone();
        self.exec(0, move |wrk| apps.listen(wrk, app_wrk, sep))?
    }

    fn unlisten(
        &mut self,
        app_wrk: AppWorkerHandle,
        alh: AppListenerHandle,
    ) -> Result<(), SessionError> {
        let apps = self.apps().clone();
        self.exec(0, move |wrk| apps.unlisten(wrk, app_wrk, alh))?
    }

    fn connect(
        &mut self,
        app_wrk: AppWorkerHandle,
        rmt: SessionEndpoint,
        opaque: u32,
    ) -> Result<SessionHandle, SessionError> {
        let apps = self.apps().clone();
        let cl = self.session_main().transport_cl_thread();
        self.exec(cl, move |wrk| apps.connect(wrk, app_wrk, rmt, opaque))?
    }

    fn on_session<R: Send + 'static>(
        &mut self,
        h: SessionHandle,
        f: impl FnOnce(&Apps, &mut Worker) -> Result<R, SessionError> + Send + 'static,
    ) -> Result<R, SessionError> {
        if h.thread_index() >= self.session_main().n_threads() {
            return Err(SessionError::NoSession);
        }
        let apps = self.apps().clone();
        self.exec(h.thread_index(), move |wrk| f(&apps, wrk))?
    }

    fn disconnect(
        &mut self,
        app_wrk: AppWorkerHandle,
        h: SessionHandle,
    ) -> Result<(), SessionError> {
        self.on_session(h, move |a, w| a.disconnect_session(w, app_wrk, h))
    }

    fn reset(&mut self, app_wrk: AppWorkerHandle, h: SessionHandle) -> Result<(), SessionError> {
        self.on_session(h, move |a, w| a.reset_session(w, app_wrk, h))
    }

    fn accept_reply(
        &mut self,
        app_wrk: AppWorkerHandle,
        h: SessionHandle,
        result: Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        self.on_session(h, move |a, w| a.accept_reply(w, app_wrk, h, result))
    }

    fn detach(&mut self, app: AppHandle, how: DetachHow) -> Result<(), SessionError> {
        let apps = self.apps().clone();
        apps.application(app)?;
        let a = apps.clone();
        self.exec(0, move |wrk| a.detach_listeners(wrk, app))??;
        let wrks = apps.detach_invalidate(app)?;
        for t in 0..self.session_main().n_threads() {
            let (a, w) = (apps.clone(), wrks.clone());
            self.exec(t, move |wrk| a.detach_on_thread_with(wrk, &w, how))?;
        }
        apps.detach_finish(app)
    }
}

/// A whole stack: session layer, workers, segment managers, apps.
///
/// ```
/// use ct_app_worker::{AppKind, AttachOptions, Stack};
///
/// let mut stack = Stack::new(1).unwrap();
/// let app = stack.attach(AttachOptions::new("server", AppKind::InProcess)).unwrap();
/// assert_eq!(stack.apps().n_apps(), 1);
/// stack.detach(app.app).unwrap();
/// stack.run_until_idle().unwrap();
/// assert!(stack.segment_managers().is_empty());
/// ```
pub struct Stack {
    main: Arc<SessionMain>,
    sms: Arc<SegmentManagers>,
    apps: Arc<Apps>,
    rt: Runtime,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("main", &self.main)
            .field("apps", &self.apps)
            .field("threaded", &self.rt.is_threaded())
            .finish()
    }
}

impl Stack {
    /// A stack with `n_workers` workers besides main, stepped by the caller
    /// (see [`Stack::start_threads`]).
    pub fn new(n_workers: u32) -> Result<Stack, SessionError> {
        Self::with_config(SessionConfig::new(n_workers))
    }

    /// A stepping stack with this session-layer configuration.
    pub fn with_config(cfg: SessionConfig) -> Result<Stack, SessionError> {
        let (main, workers) = SessionMain::new(cfg);
        let sms = Arc::new(SegmentManagers::new(main.n_threads()));
        let apps = Apps::new(&main, sms.clone())?;
        main.set_app_layer(apps.clone())?;
        Ok(Stack {
            rt: Runtime::stepping(main.clone(), workers),
            main,
            sms,
            apps,
        })
    }

    /// The session layer.
    pub fn main(&self) -> &Arc<SessionMain> {
        &self.main
    }

    /// The app layer.
    pub fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    /// The segment managers.
    pub fn segment_managers(&self) -> &Arc<SegmentManagers> {
        &self.sms
    }

    /// The runtime (stepping or threaded).
    pub fn runtime_mut(&mut self) -> &mut Runtime {
        &mut self.rt
    }

    /// Registers `t` for `proto` over ip4 and ip6 and enables it.
    pub fn register_transport(
        &self,
        proto: TransportProto,
        t: Arc<dyn Transport>,
    ) -> Result<(), SessionError> {
        self.main.transports().register(proto, true, t.clone())?;
        self.main.transports().register(proto, false, t.clone())?;
        t.enable(&self.main, true)
    }

    /// Whether the workers run on their own threads.
    pub fn is_threaded(&self) -> bool {
        self.rt.is_threaded()
    }

    /// Moves the workers onto their own threads. If a thread cannot be
    /// started the stack is left without workers (calls then fail with
    /// [`SessionError::TimedOut`]).
    pub fn start_threads(&mut self, cfg: ThreadedConfig) -> Result<(), SessionError> {
        if self.is_threaded() {
            return Ok(());
        }
        let stepping = std::mem::replace(
            &mut self.rt,
            Runtime::stepping(self.main.clone(), Vec::new()),
        );
        let workers = stepping.shutdown();
        self.rt = Runtime::threaded(self.main.clone(), workers, cfg)?;
        Ok(())
    }

    /// Stepping: steps every worker until none has work. Threaded: 0.
    pub fn run_until_idle(&mut self) -> Result<usize, SessionError> {
        self.runtime_mut().run_until_idle()
    }

    /// Stepping: polls every worker once.
    pub fn step(&mut self) -> bool {
        self.runtime_mut().step()
    }

    /// Runs `f` on `thread`'s worker.
    pub fn call<R: Send + 'static>(
        &mut self,
        thread: u32,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<R, SessionError> {
        self.runtime_mut().call(thread, f)
    }

    /// A handle for app threads of a threaded stack.
    pub fn handle(&self) -> StackHandle {
        StackHandle {
            main: self.main.clone(),
            apps: self.apps.clone(),
        }
    }

    control_calls!();

    /// Stops the workers and returns them.
    pub fn shutdown(self) -> Vec<Worker> {
        self.rt.shutdown()
    }
}

impl Exec for Stack {
    fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    fn session_main(&self) -> &Arc<SessionMain> {
        &self.main
    }

    fn exec<R: Send + 'static>(
        &mut self,
        thread: u32,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<R, SessionError> {
        self.runtime_mut().call(thread, f)
    }
}

/// The control calls of a threaded stack, from app threads (cloneable,
/// `Send`). Never use it from a worker, nor with a stepping stack (nobody
/// would run the call).
#[derive(Debug, Clone)]
pub struct StackHandle {
    main: Arc<SessionMain>,
    apps: Arc<Apps>,
}

impl StackHandle {
    /// The session layer.
    pub fn main(&self) -> &Arc<SessionMain> {
        &self.main
    }

    /// The app layer.
    pub fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    control_calls!();
}

impl Exec for StackHandle {
    fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    fn session_main(&self) -> &Arc<SessionMain> {
        &self.main
    }

    fn exec<R: Send + 'static>(
        &mut self,
        thread: u32,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<R, SessionError> {
        self.main.call_blocking(thread, f)
    }
}
