//! The storage seam: where a segment's bytes live and the only code that
//! touches them through raw pointers.
//!
//! Two backings, one interface:
//! - a memfd (`MFD_CLOEXEC | MFD_ALLOW_SEALING`, sized with `ftruncate`,
//!   sealed with `F_SEAL_SHRINK | F_SEAL_GROW`) mapped shared with memmap2,
//!   so another process can map the same fd;
//! - a heap buffer (tests that want an allocator-checked backing, and the
//!   only backing under `cfg(loom)`: loom's atomics are tracked objects that
//!   mean nothing in another process's mapping).
//!
//! Headers are built in place (`init`) as `#[repr(C)]` structs of
//! [`crate::sync`] atomics, so under loom they are loom's atomics. Fifo data
//! is copied in and out through `copy_in` / `copy_out` (or borrowed as
//! slices for zero-copy). Under loom every data byte also has a
//! `loom::cell::UnsafeCell` (made on the byte's first access) that each
//! access goes through (`with` for reads, `with_mut` for writes): a missing
//! Release/Acquire on head or tail becomes a loom causality error. The bytes themselves stay in the buffer,
//! so the zero-copy slices exist under loom too; a slice handed out is
//! tracked as one access of its whole range when it is handed out.

//!
//! A peer process writes the same pages behind our back; no Rust aliasing
//! rule can see that. What keeps us sound is that nothing we decide is
//! taken from shared bytes unchecked: header fields are atomics, validated
//! at every read that steers an access, data bytes are only ever copied as opaque payload, and
//! every offset is bounds-checked here before a pointer is formed.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

#[cfg(not(loom))]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Alignment of the heap backing (a page, like a mapping).
const HEAP_ALIGN: usize = 4096;

enum Backing {
    #[cfg(not(loom))]
    Memfd {
        // Kept for its Drop (munmap); `base` points into it.
        _map: memmap2::MmapRaw,
        fd: OwnedFd,
    },
    Heap {
        layout: Layout,
    },
}

/// A segment's bytes.
pub(crate) struct Storage {
    base: NonNull<u8>,
    len: usize,
    backing: Backing,
    /// Per-byte loom cells, made on first access: a segment of N bytes
    /// costs loom objects only for the bytes a model touches.
    #[cfg(loom)]
    track: Box<[std::sync::OnceLock<loom::cell::UnsafeCell<()>>]>,
}

// SAFETY: `Storage` owns its memory (a mapping or a heap block) for its whole
// life; all shared mutation of header fields goes through atomics, and data
// bytes are only written by the single producer role of the fifo that owns
// them (enforced by `Producer`/`Consumer` ownership in fifo.rs), so sending
// or sharing the owner of the pointer between threads is sound.
unsafe impl Send for Storage {}
// SAFETY: see the `Send` impl above.
unsafe impl Sync for Storage {}

