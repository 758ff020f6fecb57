//! Endpoints: what apps listen on and connect to, and how the session layer
//! classifies them.
//!
//! - [`TransportProto`]: the transport protocols the stack knows by number
//!   (VPP `transport_proto_t`); ct registers as [`TransportProto::Ct`].
//! - [`SessionType`]: a protocol plus the ip family (VPP `session_type_t`),
//!   the key of the transport registry.
//! - [`SessionEndpoint`]: ip, port, protocol and fib (VPP
//!   `session_endpoint_t`), the key of the lookup tables.
//! - [`SessionEndpointCfg`]: an endpoint plus what a listen or connect request
//!   carries besides (VPP `session_endpoint_cfg_t`).
//!
//! Ports are kept in host byte order; VPP keeps them in network order, which
//! only matters on the wire.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::SessionError;
use crate::handle::SessionHandle;

/// A transport protocol, numbered as VPP's `transport_proto_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TransportProto {
    /// TCP.
    Tcp = 0,
    /// UDP.
    Udp = 1,
    /// The cut-through transport. VPP has no protocol number of its own for
    /// it: ct registers for `TRANSPORT_PROTO_NONE`, and remembers the
    /// protocol the app asked for as the connection's "actual" transport
    /// ([`SessionEndpointCfg::original_tp`]).
    Ct = 2,
    /// TLS.
    Tls = 3,
    /// QUIC.
    Quic = 4,
}

impl TransportProto {
    /// Every protocol, in number order.
    pub const ALL: [TransportProto; 5] = [Self::Tcp, Self::Udp, Self::Ct, Self::Tls, Self::Quic];

    /// VPP's protocol number.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The protocol's long name, as VPP's transports register it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Ct => "CT",
            Self::Tls => "TLS",
            Self::Quic => "QUIC",
        }
    }

    /// The one-letter name VPP's `show session` lines use.
    pub const fn short_name(self) -> &'static str {
        match self {
            Self::Tcp => "T",
            Self::Udp => "U",
            Self::Ct => "C",
            Self::Tls => "J",
            Self::Quic => "Q",
        }
    }
}

impl TryFrom<u8> for TransportProto {
    type Error = SessionError;

    /// Decodes a protocol number, e.g. from an app's message; an unknown
    /// number is [`SessionError::Invalid`].
    fn try_from(value: u8) -> Result<Self, SessionError> {
        Self::ALL
            .get(usize::from(value))
            .copied()
            .ok_or(SessionError::Invalid)
    }
}

impl fmt::Display for TransportProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ip family of an endpoint, which selects the fib (and so the global
/// session table) it is looked up in (VPP `fib_protocol_t`, ip4/ip6 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FibProto {
    /// IPv4.
    Ip4,
    /// IPv6.
    Ip6,
}

