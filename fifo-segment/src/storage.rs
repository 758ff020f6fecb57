//! The storage seam: a segment's bytes come from a memfd mapping, or from
//! the heap (tests, loom). To be written.
