//! Segment managers: the set of fifo segments that backs one owner's
//! sessions, and fifo-pair allocation from them (VPP: `segment_manager.c`).
//!
//! - [`SegmentManagers`] is the pool of managers a stack owns (no globals),
//!   shared as `Arc`. Managers are index-addressed with generations.
//! - [`SegmentManager`] (shared as `Arc`) owns segments created with its
//!   [`SegmentManagerProps`], behind a reader-writer lock: fifo pairs are
//!   allocated and freed under the read side by many threads at once,
//!   segments are added and deleted under the write side.
//! - [`SegmentHandle`] keeps VPP's `sm_index << 32 | segment_index` value and
//!   adds a generation, so stale handles are errors.
//! - [`SegmentGuard`] is VPP's `get_segment_w_lock` / `segment_reader_unlock`
//!   pair: a segment that cannot be deleted while the guard lives.
//! - [`SegmentHook`] is how the owner (the app layer) hears of added and
//!   deleted segments; this crate knows nothing of apps.
//!
//! Deviations from VPP: `dealloc_fifos` never deletes a custom-use segment
//! (ct deletes its own); deleting a segment that still holds fifos is an
//! error rather than silently orphaning them; a detached manager refuses new
//! segments and fifo pairs; `free_safe` frees on the calling thread (the
//! locks make that safe) instead of an RPC to the main thread.
//!
//! ```
//! use std::sync::Arc;
//! use ct_segment_manager::{NoHook, SegmentManagerProps, SegmentManagers};
//!
//! let sms = SegmentManagers::new(1);
//! let sm = sms.alloc(SegmentManagerProps::default(), Arc::new(NoHook));
//! sm.init_first().unwrap();
//!
//! let pair = sm.alloc_session_fifos(0).unwrap();
//! assert_eq!(pair.segment.sm_index(), sm.segment_manager_index());
//! assert!(sm.has_fifos());
//!
//! sms.dealloc_fifos(&pair.rx, &pair.tx).unwrap();
//! assert!(!sm.has_fifos());
//! assert_eq!(sms.free_safe(sm.handle()).unwrap_err().to_string(), "segment manager is still attached");
//! sm.app_detach();
//! assert!(sms.free_safe(sm.handle()).unwrap());
//! assert!(sms.is_empty());
//! ```

mod error;
mod guard;
mod handle;
mod hook;
mod manager;
mod managers;
mod pool;
mod props;

pub use error::{HookError, Result, SmError};
pub use guard::SegmentGuard;
pub use handle::{SegmentHandle, SegmentManagerHandle, parse_segment_handle, segment_handle};
pub use hook::{NoHook, SegmentHook};
pub use manager::{FifoPair, SegmentManager};
pub use managers::{FreeOutcome, SegmentManagers};
pub use props::{
    DEFAULT_FIFO_SIZE, DEFAULT_SEGMENT_SIZE, SegmentBacking, SegmentManagerProps, SmFlags,
};
