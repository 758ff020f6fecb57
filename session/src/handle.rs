//! Session handles: how everything outside a worker names a session.
//!
//! VPP names a session with a `u64` made of `thread_index << 32 |
//! session_index`. [`SessionHandle`] keeps that shape (see
//! [`SessionHandle::as_u64`]) and adds a generation, so a handle that outlives
//! its session is recognised as stale by the pools instead of reaching
//! whatever session later reused the slot. The pools (not this module) check
//! the generation on every use.
//!
//! Listeners are sessions allocated on thread 0; [`ListenerHandle`] is the
//! same type under a name that says what a field holds.

use std::fmt;

/// Names one session: the worker thread whose pool holds it, its index in that
/// pool, and the generation of the pool slot when the session was allocated.
///
/// Built by the session pools ([`SessionHandle::new`]); two handles are equal
/// only if all three parts are, so a stale handle never compares equal to the
/// handle of the session that reused its slot.
///
/// `Display` prints VPP's `[thread:index]` form; `Debug` adds the generation.
///
/// ```
/// use ct_session::SessionHandle;
///
/// let h = SessionHandle::new(2, 7, 1);
/// assert_eq!(h.thread_index(), 2);
/// assert_eq!(h.session_index(), 7);
/// assert_eq!(h.as_u64(), 2 << 32 | 7);
/// assert_eq!(h.to_string(), "[2:7]");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle {
    thread_index: u32,
    session_index: u32,
    generation: u32,
}

/// A listener's handle. Listen sessions live in thread 0's pool, so
/// [`SessionHandle::thread_index`] of a listener handle is 0; the alias only
/// documents which sessions a field or a lookup result refers to.
pub type ListenerHandle = SessionHandle;

impl SessionHandle {
    /// The thread whose pool holds listen sessions (VPP's main thread).
    pub const LISTENER_THREAD: u32 = 0;

    /// A handle to the session at `session_index` in thread `thread_index`'s
    /// pool, allocated when the slot's generation was `generation`.
    pub const fn new(thread_index: u32, session_index: u32, generation: u32) -> Self {
        Self {
            thread_index,
            session_index,
            generation,
        }
    }

    /// The thread whose pool holds the session.
    pub const fn thread_index(self) -> u32 {
        self.thread_index
    }

    /// The session's index in its thread's pool.
    pub const fn session_index(self) -> u32 {
        self.session_index
    }

    /// The pool slot's generation when the session was allocated.
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// VPP's `session_handle_t` value: `thread_index << 32 | session_index`.
    ///
    /// This is the form VPP puts in messages and logs; it does not carry the
    /// generation, so it identifies a slot, not a session, and cannot be
    /// turned back into a checked handle.
    pub const fn as_u64(self) -> u64 {
        (self.thread_index as u64) << 32 | self.session_index as u64
    }

    /// Whether the session lives in the listener thread's pool (thread 0).
    pub const fn is_on_listener_thread(self) -> bool {
        self.thread_index == Self::LISTENER_THREAD
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}:{}]", self.thread_index, self.session_index)
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SessionHandle[{}:{} gen {}]",
            self.thread_index, self.session_index, self.generation
        )
    }
}

impl fmt::LowerHex for SessionHandle {
    /// The VPP `u64` form in hex (`0x%lx` in VPP's logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.as_u64(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpp_shape_is_thread_high_index_low() {
        let h = SessionHandle::new(3, 0xdead_beef, 9);
        assert_eq!(h.as_u64(), 0x0000_0003_dead_beef);
        assert_eq!(h.as_u64() >> 32, 3);
        assert_eq!(h.as_u64() & 0xffff_ffff, 0xdead_beef);
        assert_eq!(format!("{h:#x}"), "0x3deadbeef");
    }

    #[test]
    fn max_indices_do_not_overlap() {
        let h = SessionHandle::new(u32::MAX, u32::MAX, 0);
        assert_eq!(h.as_u64(), u64::MAX);
        let a = SessionHandle::new(1, 0, 0);
        let b = SessionHandle::new(0, 1 << 31, 0);
        assert_ne!(a.as_u64(), b.as_u64());
    }

    #[test]
    fn generation_distinguishes_reused_slot() {
        let old = SessionHandle::new(1, 4, 0);
        let new = SessionHandle::new(1, 4, 1);
        assert_ne!(old, new);
        assert_eq!(old.as_u64(), new.as_u64());
        assert_eq!(new.generation(), 1);
    }

    #[test]
    fn display_and_debug() {
        let h = SessionHandle::new(0, 12, 5);
        assert_eq!(h.to_string(), "[0:12]");
        assert_eq!(format!("{h:?}"), "SessionHandle[0:12 gen 5]");
        assert!(h.is_on_listener_thread());
        assert!(!SessionHandle::new(1, 12, 5).is_on_listener_thread());
    }
}
