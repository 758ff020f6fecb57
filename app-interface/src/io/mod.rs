//! App-side session I/O, shared by builtin apps (app-worker's
//! `AppSession`) and apps in other processes (app-client): the app writes
//! its tx fifo and reads its rx fifo directly, and tells the session's
//! worker only what it must know, through an [`IoEvtSink`]. Each
//! direction is a type of its own that carries that direction's rules,
//! [`RxEnd`] and [`TxEnd`], so they can be locked apart (app-client: a
//! stream's reader and writer never wait for each other); [`SessionIo`] is
//! the pair with its sink, for an owner that uses both from one place
//! (app-worker). The rules, for both:
//!
//! - After a write, `set_event` on the tx fifo; only when the flag was clear
//!   does a [`IoEvt::Tx`] go out (the transport clears the flag when it
//!   handles the event), so a burst of writes costs one event.
//! - After a read, an [`IoEvt::RxDequeue`] goes out only when the producer
//!   asked for a dequeue notification (`needs_deq_ntf`); the request is
//!   cleared first so it is sent once.
//! - A write that finds the fifo full (or [`TxEnd::room`] that finds no
//!   room) arms a dequeue notification, then looks again, with a SeqCst
//!   fence between the flag store and the head load (the reader fences
//!   between its head store and the flag load: ARCHITECTURE.md, "Shared
//!   memory"), so a reader that drained the fifo meanwhile is never
//!   missed.
//!
//! The sink is where events go: a builtin app's sink queues them to the
//! session's worker; app-client's encodes an `AppMsg` onto the worker's
//! shared-memory queue and signals its eventfd. The ends take it by
//! `&mut` on each call that may send, not as a field: one sink serves
//! both ends of a session ([`SessionIo`] owns it and lends it to either;
//! app-client's stream keeps one beside its two locks), with no clone and
//! no lock of its own.
//!
//! An app that blocks on a session first polls the fifo for a
//! [`SpinSpell`] (adaptive, at most [`MAX_SPIN`]) before it sleeps: the
//! data usually lands before the event that announces it.

mod rx_end;
mod session_io;
mod spin;
mod tx_end;

use ct_fifo_segment::FifoError;
use thiserror::Error;

use crate::SessionError;

pub use rx_end::RxEnd;
pub use session_io::SessionIo;
pub use spin::{MAX_SPIN, PROBE_EVERY, SpinSpell, SpinWait, YIELD_AFTER};
pub use tx_end::TxEnd;

/// An event the app owes the session's worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoEvt {
    /// Data in the tx fifo (its event flag was clear): the worker runs the
    /// transport's tx.
    Tx,
    /// The app read the rx fifo and the producer asked to hear about it:
    /// the worker tells the peer there is room.
    RxDequeue,
}

/// Where a session's [`RxEnd`] and [`TxEnd`] (or its [`SessionIo`]) send
/// their events. One sink per session: it knows which session and worker
/// the events are for.
pub trait IoEvtSink {
    /// Why an event could not be sent.
    type Error;

    /// Sends `evt` to the session's worker.
    fn io_evt(&mut self, evt: IoEvt) -> Result<(), Self::Error>;
}

/// An I/O operation's failure: the fifo's or the sink's.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IoError<E> {
    /// The fifo failed (freed, corrupted header, bad range).
    #[error("fifo: {0}")]
    Fifo(#[from] FifoError),
    /// The data moved, but the event for the worker could not be sent.
    #[error("io event: {0}")]
    Sink(E),
}

impl From<IoError<SessionError>> for SessionError {
    fn from(e: IoError<SessionError>) -> Self {
        match e {
            IoError::Fifo(f) => f.into(),
            IoError::Sink(s) => s,
        }
    }
}

#[cfg(test)]
mod end_tests;
#[cfg(test)]
mod tests;
