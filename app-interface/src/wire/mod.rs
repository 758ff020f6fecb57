//! Wire formats: plain data types and their bytes.
//!
//! - [`AppMsg`] / [`StackMsg`]: the messages on an app worker's
//!   shared-memory queues (VPP's `session_*_msg_t` on the app's
//!   `svm_msg_q`), fixed size per kind, IO events at most
//!   [`IO_EVT_MSG_SIZE`] bytes so they fit the small ring, everything at
//!   most [`CTRL_MSG_SIZE`].
//! - [`SapiMsg`]: the records on the app socket (VPP's app socket API),
//!   versioned and length-checked.
//!
//! Decoding is total: any bytes give a message or a [`WireError`], never
//! a panic, and a message decodes only from its one encoding (no trailing
//! bytes, no padding with data in it), so `decode(b) == Ok(m)` implies
//! `m.encode() == b`. The bytes come from another process: the decoders
//! check shape only; whether a session or segment is the peer's to name
//! is for the receiver to check.

mod codec;
mod mq;
mod msgbuf;
mod record;
mod types;

#[cfg(test)]
mod tests;

use ct_fifo_segment::{MsgQueueConfig, RingConfig};

pub use codec::WireError;
pub use mq::{AppMsg, StackMsg};
pub use msgbuf::{CTRL_MSG_SIZE, IO_EVT_MSG_SIZE, MsgBuf};
pub use record::{
    AttachReq, SAPI_HEADER_SIZE, SAPI_MAGIC, SAPI_MAX_FDS, SAPI_MAX_NAME, SAPI_MAX_RECORD,
    SAPI_MAX_THREADS, SAPI_VERSION, SapiMsg, WorkerReply,
};
pub use types::{FifoRef, SegmentRef, SessionRef, WireEndpoint};

/// The default rings of an app worker's message queues: a ring of small
/// elements for IO events, which are most of the traffic, and half as many
/// [`CTRL_MSG_SIZE`] elements for control messages (VPP sizes its app
/// queues the same way). [`msg_q_config`] of the default queue size, 1024
/// messages, has these rings.
pub const MSG_Q_RINGS: [RingConfig; 2] = [
    RingConfig {
        nitems: 1024,
        elsize: IO_EVT_MSG_SIZE as u32,
    },
    RingConfig {
        nitems: 512,
        elsize: CTRL_MSG_SIZE as u32,
    },
];

/// The smallest ring [`msg_q_config`] gives.
pub const MSG_Q_MIN_RING: u32 = 16;

/// The rings, `(nitems, elsize)` in [`MSG_Q_RINGS`] order, of a queue
/// asked for `evt_q_size` messages (an attach's `evt_q_size`):
/// `evt_q_size` IO slots and half as many control slots, at least
/// [`MSG_Q_MIN_RING`] each.
pub fn msg_q_ring_sizes(evt_q_size: u32) -> [(u32, u32); 2] {
    [
        (evt_q_size.max(MSG_Q_MIN_RING), IO_EVT_MSG_SIZE as u32),
        ((evt_q_size / 2).max(MSG_Q_MIN_RING), CTRL_MSG_SIZE as u32),
    ]
}

/// [`msg_q_ring_sizes`] as the queue configuration `MsgQueue::create`
/// takes.
pub fn msg_q_config(evt_q_size: u32) -> MsgQueueConfig {
    MsgQueueConfig {
        rings: msg_q_ring_sizes(evt_q_size)
            .iter()
            .map(|&(nitems, elsize)| RingConfig { nitems, elsize })
            .collect(),
    }
}
