//! How long the data plane takes to serve a rotated certificate to new
//! connections, counted from kubelet's atomic `..data` swap.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::{Result, certs::CertDir, handshake::connector};

async fn served_leaf(ca_pem: &str, api: SocketAddr) -> Result<Vec<u8>> {
    let tcp = TcpStream::connect(api).await?;
    let tls = connector(ca_pem, false)?
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate presented")?;
    Ok(leaf.to_vec())
}

/// Rotates `times` times; returns each pickup time in milliseconds.
pub async fn pickup_times(certs: &CertDir, api: SocketAddr, times: usize) -> Result<Vec<f64>> {
    let ca = certs.ca_pem();
    let mut out = Vec::with_capacity(times);
    for _ in 0..times {
        let expected = certs.rotate()?;
        let started = Instant::now();
        loop {
            if served_leaf(&ca, api).await? == expected {
                out.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("rotated certificate not served within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(out)
}
