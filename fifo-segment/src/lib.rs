//! Shared-memory fifo segments and SVM fifos.
//!
//! A fifo segment is a region of shared memory (a memfd mapped with memmap2,
//! or a heap buffer in tests and under loom) that holds fifos; an SVM fifo is
//! a single-producer single-consumer byte ring whose header and data live in
//! a segment (VPP: `svm_fifo.c`, `fifo_segment.c`).
//!
//! A segment can also hold message queues ([`msg_q`], VPP's `svm_msg_q`):
//! fixed-size messages in rings by size, one producer, one consumer that
//! sleeps on an [`eventfd::EventFd`]; this is how the stack and an app in
//! another process trade events.
//!
//! Everything inside a segment is position independent (offsets from the
//! segment base) and everything read back from shared memory is validated:
//! a peer in another process is not trusted. A head or tail that a peer
//! corrupted gives [`FifoError::Corrupted`] on our side, a bad fifo offset
//! or segment header gives [`SegmentError::Corrupted`]; never an access
//! outside the mapping.
//!
//! # Layout and ownership
//!
//! - The segment header (offset 0) holds magic, version, header length,
//!   size, slice count and a mirror of the flags. [`FifoSegment::attach`]
//!   checks all of them against the file, and that the memfd is sealed
//!   against shrinking (a peer that could truncate it would turn our
//!   accesses into SIGBUS).
//! - **Deviation from VPP:** VPP keeps the fifo-segment allocator (slices,
//!   chunk free lists) inside the shared segment. Here the allocator state
//!   is private to the owning process (per-slice free lists by power-of-two
//!   size class behind a lock, plus a bump pointer for fresh memory), so a
//!   peer that can write the segment cannot corrupt it. Likewise the flags:
//!   the trusted copy is private, the header only mirrors it for peers.
//! - A fifo is a 64-byte aligned header of three cache lines (size, magic,
//!   master session and event flag; head and the dequeue-notification
//!   flags; tail) followed by its data. Its private part (trusted size and data
//!   offset, segment index, segment manager index, refcount, roles) is shared
//!   by the [`Fifo`] handles of this process.
//! - [`FifoSegment::free_fifo`] drops one reference; at zero every handle
//!   turns stale ([`FifoError::Freed`]) at once and the memory returns to
//!   the free list when the last handle is dropped, so a thread that still
//!   holds a [`Producer`] never writes into a reused chunk.
//!
//! # Concurrency
//!
//! One [`Producer`] and one [`Consumer`] per fifo (`Send`, not `Clone`).
//! The producer writes data then publishes tail (Release); the consumer
//! loads tail (Acquire), reads, then publishes head (Release); each end
//! caches the other's index and re-reads it only when the cache says full
//! or empty. The flag-then-recheck pairs ([`Fifo::set_event`] against
//! [`Fifo::unset_event`] + re-check, [`Fifo::add_want_deq_ntf`] + re-check
//! against head store + [`Fifo::needs_deq_ntf`]) carry a SeqCst fence on
//! both sides. `ct-sync` is the shim (std / parking_lot normally, loom under
//! `--cfg loom`) that the loom models in `tests/loom.rs` run against:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p ct-fifo-segment --release --test loom
//! ```
//!
//! Under loom segments live on the heap ([`FifoSegment::create_heap`];
//! `create` makes a heap segment too and `attach` is unavailable) and every
//! data byte is tracked by a loom cell.
//!
//! # Example
//!
//! ```
//! use ct_fifo_segment::{FifoSegment, SegmentFlags};
//!
//! # // Miri has no memfd/mmap: it runs this example on a heap segment.
//! # #[cfg(miri)]
//! # let seg = FifoSegment::create_heap(1 << 20, 1, SegmentFlags::empty()).unwrap();
//! # #[cfg(not(miri))]
//! let seg = FifoSegment::create("example", 1 << 20, 1, SegmentFlags::empty()).unwrap();
//! let fifo = seg.alloc_fifo_w_slice(0, 4096).unwrap();
//! let mut tx = fifo.producer().unwrap();
//! let mut rx = fifo.consumer().unwrap();
//! assert_eq!(tx.enqueue(b"hello").unwrap(), 5);
//! let mut buf = [0u8; 5];
//! assert_eq!(rx.dequeue(&mut buf).unwrap(), 5);
//! assert_eq!(&buf, b"hello");
//! seg.free_fifo(&fifo).unwrap();
//! ```

mod alloc;
mod error;
pub mod eventfd;
mod fifo;
mod layout;
pub mod msg_q;
mod reader;
mod segment;
mod storage;

pub use error::{FifoError, SegmentError};
pub use fifo::{Consumer, DeqNtf, Fifo, Producer};
pub use msg_q::{MsgConsumer, MsgProducer, MsgQueue, MsgQueueConfig, MsgQueueError, RingConfig};
pub use reader::{ReaderState, ReaderWake, WriteNotice};
pub use segment::{FifoSegment, SegmentFlags};
