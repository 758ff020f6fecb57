//! The references a message carries: sessions, segments and fifos by
//! handle plus generation (so a stale reference is detected on the other
//! side), and endpoints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::codec::{Put, Reader, WireError};

/// A session as the wire names it: VPP's `thread << 32 | index` handle
/// and the generation of the pool slot, which the stack checks on every
/// use (a stale reference is an error, never another session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SessionRef {
    /// `thread << 32 | index`.
    pub handle: u64,
    /// The pool slot's generation.
    pub generation: u32,
}

impl SessionRef {
    /// Encoded size in bytes.
    pub const WIRE_SIZE: usize = 12;

    /// The session at `index` of `thread`'s pool, slot generation
    /// `generation`.
    pub fn new(thread: u32, index: u32, generation: u32) -> Self {
        SessionRef {
            handle: (u64::from(thread) << 32) | u64::from(index),
            generation,
        }
    }

    /// The thread that owns the session (the queue pair it talks on).
    pub fn thread(&self) -> u32 {
        (self.handle >> 32) as u32
    }

    /// The session's index in its thread's pool.
    pub fn index(&self) -> u32 {
        self.handle as u32
    }

    pub(crate) fn put(&self, w: &mut impl Put) {
        w.u64(self.handle);
        w.u32(self.generation);
    }

    pub(crate) fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(SessionRef {
            handle: r.u64()?,
            generation: r.u32()?,
        })
    }
}

/// A shared-memory segment as the wire names it (the stack's segment
/// handle and its generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SegmentRef {
    /// The stack's segment handle.
    pub handle: u64,
    /// Its generation.
    pub generation: u32,
}

impl SegmentRef {
    /// Encoded size in bytes.
    pub const WIRE_SIZE: usize = 12;

    pub(crate) fn put(&self, w: &mut impl Put) {
        w.u64(self.handle);
        w.u32(self.generation);
    }

    pub(crate) fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(SegmentRef {
            handle: r.u64()?,
            generation: r.u32()?,
        })
    }
}

/// A fifo: its segment and the offset of its header in that segment. The
/// app validates the offset when it attaches the fifo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FifoRef {
    /// The segment that holds the fifo.
    pub segment: SegmentRef,
    /// Offset of the fifo header from the segment base.
    pub offset: u64,
}

impl FifoRef {
    /// Encoded size in bytes.
    pub const WIRE_SIZE: usize = SegmentRef::WIRE_SIZE + 8;

    pub(crate) fn put(&self, w: &mut impl Put) {
        self.segment.put(w);
        w.u64(self.offset);
    }

    pub(crate) fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(FifoRef {
            segment: SegmentRef::get(r)?,
            offset: r.u64()?,
        })
    }
}

/// An endpoint: address, port and transport protocol number (the stack's
/// `TransportProto` as a byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WireEndpoint {
    /// The address.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
    /// The transport protocol.
    pub proto: u8,
}

impl Default for WireEndpoint {
    /// `0.0.0.0:0`, protocol 0: the "nothing" endpoint of failed replies.
    fn default() -> Self {
        WireEndpoint {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            proto: 0,
        }
    }
}

const FAMILY_IP4: u8 = 4;
const FAMILY_IP6: u8 = 6;

impl WireEndpoint {
    /// Encoded size in bytes: family, 16 address bytes, port, protocol.
    pub const WIRE_SIZE: usize = 1 + 16 + 2 + 1;

    pub(crate) fn put(&self, w: &mut impl Put) {
        let mut addr = [0u8; 16];
        match self.ip {
            IpAddr::V4(a) => {
                w.u8(FAMILY_IP4);
                addr[..4].copy_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                w.u8(FAMILY_IP6);
                addr = a.octets();
            }
        }
        w.put(&addr);
        w.u16(self.port);
        w.u8(self.proto);
    }

    pub(crate) fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let family = r.u8()?;
        let addr = r.array16()?;
        let ip = match family {
            FAMILY_IP4 => {
                // One encoding per endpoint: the unused tail must be zero.
                if addr[4..].iter().any(|&b| b != 0) {
                    return Err(WireError::Invalid("ip4 address padding"));
                }
                IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
            }
            FAMILY_IP6 => IpAddr::V6(Ipv6Addr::from(addr)),
            _ => return Err(WireError::Invalid("address family")),
        };
        Ok(WireEndpoint {
            ip,
            port: r.u16()?,
            proto: r.u8()?,
        })
    }
}

impl From<std::net::SocketAddr> for WireEndpoint {
    /// The endpoint with protocol 0; set `proto` after.
    fn from(a: std::net::SocketAddr) -> Self {
        WireEndpoint {
            ip: a.ip(),
            port: a.port(),
            proto: 0,
        }
    }
}

impl WireEndpoint {
    /// The address and port as a socket address.
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.ip, self.port)
    }
}