impl FibProto {
    /// The family of `ip`.
    pub const fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::Ip4,
            IpAddr::V6(_) => Self::Ip6,
        }
    }

    /// The zero ("any") address of this family.
    pub const fn zero_ip(self) -> IpAddr {
        match self {
            Self::Ip4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Self::Ip6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

/// A transport protocol plus an ip family: the kind of a session and the key
/// under which transports register (VPP `session_type_t`, built by
/// `session_type_from_proto_and_ip`).
///
/// ```
/// use ct_session::{SessionType, TransportProto};
///
/// let st = SessionType::new(TransportProto::Ct, true);
/// assert_eq!(st.transport_proto(), TransportProto::Ct);
/// assert!(st.is_ip4());
/// assert_eq!(st.as_u8(), 2 << 1 | 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionType {
    proto: TransportProto,
    is_ip4: bool,
}

impl SessionType {
    /// The session type of `proto` over ip4 (`is_ip4`) or ip6.
    pub const fn new(proto: TransportProto, is_ip4: bool) -> Self {
        Self { proto, is_ip4 }
    }

    /// The transport protocol.
    pub const fn transport_proto(self) -> TransportProto {
        self.proto
    }

    /// Whether the session runs over ip4.
    pub const fn is_ip4(self) -> bool {
        self.is_ip4
    }

    /// The ip family.
    pub const fn fib_proto(self) -> FibProto {
        if self.is_ip4 {
            FibProto::Ip4
        } else {
            FibProto::Ip6
        }
    }

    /// VPP's packed value: `proto << 1 | is_ip4`.
    pub const fn as_u8(self) -> u8 {
        self.proto.as_u8() << 1 | self.is_ip4 as u8
    }
}

impl TryFrom<u8> for SessionType {
    type Error = SessionError;

    /// Decodes VPP's packed value; an unknown protocol is
    /// [`SessionError::Invalid`].
    fn try_from(value: u8) -> Result<Self, SessionError> {
        let proto = TransportProto::try_from(value >> 1)?;
        Ok(Self::new(proto, value & 1 == 1))
    }
}

/// An endpoint as the session layer sees it: ip, port, transport protocol and
/// the fib it belongs to (VPP `session_endpoint_t`).
///
/// The family (VPP's `is_ip4` field) is the address's: [`Self::is_ip4`]. An
/// ip4-mapped ip6 address counts as ip6, as in VPP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionEndpoint {
    /// The address; zero means "any" for a listener.
    pub ip: IpAddr,
    /// The port, host byte order.
    pub port: u16,
    /// The transport protocol.
    pub transport_proto: TransportProto,
    /// The fib (VRF) index; selects the global session table together with
    /// the family.
    pub fib_index: u32,
    /// The interface the endpoint is bound to, if any (VPP
    /// `ENDPOINT_INVALID_INDEX` is `None`).
    pub sw_if_index: Option<u32>,
}

impl SessionEndpoint {
    /// An endpoint in fib 0, bound to no interface.
    pub const fn new(ip: IpAddr, port: u16, transport_proto: TransportProto) -> Self {
        Self {
            ip,
            port,
            transport_proto,
            fib_index: 0,
            sw_if_index: None,
        }
    }

    /// The same endpoint in fib `fib_index`.
    #[must_use]
    pub const fn with_fib_index(mut self, fib_index: u32) -> Self {
        self.fib_index = fib_index;
        self
    }

    /// Whether the address is ip4.
    pub const fn is_ip4(&self) -> bool {
        self.ip.is_ipv4()
    }

    /// The ip family (VPP `session_endpoint_fib_proto`).
    pub const fn fib_proto(&self) -> FibProto {
        FibProto::of(&self.ip)
    }

    /// The session type a session on this endpoint gets.
    pub const fn session_type(&self) -> SessionType {
        SessionType::new(self.transport_proto, self.is_ip4())
    }

    /// Whether the address is the zero address (VPP
    /// `session_endpoint_is_zero`). A connect to it is
    /// [`SessionError::InvalidRmtIp`]; a listen on it is a wildcard listen.
    pub const fn is_zero(&self) -> bool {
        self.ip.is_unspecified()
    }

    /// Whether a listener on this endpoint is a wildcard listener (zero
    /// address: it accepts for every local address of the fib).
    pub const fn is_wildcard(&self) -> bool {
        self.is_zero()
    }

    /// Whether the address can only mean this host: zero or loopback
    /// (`127.0.0.0/8`, `::1`) (VPP `session_endpoint_is_local`). Connects to
    /// such an address are served from the app namespace's local table
    /// only, never routed through the global table.
    pub const fn is_local(&self) -> bool {
        self.is_zero() || self.ip.is_loopback()
    }

    /// The same endpoint with the address replaced by its family's zero
    /// address: the key of a wildcard listener that would serve it.
    #[must_use]
    pub const fn to_wildcard(mut self) -> Self {
        self.ip = self.fib_proto().zero_ip();
        self
    }

    /// The address and port as a socket address.
    pub const fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Checks the endpoint as a connect's remote: the zero address is
    /// [`SessionError::InvalidRmtIp`] (VPP `vnet_connect`).
    pub const fn check_remote(&self) -> Result<(), SessionError> {
        if self.is_zero() {
            Err(SessionError::InvalidRmtIp)
        } else {
            Ok(())
        }
    }
}

