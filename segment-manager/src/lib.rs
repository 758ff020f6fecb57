//! Segment managers: the set of fifo segments that backs one owner's
//! sessions, and fifo-pair allocation from them (VPP: `segment_manager.c`).
#![forbid(unsafe_code)]
