//! Running workers: stepped by one test thread (deterministic), or one OS
//! thread each. The loop body is the same [`Worker::poll`] in both.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::SessionError;
use crate::clock::{StackTime, WorkerClock};
use crate::parker::{ThreadParker, WorkerParker};
use crate::queue::WorkerEvent;
use crate::session_main::SessionMain;
use crate::worker::Worker;

/// Rounds [`Runtime::run_until_idle`] allows before calling it a livelock.
pub const MAX_IDLE_ROUNDS: usize = 1_000_000;

/// How threaded workers wait when idle.
#[derive(Debug, Clone)]
pub struct ThreadedConfig {
    /// Never park: poll continuously (VPP polling mode). Starves apps on a
    /// small machine; for benches that want it.
    pub poll: bool,
    /// Idle polls spent spinning before going to sleep on the parker.
    pub spin_polls: u32,
    /// Longest park (an idle worker wakes this often; congested app events
    /// are retried after at most 100µs).
    pub park_timeout: Duration,
}

impl Default for ThreadedConfig {
    fn default() -> Self {
        ThreadedConfig {
            poll: false,
            spin_polls: 64,
            park_timeout: Duration::from_millis(10),
        }
    }
}

enum Mode {
    Stepping(Vec<Worker>),
    Threaded(Vec<JoinHandle<Worker>>),
}

/// The workers of a stack and how they run.
///
/// ```
/// use ct_session::{Runtime, SessionConfig, SessionMain};
///
/// let (main, workers) = SessionMain::new(SessionConfig::new(2));
/// let mut rt = Runtime::stepping(main, workers);
/// let thread = rt.call(2, |wrk| wrk.thread_index()).unwrap();
/// assert_eq!(thread, 2);
/// rt.run_until_idle().unwrap();
/// ```
pub struct Runtime {
    main: Arc<SessionMain>,
    mode: Mode,
    /// Stepping mode: the workers' time, which moves only when the caller
    /// moves it.
    clock: StackTime,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::Stepping(_) => "stepping",
            Mode::Threaded(_) => "threaded",
        };
        f.debug_struct("Runtime")
            .field("mode", &mode)
            .field("main", &self.main)
            .finish()
    }
}

impl Runtime {
    /// All workers stepped by the calling thread: nothing runs until the
    /// caller polls, and the same calls give the same event order.
    /// Their clock starts at [`StackTime::ZERO`] and stands still until
    /// [`Runtime::advance_clock`] or [`Runtime::set_clock`] moves it.
    pub fn stepping(main: Arc<SessionMain>, mut workers: Vec<Worker>) -> Self {
        for w in &mut workers {
            w.set_clock(WorkerClock::Manual(StackTime::ZERO));
        }
        Runtime {
            main,
            mode: Mode::Stepping(workers),
            clock: StackTime::ZERO,
        }
    }

    /// One OS thread per worker (`ct-wrk-N`; thread 0 is main), each running
    /// the worker loop until [`Runtime::shutdown`]; idle workers sleep on a
    /// [`ThreadParker`]. Their clock is the stack's real monotonic one.
    pub fn threaded(
        main: Arc<SessionMain>,
        workers: Vec<Worker>,
        cfg: ThreadedConfig,
    ) -> Result<Self, SessionError> {
        Self::threaded_with_parkers(main, workers, cfg, Vec::new())
    }

    /// [`Runtime::threaded`] with the parkers idle workers sleep on, one per
    /// thread in thread order (stackd: eventfds apps can signal); threads
    /// beyond the list keep the parker they had (workers that ran threaded
    /// before) or get a [`ThreadParker`]. A parker is installed once per
    /// thread: [`SessionError::Invalid`] if a given one meets a thread that
    /// has one already, or the list is longer than the threads.
    pub fn threaded_with_parkers(
        main: Arc<SessionMain>,
        workers: Vec<Worker>,
        cfg: ThreadedConfig,
        parkers: Vec<Arc<dyn WorkerParker>>,
    ) -> Result<Self, SessionError> {
        if parkers.len() > workers.len() {
            return Err(SessionError::Invalid);
        }
        // Checked before installing any, so a refusal changes nothing.
        for wrk in workers.iter().take(parkers.len()) {
            let wake = main.worker_wake(wrk.thread_index());
            if wake.is_none_or(|w| w.parker().is_some()) {
                return Err(SessionError::Invalid);
            }
        }
        let mut parkers = parkers.into_iter();
        for wrk in &workers {
            let wake = main
                .worker_wake(wrk.thread_index())
                .ok_or(SessionError::Invalid)?;
            match parkers.next() {
                Some(p) => {
                    if !wake.set_parker(p) {
                        return Err(SessionError::Invalid);
                    }
                }
                None => {
                    if wake.parker().is_none() {
                        wake.set_parker(Arc::new(ThreadParker::new()));
                    }
                }
            }
        }
        let mut handles = Vec::with_capacity(workers.len());
        for mut wrk in workers {
            wrk.set_clock(WorkerClock::Monotonic {
                origin: main.clock_origin(),
            });
            let cfg = cfg.clone();
            let name = format!("ct-wrk-{}", wrk.thread_index());
            let h = std::thread::Builder::new()
                .name(name)
                .spawn(move || run_worker(wrk, cfg))
                .map_err(|_| SessionError::Syscall)?;
            handles.push(h);
        }
        Ok(Runtime {
            main,
            mode: Mode::Threaded(handles),
            clock: StackTime::ZERO,
        })
    }

