//! The records on the app socket ([`SapiMsg`]): attach, add/del worker,
//! detach and their replies, and the record that carries a segment's fd.
//!
//! A record is a 10-byte header (magic, version, kind, body length; all
//! little-endian) and the body. One record is one SEQPACKET message, so
//! the header's length must match what arrived exactly.

use super::codec::{Put, Reader, WireError};
use super::types::SegmentRef;

/// First two bytes of every record.
pub const SAPI_MAGIC: u16 = 0xC7A5;
/// The record format version this crate speaks.
pub const SAPI_VERSION: u16 = 1;
/// Header bytes before the body.
pub const SAPI_HEADER_SIZE: usize = 10;
/// The largest record (header and body); larger is an error on both
/// sides. Receivers size their buffer one past it to detect oversize.
pub const SAPI_MAX_RECORD: usize = 4096;
/// The most stack threads a reply can describe (queue pairs and worker
/// eventfds): keeps a reply's fds under the kernel's per-message limit.
pub const SAPI_MAX_THREADS: usize = 64;
/// The most fds one record carries (an attach reply with
/// [`SAPI_MAX_THREADS`] threads).
pub const SAPI_MAX_FDS: usize = 2 + SAPI_MAX_THREADS;
/// The longest app name or namespace id, in bytes.
pub const SAPI_MAX_NAME: usize = 255;

/// An attach request: who the app is, where (namespace and its secret)
/// and the sizes it wants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttachReq {
    /// The app's name.
    pub name: String,
    /// The namespace id ("" for the socket's default namespace).
    pub namespace_id: String,
    /// The namespace's secret.
    pub namespace_secret: u64,
    /// Scope flags (the stack's `Scope` bits: local, global).
    pub scope: u8,
    /// Receive fifo size per session, bytes (0: the stack's default).
    pub rx_fifo_size: u32,
    /// Transmit fifo size per session, bytes (0: the stack's default).
    pub tx_fifo_size: u32,
    /// First segment size, bytes (0: the stack's default).
    pub segment_size: u64,
    /// Size of segments added later, bytes (0: the stack's default).
    pub add_segment_size: u64,
    /// Messages per event queue (0: the stack's default).
    pub evt_q_size: u32,
}

/// The reply to an attach or add-worker request. On success the record
/// carries `2 + n_threads` fds, in order: the mq segment, the app worker's
/// eventfd, then each stack thread's worker eventfd.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerReply {
    /// 0 or a `SessionError` code; on error the rest is zero and no fds
    /// come with it.
    pub error: i32,
    /// The application's index.
    pub app_index: u32,
    /// The app worker's index in the stack.
    pub app_wrk: u32,
    /// The worker's index within the app (0 for the attach).
    pub wrk_index: u32,
    /// Stack threads: one queue pair and one worker eventfd each.
    pub n_threads: u32,
    /// The segment that holds the queues.
    pub mq_segment: SegmentRef,
    /// Its size in bytes.
    pub mq_segment_size: u64,
    /// Per thread, `(evt_q offset, ctrl_q offset)` in the mq segment.
    pub queues: Vec<(u64, u64)>,
}

impl WorkerReply {
    /// A failed reply: the error, nothing else.
    pub fn failed(error: i32) -> WorkerReply {
        WorkerReply {
            error,
            ..WorkerReply::default()
        }
    }
}

/// A record on the app socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SapiMsg {
    /// App: attach to the stack.
    AttachReq(AttachReq),
    /// Stack: the attach's result (with fds on success).
    AttachReply(WorkerReply),
    /// App: add a worker.
    AddWorkerReq,
    /// Stack: the new worker (with fds on success).
    AddWorkerReply(WorkerReply),
    /// App: delete a worker.
    DelWorkerReq {
        /// The worker's index within the app.
        wrk_index: u32,
    },
    /// Stack: the delete's result.
    DelWorkerReply {
        /// 0 or a `SessionError` code.
        error: i32,
    },
    /// App: detach (everything of the app goes).
    DetachReq,
    /// Stack: the detach's result.
    DetachReply {
        /// 0 or a `SessionError` code.
        error: i32,
    },
    /// Stack: a segment's fd (one fd with the record), sent before the
    /// queue message that names the segment.
    SegmentFd {
        /// The segment.
        segment: SegmentRef,
        /// Its size in bytes.
        size: u64,
    },
}