impl Default for SessionEndpoint {
    /// VPP's `SESSION_ENDPOINT_NULL`, with the ip4 zero address: port 0,
    /// TCP, fib 0, no interface.
    fn default() -> Self {
        Self::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, TransportProto::Tcp)
    }
}

impl fmt::Display for SessionEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.transport_proto.short_name(),
            self.socket_addr()
        )?;
        if self.fib_index != 0 {
            write!(f, " fib {}", self.fib_index)?;
        }
        Ok(())
    }
}

/// A listen or connect request's endpoint with what the request carries
/// besides (VPP `session_endpoint_cfg_t`).
///
/// For a connect, [`Self::endpoint`] is the remote; for a listen, the local
/// endpoint listened on.
///
/// ```
/// use ct_session::{SessionEndpoint, SessionEndpointCfg, TransportProto, SessionError};
///
/// let rmt = SessionEndpoint::new("127.0.0.1".parse().unwrap(), 1234, TransportProto::Tcp);
/// let cfg = SessionEndpointCfg::new(rmt, 3);
/// assert_eq!(cfg.original_tp, TransportProto::Tcp);
/// assert!(cfg.check_connect().is_ok());
///
/// let zero = SessionEndpoint::new("0.0.0.0".parse().unwrap(), 1234, TransportProto::Tcp);
/// assert_eq!(SessionEndpointCfg::new(zero, 3).check_connect(), Err(SessionError::InvalidRmtIp));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionEndpointCfg {
    /// The endpoint: the remote for a connect, the local one for a listen.
    pub endpoint: SessionEndpoint,
    /// For a connect, the local address and port to use, if the app chose
    /// them (VPP's `peer`).
    pub peer: Option<SocketAddr>,
    /// The requesting app worker's index (app-worker's pool index; the
    /// app-worker crate owns its generation checks).
    pub app_wrk_index: u32,
    /// A value the app gets back in its connected notification.
    pub opaque: u32,
    /// The protocol the app asked for. When the connect is served by ct,
    /// [`SessionEndpoint::transport_proto`] becomes [`TransportProto::Ct`]
    /// and this keeps the original one: ct's lookups and its "actual
    /// transport" use it.
    pub original_tp: TransportProto,
    /// The app namespace the request is made in; its local session table is
    /// the one local lookups use.
    pub ns_index: u32,
    /// The session this one is created for, for transports layered on
    /// another (VPP `parent_handle`).
    pub parent_handle: Option<SessionHandle>,
}

impl SessionEndpointCfg {
    /// A request on `endpoint` by app worker `app_wrk_index`, in the default
    /// namespace (index 0), with `original_tp` the endpoint's protocol.
    pub const fn new(endpoint: SessionEndpoint, app_wrk_index: u32) -> Self {
        Self {
            endpoint,
            peer: None,
            app_wrk_index,
            opaque: 0,
            original_tp: endpoint.transport_proto,
            ns_index: 0,
            parent_handle: None,
        }
    }

    /// Whether the endpoint is ip4.
    pub const fn is_ip4(&self) -> bool {
        self.endpoint.is_ip4()
    }

    /// The endpoint to look listeners up with: the configured endpoint
    /// with the protocol the app asked for ([`Self::original_tp`]), as ct's
    /// connect does before its lookups.
    pub const fn lookup_endpoint(&self) -> SessionEndpoint {
        let mut sep = self.endpoint;
        sep.transport_proto = self.original_tp;
        sep
    }

