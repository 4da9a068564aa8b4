//! Holds `N` listeners on a server's `GET /products/stream` for `scripts/bench.sh`: opens them
//! all, prints `ready N` once every one has its 200, reads and discards what they send, and
//! on SIGTERM or Ctrl-C prints `bytes B` (all listeners' bytes) and exits.
//!
//!   stream_listeners 127.0.0.1:8080 300

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn listen(addr: String, bytes: Arc<AtomicU64>, ready: tokio::sync::mpsc::Sender<()>) {
    let mut socket = TcpStream::connect(&addr).await.expect("connect");
    let request = format!("GET /products/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut buf = vec![0u8; 64 * 1024];
    let n = socket.read(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let _ = ready.send(()).await;
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => bytes.fetch_add(n as u64, Ordering::Relaxed),
        };
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect("usage: stream_listeners ADDR N");
    let n: usize = args.next().and_then(|n| n.parse().ok()).expect("N");
    let bytes = Arc::new(AtomicU64::new(0));
    let (ready, mut readies) = tokio::sync::mpsc::channel(n);
    for _ in 0..n {
        tokio::spawn(listen(addr.clone(), bytes.clone(), ready.clone()));
    }
    for _ in 0..n {
        readies.recv().await.expect("a listener connected");
    }
    println!("ready {n}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("bytes {}", bytes.load(Ordering::Relaxed));
}
