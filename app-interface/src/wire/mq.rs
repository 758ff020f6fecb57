//! The messages on an app worker's shared-memory queues: [`AppMsg`] (app
//! to stack, on `ctrl_q[t]`) and [`StackMsg`] (stack to app, on
//! `evt_q[t]`).
//!
//! A message is a kind byte and its fields, little-endian, fixed size per
//! kind. The two directions use disjoint kind numbers, so a message put on
//! the wrong queue is [`WireError::UnknownKind`], not a different message.

use super::codec::{Put, Reader, WireError};
use super::msgbuf::MsgBuf;
use super::types::{FifoRef, SegmentRef, SessionRef, WireEndpoint};

/// App to stack, on `ctrl_q[t]` of the session's thread (listen, unlisten
/// and connect on `ctrl_q[0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMsg {
    /// Listen on `ep`; answered by [`StackMsg::Bound`] with the same
    /// `opaque`.
    Listen {
        /// The app's tag, echoed in the reply.
        opaque: u32,
        /// Where to listen.
        ep: WireEndpoint,
        /// The listen backlog: how many sessions the stack may accept on
        /// the listener before the app took them (its
        /// [`AppMsg::AcceptReply`]); a connect beyond it is refused. 0
        /// asks for the stack's default; the stack bounds larger values.
        backlog: u32,
    },
    /// Stop listening; answered by [`StackMsg::UnlistenReply`].
    Unlisten {
        /// The app's tag, echoed in the reply.
        opaque: u32,
        /// The listener ([`StackMsg::Bound`]'s).
        listener: SessionRef,
    },
    /// Connect to `ep`; answered by [`StackMsg::Connected`].
    Connect {
        /// The app's tag, echoed in the reply.
        opaque: u32,
        /// The remote endpoint.
        ep: WireEndpoint,
    },
    /// Close the session (a reset if unread data waits).
    Disconnect(SessionRef),
    /// Reset the session.
    Reset(SessionRef),
    /// The app's answer to [`StackMsg::Accepted`]: 0 says the app took the
    /// session (its listen backlog slot is free again), a negative
    /// `SessionError` code rejects it (the session is reset).
    AcceptReply {
        /// The accepted session.
        session: SessionRef,
        /// 0 or a `SessionError` code.
        error: i32,
    },
    /// The app wrote the session's tx fifo and found its event flag clear.
    IoTx(SessionRef),
    /// The app read the session's rx fifo and the producer asked for a
    /// dequeue notification.
    IoRxDequeue(SessionRef),
}

