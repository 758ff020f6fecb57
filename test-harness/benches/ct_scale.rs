//! Connect cost as open sessions pile up.
//!
//! A stepped stack (one worker, driven on this thread, so no scheduler
//! noise) holds N open ct sessions; each sample connects one more session,
//! runs the stack until the client is told it is connected (connect, accept
//! on the worker, client session, events), and is timed; the sample's
//! session is then closed, untimed, so N stays put. The p99 of the samples
//! at N = 1k anchors the p99 at N = 100k (quick: 10k):
//! `BENCH ct_scale_p99_1k_ns`, `BENCH ct_scale_p99_100k_ns`,
//! `BENCH ct_scale_p99_ratio` (target <= 2). Each p99 is the median of 3
//! batches.
//!
//! `BENCH ct_scale_session_overhead_bytes`: growth of the process's
//! anonymous memory (`RssAnon`; the fifos are memfd segments, not counted)
//! per session between the two levels, against the session's fifo pair
//! (`BENCH ct_scale_overhead_vs_fifo_pair_ratio`).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use ct_app_worker::{AppCallbacks, AppCtx, AppKind, AttachOptions, Scope, Stack};
use ct_echo::quantile;
use ct_session::{SessionEndpoint, SessionError, SessionHandle, TransportProto};
use ct_sync::Mutex;
use ct_transport_ct::{CtConfig, CtMain};
use test_harness::bench::{self, BenchArgs};

const FIFO: u32 = 4096;

fn endpoint() -> SessionEndpoint {
    SessionEndpoint::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7100, TransportProto::Tcp)
}

struct Server;
impl AppCallbacks for Server {}

/// Remembers the last session it was given.
#[derive(Default)]
struct Client {
    last: Mutex<Option<SessionHandle>>,
}

impl AppCallbacks for Client {
    fn connected(&self, _: &mut AppCtx<'_>, _: u32, r: Result<SessionHandle, SessionError>) {
        *self.last.lock() = r.ok();
    }
}

struct Bed {
    stack: Stack,
    ct: Arc<CtMain>,
    client: Arc<Client>,
    client_wrk: ct_app_worker::AppWorkerHandle,
}

impl Bed {
    fn new() -> Bed {
        let mut stack = Stack::new(1).expect("stack");
        let ct = CtMain::new(CtConfig::default());
        ct.register(stack.main(), stack.apps().clone())
            .expect("register");
        let attach = |name: &str, cb: Arc<dyn AppCallbacks>| {
            stack
                .attach(
                    AttachOptions::new(name, AppKind::Builtin(cb))
                        .with_scope(Scope::LOCAL)
                        .with_fifo_sizes(FIFO, FIFO),
                )
                .expect("attach")
        };
        let server = attach("server", Arc::new(Server));
        let client = Arc::new(Client::default());
        let c = attach("client", client.clone());
        stack.listen(server.app_wrk, endpoint()).expect("listen");
        Bed {
            stack,
            ct,
            client,
            client_wrk: c.app_wrk,
        }
    }

    fn open(&self) -> u64 {
        self.ct
            .segments()
            .iter()
            .map(|s| u64::from(s.client_n_sessions))
            .sum()
    }

    /// Opens sessions until `n` are open.
    fn grow_to(&mut self, n: u64) {
        while self.open() < n {
            let batch = (n - self.open()).min(1000);
            for _ in 0..batch {
                self.stack
                    .connect(self.client_wrk, endpoint(), 0)
                    .expect("connect");
            }
            self.stack.run_until_idle().expect("idle");
        }
    }

    /// p99 of `samples` timed connects, in ns.
    fn p99(&mut self, samples: usize) -> f64 {
        let mut t = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t0 = Instant::now();
            self.stack
                .connect(self.client_wrk, endpoint(), 0)
                .expect("connect");
            self.stack.run_until_idle().expect("idle");
            t.push(t0.elapsed().as_nanos() as u64);
            let h = self.client.last.lock().take().expect("not connected");
            self.stack.disconnect(self.client_wrk, h).expect("close");
            self.stack.run_until_idle().expect("idle");
        }
        quantile(&mut t, 0.99).unwrap_or(0) as f64
    }
}

fn rss_anon_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("RssAnon:"))?.to_string();
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0)
        * 1024
}

fn main() {
    let args = BenchArgs::from_env();
    let (low, high) = (1_000u64, args.pick(100_000u64, 10_000));
    let samples = args.pick(2_000, 500);
    let mut bed = Bed::new();
    bed.grow_to(low);
    bed.p99(200); // warm-up
    let p_low = bench::median_of_3(|| bed.p99(samples));
    let rss_low = rss_anon_bytes();
    bed.grow_to(high);
    let rss_high = rss_anon_bytes();
    let p_high = bench::median_of_3(|| bed.p99(samples));
    assert_eq!(bed.open(), high, "sessions lost");

    bench::report_ns("ct_scale_p99_1k_ns", p_low);
    bench::report_ns(&format!("ct_scale_p99_{}k_ns", high / 1000), p_high);
    bench::report_ratio("ct_scale_p99_ratio", p_high, p_low);
    let per = rss_high.saturating_sub(rss_low) as f64 / (high - low) as f64;
    bench::report("ct_scale_session_overhead_bytes", per, "bytes");
    bench::report_ratio(
        "ct_scale_overhead_vs_fifo_pair_ratio",
        per,
        2.0 * f64::from(FIFO),
    );
}
