//! Two apps on one stack, stepped on this thread, over the cut-through
//! transport: a builtin echo server (callbacks run on the stack's worker)
//! and a client that receives its events on a queue. ct pairs the client's
//! session with the server's through one fifo pair in a shared segment;
//! the bytes never pass through the transport, only the events do.
//!
//! `cargo run -p ct-transport-ct --example builtin_echo`

use std::net::Ipv4Addr;
use std::sync::Arc;

use ct_app_worker::{
    AppCallbacks, AppCtx, AppEvent, AppKind, AppSession, AttachOptions, Scope, Stack,
};
use ct_session::{SessionEndpoint, SessionHandle, TransportProto};
use ct_transport_ct::{CtConfig, CtMain};

/// Writes back whatever arrives, from the worker's thread.
struct EchoServer;

impl AppCallbacks for EchoServer {
    fn rx(&self, ctx: &mut AppCtx<'_>, session: SessionHandle) {
        let Ok(mut io) = ctx.session_io(session) else {
            return;
        };
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = io.read(&mut buf) {
            // A full tx fifo would drop the rest here; the example's
            // messages are far smaller than a fifo.
            let _ = io.write(&buf[..n]);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stack = Stack::new(0)?;
    let ct = CtMain::new(CtConfig::default());
    ct.register(stack.main(), stack.apps().clone())?;

    let local = |name, kind| AttachOptions::new(name, kind).with_scope(Scope::LOCAL);
    let server = stack.attach(local("echo", AppKind::Builtin(Arc::new(EchoServer))))?;
    let client = stack.attach(local("client", AppKind::InProcess))?;
    let queue = client.queue.ok_or("a queue app has a queue")?;

    let ep = SessionEndpoint::new(Ipv4Addr::LOCALHOST.into(), 9000, TransportProto::Tcp);
    stack.listen(server.app_wrk, ep)?;
    stack.connect(client.app_wrk, ep, 7)?;
    stack.run_until_idle()?;
    let fifos = queue
        .drain()
        .into_iter()
        .find_map(|m| match m {
            AppEvent::Connected { opaque: 7, result } => Some(result),
            _ => None,
        })
        .ok_or("no connect reply")??;
    println!("connected over ct: {} segment(s)", ct.segments().len());

    let mut session = AppSession::from_fifos(stack.main().clone(), &fifos)?;
    for msg in ["ping", "cut-through"] {
        session.write(msg.as_bytes())?;
        stack.run_until_idle()?; // the server's rx callback echoes
        let mut back = [0u8; 64];
        let n = session.read(&mut back)?;
        println!(
            "sent {msg:?}, got {:?}",
            String::from_utf8_lossy(&back[..n])
        );
    }

    stack.disconnect(client.app_wrk, fifos.session)?;
    stack.run_until_idle()?;
    stack.detach(client.app)?;
    stack.detach(server.app)?;
    stack.run_until_idle()?;
    println!("after both apps left: {} segment(s)", ct.segments().len());
    assert!(ct.segments().is_empty(), "ct left a segment behind");
    Ok(())
}