    /// The shared session-layer state.
    pub fn main(&self) -> &Arc<SessionMain> {
        &self.main
    }

    /// Whether the workers run on their own threads.
    pub fn is_threaded(&self) -> bool {
        matches!(self.mode, Mode::Threaded(_))
    }

    /// Stepping mode: the workers, to inspect or drive one directly.
    pub fn workers_mut(&mut self) -> Option<&mut [Worker]> {
        match &mut self.mode {
            Mode::Stepping(w) => Some(w),
            Mode::Threaded(_) => None,
        }
    }

    /// Stepping mode: one worker.
    pub fn worker_mut(&mut self, thread: u32) -> Option<&mut Worker> {
        self.workers_mut()?.get_mut(thread as usize)
    }

    /// Stepping mode: the workers' time. Threaded mode: the stack's real
    /// monotonic time.
    pub fn now(&self) -> StackTime {
        match self.mode {
            Mode::Stepping(_) => self.clock,
            Mode::Threaded(_) => WorkerClock::Monotonic {
                origin: self.main.clock_origin(),
            }
            .now(),
        }
    }

    /// Stepping mode: moves the workers' clock `d` forward (nothing runs
    /// until the next step). Threaded mode: nothing, real time moves.
    pub fn advance_clock(&mut self, d: Duration) {
        let t = self.clock + d;
        self.set_clock(t);
    }

    /// Stepping mode: sets the workers' clock to `t`, which may not go
    /// back (an earlier `t` is ignored: transports count on time only
    /// moving forward). Threaded mode: nothing.
    pub fn set_clock(&mut self, t: StackTime) {
        if let Mode::Stepping(ws) = &mut self.mode {
            self.clock = self.clock.max(t);
            for w in ws.iter_mut() {
                w.set_clock(WorkerClock::Manual(self.clock));
            }
        }
    }

    /// Stepping mode: polls every worker once, in thread order; returns
    /// whether any did work. Threaded mode: false.
    pub fn step(&mut self) -> bool {
        match &mut self.mode {
            Mode::Stepping(ws) => {
                let mut work = false;
                for w in ws.iter_mut() {
                    work |= w.poll();
                }
                work
            }
            Mode::Threaded(_) => false,
        }
    }

    /// Stepping mode: steps until no worker does work; returns the rounds
    /// taken. [`SessionError::TimedOut`] after [`MAX_IDLE_ROUNDS`] (a
    /// livelock: something reschedules itself forever).
    pub fn run_until_idle(&mut self) -> Result<usize, SessionError> {
        for round in 0..MAX_IDLE_ROUNDS {
            if !self.step() {
                return Ok(round);
            }
        }
        Err(SessionError::TimedOut)
    }

    /// Runs `f` on `thread`'s worker and returns its result: stepping mode
    /// steps the workers until the reply arrives (an RPC that never runs
    /// gives [`SessionError::TimedOut`]); threaded mode waits. For app-layer
    /// control calls from outside the workers; code already on a worker has
    /// its `&mut Worker` and must not call this.
    pub fn call<R: Send + 'static>(
        &mut self,
        thread: u32,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<R, SessionError> {
        let rx = self.main.send_call(thread, f)?;
        if self.is_threaded() {
            return rx.recv().map_err(|_| SessionError::NoSession);
        }
        for _ in 0..MAX_IDLE_ROUNDS {
            let work = self.step();
            if let Ok(r) = rx.try_recv() {
                return Ok(r);
            }
            if !work {
                break;
            }
        }
        rx.try_recv().map_err(|_| SessionError::TimedOut)
    }

    /// Stops the workers (threaded: joins their threads) and returns them,
    /// in thread order, for inspection.
    pub fn shutdown(mut self) -> Vec<Worker> {
        self.stop()
    }

    fn stop(&mut self) -> Vec<Worker> {
        match std::mem::replace(&mut self.mode, Mode::Stepping(Vec::new())) {
            Mode::Stepping(ws) => ws,
            Mode::Threaded(hs) => {
                for t in 0..hs.len() {
                    let _ = self.main.send(t as u32, WorkerEvent::Shutdown);
                }
                // A worker that panicked is left out; its panic was printed.
                hs.into_iter().filter_map(|h| h.join().ok()).collect()
            }
        }
    }
}

impl Drop for Runtime {
    /// A threaded runtime stops and joins its workers (their state is
    /// dropped); [`Runtime::shutdown`] hands them back instead.
    fn drop(&mut self) {
        if self.is_threaded() {
            self.stop();
        }
    }
}

fn run_worker(mut wrk: Worker, cfg: ThreadedConfig) -> Worker {
    tracing::debug!(thread = wrk.thread_index(), "worker loop start");
    if let Some(p) = wrk
        .main()
        .worker_wake(wrk.thread_index())
        .and_then(|w| w.parker())
    {
        p.bind();
    }
    let mut idle = 0u32;
    while !wrk.should_stop() {
        if wrk.poll() {
            idle = 0;
            continue;
        }
        idle = idle.saturating_add(1);
        if cfg.poll || idle < cfg.spin_polls {
            std::hint::spin_loop();
            if idle.is_multiple_of(16) {
                std::thread::yield_now();
            }
            continue;
        }
        // Congested app events wait in the worker, not on the queue: retry
        // them soon.
        let timeout = if wrk.has_pending_work() {
            cfg.park_timeout.min(Duration::from_micros(100))
        } else {
            cfg.park_timeout
        };
        wrk.sleep(timeout);
        idle = 0;
    }
    tracing::debug!(thread = wrk.thread_index(), "worker loop stop");
    wrk
}