const K_ATTACH_REQ: u16 = 1;
const K_ATTACH_REPLY: u16 = 2;
const K_ADD_WORKER_REQ: u16 = 3;
const K_ADD_WORKER_REPLY: u16 = 4;
const K_DEL_WORKER_REQ: u16 = 5;
const K_DEL_WORKER_REPLY: u16 = 6;
const K_DETACH_REQ: u16 = 7;
const K_DETACH_REPLY: u16 = 8;
const K_SEGMENT_FD: u16 = 9;

impl SapiMsg {
    /// How many fds travel with this record: receivers reject any other
    /// count (and close what came).
    pub fn expected_fds(&self) -> usize {
        match self {
            SapiMsg::AttachReply(r) | SapiMsg::AddWorkerReply(r) if r.error == 0 => {
                2 + r.queues.len()
            }
            SapiMsg::SegmentFd { .. } => 1,
            _ => 0,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            SapiMsg::AttachReq(_) => K_ATTACH_REQ,
            SapiMsg::AttachReply(_) => K_ATTACH_REPLY,
            SapiMsg::AddWorkerReq => K_ADD_WORKER_REQ,
            SapiMsg::AddWorkerReply(_) => K_ADD_WORKER_REPLY,
            SapiMsg::DelWorkerReq { .. } => K_DEL_WORKER_REQ,
            SapiMsg::DelWorkerReply { .. } => K_DEL_WORKER_REPLY,
            SapiMsg::DetachReq => K_DETACH_REQ,
            SapiMsg::DetachReply { .. } => K_DETACH_REPLY,
            SapiMsg::SegmentFd { .. } => K_SEGMENT_FD,
        }
    }

