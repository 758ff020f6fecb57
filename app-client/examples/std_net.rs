//! A `std::net` program ported to ct: the server reads request lines on a
//! clone of the stream and answers on the original; the client sends its
//! requests, shuts down its write side, and reads every answer to the end
//! of the stream. Only the types changed: `TcpListener` became
//! [`CtListener`], `TcpStream` became [`CtStream`], and both take the
//! [`AppClient`] they belong to. The README shows the part between the
//! `README` markers.
//!
//! `cargo run -p ct-app-client --example std_net`

use ct_stackd::{Stackd, StackdConfig};

fn main() -> std::io::Result<()> {
    // A daemon of our own, in-process; a real program attaches to one
    // already running.
    let socket = std::env::temp_dir().join(format!("ct-std-net-{}.sock", std::process::id()));
    let daemon = Stackd::start(StackdConfig::new(&socket)).map_err(std::io::Error::other)?;
    let answers = run(&socket)?;
    assert_eq!(answers, ["HELLO", "OVER CT"]);
    let left = daemon.stop();
    assert!(left.is_empty(), "the daemon still held {left}");
    Ok(())
}

// README start
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;

use ct_app_client::{AppClient, AttachConfig, CtListener, CtStream};

fn run(socket: &std::path::Path) -> std::io::Result<Vec<String>> {
    // Each program attaches once; the default name lets copies run side by side.
    let server = AppClient::attach(socket, AttachConfig::default())?;
    let client = AppClient::attach(socket, AttachConfig::default())?;

    // Port 0: the stack picks a free port.
    let listener = CtListener::bind(&server, "127.0.0.1:0".parse().unwrap())?;
    let addr = listener.local_addr()?;

    let served = std::thread::spawn(move || -> std::io::Result<()> {
        let (stream, peer) = listener.accept()?;
        println!("server: {peer} connected to {}", stream.local_addr()?);
        let mut out = stream.try_clone()?;
        for line in BufReader::new(stream).lines() {
            writeln!(out, "{}", line?.to_uppercase())?;
        }
        Ok(()) // the client shut down its side: we saw the end, and close ours
    });

    let mut stream = CtStream::connect(&client, addr)?;
    stream.write_all(b"hello\nover ct\n")?;
    stream.shutdown(Shutdown::Write)?; // the server reads EOF, and still answers
    let mut answers = String::new();
    stream.read_to_string(&mut answers)?;
    served.join().expect("server thread")?;
    Ok(answers.lines().map(str::to_owned).collect())
}
// README end
