//! [`MsgBuf`]: an encoded queue message on the stack, no allocation.

use super::codec::Put;

/// The largest queue message: the control ring's element size.
pub const CTRL_MSG_SIZE: usize = 256;

/// The largest IO event (Rx, Tx, IoTx, IoRxDequeue): the IO ring's element
/// size, so the hot path uses the small ring.
pub const IO_EVT_MSG_SIZE: usize = 64;

/// An encoded queue message, at most [`CTRL_MSG_SIZE`] bytes; derefs to
/// the bytes to hand to the queue's `try_send`.
#[derive(Clone, Copy)]
pub struct MsgBuf {
    buf: [u8; CTRL_MSG_SIZE],
    len: usize,
}

impl MsgBuf {
    pub(crate) fn new() -> Self {
        MsgBuf {
            buf: [0; CTRL_MSG_SIZE],
            len: 0,
        }
    }

    /// Empties the buffer for the next message (its bytes stay; only
    /// `len` counts).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for MsgBuf {
    /// An empty buffer (for [`StackMsg::encode_into`](super::StackMsg::encode_into)).
    fn default() -> Self {
        MsgBuf::new()
    }
}

impl Put for MsgBuf {
    fn put(&mut self, b: &[u8]) {
        // Every message's size is fixed and below CTRL_MSG_SIZE (tests
        // check each kind), so this never runs out; if it did, the message
        // would be short and its decoder would say Truncated.
        let end = self.len + b.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(b);
            self.len = end;
        } else {
            debug_assert!(false, "queue message over {CTRL_MSG_SIZE} bytes");
        }
    }
}

impl std::ops::Deref for MsgBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for MsgBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for MsgBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MsgBuf").field(&self.as_bytes()).finish()
    }
}