    /// The record's bytes, header included. Fails for a message no
    /// receiver would accept (a name over [`SAPI_MAX_NAME`], a reply whose
    /// queue count is not `n_threads` or over [`SAPI_MAX_THREADS`]).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Vec::with_capacity(64);
        w.u16(SAPI_MAGIC);
        w.u16(SAPI_VERSION);
        w.u16(self.kind());
        w.u32(0); // body length, patched below
        match self {
            SapiMsg::AttachReq(a) => {
                put_str(&mut w, &a.name)?;
                put_str(&mut w, &a.namespace_id)?;
                w.u64(a.namespace_secret);
                w.u8(a.scope);
                w.u32(a.rx_fifo_size);
                w.u32(a.tx_fifo_size);
                w.u64(a.segment_size);
                w.u64(a.add_segment_size);
                w.u32(a.evt_q_size);
            }
            SapiMsg::AttachReply(r) | SapiMsg::AddWorkerReply(r) => put_reply(&mut w, r)?,
            SapiMsg::AddWorkerReq | SapiMsg::DetachReq => {}
            SapiMsg::DelWorkerReq { wrk_index } => w.u32(*wrk_index),
            SapiMsg::DelWorkerReply { error } | SapiMsg::DetachReply { error } => w.i32(*error),
            SapiMsg::SegmentFd { segment, size } => {
                segment.put(&mut w);
                w.u64(*size);
            }
        }
        if w.len() > SAPI_MAX_RECORD {
            return Err(WireError::TooLarge(w.len()));
        }
        let body = (w.len() - SAPI_HEADER_SIZE) as u32;
        w[6..SAPI_HEADER_SIZE].copy_from_slice(&body.to_le_bytes());
        Ok(w)
    }

    /// The record in `bytes` (one whole SEQPACKET message).
    pub fn decode(bytes: &[u8]) -> Result<SapiMsg, WireError> {
        if bytes.len() > SAPI_MAX_RECORD {
            return Err(WireError::TooLarge(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        let magic = r.u16()?;
        if magic != SAPI_MAGIC {
            return Err(WireError::BadMagic(magic));
        }
        let version = r.u16()?;
        if version != SAPI_VERSION {
            return Err(WireError::BadVersion(version));
        }
        let kind = r.u16()?;
        let len = r.u32()?;
        let actual = bytes.len() - SAPI_HEADER_SIZE;
        if len as usize != actual {
            return Err(WireError::LengthMismatch {
                header: len,
                actual,
            });
        }
        let m = match kind {
            K_ATTACH_REQ => SapiMsg::AttachReq(AttachReq {
                name: get_str(&mut r)?,
                namespace_id: get_str(&mut r)?,
                namespace_secret: r.u64()?,
                scope: r.u8()?,
                rx_fifo_size: r.u32()?,
                tx_fifo_size: r.u32()?,
                segment_size: r.u64()?,
                add_segment_size: r.u64()?,
                evt_q_size: r.u32()?,
            }),
            K_ATTACH_REPLY => SapiMsg::AttachReply(get_reply(&mut r)?),
            K_ADD_WORKER_REQ => SapiMsg::AddWorkerReq,
            K_ADD_WORKER_REPLY => SapiMsg::AddWorkerReply(get_reply(&mut r)?),
            K_DEL_WORKER_REQ => SapiMsg::DelWorkerReq {
                wrk_index: r.u32()?,
            },
            K_DEL_WORKER_REPLY => SapiMsg::DelWorkerReply { error: r.i32()? },
            K_DETACH_REQ => SapiMsg::DetachReq,
            K_DETACH_REPLY => SapiMsg::DetachReply { error: r.i32()? },
            K_SEGMENT_FD => SapiMsg::SegmentFd {
                segment: SegmentRef::get(&mut r)?,
                size: r.u64()?,
            },
            k => return Err(WireError::UnknownKind(k)),
        };
        r.finish()?;
        Ok(m)
    }
}

fn put_str(w: &mut Vec<u8>, s: &str) -> Result<(), WireError> {
    if s.len() > SAPI_MAX_NAME {
        return Err(WireError::Invalid("name too long"));
    }
    w.u16(s.len() as u16);
    w.put(s.as_bytes());
    Ok(())
}

fn get_str(r: &mut Reader<'_>) -> Result<String, WireError> {
    let n = usize::from(r.u16()?);
    if n > SAPI_MAX_NAME {
        return Err(WireError::Invalid("name too long"));
    }
    let b = r.bytes(n)?;
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| WireError::Invalid("name is not utf-8"))
}

fn put_reply(w: &mut Vec<u8>, r: &WorkerReply) -> Result<(), WireError> {
    if r.queues.len() != r.n_threads as usize || r.queues.len() > SAPI_MAX_THREADS {
        return Err(WireError::Invalid("queue pairs per thread"));
    }
    w.i32(r.error);
    w.u32(r.app_index);
    w.u32(r.app_wrk);
    w.u32(r.wrk_index);
    w.u32(r.n_threads);
    r.mq_segment.put(w);
    w.u64(r.mq_segment_size);
    for &(evt, ctrl) in &r.queues {
        w.u64(evt);
        w.u64(ctrl);
    }
    Ok(())
}

fn get_reply(r: &mut Reader<'_>) -> Result<WorkerReply, WireError> {
    let error = r.i32()?;
    let app_index = r.u32()?;
    let app_wrk = r.u32()?;
    let wrk_index = r.u32()?;
    let n_threads = r.u32()?;
    if n_threads as usize > SAPI_MAX_THREADS {
        return Err(WireError::Invalid("too many threads"));
    }
    let mq_segment = SegmentRef::get(r)?;
    let mq_segment_size = r.u64()?;
    let mut queues = Vec::with_capacity(n_threads as usize);
    for _ in 0..n_threads {
        queues.push((r.u64()?, r.u64()?));
    }
    Ok(WorkerReply {
        error,
        app_index,
        app_wrk,
        wrk_index,
        n_threads,
        mq_segment,
        mq_segment_size,
        queues,
    })
}
