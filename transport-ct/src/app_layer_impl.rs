//! [`CtAppLayer`] for app-worker's [`Apps`]: how ct reaches the stack's
//! real app layer.

use ct_app_worker::Apps;
use ct_segment_manager::{SegmentManager, SegmentManagers};
use ct_session::{
    ListenerHandle, LocalTableId, Session, SessionEndpoint, SessionType, TransportProto, Worker,
};
use ct_sync::Arc;

use crate::app_layer::CtAppLayer;

impl CtAppLayer for Apps {
    fn app_index(&self, app_wrk: u32) -> Option<u32> {
        self.app_worker_get_if_valid(app_wrk).map(|w| w.app_index())
    }

    fn app_worker_generation(&self, app_wrk: u32) -> Option<u32> {
        self.app_worker_get_if_valid(app_wrk)
            .map(|w| w.handle().generation())
    }

    fn has_global_scope(&self, app_index: u32) -> bool {
        self.application_get(app_index)
            .is_some_and(|a| a.has_global_scope())
    }

    fn local_table(&self, app_index: u32) -> Option<LocalTableId> {
        self.application_get(app_index)?.local_session_table()
    }

    fn app_listener(&self, app_index: u32, sep: &SessionEndpoint) -> Option<ListenerHandle> {
        self.app_first_listener(
            app_index,
            SessionType::new(TransportProto::Ct, sep.is_ip4()),
        )
    }

    fn listener_select_worker(&self, listener: &Session) -> Option<u32> {
        self.application_listener_select_worker(listener.handle())
            .ok()
            .map(|w| w.wrk_index())
    }

    fn listen_segment_manager(
        &self,
        app_wrk: u32,
        listener: &Session,
    ) -> Option<Arc<SegmentManager>> {
        self.app_worker_get_if_valid(app_wrk)?
            .listen_segment_manager(listener.handle())
            .ok()
    }

    fn connect_segment_manager(&self, app_wrk: u32) -> Option<Arc<SegmentManager>> {
        self.app_worker_get_if_valid(app_wrk)
            .map(|w| w.connect_segment_manager().clone())
    }

    fn segment_managers(&self) -> &SegmentManagers {
        Apps::segment_managers(self)
    }

    fn flush_segment_notifications(&self, wrk: &mut Worker) {
        self.flush_segment_notes(wrk);
    }
}
