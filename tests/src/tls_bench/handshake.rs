//! New-connection load with full handshakes, which wrk cannot make: wrk (like
//! h2load) keeps each connection slot's TLS session and resumes it on the
//! next connection, so its `Connection: close` run measures resumed
//! handshakes. This client never resumes: every connection costs the server
//! a key exchange and a certificate signature.
//!
//! Like wrk, [`crate::tls_bench::CONNECTIONS`] connections each loop: connect,
//! handshake, `GET` with `Connection: close`, read the whole response, close.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::{
    ClientConfig, RootCertStore,
    client::Resumption,
    crypto::aws_lc_rs,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use super::{CONNECTIONS, Result, wrk::Report};

/// Longest a single connection may take before it counts as an error.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

const REQUEST: &[u8] =
    b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// A client trusting `ca_pem` that offers what wrk's OpenSSL offers (TLS 1.3
/// and 1.2, an X25519 key share) and, with `resume`, resumes sessions.
pub fn connector(ca_pem: &str, resume: bool) -> Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
    let provider = rustls::crypto::CryptoProvider {
        kx_groups: vec![aws_lc_rs::kx_group::X25519],
        ..aws_lc_rs::default_provider()
    };
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.resumption = Resumption::disabled();
    }
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Length of a complete response in `seen`, once its head and body are in.
fn complete_len(seen: &[u8]) -> Option<usize> {
    let head_end = seen.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&seen[..head_end]).ok()?;
    let body = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    })?;
    (seen.len() >= head_end + body).then_some(head_end + body)
}

/// One connection: handshake, one request, the whole response. Returns
/// whether the session was resumed.
async fn one(connector: &TlsConnector, api: SocketAddr) -> Result<bool> {
    let tcp = TcpStream::connect(api).await?;
    tcp.set_nodelay(true)?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    tls.write_all(REQUEST).await?;
    let mut seen = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while complete_len(&seen).is_none() {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Err("connection closed before the response ended".into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    if !seen.starts_with(b"HTTP/1.1 200") {
        return Err("the response was not 200 OK".into());
    }
    let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    Ok(resumed)
}

/// Drives `api` for `duration` with full handshakes; wrk's report figures.
pub async fn full(ca_pem: &str, api: SocketAddr, duration: Duration) -> Result<Report> {
    let connector = connector(ca_pem, false)?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let connector = connector.clone();
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                match tokio::time::timeout(CONNECTION_TIMEOUT, one(&connector, api)).await {
                    Ok(Ok(_)) => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (l, e) = done?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies
            .get(i)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Report {
        requests_per_s: latencies.len() as f64 / elapsed,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        errors,
    })
}

/// Whether `api` resumes a session: the second of two connections from a
/// client that keeps tickets comes back resumed.
pub async fn resumes(ca_pem: &str, api: SocketAddr) -> Result<bool> {
    let connector = connector(ca_pem, true)?;
    one(&connector, api).await?;
    one(&connector, api).await
}

#[cfg(test)]
mod tests {
    use super::complete_len;

    #[test]
    fn a_response_is_complete_once_its_body_is_in() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(complete_len(head), None);
        assert_eq!(complete_len(&[&head[..], b"{"].concat()), None);
        assert_eq!(
            complete_len(&[&head[..], b"{}"].concat()),
            Some(head.len() + 2)
        );
    }
}
