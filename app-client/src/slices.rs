//! Zero-copy access to a stream's fifos: a guard that holds one
//! direction's end (its lock), so the slices it lends stay the only view
//! of that fifo until they are released or committed.

use std::io;

use ct_app_interface::io::{RxEnd, TxEnd};

use crate::error::{end_err, fifo_err};
use crate::stream_inner::{EndGuard, StreamInner};

/// The rx end, held: see [`CtStream::read_slices`](crate::CtStream::read_slices).
pub struct ReadSlices<'a> {
    inner: &'a StreamInner,
    end: EndGuard<'a, RxEnd>,
}

impl std::fmt::Debug for ReadSlices<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadSlices")
            .field("open", &self.end.is_some())
            .finish()
    }
}

impl<'a> ReadSlices<'a> {
    pub(crate) fn new(inner: &'a StreamInner) -> Self {
        ReadSlices {
            end: inner.rx(),
            inner,
        }
    }

    /// The readable bytes as two slices (empty when none, closed, or
    /// reads were shut).
    pub fn slices(&self) -> io::Result<(&[u8], &[u8])> {
        if self.inner.read_is_shut() {
            return Ok((&[], &[]));
        }
        match self.end.as_ref() {
            Some(e) => e.read_slices().map_err(fifo_err),
            None => Ok((&[], &[])),
        }
    }

    /// Consumes `n` bytes seen through [`ReadSlices::slices`].
    pub fn release(&mut self, n: u32) -> io::Result<()> {
        match self.end.as_mut() {
            Some(e) => e.release(n, &mut self.inner.sink()).map_err(end_err),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

/// The tx end, held: see [`CtStream::write_slices`](crate::CtStream::write_slices).
pub struct WriteSlices<'a> {
    inner: &'a StreamInner,
    end: EndGuard<'a, TxEnd>,
}

impl std::fmt::Debug for WriteSlices<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSlices")
            .field("open", &self.end.is_some())
            .finish()
    }
}

impl<'a> WriteSlices<'a> {
    pub(crate) fn new(inner: &'a StreamInner) -> Self {
        WriteSlices {
            end: inner.tx(),
            inner,
        }
    }

    /// The free space as two slices; `NotConnected` once closed.
    pub fn slices(&mut self) -> io::Result<(&mut [u8], &mut [u8])> {
        match self.end.as_mut() {
            Some(e) => e.write_slices().map_err(fifo_err),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Publishes `n` bytes written through [`WriteSlices::slices`].
    pub fn commit(&mut self, n: u32) -> io::Result<()> {
        match self.end.as_mut() {
            Some(e) => e.commit(n, &mut self.inner.sink()).map_err(end_err),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}
