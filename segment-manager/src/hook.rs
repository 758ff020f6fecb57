//! The owner's hook for segment add/del notifications.
//!
//! VPP's segment manager calls `app_worker_add_segment_notify` and
//! `app_worker_del_segment_notify` itself; here the owner (the app layer)
//! installs a hook instead, so this crate knows nothing of apps.

use ct_fifo_segment::FifoSegment;

use crate::error::HookError;
use crate::handle::SegmentHandle;

/// Receives a segment manager's add/del segment notifications.
///
/// Both are called with the manager's segment pool write-locked: they must
/// not call back into the same segment manager (they get the segment itself
/// to read its fd, size or flags).
pub trait SegmentHook: Send + Sync {
    /// A segment was added for fifo allocation. An error makes the manager
    /// delete the segment again (without calling `on_del`) and fail the
    /// operation with [`SmError::AddNotify`](crate::SmError::AddNotify).
    fn on_add(&self, handle: SegmentHandle, segment: &FifoSegment) -> Result<(), HookError>;

    /// A segment is being deleted while the owner is still attached.
    fn on_del(&self, handle: SegmentHandle);
}

/// A hook that accepts every segment and ignores deletions (owners that
/// need no notifications, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHook;

impl SegmentHook for NoHook {
    fn on_add(&self, _: SegmentHandle, _: &FifoSegment) -> Result<(), HookError> {
        Ok(())
    }

    fn on_del(&self, _: SegmentHandle) {}
}
