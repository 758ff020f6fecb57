//! Shared-memory fifo segments and SVM fifos.
//!
//! A fifo segment is a region of shared memory (a memfd mapped with memmap2,
//! or a heap buffer in tests and under loom) that holds fifos; an SVM fifo is
//! a single-producer single-consumer byte ring whose header and data live in
//! a segment (VPP: `svm_fifo.c`, `fifo_segment.c`).
//!
//! Everything inside a segment is position independent (offsets from the
//! segment base) and everything read back from shared memory is validated:
//! a peer in another process is not trusted.
//!
//! ```
//! use fifo_segment::{FifoSegment, SegmentFlags};
//!
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
mod fifo;
mod layout;
mod segment;
mod storage;
pub mod sync;

pub use error::{FifoError, SegmentError};
pub use fifo::{Consumer, DeqNtf, Fifo, Producer};
pub use segment::{FifoSegment, SegmentFlags};
