//! A stream's read and write halves, tokio-shaped: borrowed
//! ([`CtStream::split`]) or owned ([`CtStream::into_split`]), for a
//! reader thread and a writer thread. Each half reads or writes only;
//! both are the same session, which closes when the stream and every half
//! are gone (a dropped write half shuts nothing; `shutdown(Write)` through
//! any handle is the half-close).

use std::io::{self, Read, Write};

use crate::stream::CtStream;

/// The reading half of a borrowed stream.
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a CtStream);

/// The writing half of a borrowed stream.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a CtStream);

/// The reading half of a stream, owned.
#[derive(Debug)]
pub struct OwnedReadHalf(CtStream);

/// The writing half of a stream, owned.
#[derive(Debug)]
pub struct OwnedWriteHalf(CtStream);

impl<'a> ReadHalf<'a> {
    pub(crate) fn new(s: &'a CtStream) -> Self {
        ReadHalf(s)
    }
}

impl<'a> WriteHalf<'a> {
    pub(crate) fn new(s: &'a CtStream) -> Self {
        WriteHalf(s)
    }
}

impl OwnedReadHalf {
    pub(crate) fn new(s: CtStream) -> Self {
        OwnedReadHalf(s)
    }
}

impl OwnedWriteHalf {
    pub(crate) fn new(s: CtStream) -> Self {
        OwnedWriteHalf(s)
    }
}

macro_rules! halves {
    ($($read:ty, $write:ty);*) => {$(
        impl AsRef<CtStream> for $read {
            fn as_ref(&self) -> &CtStream {
                &self.0
            }
        }

        impl AsRef<CtStream> for $write {
            fn as_ref(&self) -> &CtStream {
                &self.0
            }
        }

        impl Read for $read {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let mut s: &CtStream = self.as_ref();
                s.read(buf)
            }
        }

        impl Write for $write {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let mut s: &CtStream = self.as_ref();
                s.write(buf)
            }

            fn flush(&mut self) -> io::Result<()> {
                let mut s: &CtStream = self.as_ref();
                s.flush()
            }
        }
    )*};
}

halves!(ReadHalf<'_>, WriteHalf<'_>; OwnedReadHalf, OwnedWriteHalf);
