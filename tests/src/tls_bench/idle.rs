//! Memory per idle TLS connection: the servers' resident memory before and
//! after opening many TLS connections that each served one request and then
//! stay open, idle.

use std::{net::SocketAddr, time::Duration};

use rustls::pki_types::ServerName;
use rustymail_tests::bench::status_bytes;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

use super::{BODY, Result, handshake::connector};

/// A TLS connection to `api` that has served one request.
async fn open(connector: &TlsConnector, api: SocketAddr) -> Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(api).await?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    while !String::from_utf8_lossy(&seen).ends_with(BODY) {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Err("connection closed before the response ended".into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(tls)
}

/// Resident memory of `pids`, in bytes.
fn rss(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| status_bytes(*pid, "VmRSS"))
        .sum()
}

/// The servers' (`pids`) resident memory per idle connection, over `n` connections.
pub async fn bytes_per_connection(
    pids: &dyn Fn() -> Vec<u32>,
    ca_pem: &str,
    api: SocketAddr,
    n: usize,
) -> Result<f64> {
    let connector = connector(ca_pem, false)?;
    // Warm up: lazily built state is not per-connection cost.
    let warm: Vec<_> = futures_open(&connector, api, 32).await?;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss(&pids());
    let held = futures_open(&connector, api, n).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss(&pids());
    drop(held);
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// Opens `n` connections, 50 at a time.
async fn futures_open(
    connector: &TlsConnector,
    api: SocketAddr,
    n: usize,
) -> Result<Vec<TlsStream<TcpStream>>> {
    let mut held = Vec::with_capacity(n);
    while held.len() < n {
        let batch = (n - held.len()).min(50);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let connector = connector.clone();
            tasks.spawn(async move { open(&connector, api).await });
        }
        while let Some(done) = tasks.join_next().await {
            held.push(done??);
        }
    }
    Ok(held)
}