    /// Checks the request as a connect: the remote must not be the zero
    /// address ([`SessionError::InvalidRmtIp`]) and a chosen local address
    /// must be of the remote's family ([`SessionError::Invalid`]).
    pub const fn check_connect(&self) -> Result<(), SessionError> {
        if let Err(e) = self.endpoint.check_remote() {
            return Err(e);
        }
        match self.peer {
            Some(peer) if peer.is_ipv4() != self.endpoint.is_ip4() => Err(SessionError::Invalid),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn proto_numbers_round_trip() {
        for p in TransportProto::ALL {
            assert_eq!(TransportProto::try_from(p.as_u8()), Ok(p));
        }
        assert_eq!(TransportProto::Ct.as_u8(), 2);
        assert_eq!(TransportProto::try_from(5), Err(SessionError::Invalid));
        assert_eq!(TransportProto::try_from(255), Err(SessionError::Invalid));
        assert_eq!(TransportProto::Ct.to_string(), "CT");
        assert_eq!(TransportProto::Tcp.short_name(), "T");
    }

    #[test]
    fn session_type_packs_like_vpp() {
        for p in TransportProto::ALL {
            for is_ip4 in [false, true] {
                let st = SessionType::new(p, is_ip4);
                assert_eq!(st.as_u8(), p.as_u8() << 1 | u8::from(is_ip4));
                assert_eq!(SessionType::try_from(st.as_u8()), Ok(st));
            }
        }
        assert_eq!(SessionType::try_from(0xff), Err(SessionError::Invalid));
        assert_eq!(
            SessionType::new(TransportProto::Udp, false).fib_proto(),
            FibProto::Ip6
        );
    }

    #[test]
    fn endpoint_family_and_classes() {
        let e4 = SessionEndpoint::new(ip("10.0.0.1"), 80, TransportProto::Tcp);
        assert!(e4.is_ip4());
        assert_eq!(e4.fib_proto(), FibProto::Ip4);
        assert!(!e4.is_zero() && !e4.is_local() && !e4.is_wildcard());
        assert_eq!(
            e4.session_type(),
            SessionType::new(TransportProto::Tcp, true)
        );

        let e6 = SessionEndpoint::new(ip("fd00::1"), 80, TransportProto::Udp);
        assert!(!e6.is_ip4());
        assert_eq!(e6.to_wildcard().ip, ip("::"));
        assert!(e6.to_wildcard().is_wildcard());

        for local in ["0.0.0.0", "127.0.0.1", "127.1.2.3", "::", "::1"] {
            let e = SessionEndpoint::new(ip(local), 1, TransportProto::Tcp);
            assert!(e.is_local(), "{local}");
        }
        let mapped = SessionEndpoint::new(ip("::ffff:127.0.0.1"), 1, TransportProto::Tcp);
        assert!(!mapped.is_ip4() && !mapped.is_local());
    }

    #[test]
    fn connect_checks() {
        let zero6 = SessionEndpoint::new(ip("::"), 80, TransportProto::Tcp);
        assert_eq!(zero6.check_remote(), Err(SessionError::InvalidRmtIp));
        let rmt = SessionEndpoint::new(ip("10.0.0.2"), 80, TransportProto::Tcp);
        let mut cfg = SessionEndpointCfg::new(rmt, 1);
        assert_eq!(cfg.check_connect(), Ok(()));
        cfg.peer = Some("[::1]:5000".parse().unwrap());
        assert_eq!(cfg.check_connect(), Err(SessionError::Invalid));
        cfg.peer = Some("10.0.0.1:5000".parse().unwrap());
        assert_eq!(cfg.check_connect(), Ok(()));
    }

    #[test]
    fn lookup_endpoint_uses_original_proto() {
        let mut rmt = SessionEndpoint::new(ip("127.0.0.1"), 80, TransportProto::Tcp);
        let mut cfg = SessionEndpointCfg::new(rmt, 1);
        rmt.transport_proto = TransportProto::Ct;
        cfg.endpoint = rmt;
        assert_eq!(cfg.lookup_endpoint().transport_proto, TransportProto::Tcp);
        assert_eq!(cfg.endpoint.transport_proto, TransportProto::Ct);
    }

    #[test]
    fn display() {
        let e = SessionEndpoint::new(ip("::1"), 443, TransportProto::Tls).with_fib_index(2);
        assert_eq!(e.to_string(), "J [::1]:443 fib 2");
        assert_eq!(SessionEndpoint::default().to_string(), "T 0.0.0.0:0");
    }
}
