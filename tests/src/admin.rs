//! The data plane's admin listener (plain HTTP: `/healthz`, `/readyz`,
//! `/metrics`), read the way a kubelet or Prometheus reads it.
//!
//! Depends on no other module of this crate.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on the admin listener at `addr`: the whole reply, head and body.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).await?;
    Ok(reply)
}

/// The status code of a whole HTTP/1.1 reply; 0 when it has none.
pub fn status(reply: &str) -> u16 {
    reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_the_status_line() {
        assert_eq!(status("HTTP/1.1 503 Service Unavailable\r\n\r\n"), 503);
        assert_eq!(status(""), 0);
    }
}
