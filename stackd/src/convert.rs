//! Between the stack's types and the wire's: handles to references (and
//! back, generation included, so the stack's pools judge staleness),
//! endpoints, error codes, fifos to `(segment, offset)`.

use std::net::IpAddr;

use ct_app_interface::wire::{FifoRef, SegmentRef, SessionRef, WireEndpoint};
use ct_fifo_segment::Fifo;
use ct_segment_manager::{SegmentHandle, SegmentManagers};
use ct_session::{
    SessionEndpoint, SessionError, SessionHandle, TransportConnection, TransportProto,
};

/// The wire's name for a session.
pub(crate) fn session_ref(h: SessionHandle) -> SessionRef {
    SessionRef::new(h.thread_index(), h.session_index(), h.generation())
}

/// The session a reference names (whether it is live is the pool's call).
pub(crate) fn session_handle(r: SessionRef) -> SessionHandle {
    SessionHandle::new(r.thread(), r.index(), r.generation)
}

/// The wire's name for a segment.
pub(crate) fn segment_ref(h: SegmentHandle) -> SegmentRef {
    SegmentRef {
        handle: h.as_u64(),
        generation: h.generation(),
    }
}

/// The segment a fifo lives in.
pub(crate) fn segment_of(sms: &SegmentManagers, f: &Fifo) -> Result<SegmentHandle, SessionError> {
    sms.get_by_index(f.segment_manager_index())
        .and_then(|sm| sm.segment_handle(f.segment_index()))
        .map_err(|_| SessionError::NoSession)
}

/// A fifo as the app finds it: its segment and its offset there.
pub(crate) fn fifo_ref(seg: SegmentHandle, f: &Fifo) -> FifoRef {
    FifoRef {
        segment: segment_ref(seg),
        offset: f.offset(),
    }
}

/// A wire endpoint for the session layer. The protocol must be one the
/// stack knows ([`SessionError::Invalid`] otherwise).
pub(crate) fn session_endpoint(ep: &WireEndpoint) -> Result<SessionEndpoint, SessionError> {
    let proto = TransportProto::try_from(ep.proto)?;
    Ok(SessionEndpoint::new(ep.ip, ep.port, proto))
}

/// A session-layer endpoint on the wire.
pub(crate) fn wire_endpoint(sep: &SessionEndpoint) -> WireEndpoint {
    endpoint(sep.ip, sep.port, sep.transport_proto)
}

fn endpoint(ip: IpAddr, port: u16, proto: TransportProto) -> WireEndpoint {
    WireEndpoint {
        ip,
        port,
        proto: proto.as_u8(),
    }
}

/// A connection's local and remote ends, with the protocol of the
/// transport serving it.
pub(crate) fn connection_ends(tc: &TransportConnection) -> (WireEndpoint, WireEndpoint) {
    (
        endpoint(tc.lcl_ip, tc.lcl_port, tc.proto),
        endpoint(tc.rmt_ip, tc.rmt_port, tc.proto),
    )
}

/// 0, or the error's wire code.
pub(crate) fn error_code(e: Option<SessionError>) -> i32 {
    e.map_or(0, SessionError::code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_refs_round_trip_with_generation() {
        let h = SessionHandle::new(3, 77, 9);
        let r = session_ref(h);
        assert_eq!(r.thread(), 3);
        assert_eq!(r.index(), 77);
        assert_eq!(session_handle(r), h);
        let stale = SessionRef { generation: 8, ..r };
        assert_ne!(session_handle(stale), h);
    }

    #[test]
    fn endpoints_refuse_unknown_protocols() {
        let sep = SessionEndpoint::new("127.0.0.1".parse().unwrap(), 80, TransportProto::Tcp);
        let w = wire_endpoint(&sep);
        assert_eq!(session_endpoint(&w), Ok(sep));
        let bad = WireEndpoint { proto: 200, ..w };
        assert_eq!(session_endpoint(&bad), Err(SessionError::Invalid));
        assert_eq!(error_code(None), 0);
        assert!(error_code(Some(SessionError::NoSession)) < 0);
    }
}
