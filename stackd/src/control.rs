//! The control thread: detaches asked for from places that must not do it
//! themselves. A worker that finds an app's messages bad counts strikes;
//! past the limit it asks here, and this thread (not a worker: a detach
//! runs steps on every worker and waits for them) detaches the app and
//! shuts its socket, so the app's connection thread ends too.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::app_state::AppState;
use crate::counters::SharedCounters;
use crate::ops::{AppOps, DetachReason};

/// A request to the control thread.
pub(crate) enum CtlReq {
    /// Detach this app.
    Detach(Arc<AppState>, DetachReason),
    /// End the thread.
    Stop,
}

/// Counts an app's strikes and asks for its detach past the limit.
#[derive(Debug, Clone)]
pub(crate) struct Strikes {
    tx: Sender<CtlReq>,
    max: u32,
    counters: Arc<SharedCounters>,
}

impl Strikes {
    pub(crate) fn new(tx: Sender<CtlReq>, max: u32, counters: Arc<SharedCounters>) -> Self {
        Strikes { tx, max, counters }
    }

    /// One bad message from `app`; `what` says which, for the log.
    pub(crate) fn strike(&self, app: &Arc<AppState>, what: &dyn std::fmt::Display) {
        tracing::info!(app = ?app.app(), pid = app.cred.pid, uid = app.cred.uid, ns = %app.namespace, strikes = app.strikes() + 1, max = self.max, %what, "strike");
        if app.strike(self.max) {
            tracing::warn!(app = ?app.app(), pid = app.cred.pid, uid = app.cred.uid, ns = %app.namespace, strikes = self.max, "too many bad messages: detaching the app");
            app.set_detaching();
            SharedCounters::bump(&self.counters.strike_detaches);
            // The thread is gone only after stop, when every app goes anyway.
            let _ = self
                .tx
                .send(CtlReq::Detach(app.clone(), DetachReason::Strikes));
        }
    }
}

/// Starts the control thread.
pub(crate) fn spawn(ops: Arc<AppOps>, rx: Receiver<CtlReq>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stackd-ctl".into())
        .spawn(move || {
            while let Ok(req) = rx.recv() {
                match req {
                    CtlReq::Detach(app, why) => {
                        // Failures are logged by `detach`.
                        let _ = ops.detach(&app, why);
                        // Wakes the app's connection thread (and the app).
                        app.shutdown();
                    }
                    CtlReq::Stop => break,
                }
            }
        })
}
