//! `ct-echo`: an echo server and an echo client over the ct transport and
//! a report of what they did: in one process with a stack started here
//! (default); as three processes (`--processes`: stackd, server, client,
//! this program re-executed in each role); or one of the apps against a
//! running `ct-stackd` (`server`, `client`).
//!
//! ```text
//! cargo run --release --bin ct-echo                         # 8 GiB, 1 session
//! cargo run --release --bin ct-echo -- --mode rr --workers 1
//! cargo run --release --bin ct-echo -- --mode cps --sessions 100000
//! cargo run --release --bin ct-echo -- --sessions 8 --bytes 256m --echo --json
//! cargo run --release --bin ct-echo -- --processes --bytes 1g --echo
//!
//! ct-stackd --socket /tmp/ct.sock &                     # or any running daemon
//! ct-echo server --socket /tmp/ct.sock --echo &
//! ct-echo client --socket /tmp/ct.sock --echo --bytes 1g
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use ct_echo::{EchoConfig, EchoRun, Progress, Role, RunOptions, run_processes};
use indicatif::{ProgressBar, ProgressStyle};

/// Echo server and client over ct: in one process (default), as three
/// processes (`--processes`), or one app against a running ct-stackd
/// (`server`, `client`).
#[derive(Debug, Parser)]
#[command(
    name = "ct-echo",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// Run one app against a running ct-stackd instead.
    #[command(subcommand)]
    role: Option<Role>,
    /// Workers besides main.
    #[arg(long, default_value_t = 1)]
    workers: u32,
    #[command(flatten)]
    run: RunOptions,
    /// Also print the `show session` view (sessions held open for it).
    #[arg(long, conflicts_with = "processes")]
    verbose: bool,
    /// Run stackd, the server and the client as three processes (this
    /// program re-executed), talking over the app socket and shared memory.
    #[arg(long)]
    processes: bool,
    /// With --processes: stackd's workers poll instead of sleeping.
    #[arg(long, requires = "processes")]
    poll: bool,
    /// With --processes: the apps spin on their queues instead of
    /// sleeping on their event fd.
    #[arg(long, requires = "processes")]
    busy_poll: bool,
}

impl Args {
    fn config(&self) -> Result<EchoConfig, String> {
        let mut cfg = self.run.config(self.workers)?;
        cfg.hold_open = self.verbose;
        Ok(cfg)
    }
}

/// A progress bar that appears once a run has lasted a moment.
struct Bar {
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Bar {
    fn update(&mut self, p: &Progress) {
        if !self.enabled || p.elapsed < Duration::from_millis(500) {
            return;
        }
        let bytes = p.total_bytes > 0;
        let bar = self.bar.get_or_insert_with(|| {
            let (len, tpl) = if bytes {
                (
                    p.total_bytes,
                    "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
            } else {
                (
                    p.sessions,
                    "{elapsed_precise} [{bar:40}] {pos}/{len} connects {per_sec}",
                )
            };
            let b = ProgressBar::new(len);
            if let Ok(style) = ProgressStyle::with_template(tpl) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        bar.set_position(if bytes { p.bytes } else { p.sessions_done });
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// A role's verdict as an exit status.
fn role_exit(r: std::io::Result<bool>) -> ExitCode {
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ct-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bad_option(msg: String) -> ! {
    // Exits with status 2, as for any bad option.
    Args::command()
        .error(ErrorKind::ValueValidation, msg)
        .exit()
}

fn main() -> ExitCode {
    let args = Args::parse();
    match &args.role {
        Some(Role::Stackd(r)) => {
            if let Err(e) = r.config() {
                bad_option(e);
            }
            return role_exit(r.run());
        }
        Some(Role::Server(r)) => return role_exit(r.run()),
        Some(Role::Client(r)) => {
            if let Err(e) = r.config() {
                bad_option(e);
            }
            return role_exit(r.run());
        }
        None => {}
    }
    if args.processes {
        return processes(&args);
    }
    let cfg = match args.config() {
        Ok(c) => c,
        Err(msg) => bad_option(msg),
    };
    let mut bar = Bar {
        bar: None,
        enabled: !args.run.json,
    };
    let result = EchoRun::run(cfg, &mut |p| bar.update(p));
    bar.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ct-echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.run.json {
        println!("{}", report.json());
    } else {
        if args.verbose {
            println!("show session verbose:");
            for l in &report.show_session {
                println!("  {l}");
            }
            println!();
            print!("{}", report.counters);
            println!();
        }
        print!("{}", report.table());
    }
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--processes`: this program three times (stackd, server, client).
fn processes(args: &Args) -> ExitCode {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(msg) => bad_option(msg),
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ct-echo: cannot find this program to re-run it: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match run_processes(&exe, &cfg, args.poll, args.busy_poll) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ct-echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.run.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
