//! Closes and detaches in the orders a multi-process run produces them: a
//! client closes its session with bytes the server has not read yet (its
//! close waits for them: VPP's app-closed state), the client app may
//! detach (its process exits) before the server reads, closes or detaches.
//! Whatever the order, once both apps are gone the daemon holds nothing.
//! (Apps over app-client in this process, the daemon too, so every step
//! happens in a known order.)

mod xproc_common;

use std::io::{Read, Write};
use std::time::Duration;

use ct_app_client::{CtListener, CtStream};
use xproc_common::*;

#[derive(Debug, Clone, Copy)]
struct Order {
    /// The client app detaches right after its close.
    client_detaches_first: bool,
    /// The server closes its session before detaching (else the detach
    /// closes it).
    server_closes_first: bool,
    /// The server reads what was sent before it goes.
    server_reads: bool,
}

fn run(o: Order, port: u16) {
    let (d, path) = daemon("close");
    let server = attach(&path, "server");
    let l = CtListener::bind(&server, addr(port)).unwrap();
    let client = attach(&path, "client");
    let (mut s, mut c) = std::thread::scope(|sc| {
        let h = sc.spawn(|| l.accept().unwrap().0);
        let c = CtStream::connect(&client, addr(port)).unwrap();
        (h.join().unwrap(), c)
    });
    c.write_all(&[7u8; 1000]).unwrap();
    drop(c);
    let client = if o.client_detaches_first {
        client.detach().unwrap();
        None
    } else {
        Some(client)
    };
    // The close reached the stack (the client's session waits for the
    // server to read before it is freed).
    std::thread::sleep(Duration::from_millis(50));
    if o.server_reads {
        let mut buf = Vec::new();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.read_to_end(&mut buf).unwrap();
        assert_eq!(buf.len(), 1000, "{o:?}");
    }
    let held = if o.server_closes_first {
        drop(s);
        std::thread::sleep(Duration::from_millis(20));
        None
    } else {
        Some(s)
    };
    drop(l);
    server.detach().unwrap();
    drop((held, client));
    wait_counters(&d, &format!("nothing left after {o:?}"), |c| c.is_empty());
    assert!(d.stop().is_empty(), "{o:?}");
}

#[test]
fn every_order_of_closes_and_detaches_leaves_nothing() {
    let mut port = 4900;
    for client_detaches_first in [false, true] {
        for server_closes_first in [false, true] {
            for server_reads in [false, true] {
                run(
                    Order {
                        client_detaches_first,
                        server_closes_first,
                        server_reads,
                    },
                    port,
                );
                port += 1;
            }
        }
    }
}
