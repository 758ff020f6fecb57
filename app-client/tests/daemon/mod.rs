//! A real `ct-stackd` in this process for end-to-end tests, and an echo
//! peer attached to it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a test waits for the daemon's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

use ct_app_client::{AppClient, AttachConfig, CtConnecting, CtListener, CtStream};
use ct_stackd::{Stackd, StackdConfig};

/// A daemon on a socket of its own.
pub struct Daemon {
    pub sock: PathBuf,
    stackd: Option<Stackd>,
}

impl Daemon {
    /// Starts one; `tag` makes its socket path unique among the tests.
    pub fn start(tag: &str) -> Daemon {
        let sock =
            std::env::temp_dir().join(format!("ct-app-client-{tag}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&sock);
        let stackd = Stackd::start(StackdConfig::new(&sock).with_workers(1)).unwrap();
        Daemon {
            sock,
            stackd: Some(stackd),
        }
    }

    /// An app attached as `name`.
    pub fn attach(&self, name: &str) -> AppClient {
        AppClient::attach(&self.sock, AttachConfig::new(name)).unwrap()
    }

    /// A local address on `port`.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A connected stream of `client` and the one `listener` accepted for
    /// it (the connect completes once the server side answered the
    /// accept, so both go on in this one thread).
    pub fn pair(&self, client: &AppClient, listener: &CtListener) -> (CtStream, CtStream) {
        let addr = listener.local_addr().unwrap();
        let pending = CtConnecting::start(client, addr).unwrap();
        let (srv, _) = listener.accept().unwrap();
        (pending.finish(Some(TIMEOUT)).unwrap(), srv)
    }

    /// Stops the daemon while apps may still be attached (they see it
    /// go).
    pub fn kill(&mut self) {
        if let Some(s) = self.stackd.take() {
            s.stop();
        }
    }

    /// Stops it, checking that the apps left nothing behind.
    pub fn stop(mut self) {
        let left = self.stackd.take().unwrap().stop();
        assert!(left.is_empty(), "leftovers: {left}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.sock);
    }
}

/// An app `name` listening on `port` that echoes one session until its
/// end; the thread returns the bytes echoed, after detaching.
pub fn echo_peer(d: &Daemon, name: &str, port: u16) -> JoinHandle<u64> {
    let app = d.attach(name);
    let listener = CtListener::bind(&app, d.addr(port)).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 32 << 10];
        let mut echoed = 0;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                drop((s, listener, app));
                return echoed;
            }
            s.write_all(&buf[..n]).unwrap();
            echoed += n as u64;
        }
    })
}
