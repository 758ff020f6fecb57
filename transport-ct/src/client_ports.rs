//! Local ports of ct clients. The reference leaves a ct client's local end
//! zero (and the server's remote end with it); here a client gets a local
//! port, as a kernel gives a connecting socket one, so both apps see real
//! addresses. A port is unique for its (local, remote) pair among ct
//! connections and goes back when the client's connection is freed. Once
//! every port of the range is held for one pair, further clients of that
//! pair get port 0, the reference's: ct, unlike a kernel, has no reason to
//! refuse the connect (a scale run holds 100k sessions to one listener).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ct_session::EPHEMERAL_PORTS;
use ct_sync::Mutex;

/// A client connection's two ends: local address and port, remote address
/// and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientEnds {
    /// The client's address.
    pub lcl_ip: IpAddr,
    /// The client's port.
    pub lcl_port: u16,
    /// The address connected to.
    pub rmt_ip: IpAddr,
    /// The port connected to.
    pub rmt_port: u16,
}

/// A client's local address and the end it connected to: ports are
/// unique per pair.
type Pair = (IpAddr, IpAddr, u16);

#[derive(Debug, Default)]
struct Inner {
    in_use: HashSet<ClientEnds>,
    /// Ports held per pair, so a full pair answers at once (no search).
    per_pair: HashMap<Pair, u32>,
    /// Offset into the range where the next search starts.
    cursor: u32,
}

/// The ports ct clients hold (any thread: connects allocate on the connect
/// thread, connections are freed on their own).
#[derive(Debug, Default)]
pub struct ClientPorts {
    inner: Mutex<Inner>,
}

impl ClientPorts {
    /// A free port of the ephemeral range for a client at `lcl_ip`
    /// connecting to `rmt_ip:rmt_port`, held until [`Self::release`]; 0
    /// (held by nobody) once every port of the range is held for the pair.
    pub fn alloc(&self, lcl_ip: IpAddr, rmt_ip: IpAddr, rmt_port: u16) -> u16 {
        let first = u32::from(*EPHEMERAL_PORTS.start());
        let len = u32::from(*EPHEMERAL_PORTS.end()) - first + 1;
        let pair = (lcl_ip, rmt_ip, rmt_port);
        let mut inner = self.inner.lock();
        // The port connected to is never taken (below): one less to hold.
        let cap = len - u32::from(lcl_ip == rmt_ip && EPHEMERAL_PORTS.contains(&rmt_port));
        if inner.per_pair.get(&pair).is_some_and(|&n| n >= cap) {
            return 0;
        }
        for i in 0..len {
            let off = (inner.cursor.wrapping_add(i)) % len;
            let Ok(lcl_port) = u16::try_from(first + off) else {
                continue;
            };
            if lcl_ip == rmt_ip && lcl_port == rmt_port {
                // Never the end connected to (a listener on port 0 took
                // its port from the same range): no connection to itself.
                continue;
            }
            let ends = ClientEnds {
                lcl_ip,
                lcl_port,
                rmt_ip,
                rmt_port,
            };
            if inner.in_use.insert(ends) {
                inner.cursor = off + 1;
                *inner.per_pair.entry(pair).or_default() += 1;
                return lcl_port;
            }
        }
        // Every port but the one connected to: the pair is full too.
        0
    }

    /// Gives the port of `ends` back; a port not held (0 among them) is
    /// ignored.
    pub fn release(&self, ends: &ClientEnds) {
        let mut inner = self.inner.lock();
        if !inner.in_use.remove(ends) {
            return;
        }
        let pair = (ends.lcl_ip, ends.rmt_ip, ends.rmt_port);
        if let Some(n) = inner.per_pair.get_mut(&pair) {
            *n -= 1;
            if *n == 0 {
                inner.per_pair.remove(&pair);
            }
        }
    }

    /// Ports held now.
    pub fn len(&self) -> usize {
        self.inner.lock().in_use.len()
    }

    /// Whether no port is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn lo() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn ports_are_unique_per_pair_and_come_back() {
        let p = ClientPorts::default();
        let a = p.alloc(lo(), lo(), 80);
        let b = p.alloc(lo(), lo(), 80);
        assert_ne!(a, b);
        assert!(EPHEMERAL_PORTS.contains(&a) && EPHEMERAL_PORTS.contains(&b));
        let ends = ClientEnds {
            lcl_ip: lo(),
            lcl_port: a,
            rmt_ip: lo(),
            rmt_port: 80,
        };
        p.release(&ends);
        assert_eq!(p.len(), 1);
        p.release(&ends);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn never_the_end_connected_to() {
        let p = ClientPorts::default();
        let first = *EPHEMERAL_PORTS.start();
        assert_ne!(p.alloc(lo(), lo(), first), first);
    }

    #[test]
    fn a_full_range_gives_port_0_and_wraps_after_a_release() {
        let p = ClientPorts::default();
        let n = EPHEMERAL_PORTS.len();
        for _ in 0..n {
            assert_ne!(p.alloc(lo(), lo(), 80), 0);
        }
        // Full: the reference's port 0, held by nobody, as often as asked.
        assert_eq!(p.alloc(lo(), lo(), 80), 0);
        assert_eq!(p.alloc(lo(), lo(), 80), 0);
        assert_eq!(p.len(), n);
        // Another destination has its own ports.
        assert_ne!(p.alloc(lo(), lo(), 81), 0);
        let freed = ClientEnds {
            lcl_ip: lo(),
            lcl_port: 40000,
            rmt_ip: lo(),
            rmt_port: 80,
        };
        p.release(&freed);
        assert_eq!(p.alloc(lo(), lo(), 80), 40000);
    }
}