impl Storage {
    /// A new memfd of `len` bytes, sealed against resizing, mapped shared.
    #[cfg(not(loom))]
    pub(crate) fn memfd(name: &str, len: usize) -> std::io::Result<Self> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        Self::map(fd, len)
    }

    /// Maps a peer's memfd. The file must be sealed against shrinking: a
    /// peer that could truncate it would turn our accesses into SIGBUS.
    #[cfg(not(loom))]
    pub(crate) fn map_fd(fd: OwnedFd) -> std::io::Result<Self> {
        use rustix::fs::SealFlags;
        let seals = rustix::fs::fcntl_get_seals(&fd)?;
        if !seals.contains(SealFlags::SHRINK) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "segment fd is not sealed against shrinking",
            ));
        }
        let st = rustix::fs::fstat(&fd)?;
        let len = usize::try_from(st.st_size).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad segment file size")
        })?;
        if len == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty segment file",
            ));
        }
        Self::map(fd, len)
    }

    #[cfg(not(loom))]
    fn map(fd: OwnedFd, len: usize) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_raw(fd.as_raw_fd())?;
        let base = NonNull::new(map.as_mut_ptr())
            .ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Self {
            base,
            len,
            backing: Backing::Memfd { _map: map, fd },
        })
    }

    /// A zeroed heap block of `len` bytes (`len > 0`).
    pub(crate) fn heap(len: usize) -> Option<Self> {
        let layout = Layout::from_size_align(len.max(1), HEAP_ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr)?;
        Some(Self {
            base,
            len,
            backing: Backing::Heap { layout },
            #[cfg(loom)]
            track: (0..len).map(|_| std::sync::OnceLock::new()).collect(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The memfd behind a mapping.
    #[cfg(not(loom))]
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.backing {
            Backing::Memfd { fd, .. } => Some(fd.as_fd()),
            Backing::Heap { .. } => None,
        }
    }

    fn check<T>(&self, off: usize, len: usize) {
        // Callers validate offsets against the trusted layout first; this is
        // the last line that keeps every access inside the block.
        assert!(
            off.checked_add(len).is_some_and(|end| end <= self.len),
            "storage access out of bounds"
        );
        assert!(
            (self.base.as_ptr() as usize + off).is_multiple_of(align_of::<T>()),
            "misaligned storage access"
        );
    }

    /// Builds a `T` in place at `off` and returns it. Overwrites whatever
    /// was there without dropping it (header types hold only atomics).
    ///
    /// # Safety
    /// Nothing in this process references the region (a fresh block, or a
    /// chunk whose last handle is gone), so the write races with no access.
    pub(crate) unsafe fn init<T>(&self, off: usize, value: T) -> &T {
        self.check::<T>(off, size_of::<T>());
        // SAFETY: in bounds and aligned (checked above); no concurrent
        // access is the caller's contract.
        unsafe {
            let p = self.base.as_ptr().add(off).cast::<T>();
            p.write(value);
            &*p
        }
    }

    /// The `T` at `off`.
    ///
    /// # Safety
    /// A `T` was built there with [`Storage::init`] (in this process), or
    /// `T` is valid for every bit pattern (a header of std atomics written
    /// by a peer's process).
    pub(crate) unsafe fn get<T>(&self, off: usize) -> &T {
        self.check::<T>(off, size_of::<T>());
        // SAFETY: in bounds and aligned (checked above); validity of the
        // value is the caller's contract.
        unsafe { &*self.base.as_ptr().add(off).cast::<T>() }
    }

    /// Copies `src` into the block at `off`.
    #[inline]
    pub(crate) fn copy_in(&self, off: usize, src: &[u8]) {
        self.check::<u8>(off, src.len());
        #[cfg(loom)]
        self.track_write(off, src.len());
        // SAFETY: in bounds (checked above); the destination is fifo data
        // owned by the caller's producer role, so no one else writes it now,
        // and `src` cannot overlap a region we own exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(off), src.len());
        }
    }

    /// Copies bytes at `off` into `dst`.
    #[inline]
    pub(crate) fn copy_out(&self, off: usize, dst: &mut [u8]) {
        self.check::<u8>(off, dst.len());
        #[cfg(loom)]
        self.track_read(off, dst.len());
        // SAFETY: in bounds (checked above); the source is published fifo
        // data the producer no longer writes; `dst` is a separate buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(off), dst.as_mut_ptr(), dst.len());
        }
    }

    /// Borrows `len` bytes at `off` for writing.
    ///
    /// # Safety
    /// The range is fifo free space owned by the caller's producer role and
    /// no other reference to it exists while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut(&self, off: usize, len: usize) -> &mut [u8] {
        self.check::<u8>(off, len);
        #[cfg(loom)]
        self.track_write(off, len);
        // SAFETY: in bounds (checked above); exclusivity is the caller's
        // contract.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(off), len) }
    }

    /// Borrows `len` bytes at `off` for reading.
    ///
    /// # Safety
    /// The range is published fifo data the producer does not write while
    /// the slice lives (the consumer has not released it).
    pub(crate) unsafe fn slice(&self, off: usize, len: usize) -> &[u8] {
        self.check::<u8>(off, len);
        #[cfg(loom)]
        self.track_read(off, len);
        // SAFETY: in bounds (checked above); no writer is the caller's
        // contract.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(off), len) }
    }

    // A cell made by its first access counts as written by that thread:
    // in a correct fifo the first access to a data byte is the producer's
    // write, so lazily made cells check exactly what eager ones would.
    #[cfg(loom)]
    fn track_write(&self, off: usize, len: usize) {
        for cell in &self.track[off..off + len] {
            cell.get_or_init(|| loom::cell::UnsafeCell::new(()))
                .with_mut(|_| ());
        }
    }

    #[cfg(loom)]
    fn track_read(&self, off: usize, len: usize) {
        for cell in &self.track[off..off + len] {
            cell.get_or_init(|| loom::cell::UnsafeCell::new(()))
                .with(|_| ());
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        match &self.backing {
            #[cfg(not(loom))]
            Backing::Memfd { .. } => {}
            Backing::Heap { layout } => {
                // SAFETY: allocated in `heap` with this very layout and not
                // freed before; nothing borrows the block any more (`&mut self`).
                unsafe { alloc::dealloc(self.base.as_ptr(), *layout) }
            }
        }
    }
}
