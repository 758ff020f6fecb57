//! Start the daemon in this process, attach one app to it over its Unix
//! socket the way any program does (an `AttachReq` record; the reply
//! carries the app worker's queue segment and eventfds), look at what the
//! daemon holds, detach, and stop with nothing left behind.
//!
//! Programs normally attach with the ct-app-client crate; this example uses
//! the raw records from ct-app-interface to show what goes over the socket.
//!
//! `cargo run -p ct-stackd --example attach`

use std::time::Duration;

use ct_app_interface::sapi::SapiSocket;
use ct_app_interface::wire::{AttachReq, SapiMsg};
use ct_stackd::{Stackd, StackdConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let socket =
        std::env::temp_dir().join(format!("ct-stackd-example-{}.sock", std::process::id()));
    let daemon = Stackd::start(StackdConfig::new(&socket).with_workers(1))?;

    let app = SapiSocket::connect(&socket)?;
    app.send(
        &SapiMsg::AttachReq(AttachReq {
            name: "example-app".into(),
            ..AttachReq::default()
        }),
        &[],
    )?;
    let (reply, fds) = app.recv()?;
    let SapiMsg::AttachReply(reply) = reply else {
        return Err(format!("expected an attach reply, got {reply:?}").into());
    };
    if reply.error != 0 {
        return Err(format!("attach failed with error {}", reply.error).into());
    }
    println!(
        "attached: app {} app worker {}, {} stack threads, {} fds (mq segment, eventfds)",
        reply.app_index,
        reply.app_wrk,
        reply.n_threads,
        fds.len()
    );
    for info in daemon.apps() {
        println!(
            "the daemon sees {:?} in namespace {:?} from pid {}",
            info.name, info.namespace, info.peer.pid
        );
    }

    // Closing the socket detaches the app, as a killed process would.
    drop(app);
    let counters = daemon.wait_counters(Duration::from_secs(5), |c| c.apps == 0);
    println!("after the app went: {} apps", counters.apps);
    let left = daemon.stop();
    assert!(left.is_empty(), "leftovers: {left}");
    println!("stopped, nothing left");
    Ok(())
}
