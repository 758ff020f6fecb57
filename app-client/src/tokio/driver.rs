//! The driver of one app worker's queues under tokio: a task, spawned on
//! the first async wait of the worker, that sleeps on the worker's fd
//! (the epoll instance over `app_evtfd` and the app socket) and, when it
//! fires, drains the queues (filing wakes the tasks the events are for)
//! and arms them again (`prepare_sleep`). When the daemon goes (the
//! socket hangs up) or a queue is corrupt, the drain fails: every task
//! waiting on the worker is woken (and finds the error), and the driver
//! ends. It holds the worker weakly and ends when the worker goes too.
//! A message the stack's full control queue could not take waits in a
//! backlog (`ctrl.rs`) that nothing else would push once every task
//! parked: the send that left it there wakes the driver, which pushes it
//! until the stack took it. A blocking wait of the same worker (a `bind`
//! on the runtime's thread, a std stream in another thread) or the app's
//! `poll_events` takes the queues out of their armed state; it wakes the
//! driver too, which arms them again (else the next message would signal
//! nothing and every parked task would stall).
//!
//! Tasks parked with nobody draining would hang, so every async wait
//! calls [`ensure`] before it parks; a driver whose runtime was shut down
//! is gone (its flag cleared on drop) and the next wait spawns another.

use ct_sync::unmodeled::atomic::Ordering;
use std::future::poll_fn;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Weak};
use std::task::Poll;

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use crate::app_worker::AppWorkerShared;
use crate::readiness::WakerSlot;

/// Tries to prepare sleep this many times in a row (news keeps coming)
/// before letting other tasks run.
const ARM_TRIES: u32 = 8;

/// Makes sure a driver runs for `wrk`, on the current tokio runtime.
/// Outside a runtime nothing can be spawned: the waits need one.
pub(crate) fn ensure(wrk: &Arc<AppWorkerShared>) {
    if wrk.driver_running.load(Ordering::Acquire) {
        return;
    }
    let Ok(rt) = ::tokio::runtime::Handle::try_current() else {
        return;
    };
    if wrk.driver_running.swap(true, Ordering::AcqRel) {
        return;
    }
    let running = Running(Arc::downgrade(wrk));
    let fd = match rustix::io::fcntl_dupfd_cloexec(wrk.poll_fd(), 0) {
        Ok(fd) => fd,
        Err(_) => return,
    };
    // Registered with the runtime's reactor (we are in its context). The
    // safe constructor is deprecated for fds that may close while
    // registered (the registering one is unsafe_code, which this crate
    // forbids); this fd is owned by the AsyncFd, open until it is dropped.
    #[allow(deprecated)]
    let Ok(afd) = AsyncFd::with_interest(fd, Interest::READABLE) else {
        return;
    };
    rt.spawn(run(running, afd, wrk.driver_gone.clone()));
}

/// Why the driver's wait ended.
enum Wake<'a> {
    /// The worker went (or the reactor failed us).
    Gone,
    /// A control message waits in a backlog (push it), or somebody else
    /// disarmed the queues (arm them again).
    Backlog,
    /// The worker's fd fired.
    Fd(::tokio::io::unix::AsyncFdReadyGuard<'a, OwnedFd>),
}

/// Clears the worker's driver flag when the driver ends or its runtime
/// drops it.
struct Running(Weak<AppWorkerShared>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(w) = self.0.upgrade() {
            w.driver_running.store(false, Ordering::Release);
        }
    }
}

async fn run(running: Running, afd: AsyncFd<OwnedFd>, gone: Arc<WakerSlot>) {
    let weak = running.0.clone();
    if !drain_and_arm(&weak).await {
        return;
    }
    loop {
        let ready = poll_fn(|cx| {
            // Register, then look: the worker's drop wakes `gone`, a
            // message left in a control backlog wakes `backlogged`.
            gone.register(cx.waker());
            let Some(wrk) = weak.upgrade() else {
                return Poll::Ready(Wake::Gone);
            };
            wrk.ctrl.backlogged.register(cx.waker());
            wrk.driver_rearm.register(cx.waker());
            if wrk.ctrl.backlog() > 0 {
                return Poll::Ready(Wake::Backlog);
            }
            if wrk.driver_must_arm.swap(false, Ordering::AcqRel) {
                return Poll::Ready(Wake::Backlog);
            }
            drop(wrk);
            match afd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => Poll::Ready(Wake::Fd(guard)),
                Poll::Ready(Err(_)) => Poll::Ready(Wake::Gone),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        let guard = match ready {
            Wake::Gone => return,
            Wake::Backlog => None,
            Wake::Fd(guard) => Some(guard),
        };
        if !drain_and_arm(&weak).await {
            return;
        }
        // Armed with nothing left: a message from now on signals the
        // eventfd, a new readiness event (the guard clears only the one
        // it saw).
        if let Some(mut guard) = guard {
            guard.clear_ready();
        }
    }
}

/// Drains the worker's queues and socket, then arms them for the fd;
/// while a control backlog waits (the stack's queue is full) it keeps
/// pushing it, letting other tasks run between tries. False when the driver should end: the worker is gone or unusable
/// (every waiting task was woken).
async fn drain_and_arm(weak: &Weak<AppWorkerShared>) -> bool {
    let mut tries = 0;
    loop {
        {
            let Some(wrk) = weak.upgrade() else {
                return false;
            };
            // A single bad message was counted and the rest filed; a
            // fatal error leaves the worker unusable.
            let _ = wrk.poll_as(true);
            if wrk.check().is_err() {
                wrk.wake_all();
                return false;
            }
            match wrk.prepare_sleep() {
                Ok(true) => return true,
                Ok(false) => {}
                Err(_) => {
                    wrk.wake_all();
                    return false;
                }
            }
        }
        tries += 1;
        if tries % ARM_TRIES == 0 {
            ::tokio::task::yield_now().await;
        }
    }
}
