//! A minimal echo over ct in one process: a stack with one worker thread,
//! the builtin echo server and client, two sessions that each send 8 MiB
//! and get them back checksummed, then the report.
//!
//! ```text
//! cargo run -p ct-echo --example echo_in_process
//! ```

use std::process::ExitCode;

use ct_echo::{EchoConfig, EchoMode, EchoRun, RunMode};

fn main() -> ExitCode {
    // Start from the small test sizes (64 KiB fifos, 4 MiB segments) and
    // run the workers on their own thread, as the ct-echo program does.
    let mut cfg = EchoConfig::small(EchoMode::Throughput);
    cfg.run = RunMode::Threaded;
    cfg.workers = 1;
    cfg.sessions = 2;
    cfg.bytes = 8 << 20;
    cfg.echo = true;
    // No progress bar here: the run takes a moment.
    match EchoRun::run(cfg, &mut |_| {}) {
        Ok(report) => {
            print!("{}", report.table());
            if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("echo_in_process: {e}");
            ExitCode::FAILURE
        }
    }
}
