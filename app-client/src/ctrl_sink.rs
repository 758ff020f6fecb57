//! [`CtrlSink`]: where a stream's IO events go, the control queue of its
//! session's thread. app-interface's `RxEnd` and `TxEnd` decide when an
//! event is owed; this only sends it and counts it.

use ct_sync::atomic::{AtomicU64, Ordering};
use std::io;
use std::sync::Arc;

use ct_app_interface::io::{IoEvt, IoEvtSink};
use ct_app_interface::wire::{AppMsg, SessionRef};

use crate::app_worker::AppWorkerShared;
use crate::error::ClientError;

/// One stream's sink, shared by its two ends by reference (`&CtrlSink`
/// is the `IoEvtSink`): sending needs no `&mut`, so a reader and a writer
/// holding their own ends' locks send through it at once. It counts here,
/// not in the ends, so the counts survive the ends (taken at close) and
/// read without their locks.
#[derive(Debug)]
pub(crate) struct CtrlSink {
    wrk: Arc<AppWorkerShared>,
    sref: SessionRef,
    pub(crate) tx_events: AtomicU64,
    pub(crate) rx_events: AtomicU64,
}

impl CtrlSink {
    pub(crate) fn new(wrk: Arc<AppWorkerShared>, sref: SessionRef) -> Self {
        CtrlSink {
            wrk,
            sref,
            tx_events: AtomicU64::new(0),
            rx_events: AtomicU64::new(0),
        }
    }
}

impl IoEvtSink for &CtrlSink {
    type Error = io::Error;

    fn io_evt(&mut self, evt: IoEvt) -> io::Result<()> {
        let (msg, sent) = match evt {
            IoEvt::Tx => (AppMsg::IoTx(self.sref), &self.tx_events),
            IoEvt::RxDequeue => (AppMsg::IoRxDequeue(self.sref), &self.rx_events),
        };
        // Counted even when the send fails: the end's flag is set (or its
        // request cleared) either way.
        sent.fetch_add(1, Ordering::Relaxed);
        self.wrk
            .ctrl
            .send(self.sref.thread(), &msg)
            .map_err(ClientError::into_io)
    }
}
