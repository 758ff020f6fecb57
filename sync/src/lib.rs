//! The locks, atomics and threads that loom model-checks, for every
//! ct-stack crate.
//!
//! Normally this re-exports `parking_lot`'s `Mutex` / `RwLock` / `Condvar`
//! (and their guards), `std::sync::Arc`, the std atomics and `std::thread`.
//! Under `--cfg loom` the same names are loom's types, wrapped where needed
//! so the API keeps parking_lot's shape: `lock()`, `read()` and `write()`
//! return the guard directly (no poisoning `Result`), `Condvar::wait` takes
//! the guard by `&mut`. Code written against this crate is therefore the
//! code loom checks.
//!
//! It is a rule, not a habit: `cargo xtask layering` fails on a path to
//! std's or parking_lot's locks or atomics in any other crate's code, and on
//! any other crate depending on parking_lot.
//!
//! Portable subset: `new`, `lock` / `read` / `write`, `try_*`, `get_mut`,
//! `into_inner`, the guards' `Deref` / `DerefMut`, and `Condvar`'s `wait`,
//! `wait_for`, `wait_until`, `notify_one` and `notify_all`; parking_lot-only extras
//! (guard `map`, upgradable reads, `const` constructors) do not exist under
//! loom. Under loom every type here must be created inside `loom::model`.
//!
//! # Examples
//!
//! ```
//! use ct_sync::{Arc, Mutex, atomic::{AtomicU32, Ordering}};
//!
//! let counter = Arc::new(AtomicU32::new(0));
//! let list = Mutex::new(Vec::new());
//! list.lock().push(counter.fetch_add(1, Ordering::AcqRel));
//! assert_eq!(*list.lock(), vec![0]);
//! ```
//!
//! A condition variable, parking_lot-shaped:
//!
//! ```
//! use ct_sync::{Arc, Condvar, Mutex, thread};
//! use std::time::Duration;
//!
//! let pair = Arc::new((Mutex::new(false), Condvar::new()));
//! let other = Arc::clone(&pair);
//! let t = thread::spawn(move || {
//!     *other.0.lock() = true;
//!     other.1.notify_one();
//! });
//! let mut ready = pair.0.lock();
//! while !*ready {
//!     pair.1.wait_for(&mut ready, Duration::from_millis(10));
//! }
//! drop(ready);
//! t.join().unwrap();
//! ```

#[cfg(not(loom))]
pub use parking_lot::{
    Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, WaitTimeoutResult,
};
#[cfg(not(loom))]
pub use std::sync::Arc;
#[cfg(not(loom))]
pub use std::thread;

#[cfg(loom)]
pub use loom::sync::Arc;
#[cfg(loom)]
pub use loom::thread;
#[cfg(loom)]
pub use loom_locks::{
    Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, WaitTimeoutResult,
};

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

/// std's atomics under every cfg, loom included: process-private
/// bookkeeping (refcounts, handle counts, registration flags) that no loom
/// model races on, kept out of the models' state space on purpose. Naming
/// this module says so at the use site.
pub mod unmodeled {
    /// `std::sync::atomic`, also under `--cfg loom`.
    pub mod atomic {
        pub use std::sync::atomic::{
            AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }
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
    /// Guard of [`Mutex`]. A wrapper (not loom's guard itself) so that
    /// [`Condvar::wait`] can take it by `&mut` as parking_lot does; it is
    /// `None` only inside a wait.
    pub struct MutexGuard<'a, T>(
        Option<loom::sync::MutexGuard<'a, T>>,
        &'a loom::sync::Mutex<T>,
    );

    impl<T> MutexGuard<'_, T> {
        /// Runs `f` with the lock released, then relocks (parking_lot's
        /// `MutexGuard::unlocked`).
        pub fn unlocked<U>(guard: &mut Self, f: impl FnOnce() -> U) -> U {
            drop(guard.0.take().expect("guard held outside a wait"));
            let r = f();
            guard.0 = Some(guard.1.lock().unwrap_or_else(|e| e.into_inner()));
            r
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard held outside a wait")
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard held outside a wait")
        }
    }

    impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&**self, f)
        }
    }

    /// Whether a [`Condvar::wait_for`] ended by its timeout.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        /// The wait timed out.
        pub fn timed_out(&self) -> bool {
            self.0
        }
    }

    /// `parking_lot::Condvar`-shaped wrapper over `loom::sync::Condvar`.
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);

    impl Condvar {
        /// New condition variable.
        pub fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }
        /// Wakes one waiter.
        pub fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }
        /// Wakes every waiter.
        pub fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
        /// Releases the guard's lock, waits for a notification, relocks.
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let g = guard.0.take().expect("guard held outside a wait");
            guard.0 = Some(self.0.wait(g).unwrap_or_else(|e| e.into_inner()));
        }
        /// As [`Condvar::wait`]; loom has no clock, so a model sees the
        /// timeout as a spurious wake-up (`timed_out()` is false).
        pub fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: std::time::Duration,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult(false)
        }
        /// As [`Condvar::wait_for`], with a deadline.
        pub fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: std::time::Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult(false)
        }
    }

    impl<T> Mutex<T> {
        /// New unlocked mutex.
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        /// Locks, returning the guard.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(
                Some(self.0.lock().unwrap_or_else(|e| e.into_inner())),
                &self.0,
            )
        }
        /// Locks if free.
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok().map(|g| MutexGuard(Some(g), &self.0))
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
