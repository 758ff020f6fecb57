//! A stream's read or write timeout, settable through `&self` (a stream
//! is shared by its reader and writer threads and its clones) without a
//! lock: nanoseconds in one atomic, 0 for none, which is free because std
//! refuses a zero timeout anyway.

use ct_sync::atomic::{AtomicU64, Ordering};
use std::io;
use std::time::Duration;

/// `None` (wait forever) or how long to wait.
#[derive(Debug, Default)]
pub(crate) struct Timeout(AtomicU64);

impl Timeout {
    /// Sets it; `Some(Duration::ZERO)` is `InvalidInput` as in std (zero
    /// would mean "never wait" to some and "wait forever" to others).
    pub(crate) fn set(&self, t: Option<Duration>) -> io::Result<()> {
        let ns = match t {
            None => 0,
            Some(Duration::ZERO) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            // Past u64 nanoseconds (584 years) is forever enough; at least
            // one so it never reads back as `None`.
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1),
        };
        self.0.store(ns, Ordering::Relaxed);
        Ok(())
    }

    /// The timeout.
    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_refused_and_none_round_trips() {
        let t = Timeout::default();
        assert_eq!(t.get(), None);
        t.set(Some(Duration::from_millis(5))).unwrap();
        assert_eq!(t.get(), Some(Duration::from_millis(5)));
        let e = t.set(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(t.get(), Some(Duration::from_millis(5)));
        t.set(Some(Duration::MAX)).unwrap();
        assert_eq!(t.get(), Some(Duration::from_nanos(u64::MAX)));
        t.set(None).unwrap();
        assert_eq!(t.get(), None);
    }
}
