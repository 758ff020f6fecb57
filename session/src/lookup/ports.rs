//! Picking a free port for a listen on port 0 (what a kernel does for
//! `bind` to port 0): the first port of the ephemeral range, from a start
//! the caller rotates, that no listener of the same protocol and family
//! holds on an overlapping address in any of the given tables.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use super::{SessionLookup, TableId};
use crate::SessionError;
use crate::endpoint::SessionEndpoint;

/// The ports a listen on port 0 picks from (Linux's default
/// `ip_local_port_range`).
pub const EPHEMERAL_PORTS: RangeInclusive<u16> = 32768..=60999;

impl SessionLookup {
    /// A port of [`EPHEMERAL_PORTS`] free for `sep`'s protocol and address in
    /// every table of `tables`: no listener there of the same protocol and
    /// family on the same port whose address equals `sep`'s or where either
    /// is the zero address. The search starts at `EPHEMERAL_PORTS.start() +
    /// start % len` and wraps; none free is [`SessionError::NoPort`], a stale
    /// local table [`SessionError::InvalidNs`]. The caller serializes
    /// listens, so the port is still free when it registers the listener.
    pub fn free_listen_port(
        &self,
        tables: &[TableId],
        sep: &SessionEndpoint,
        start: u32,
    ) -> Result<u16, SessionError> {
        let used = {
            let guard = self.tables.read();
            let mut used = HashSet::new();
            for &id in tables {
                let Some(t) = guard.table(id)? else { continue };
                used.extend(t.listeners().filter_map(|(l, _)| {
                    let overlaps = l.ip == sep.ip
                        || (l.fib_proto() == sep.fib_proto()
                            && (l.ip.is_unspecified() || sep.ip.is_unspecified()));
                    (l.transport_proto == sep.transport_proto && overlaps).then_some(l.port)
                }));
            }
            used
        };
        let first = u32::from(*EPHEMERAL_PORTS.start());
        let len = u32::from(*EPHEMERAL_PORTS.end()) - first + 1;
        (0..len)
            .map(|i| first + (start.wrapping_add(i)) % len)
            .filter_map(|p| u16::try_from(p).ok())
            .find(|p| !used.contains(p))
            .ok_or(SessionError::NoPort)
    }
}
