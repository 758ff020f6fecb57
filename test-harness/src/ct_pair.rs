//! One established ct session between two in-process apps on a threaded
//! stack: the starting point of the stream and request/response benches,
//! where app threads drive the session's two ends.
//!
//! ```
//! use test_harness::ct_pair::CtPair;
//!
//! let mut p = CtPair::new(1, 64 << 10, Default::default()).unwrap();
//! assert_eq!(p.client.io.write(b"ping").unwrap(), 4);
//! let mut buf = [0u8; 4];
//! while p.server.io.read(&mut buf).unwrap() == 0 {}
//! assert_eq!(&buf, b"ping");
//! p.close().unwrap();
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use ct_app_worker::{
    AppEvent, AppHandle, AppKind, AppQueue, AppSession, AppWorkerHandle, AttachOptions, Scope,
    SessionFifos, SessionWaker, Stack,
};
use ct_session::{SessionError, ThreadedConfig, WorkerCounters};
use ct_transport_ct::{CtConfig, CtMain};

use ct_echo::loopback;

/// One app's end of the pair.
#[derive(Debug)]
pub struct PairEnd {
    /// The app.
    pub app: AppHandle,
    /// Its worker.
    pub wrk: AppWorkerHandle,
    /// Its message queue (drain it: a full queue holds events back).
    pub q: AppQueue,
    /// Its end of the session.
    pub io: AppSession,
    /// Signalled on every event about the session.
    pub waker: Arc<SessionWaker>,
}

impl PairEnd {
    /// Drops every queued message (the data is in the fifos).
    pub fn drain_queue(&self) {
        while let Ok(Some(_)) = self.q.try_recv() {}
    }

    /// Reads into `buf`, waiting on the waker when the fifo is empty (the
    /// event path: peer write -> worker -> this app's event), after the
    /// waker's adaptive spin on the fifo (see
    /// [`SessionWaker::wait_past_or`]). Returns 0 only at `deadline`.
    pub fn read_blocking(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
    ) -> Result<usize, SessionError> {
        loop {
            let seq = self.waker.seq();
            let n = self.io.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.drain_queue();
            if Instant::now() >= deadline {
                return Ok(0);
            }
            let io = &self.io;
            self.waker.wait_past_or(seq, Some(deadline), || {
                io.max_dequeue().map_or(true, |n| n > 0)
            });
        }
    }
}

/// Two in-process apps and one ct session between them, workers threaded.
#[derive(Debug)]
pub struct CtPair {
    /// The stack.
    pub stack: Stack,
    /// ct.
    pub ct: Arc<CtMain>,
    /// The listening side.
    pub server: PairEnd,
    /// The connecting side.
    pub client: PairEnd,
}

fn wait_msg<T>(
    q: &AppQueue,
    mut pick: impl FnMut(AppEvent) -> Option<T>,
) -> Result<T, SessionError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(m) = q.recv_timeout(Duration::from_millis(10))
            && let Some(t) = pick(m)
        {
            return Ok(t);
        }
    }
    Err(SessionError::TimedOut)
}

impl CtPair {
    /// A stack with `workers` workers (threaded with `threads`), two apps
    /// with `fifo_size` fifos, and an established session.
    pub fn new(
        workers: u32,
        fifo_size: u32,
        threads: ThreadedConfig,
    ) -> Result<CtPair, SessionError> {
        let mut stack = Stack::new(workers)?;
        let segment = (4 * fifo_size as usize).max(4 << 20);
        let ct = CtMain::new(CtConfig {
            min_segment_size: segment,
            ..Default::default()
        });
        ct.register(stack.main(), stack.apps().clone())?;
        let attach = |name: &str| {
            let mut o = AttachOptions::new(name, AppKind::InProcess)
                .with_scope(Scope::LOCAL)
                .with_fifo_sizes(fifo_size, fifo_size);
            o.segment_size = segment;
            stack.attach(o)
        };
        let s = attach("pair-server")?;
        let c = attach("pair-client")?;
        let (sq, cq) = (
            s.queue.ok_or(SessionError::NoApp)?,
            c.queue.ok_or(SessionError::NoApp)?,
        );
        stack.start_threads(threads)?;
        stack.listen(s.app_wrk, loopback(4321))?;
        stack.connect(c.app_wrk, loopback(4321), 0)?;
        let sf: SessionFifos = wait_msg(&sq, |m| match m {
            AppEvent::Accepted { session: fifos, .. } => Some(fifos),
            _ => None,
        })?;
        stack.accept_reply(s.app_wrk, sf.session, Ok(()))?;
        let cf = wait_msg(&cq, |m| match m {
            AppEvent::Connected { result, .. } => Some(result),
            _ => None,
        })??;
        let main = stack.main().clone();
        let apps = stack.apps().clone();
        let end = |app, wrk, q, f: &SessionFifos| -> Result<PairEnd, SessionError> {
            Ok(PairEnd {
                app,
                wrk,
                q,
                io: AppSession::from_fifos(main.clone(), f)?,
                waker: apps.session_waker(wrk, f.session)?,
            })
        };
        Ok(CtPair {
            server: end(s.app, s.app_wrk, sq, &sf)?,
            client: end(c.app, c.app_wrk, cq, &cf)?,
            stack,
            ct,
        })
    }

    /// Closes the session, detaches both apps and stops the stack.
    pub fn close(self) -> Result<(), SessionError> {
        self.close_with_counters().map(drop)
    }

    /// [`CtPair::close`], returning each worker's counters (thread order)
    /// for benches that report what a run cost besides time.
    pub fn close_with_counters(self) -> Result<Vec<WorkerCounters>, SessionError> {
        let CtPair {
            mut stack,
            server,
            client,
            ..
        } = self;
        let (sh, ch) = (server.io.handle(), client.io.handle());
        drop((server.io, client.io));
        stack.disconnect(client.wrk, ch)?;
        let _ = stack.disconnect(server.wrk, sh);
        stack.detach(client.app)?;
        stack.detach(server.app)?;
        Ok(stack.shutdown().iter().map(|w| *w.counters()).collect())
    }
}
