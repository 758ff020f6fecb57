//! Local ports of ct clients. The reference leaves a ct client's local end
//! zero (and the server's remote end with it); here a client gets a local
//! port, as a kernel gives a connecting socket one, so both apps see real
//! addresses. A port is unique for its (local, remote) pair among ct
//! connections and goes back when the client's connection is freed.

use std::collections::HashSet;
use std::net::IpAddr;

use ct_session::{EPHEMERAL_PORTS, SessionError};
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

#[derive(Debug, Default)]
struct Inner {
    in_use: HashSet<ClientEnds>,
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
    /// connecting to `rmt_ip:rmt_port`, held until [`Self::release`]; none
    /// free is [`SessionError::NoPort`].
    pub fn alloc(
        &self,
        lcl_ip: IpAddr,
        rmt_ip: IpAddr,
        rmt_port: u16,
    ) -> Result<u16, SessionError> {
        let first = u32::from(*EPHEMERAL_PORTS.start());
        let len = u32::from(*EPHEMERAL_PORTS.end()) - first + 1;
        let mut inner = self.inner.lock();
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
                return Ok(lcl_port);
            }
        }
        Err(SessionError::NoPort)
    }

    /// Gives the port of `ends` back; a port not held is ignored.
    pub fn release(&self, ends: &ClientEnds) {
        self.inner.lock().in_use.remove(ends);
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
        let a = p.alloc(lo(), lo(), 80).unwrap();
        let b = p.alloc(lo(), lo(), 80).unwrap();
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
        assert_ne!(p.alloc(lo(), lo(), first).unwrap(), first);
    }

    #[test]
    fn a_full_range_is_no_port_and_wraps_after_a_release() {
        let p = ClientPorts::default();
        let n = EPHEMERAL_PORTS.len();
        for _ in 0..n {
            p.alloc(lo(), lo(), 80).unwrap();
        }
        assert_eq!(p.alloc(lo(), lo(), 80), Err(SessionError::NoPort));
        // Another destination has its own ports.
        assert!(p.alloc(lo(), lo(), 81).is_ok());
        let freed = ClientEnds {
            lcl_ip: lo(),
            lcl_port: 40000,
            rmt_ip: lo(),
            rmt_port: 80,
        };
        p.release(&freed);
        assert_eq!(p.alloc(lo(), lo(), 80), Ok(40000));
    }
}
