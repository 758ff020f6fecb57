//! Detaching an app in the middle of transfers: the peer's sessions end
//! (reset or closed), the detached app gets nothing more, and once both
//! apps are gone nothing is left: sessions, ct connections, segments,
//! segment managers.

mod common;

use std::time::Duration;

use common::*;
use ct_app_worker::{AppEvent, Scope};
use ct_echo::{EchoConfig, EchoMode, EchoRun, RunMode, get};

fn mid_transfer(run_mode: RunMode, detach_client_first: bool) {
    let mut cfg = EchoConfig::small(EchoMode::Throughput);
    cfg.run = run_mode;
    cfg.workers = 2;
    cfg.sessions = 6;
    cfg.echo = true;
    cfg.bytes = 1 << 40; // never finishes by itself
    let mut run = EchoRun::setup(cfg).unwrap();
    run.start();
    // Let every session connect and data flow.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(&run.stats.connected) < 6 || get(&run.stats.client_rx_bytes) < 1 << 20 {
        assert!(std::time::Instant::now() < deadline, "no data moved");
        match run_mode {
            RunMode::Stepping => {
                run.stack.step();
            }
            RunMode::Threaded => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    let (first, second) = if detach_client_first {
        (run.client_app().app, run.server_app().app)
    } else {
        (run.server_app().app, run.client_app().app)
    };
    run.stack.detach(first).unwrap();
    // The survivor sees its sessions end.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if run_mode == RunMode::Stepping {
            run.stack.run_until_idle().unwrap();
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
        let survivor_left = if detach_client_first {
            run.server.n_sessions()
        } else {
            run.client.session_handles().len()
        };
        if survivor_left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{survivor_left} sessions of the survivor never ended"
        );
    }
    run.stack.detach(second).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if run_mode == RunMode::Stepping {
            run.stack.run_until_idle().unwrap();
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
        let leaks = run.leaks();
        if leaks.is_clean() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{leaks:?}");
    }
    assert!(run.stack.segment_managers().is_empty());
    assert_eq!(run.stack.apps().n_apps(), 0);
}

#[test]
fn detach_client_mid_transfer_stepping() {
    mid_transfer(RunMode::Stepping, true);
}

#[test]
fn detach_server_mid_transfer_stepping() {
    mid_transfer(RunMode::Stepping, false);
}

#[test]
fn detach_client_mid_transfer_threaded() {
    mid_transfer(RunMode::Threaded, true);
}

#[test]
fn detach_server_mid_transfer_threaded() {
    mid_transfer(RunMode::Threaded, false);
}

#[test]
fn detached_external_app_with_unread_data_resets_its_peer() {
    let mut env = Env::new(1);
    let server = env.attach("server", Scope::LOCAL);
    let client = env.attach("client", Scope::LOCAL);
    env.listen(&server, 80);
    let (sf, cf) = env.establish(&server, &client, 80);
    let (mut s, mut c) = (env.io(&sf), env.io(&cf));
    // Both directions in flight, nothing read.
    c.write(&[1u8; 3000]).unwrap();
    s.write(&[2u8; 3000]).unwrap();
    env.idle();
    env.stack.detach(client.app).unwrap();
    let n = env.wait_for(&server.q, |m| {
        matches!(m, AppEvent::Disconnected(_) | AppEvent::Reset(_)).then(|| name(&m))
    });
    assert_eq!(n, Some("reset"));
    // The detached app's queue hears nothing more once drained.
    client.q.drain();
    env.stack.disconnect(server.wrk, sf.session).unwrap();
    env.idle();
    assert!(client.q.is_empty());
    drop((s, c));
    env.stack.detach(server.app).unwrap();
    env.assert_clean();
    assert!(env.stack.segment_managers().is_empty());
}
