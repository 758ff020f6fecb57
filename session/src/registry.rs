//! The transport registry: which transport serves each protocol (VPP
//! `transport_register_protocol` / `tp_vfts`). The session layer dispatches
//! every transport call through it and never names a concrete transport.

use ct_sync::unmodeled::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::transport::{Transport, TransportServiceType};
use crate::{SessionError, SessionType, TransportProto};

const N_PROTOS: usize = TransportProto::ALL.len();
const IP4: u8 = 1 << 0;
const IP6: u8 = 1 << 1;

/// Transports by protocol. Registration happens once per protocol, at any
/// time (plug-ins register at init); lookups take no lock.
pub struct TransportRegistry {
    slots: [OnceLock<Arc<dyn Transport>>; N_PROTOS],
    /// Ip versions registered per protocol (IP4 / IP6 bits).
    families: [AtomicU8; N_PROTOS],
    /// Protocols with a transport: workers keep their own list of the
    /// transports and refresh it when this moves.
    registered: AtomicUsize,
}

impl Default for TransportRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TransportRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        for p in TransportProto::ALL {
            if let Some(t) = self.slots[p.as_u8() as usize].get() {
                l.entry(&(p, t.options().name));
            }
        }
        l.finish()
    }
}

impl TransportRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        TransportRegistry {
            slots: std::array::from_fn(|_| OnceLock::new()),
            families: std::array::from_fn(|_| AtomicU8::new(0)),
            registered: AtomicUsize::new(0),
        }
    }

    /// Registers `transport` for `proto` over ip4 (`is_ip4`) or ip6. A
    /// protocol has one transport: registering the same one for the other ip
    /// version is fine, another transport for a taken protocol is
    /// [`SessionError::Invalid`].
    pub fn register(
        &self,
        proto: TransportProto,
        is_ip4: bool,
        transport: Arc<dyn Transport>,
    ) -> Result<(), SessionError> {
        let i = proto.as_u8() as usize;
        let mut new = false;
        let current = self.slots[i].get_or_init(|| {
            new = true;
            transport.clone()
        });
        if new {
            // After the slot is set: a worker that sees the count sees it.
            self.registered.fetch_add(1, Ordering::Release);
        }
        if !Arc::ptr_eq(current, &transport) {
            return Err(SessionError::Invalid);
        }
        self.families[i].fetch_or(if is_ip4 { IP4 } else { IP6 }, Ordering::Release);
        tracing::debug!(%proto, is_ip4, name = transport.options().name, "transport registered");
        Ok(())
    }

    /// The transport for `proto`, whatever the ip version.
    pub fn get(&self, proto: TransportProto) -> Result<&Arc<dyn Transport>, SessionError> {
        self.slots[proto.as_u8() as usize]
            .get()
            .ok_or(SessionError::TransportNoReg)
    }

    /// The transport for a session type: registered for its protocol and ip
    /// version.
    pub fn get_for(&self, st: SessionType) -> Result<&Arc<dyn Transport>, SessionError> {
        let i = st.transport_proto().as_u8() as usize;
        let bit = if st.is_ip4() { IP4 } else { IP6 };
        if self.families[i].load(Ordering::Acquire) & bit == 0 {
            return Err(SessionError::TransportNoReg);
        }
        self.get(st.transport_proto())
    }

    /// Whether `proto` has a transport.
    pub fn is_registered(&self, proto: TransportProto) -> bool {
        self.get(proto).is_ok()
    }

    /// The service type of `proto`'s transport (VPP
    /// `transport_protocol_service_type`).
    pub fn service_type(
        &self,
        proto: TransportProto,
    ) -> Result<TransportServiceType, SessionError> {
        Ok(self.get(proto)?.options().service_type)
    }

    /// How many protocols have a transport (it only grows): a copy of
    /// [`TransportRegistry::iter`] taken when this was `n` is current while
    /// it still is.
    pub fn n_registered(&self) -> usize {
        self.registered.load(Ordering::Acquire)
    }

    /// Registered transports with their protocol, in protocol order.
    pub fn iter(&self) -> impl Iterator<Item = (TransportProto, &Arc<dyn Transport>)> {
        TransportProto::ALL
            .into_iter()
            .filter_map(|p| self.slots[p.as_u8() as usize].get().map(|t| (p, t)))
    }
}
