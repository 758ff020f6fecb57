use thiserror::Error;

/// Errors of fifo operations.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum FifoError {
    /// A value read from the fifo's shared header is impossible (a peer
    /// corrupted it): the fifo is unusable.
    #[error("corrupted fifo header: {0}")]
    Corrupted(&'static str),
    /// The fifo was freed; this handle is stale.
    #[error("fifo was freed")]
    Freed,
    /// The producer or consumer role of this fifo is already held.
    #[error("fifo role already taken")]
    RoleTaken,
    /// An offset or length outside the readable/writable range.
    #[error("offset or length out of range")]
    OutOfRange,
    /// The producer shut its direction ([`crate::Producer::shutdown`]): it
    /// writes no more.
    #[error("fifo shut for writing")]
    Shutdown,
}

/// Errors of segment operations.
#[derive(Debug, Error)]
pub enum SegmentError {
    /// Not enough free memory in the segment (or its slice) for the request.
    #[error("segment full: cannot allocate {requested} bytes")]
    Full {
        /// Bytes asked for, header included.
        requested: usize,
    },
    /// A size or slice argument that no segment can satisfy.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The segment header (or a fifo header at an offset) failed validation.
    #[error("corrupted segment: {0}")]
    Corrupted(&'static str),
    /// This mapping was attached from a peer's fd and cannot allocate.
    #[error("segment is attached, not owned: it cannot allocate or free")]
    NotOwner,
    /// The fifo does not belong to this segment.
    #[error("fifo belongs to another segment")]
    ForeignFifo,
    /// A fifo operation failed.
    #[error(transparent)]
    Fifo(#[from] FifoError),
    /// Creating, sizing, sealing or mapping the memfd failed.
    #[error("segment I/O: {0}")]
    Io(#[from] std::io::Error),
}
