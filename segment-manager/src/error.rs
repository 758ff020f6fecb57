//! Errors of segment-manager operations.

use ct_fifo_segment::SegmentError;
use thiserror::Error;

use crate::handle::{SegmentHandle, SegmentManagerHandle};

/// Error a [`SegmentHook`](crate::SegmentHook) returns when its owner
/// refuses (or fails to deliver) a segment notification.
pub type HookError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of segment-manager operations.
///
/// The session layer maps them to its `SessionError`: [`SmError::SegNoSpace`],
/// [`SmError::SegNoSpace2`], [`SmError::SegCreate`] and [`SmError::Alloc`] are
/// VPP's `SESSION_E_SEG_NO_SPACE`, `SESSION_E_SEG_NO_SPACE2`,
/// `SESSION_E_SEG_CREATE` and `SESSION_E_ALLOC`; the others are bad input or
/// wrong state (`SESSION_E_INVALID` in VPP, which mostly asserted instead).
#[derive(Debug, Error)]
pub enum SmError {
    /// No segment has room for the fifos and no segment may be added
    /// (`SESSION_E_SEG_NO_SPACE`).
    #[error("no segment has space for the fifos")]
    SegNoSpace,
    /// A segment was added for the fifos and they still did not fit
    /// (`SESSION_E_SEG_NO_SPACE2`).
    #[error("added a segment and still could not allocate the fifos")]
    SegNoSpace2,
    /// Creating a segment failed (`SESSION_E_SEG_CREATE`).
    #[error("segment create failed")]
    SegCreate(#[source] SegmentError),
    /// A fifo allocation failed for a reason other than space
    /// (`SESSION_E_ALLOC`), e.g. a fifo size no segment can hold.
    #[error("fifo allocation failed")]
    Alloc(#[source] SegmentError),
    /// Adding a segment of the default size while the properties do not
    /// allow adding segments (VPP's `add_segment` flag is off).
    #[error("segment manager may not add segments")]
    AddSegmentNotAllowed,
    /// The properties' `max_segments` is reached.
    #[error("segment manager has its maximum of {max} segments")]
    MaxSegments {
        /// The configured maximum.
        max: u32,
    },
    /// The owner refused the new segment (its add notification failed); the
    /// segment was deleted again.
    #[error("owner refused the new segment {handle}")]
    AddNotify {
        /// The segment that was added and deleted again.
        handle: SegmentHandle,
        /// What the owner's hook returned.
        #[source]
        source: HookError,
    },
    /// The segment manager was detached from its owner: it takes no new
    /// segments or fifo pairs.
    #[error("segment manager is detached")]
    Detached,
    /// The segment manager must be detached from its owner first.
    #[error("segment manager is still attached")]
    NotDetached,
    /// The segment manager was freed; this reference to it is stale.
    #[error("segment manager was freed")]
    Freed,
    /// No segment manager with this handle (index free, or reused by another
    /// manager).
    #[error("stale segment manager handle {0}")]
    StaleSegmentManager(SegmentManagerHandle),
    /// No segment manager at this index (from a fifo's private part).
    #[error("no segment manager at index {0}")]
    UnknownSegmentManager(u32),
    /// No segment with this handle (deleted, or its slot reused).
    #[error("stale segment handle {0:?}")]
    StaleSegment(SegmentHandle),
    /// No segment at this index in this manager.
    #[error("no segment at index {index} in segment manager {sm_index}")]
    UnknownSegment {
        /// The segment manager's index.
        sm_index: u32,
        /// The segment index asked for.
        index: u32,
    },
    /// The segment still holds fifos and cannot be deleted.
    #[error("segment {0:?} still holds fifos")]
    SegmentHasFifos(SegmentHandle),
    /// The segment manager still holds fifos and cannot be freed.
    #[error("segment manager still holds fifos")]
    HasFifos,
    /// The fifo does not belong to the segment its private part names, was
    /// already freed, or the two fifos of a pair live in different segments.
    #[error("fifo does not match its segment: {0}")]
    BadFifo(#[source] SegmentError),
    /// The fifos of a pair name different segments or segment managers.
    #[error("fifo pair spans two segments")]
    MismatchedPair,
    /// A thread index at or above the manager's number of slices.
    #[error("thread {thread} out of range: segments have {n_slices} slices")]
    BadThread {
        /// The thread asked for.
        thread: u32,
        /// Slices per segment (threads the manager was built for).
        n_slices: u32,
    },
}

/// Result of segment-manager operations.
pub type Result<T, E = SmError> = std::result::Result<T, E>;
