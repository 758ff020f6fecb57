//! Sync shim: the locks, atomics and threads that loom model-checks.
//!
//! Normally this re-exports `parking_lot`'s `Mutex` / `RwLock` (and their
//! guards), `std::sync::Arc`, the std atomics and `std::thread`. Under
//! `--cfg loom` the same names are loom's types, wrapped where needed so the
//! API keeps parking_lot's shape: `lock()`, `read()` and `write()` return the
//! guard directly (no poisoning `Result`). Code written against this module
//! is therefore the code loom checks, in this crate and in the crates above
//! (segment-manager, session, transport-ct use it for every lock or atomic a
//! loom model touches).
//!
//! Portable subset: `new`, `lock` / `read` / `write`, `try_*`, `get_mut`,
//! `into_inner` and the guards' `Deref` / `DerefMut`; parking_lot-only extras
//! (guard `map`, upgradable reads, `const` constructors) do not exist under
//! loom. Under loom every type here must be created inside `loom::model`.
//!
//! ```
//! use ct_fifo_segment::sync::{Arc, Mutex, atomic::{AtomicU32, Ordering}};
//!
//! let counter = Arc::new(AtomicU32::new(0));
//! let list = Mutex::new(Vec::new());
//! list.lock().push(counter.fetch_add(1, Ordering::AcqRel));
//! assert_eq!(*list.lock(), vec![0]);
//! ```

#[cfg(not(loom))]
pub use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(not(loom))]
pub use std::sync::Arc;
#[cfg(not(loom))]
pub use std::thread;

#[cfg(loom)]
pub use loom::sync::Arc;
#[cfg(loom)]
pub use loom::thread;
#[cfg(loom)]
pub use loom_locks::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Atomics: `std::sync::atomic` normally, `loom::sync::atomic` under loom.
pub mod atomic {
    #[cfg(loom)]
    pub use loom::sync::atomic::{
        AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };
    #[cfg(not(loom))]
    pub use std::sync::atomic::{
        AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };
}

/// Spin-wait hint: `std::hint::spin_loop` normally; under loom a yield, so
/// a model with a spin loop lets the other threads run.
#[inline]
pub fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// `std::hint`'s shape: `hint::spin_loop()` is [`spin_loop`].
pub mod hint {
    pub use super::spin_loop;
}

#[cfg(loom)]
mod loom_locks {
    //! loom's std-shaped locks behind parking_lot-shaped methods. A poisoned
    //! loom lock means a model thread panicked; the model fails anyway, so
    //! the guard is taken out of the poison error.
    use std::fmt;

    /// `parking_lot::Mutex`-shaped wrapper over `loom::sync::Mutex`.
    #[derive(Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);
    /// Guard of [`Mutex`].
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// New unlocked mutex.
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        /// Locks, returning the guard.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        /// Locks if free.
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
        /// Mutable access without locking.
        pub fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }
        /// Consumes the mutex.
        pub fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T> fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Mutex { .. }")
        }
    }

    /// `parking_lot::RwLock`-shaped wrapper over `loom::sync::RwLock`.
    #[derive(Default)]
    pub struct RwLock<T>(loom::sync::RwLock<T>);
    /// Read guard of [`RwLock`].
    pub type RwLockReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
    /// Write guard of [`RwLock`].
    pub type RwLockWriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        /// New unlocked lock.
        pub fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }
        /// Shared lock.
        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(|e| e.into_inner())
        }
        /// Exclusive lock.
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(|e| e.into_inner())
        }
        /// Shared lock if available.
        pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
            self.0.try_read().ok()
        }
        /// Exclusive lock if available.
        pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
            self.0.try_write().ok()
        }
        /// Mutable access without locking.
        pub fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }
        /// Consumes the lock.
        pub fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T> fmt::Debug for RwLock<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("RwLock { .. }")
        }
    }
}
