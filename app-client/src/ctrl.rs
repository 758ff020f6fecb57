//! Sending to the stack: `AppMsg`s on `ctrl_q[t]`, the queue stack thread
//! `t` drains, and the wake-up of that thread when it said it sleeps.
//!
//! A full queue is congestion, not loss: the message waits in a local
//! backlog (in order, ahead of anything sent later to that thread) and is
//! pushed again on the next send or drain. IO events cannot be refused
//! (the fifo's event flag is already set and nobody else would send it);
//! only a backlog that passes [`MAX_BACKLOG`] (a stack that stopped
//! draining) turns into `Congested`.

use std::collections::VecDeque;

use ct_app_interface::SessionError;
use ct_app_interface::wire::{AppMsg, MsgBuf};
use ct_fifo_segment::eventfd::EventFd;
use ct_fifo_segment::msg_q::{MsgProducer, MsgQueueError};
use ct_sync::Mutex;
use ct_sync::atomic::{AtomicUsize, Ordering};

use crate::error::ClientError;

/// Messages one thread's backlog holds at most.
pub(crate) const MAX_BACKLOG: usize = 64 * 1024;

/// One stack thread's control queue, from the app's side.
struct CtrlQ {
    producer: MsgProducer,
    backlog: VecDeque<MsgBuf>,
}

/// The app worker's control queues and the stack threads' eventfds.
pub(crate) struct Ctrl {
    queues: Vec<Mutex<CtrlQ>>,
    wrk_evtfd: Vec<EventFd>,
    /// Messages in all backlogs (read without the locks: the drain path
    /// of every wait looks at it).
    waiting: AtomicUsize,
    /// The async driver of the worker (`tokio/driver.rs`), woken when a
    /// message goes to a backlog: nothing else makes it push the backlog
    /// again once every task parked.
    #[cfg(feature = "tokio")]
    pub(crate) backlogged: crate::readiness::WakerSlot,
}

impl std::fmt::Debug for Ctrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctrl")
            .field("threads", &self.queues.len())
            .field("backlog", &self.backlog())
            .finish()
    }
}

fn mq_err(e: MsgQueueError) -> ClientError {
    ClientError::protocol(format_args!("control queue: {e}"))
}

impl CtrlQ {
    /// Pushes the backlog in order until the queue is full again. Returns
    /// whether the consumer asked to be woken.
    fn flush(&mut self) -> Result<bool, ClientError> {
        let mut wake = false;
        while let Some(m) = self.backlog.front() {
            match self.producer.try_send(m.as_bytes()) {
                Ok(w) => {
                    wake |= w;
                    self.backlog.pop_front();
                }
                Err(MsgQueueError::Full) => break,
                Err(e) => return Err(mq_err(e)),
            }
        }
        Ok(wake)
    }
}

impl Ctrl {
    /// Producers of `ctrl_q[0..n]` and the eventfds of stack threads
    /// `0..n`, in thread order.
    pub(crate) fn new(producers: Vec<MsgProducer>, wrk_evtfd: Vec<EventFd>) -> Self {
        Ctrl {
            queues: producers
                .into_iter()
                .map(|producer| {
                    Mutex::new(CtrlQ {
                        producer,
                        backlog: VecDeque::new(),
                    })
                })
                .collect(),
            wrk_evtfd,
            waiting: AtomicUsize::new(0),
            #[cfg(feature = "tokio")]
            backlogged: crate::readiness::WakerSlot::new(),
        }
    }

    /// Stack threads.
    pub(crate) fn n_threads(&self) -> u32 {
        self.queues.len() as u32
    }

    /// Sends `msg` to stack thread `thread` (or queues it behind a full
    /// queue).
    pub(crate) fn send(&self, thread: u32, msg: &AppMsg) -> Result<(), ClientError> {
        let i = thread as usize;
        let (Some(q), Some(evtfd)) = (self.queues.get(i), self.wrk_evtfd.get(i)) else {
            return Err(ClientError::protocol(format_args!(
                "stack thread {thread} out of range"
            )));
        };
        let bytes = msg.encode();
        let mut q = q.lock();
        let before = q.backlog.len();
        let (wake, r) = Self::push(&mut q, bytes);
        let after = q.backlog.len();
        self.account(before, after);
        drop(q);
        #[cfg(feature = "tokio")]
        if after > 0 {
            self.backlogged.wake();
        }
        if wake {
            evtfd.signal().map_err(ClientError::Io)?;
        }
        r
    }

    /// Sends the backlog, then `bytes` (or queues it behind what is still
    /// waiting). Says whether the consumer asked to be woken (even when
    /// `bytes` itself was refused).
    fn push(q: &mut CtrlQ, bytes: MsgBuf) -> (bool, Result<(), ClientError>) {
        let wake = match q.backlog.is_empty() {
            true => false,
            false => match q.flush() {
                Ok(w) => w,
                Err(e) => return (false, Err(e)),
            },
        };
        if !q.backlog.is_empty() {
            if q.backlog.len() >= MAX_BACKLOG {
                return (wake, Err(ClientError::Session(SessionError::Congested)));
            }
            q.backlog.push_back(bytes);
            return (wake, Ok(()));
        }
        match q.producer.try_send(bytes.as_bytes()) {
            Ok(w) => (wake | w, Ok(())),
            Err(MsgQueueError::Full) => {
                q.backlog.push_back(bytes);
                (wake, Ok(()))
            }
            Err(e) => (wake, Err(mq_err(e))),
        }
    }

    fn account(&self, before: usize, after: usize) {
        if after > before {
            self.waiting.fetch_add(after - before, Ordering::AcqRel);
        } else if before > after {
            self.waiting.fetch_sub(before - after, Ordering::AcqRel);
        }
    }

    /// Pushes every thread's backlog. Returns the messages still waiting.
    pub(crate) fn flush(&self) -> Result<usize, ClientError> {
        if self.backlog() == 0 {
            return Ok(0);
        }
        let mut left = 0;
        for (q, evtfd) in self.queues.iter().zip(&self.wrk_evtfd) {
            let mut q = q.lock();
            let before = q.backlog.len();
            if before == 0 {
                continue;
            }
            let wake = q.flush();
            self.account(before, q.backlog.len());
            let wake = wake?;
            left += q.backlog.len();
            drop(q);
            if wake {
                evtfd.signal().map_err(ClientError::Io)?;
            }
        }
        Ok(left)
    }

    /// Messages waiting in the backlogs.
    pub(crate) fn backlog(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}
