//! An echo server and a client in one program, attached as two apps to a
//! `ct-stackd` (started here, in-process, on a socket of its own): the
//! server accepts on one thread and echoes, the client connects, writes and
//! reads back through fifos in shared memory. Between two programs the code
//! is the same, each with its own `AppClient`.
//!
//! `cargo run -p ct-app-client --example echo`

use std::io::{Read, Write};
use std::net::SocketAddr;

use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};
use ct_stackd::{Stackd, StackdConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let socket =
        std::env::temp_dir().join(format!("ct-app-client-echo-{}.sock", std::process::id()));
    let daemon = Stackd::start(StackdConfig::new(&socket).with_workers(1))?;
    let addr: SocketAddr = "127.0.0.1:7000".parse()?;

    let server = AppClient::attach(&socket, AttachConfig::new("echo-server"))?;
    let listener = CtListener::bind(&server, addr)?;
    let echo = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut stream, _peer) = listener.accept()?;
        // Echo until the client closes its side.
        let mut buf = [0u8; 4096];
        let mut echoed = 0;
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(echoed);
            }
            stream.write_all(&buf[..n])?;
            echoed += n as u64;
        }
    });

    let client = AppClient::attach(&socket, AttachConfig::new("echo-client"))?;
    let mut stream = CtStream::connect(&client, addr)?;
    for line in ["hello", "over ct", "bye"] {
        stream.write_all(line.as_bytes())?;
        let mut back = vec![0u8; line.len()];
        stream.read_exact(&mut back)?;
        println!(
            "client: {line:?} came back as {:?}",
            String::from_utf8_lossy(&back)
        );
    }
    drop(stream);
    let echoed = echo.join().map_err(|_| "server thread panicked")??;
    println!("server echoed {echoed} bytes");

    drop((client, server));
    let left = daemon.stop();
    assert!(left.is_empty(), "leftovers: {left}");
    Ok(())
}
