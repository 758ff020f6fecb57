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

use app_interface::SessionError;
use app_interface::wire::{AppMsg, MsgBuf};
use fifo_segment::eventfd::EventFd;
use fifo_segment::msg_q::{MsgProducer, MsgQueueError};
use parking_lot::Mutex;

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
        let mut wake = q.flush()?;
        if q.backlog.is_empty() {
            match q.producer.try_send(bytes.as_bytes()) {
                Ok(w) => wake |= w,
                Err(MsgQueueError::Full) => q.backlog.push_back(bytes),
                Err(e) => return Err(mq_err(e)),
            }
        } else if q.backlog.len() >= MAX_BACKLOG {
            return Err(ClientError::Session(SessionError::Congested));
        } else {
            q.backlog.push_back(bytes);
        }
        drop(q);
        if wake {
            evtfd.signal().map_err(ClientError::Io)?;
        }
        Ok(())
    }

    /// Pushes every thread's backlog. Returns the messages still waiting.
    pub(crate) fn flush(&self) -> Result<usize, ClientError> {
        let mut left = 0;
        for (q, evtfd) in self.queues.iter().zip(&self.wrk_evtfd) {
            let mut q = q.lock();
            if q.backlog.is_empty() {
                continue;
            }
            let wake = q.flush()?;
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
        self.queues.iter().map(|q| q.lock().backlog.len()).sum()
    }
}
