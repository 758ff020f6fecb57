//! A tokio echo server and its client over ct, on one current-thread
//! runtime: the server accepts and echoes each session with
//! `tokio::io::copy` on its halves; each client writes its request, shuts
//! down its write side and reads the echo to the end. As with tokio's
//! `TcpListener` / `TcpStream`, only the types changed, and both take the
//! [`AppClient`] they belong to. The README shows the part between the
//! `README` markers.
//!
//! `cargo run -p ct-app-client --features tokio --example tokio_echo`

use ct_stackd::{Stackd, StackdConfig};

fn main() -> std::io::Result<()> {
    // A daemon of our own, in-process; a real program attaches to one
    // already running.
    let socket = std::env::temp_dir().join(format!("ct-tokio-echo-{}.sock", std::process::id()));
    let daemon = Stackd::start(StackdConfig::new(&socket)).map_err(std::io::Error::other)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let echoed = rt.block_on(run(&socket))?;
    assert_eq!(echoed, ["ping 0", "ping 1", "ping 2"]);
    drop(rt);
    let left = daemon.stop();
    assert!(left.is_empty(), "the daemon still held {left}");
    Ok(())
}

// README start
use ct_app_client::tokio::{CtListener, CtStream};
use ct_app_client::{AppClient, AttachConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn run(socket: &std::path::Path) -> std::io::Result<Vec<String>> {
    let server = AppClient::attach(socket, AttachConfig::default())?;
    let client = AppClient::attach(socket, AttachConfig::default())?;

    let listener = CtListener::bind(&server, "127.0.0.1:0".parse().unwrap())?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _peer)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut rd, mut wr) = stream.split();
                tokio::io::copy(&mut rd, &mut wr).await?;
                wr.shutdown().await // the client reads the end of the echo
            });
        }
    });

    let mut echoed = Vec::new();
    for i in 0..3 {
        let mut stream = CtStream::connect(&client, addr).await?;
        stream.write_all(format!("ping {i}").as_bytes()).await?;
        stream.shutdown().await?; // our end of the request: the copy ends
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        echoed.push(answer);
    }
    Ok(echoed)
}
// README end