/// Stack to app, on `evt_q[t]` of the session's thread.
///
/// Kept apart from the stack's in-process app events: these are bytes in
/// shared memory that another process decodes, so they carry offsets and
/// wire handles where the stack's events carry fifos and segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackMsg {
    /// Reply to [`AppMsg::Listen`].
    Bound {
        /// The listen request's tag.
        opaque: u32,
        /// The listener (zero on error).
        listener: SessionRef,
        /// The endpoint bound (the port chosen if the request said 0).
        lcl: WireEndpoint,
        /// 0 or a `SessionError` code.
        error: i32,
    },
    /// Reply to [`AppMsg::Unlisten`].
    UnlistenReply {
        /// The unlisten request's tag.
        opaque: u32,
        /// The listener.
        listener: SessionRef,
        /// 0 or a `SessionError` code.
        error: i32,
    },
    /// A new session on one of the app's listeners, already accepted by
    /// the stack (its peer is connected); [`AppMsg::AcceptReply`] says the
    /// app took it (0: frees its backlog slot) or rejects it (the session
    /// is reset).
    Accepted {
        /// The listener it arrived on.
        listener: SessionRef,
        /// The new session.
        session: SessionRef,
        /// The app's receive fifo.
        rx: FifoRef,
        /// The app's transmit fifo.
        tx: FifoRef,
        /// The peer.
        rmt: WireEndpoint,
        /// The local end.
        lcl: WireEndpoint,
    },
    /// Reply to [`AppMsg::Connect`]. With `error != 0` the other fields
    /// are zero ([`StackMsg::connect_failed`]).
    Connected {
        /// The connect request's tag.
        opaque: u32,
        /// 0 or a `SessionError` code.
        error: i32,
        /// The new session.
        session: SessionRef,
        /// The app's receive fifo.
        rx: FifoRef,
        /// The app's transmit fifo.
        tx: FifoRef,
        /// The local end.
        lcl: WireEndpoint,
        /// The peer.
        rmt: WireEndpoint,
    },
    /// The peer closed.
    Disconnected(SessionRef),
    /// The peer reset.
    Reset(SessionRef),
    /// The transport closed under the session.
    TransportClosed(SessionRef),
    /// The session is gone; the reference is dead after this.
    Cleanup {
        /// The session.
        session: SessionRef,
        /// What was cleaned up (the stack's `SessionCleanupNtf`: 0
        /// transport, 1 session).
        ntf: u8,
    },
    /// Data arrived in the session's rx fifo.
    Rx(SessionRef),
    /// Space appeared in the session's tx fifo (the app asked for a
    /// dequeue notification).
    Tx(SessionRef),
    /// A segment to map: its fd came over the app socket just before, in a
    /// `SegmentFd` record naming the same segment.
    AddSegment {
        /// The segment.
        segment: SegmentRef,
        /// Its size in bytes.
        size: u64,
    },
    /// A segment to unmap: nothing in it is the app's any more.
    DelSegment(SegmentRef),
}

// Kind numbers. App-to-stack below 0x80, stack-to-app above.
const A_LISTEN: u8 = 0x01;
const A_UNLISTEN: u8 = 0x02;
const A_CONNECT: u8 = 0x03;
const A_DISCONNECT: u8 = 0x04;
const A_RESET: u8 = 0x05;
const A_ACCEPT_REPLY: u8 = 0x06;
const A_IO_TX: u8 = 0x07;
const A_IO_RX_DEQUEUE: u8 = 0x08;

const S_BOUND: u8 = 0x81;
const S_UNLISTEN_REPLY: u8 = 0x82;
const S_ACCEPTED: u8 = 0x83;
const S_CONNECTED: u8 = 0x84;
const S_DISCONNECTED: u8 = 0x85;
const S_RESET: u8 = 0x86;
const S_TRANSPORT_CLOSED: u8 = 0x87;
const S_CLEANUP: u8 = 0x88;
const S_RX: u8 = 0x89;
const S_TX: u8 = 0x8a;
const S_ADD_SEGMENT: u8 = 0x8b;
const S_DEL_SEGMENT: u8 = 0x8c;

impl AppMsg {
    /// The message's bytes, ready for `MsgProducer::try_send`.
    pub fn encode(&self) -> MsgBuf {
        let mut w = MsgBuf::new();
        match self {
            AppMsg::Listen {
                opaque,
                ep,
                backlog,
            } => {
                w.u8(A_LISTEN);
                w.u32(*opaque);
                ep.put(&mut w);
                w.u32(*backlog);
            }
            AppMsg::Unlisten { opaque, listener } => {
                w.u8(A_UNLISTEN);
                w.u32(*opaque);
                listener.put(&mut w);
            }
            AppMsg::Connect { opaque, ep } => {
                w.u8(A_CONNECT);
                w.u32(*opaque);
                ep.put(&mut w);
            }
            AppMsg::Disconnect(s) => put_ref(&mut w, A_DISCONNECT, s),
            AppMsg::Reset(s) => put_ref(&mut w, A_RESET, s),
            AppMsg::AcceptReply { session, error } => {
                w.u8(A_ACCEPT_REPLY);
                session.put(&mut w);
                w.i32(*error);
            }
            AppMsg::IoTx(s) => put_ref(&mut w, A_IO_TX, s),
            AppMsg::IoRxDequeue(s) => put_ref(&mut w, A_IO_RX_DEQUEUE, s),
        }
        w
    }

