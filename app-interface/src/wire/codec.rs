//! Byte-level reading and writing shared by the message-queue and socket
//! formats: little-endian integers, a reader that never reads past its
//! input, and the one error type every decoder returns.

use thiserror::Error;

/// Why bytes did not decode (or a message did not encode). Decoders are
/// total: any input is a message or one of these, never a panic.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ended before the message did.
    #[error("truncated message")]
    Truncated,
    /// Bytes left over after a complete message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message kind is not one this side accepts.
    #[error("unknown message kind {0:#x}")]
    UnknownKind(u16),
    /// A field holds a value no encoder writes.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
    /// A socket record does not start with the record magic.
    #[error("bad record magic {0:#06x}")]
    BadMagic(u16),
    /// A socket record of a version this side does not speak.
    #[error("unsupported record version {0}")]
    BadVersion(u16),
    /// A socket record whose header length disagrees with its size.
    #[error("record length {header} in header, {actual} received")]
    LengthMismatch {
        /// The body length the header claims.
        header: u32,
        /// The body bytes actually there.
        actual: usize,
    },
    /// The message is larger than its channel allows.
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
}

/// Reads fields off a byte slice, front to back.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, WireError> {
        self.array().map(i32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn array16(&mut self) -> Result<[u8; 16], WireError> {
        self.array()
    }

    /// Ends the message: left-over bytes are an error, so every valid
    /// encoding has exactly one decoding and back.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(WireError::TrailingBytes(n)),
        }
    }
}

/// Where encoders put bytes: a growable vector (socket records) or a
/// fixed message buffer (queue messages).
pub(crate) trait Put {
    fn put(&mut self, b: &[u8]);

    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
}

impl Put for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}
