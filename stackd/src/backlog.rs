//! The listen backlog of an app in another process (ARCHITECTURE.md,
//! "Accepts without the app"): stackd accepts a session for the app as it
//! delivers the `Accepted` message, so the connecting peer completes at
//! once, as a TCP connect completes when the kernel queued the connection
//! on the listener. Until the app says it took the session (its
//! `AcceptReply`), the session holds one of its listener's backlog slots;
//! a session arriving on a full backlog is refused and the app never hears
//! of it.
//!
//! One [`AcceptBacklog`] per app worker (the worker's listeners are its
//! own records, so their backlogs are per worker too). Entries leave when
//! the app takes the session, when the session's cleanup reaches the app
//! worker, or with the app worker.

use ct_session::SessionHandle;
use hashbrown::HashMap;

/// The backlog a listen gets when it asks for none (0): Linux's
/// `SOMAXCONN` of old, what `std::net::TcpListener::bind` passes to
/// `listen(2)`.
pub const DEFAULT_LISTEN_BACKLOG: u32 = 128;

/// The largest backlog a listen gets (Linux's `SOMAXCONN` today): each
/// waiting session holds fifos and a session on the daemon, so an app must
/// not make a listener's queue unbounded.
pub const MAX_LISTEN_BACKLOG: u32 = 4096;

/// The backlog of a listen that asked for `asked`.
pub(crate) fn listen_backlog(asked: u32) -> u32 {
    match asked {
        0 => DEFAULT_LISTEN_BACKLOG,
        n => n.min(MAX_LISTEN_BACKLOG),
    }
}

/// A session the stack accepted on the app's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unaccepted {
    /// Delivered, waiting for the app to take it: holds a slot of its
    /// listener.
    Waiting(SessionHandle),
    /// Refused (full backlog, listener gone): the app was not told, and
    /// is not told of its close either.
    Refused,
}

/// An app worker's sessions accepted by the stack and not yet taken.
#[derive(Debug, Default)]
pub(crate) struct AcceptBacklog {
    sessions: HashMap<SessionHandle, Unaccepted>,
    /// Waiting sessions per listener (no entry at zero).
    waiting: HashMap<SessionHandle, u32>,
}

impl AcceptBacklog {
    /// A session accepted on `listener`, whose backlog is `limit` (`None`:
    /// the listener is not this worker's any more). Returns whether it
    /// waits for the app; otherwise it is recorded as refused.
    pub(crate) fn admit(
        &mut self,
        session: SessionHandle,
        listener: SessionHandle,
        limit: Option<u32>,
    ) -> bool {
        let n = self.waiting.get(&listener).copied().unwrap_or(0);
        let fits = limit.is_some_and(|l| n < l);
        if fits {
            self.waiting.insert(listener, n + 1);
            self.sessions.insert(session, Unaccepted::Waiting(listener));
        } else {
            self.refuse(session);
        }
        fits
    }

    /// Records `session` as refused.
    pub(crate) fn refuse(&mut self, session: SessionHandle) {
        self.sessions.insert(session, Unaccepted::Refused);
    }

    /// Whether `session` was refused (its events are not the app's).
    pub(crate) fn is_refused(&self, session: SessionHandle) -> bool {
        self.sessions.get(&session) == Some(&Unaccepted::Refused)
    }

    /// The app took `session`, or the session is gone: its entry (and
    /// slot) goes. Returns what it was.
    pub(crate) fn remove(&mut self, session: SessionHandle) -> Option<Unaccepted> {
        let u = self.sessions.remove(&session)?;
        if let Unaccepted::Waiting(l) = u
            && let Some(n) = self.waiting.get_mut(&l)
        {
            *n -= 1;
            if *n == 0 {
                self.waiting.remove(&l);
            }
        }
        Some(u)
    }

    /// The sessions waiting for the app, on any listener.
    pub(crate) fn waiting_sessions(&self) -> Vec<SessionHandle> {
        self.sessions
            .iter()
            .filter(|(_, u)| matches!(u, Unaccepted::Waiting(_)))
            .map(|(s, _)| *s)
            .collect()
    }

    /// Sessions recorded (waiting or refused).
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(i: u32) -> SessionHandle {
        SessionHandle::new(1, i, 0)
    }

    #[test]
    fn a_full_backlog_refuses_until_a_slot_frees() {
        let (l, other) = (SessionHandle::new(0, 1, 0), SessionHandle::new(0, 2, 0));
        let mut b = AcceptBacklog::default();
        assert!(b.admit(s(1), l, Some(2)));
        assert!(b.admit(s(2), l, Some(2)));
        assert!(!b.admit(s(3), l, Some(2)));
        assert!(b.is_refused(s(3)));
        // Another listener counts apart; a gone one refuses.
        assert!(b.admit(s(4), other, Some(1)));
        assert!(!b.admit(s(5), other, None));
        assert_eq!(b.remove(s(1)), Some(Unaccepted::Waiting(l)));
        assert!(b.admit(s(6), l, Some(2)));
        let mut w = b.waiting_sessions();
        w.sort_by_key(|h| h.session_index());
        assert_eq!(w, vec![s(2), s(4), s(6)]);
        for i in 1..=6 {
            b.remove(s(i));
        }
        assert_eq!(b.len(), 0);
        assert!(b.waiting.is_empty());
    }

    #[test]
    fn backlogs_default_and_are_bounded() {
        assert_eq!(listen_backlog(0), DEFAULT_LISTEN_BACKLOG);
        assert_eq!(listen_backlog(5), 5);
        assert_eq!(listen_backlog(u32::MAX), MAX_LISTEN_BACKLOG);
    }
}