    /// The message in `bytes` (exactly one, nothing after it).
    pub fn decode(bytes: &[u8]) -> Result<AppMsg, WireError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8()?;
        let m = match kind {
            A_LISTEN => AppMsg::Listen {
                opaque: r.u32()?,
                ep: WireEndpoint::get(&mut r)?,
                backlog: r.u32()?,
            },
            A_UNLISTEN => AppMsg::Unlisten {
                opaque: r.u32()?,
                listener: SessionRef::get(&mut r)?,
            },
            A_CONNECT => AppMsg::Connect {
                opaque: r.u32()?,
                ep: WireEndpoint::get(&mut r)?,
            },
            A_DISCONNECT => AppMsg::Disconnect(SessionRef::get(&mut r)?),
            A_RESET => AppMsg::Reset(SessionRef::get(&mut r)?),
            A_ACCEPT_REPLY => AppMsg::AcceptReply {
                session: SessionRef::get(&mut r)?,
                error: r.i32()?,
            },
            A_IO_TX => AppMsg::IoTx(SessionRef::get(&mut r)?),
            A_IO_RX_DEQUEUE => AppMsg::IoRxDequeue(SessionRef::get(&mut r)?),
            k => return Err(WireError::UnknownKind(k.into())),
        };
        r.finish()?;
        Ok(m)
    }

    /// The session the message is about, if it names one (everything but
    /// listen and connect): the stack checks it is the app's and on the
    /// queue's thread.
    pub fn session(&self) -> Option<SessionRef> {
        match *self {
            AppMsg::Listen { .. } | AppMsg::Connect { .. } => None,
            AppMsg::Unlisten { listener, .. } => Some(listener),
            AppMsg::Disconnect(s)
            | AppMsg::Reset(s)
            | AppMsg::IoTx(s)
            | AppMsg::IoRxDequeue(s)
            | AppMsg::AcceptReply { session: s, .. } => Some(s),
        }
    }
}

impl StackMsg {
    /// A failed connect's reply: the error, everything else zero.
    pub fn connect_failed(opaque: u32, error: i32) -> StackMsg {
        StackMsg::Connected {
            opaque,
            error,
            session: SessionRef::default(),
            rx: FifoRef::default(),
            tx: FifoRef::default(),
            lcl: WireEndpoint::default(),
            rmt: WireEndpoint::default(),
        }
    }

    /// The message's bytes, ready for `MsgProducer::try_send`.
    pub fn encode(&self) -> MsgBuf {
        let mut w = MsgBuf::new();
        self.encode_into(&mut w);
        w
    }

    /// [`StackMsg::encode`] into the caller's buffer, replacing what it
    /// held: the hot path encodes each event in place instead of copying
    /// the returned buffer.
    pub fn encode_into(&self, w: &mut MsgBuf) {
        w.clear();
        match self {
            StackMsg::Bound {
                opaque,
                listener,
                lcl,
                error,
            } => {
                w.u8(S_BOUND);
                w.u32(*opaque);
                listener.put(w);
                lcl.put(w);
                w.i32(*error);
            }
            StackMsg::UnlistenReply {
                opaque,
                listener,
                error,
            } => {
                w.u8(S_UNLISTEN_REPLY);
                w.u32(*opaque);
                listener.put(w);
                w.i32(*error);
            }
            StackMsg::Accepted {
                listener,
                session,
                rx,
                tx,
                rmt,
                lcl,
            } => {
                w.u8(S_ACCEPTED);
                listener.put(w);
                session.put(w);
                rx.put(w);
                tx.put(w);
                rmt.put(w);
                lcl.put(w);
            }
            StackMsg::Connected {
                opaque,
                error,
                session,
                rx,
                tx,
                lcl,
                rmt,
            } => {
                w.u8(S_CONNECTED);
                w.u32(*opaque);
                w.i32(*error);
                session.put(w);
                rx.put(w);
                tx.put(w);
                lcl.put(w);
                rmt.put(w);
            }
            StackMsg::Disconnected(s) => put_ref(w, S_DISCONNECTED, s),
            StackMsg::Reset(s) => put_ref(w, S_RESET, s),
            StackMsg::TransportClosed(s) => put_ref(w, S_TRANSPORT_CLOSED, s),
            StackMsg::Cleanup { session, ntf } => {
                w.u8(S_CLEANUP);
                session.put(w);
                w.u8(*ntf);
            }
            StackMsg::Rx(s) => put_ref(w, S_RX, s),
            StackMsg::Tx(s) => put_ref(w, S_TX, s),
            StackMsg::AddSegment { segment, size } => {
                w.u8(S_ADD_SEGMENT);
                segment.put(w);
                w.u64(*size);
            }
            StackMsg::DelSegment(seg) => {
                w.u8(S_DEL_SEGMENT);
                seg.put(w);
            }
        }
    }

    /// The message in `bytes` (exactly one, nothing after it).
    pub fn decode(bytes: &[u8]) -> Result<StackMsg, WireError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8()?;
        let m = match kind {
            S_BOUND => StackMsg::Bound {
                opaque: r.u32()?,
                listener: SessionRef::get(&mut r)?,
                lcl: WireEndpoint::get(&mut r)?,
                error: r.i32()?,
            },
            S_UNLISTEN_REPLY => StackMsg::UnlistenReply {
                opaque: r.u32()?,
                listener: SessionRef::get(&mut r)?,
                error: r.i32()?,
            },
            S_ACCEPTED => StackMsg::Accepted {
                listener: SessionRef::get(&mut r)?,
                session: SessionRef::get(&mut r)?,
                rx: FifoRef::get(&mut r)?,
                tx: FifoRef::get(&mut r)?,
                rmt: WireEndpoint::get(&mut r)?,
                lcl: WireEndpoint::get(&mut r)?,
            },
            S_CONNECTED => StackMsg::Connected {
                opaque: r.u32()?,
                error: r.i32()?,
                session: SessionRef::get(&mut r)?,
                rx: FifoRef::get(&mut r)?,
                tx: FifoRef::get(&mut r)?,
                lcl: WireEndpoint::get(&mut r)?,
                rmt: WireEndpoint::get(&mut r)?,
            },
            S_DISCONNECTED => StackMsg::Disconnected(SessionRef::get(&mut r)?),
            S_RESET => StackMsg::Reset(SessionRef::get(&mut r)?),
            S_TRANSPORT_CLOSED => StackMsg::TransportClosed(SessionRef::get(&mut r)?),
            S_CLEANUP => StackMsg::Cleanup {
                session: SessionRef::get(&mut r)?,
                ntf: r.u8()?,
            },
            S_RX => StackMsg::Rx(SessionRef::get(&mut r)?),
            S_TX => StackMsg::Tx(SessionRef::get(&mut r)?),
            S_ADD_SEGMENT => StackMsg::AddSegment {
                segment: SegmentRef::get(&mut r)?,
                size: r.u64()?,
            },
            S_DEL_SEGMENT => StackMsg::DelSegment(SegmentRef::get(&mut r)?),
            k => return Err(WireError::UnknownKind(k.into())),
        };
        r.finish()?;
        Ok(m)
    }

    /// The session the message is about, if it names one.
    pub fn session(&self) -> Option<SessionRef> {
        match *self {
            StackMsg::Bound { listener, .. } | StackMsg::UnlistenReply { listener, .. } => {
                Some(listener)
            }
            StackMsg::Accepted { session, .. }
            | StackMsg::Connected { session, .. }
            | StackMsg::Cleanup { session, .. } => Some(session),
            StackMsg::Disconnected(s)
            | StackMsg::Reset(s)
            | StackMsg::TransportClosed(s)
            | StackMsg::Rx(s)
            | StackMsg::Tx(s) => Some(s),
            StackMsg::AddSegment { .. } | StackMsg::DelSegment(_) => None,
        }
    }
}

fn put_ref(w: &mut MsgBuf, kind: u8, s: &SessionRef) {
    w.u8(kind);
    s.put(w);
}
