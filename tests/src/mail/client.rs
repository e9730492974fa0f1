//! An HTTPS client of the data plane's API: one kept-alive HTTP/1.1
//! connection, trusting the test CA.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Result;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One kept-alive HTTPS connection to the API.
pub struct ApiClient {
    sender: SendRequest<Full<Bytes>>,
}

/// A TLS client trusting `ca_pem` only.
pub fn tls_connector(ca_pem: &str) -> Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Percent-encodes a path segment (a folder name).
pub fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ApiClient {
    /// Connects to `addr` over TLS, trusting `ca_pem`.
    pub async fn connect(addr: SocketAddr, ca_pem: &str) -> Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let tls = tls_connector(ca_pem)?
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Sends `method path` with `body` of `content_type`.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply> {
        self.send_with(method, path, &[], body).await
    }

    /// As [`ApiClient::send`], with the extra request `headers`.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                Full::new(Bytes::from(bytes))
            }
            None => Full::default(),
        };
        self.sender.ready().await?;
        let response = self.sender.send_request(request.body(body)?).await?;
        let (parts, body) = response.into_parts();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await?.to_bytes(),
        })
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    /// Appends the raw message `raw` to `folder` (`POST …/emails` of the
    /// first account) and expects it stored (201).
    pub async fn append(&mut self, folder: &str, raw: Vec<u8>) -> Result<()> {
        let path = super::harness::folder_path(folder, "/emails", None);
        let reply = self
            .send(Method::POST, &path, Some(("message/rfc822", raw)))
            .await?;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        Ok(())
    }

    /// `method path` with a JSON body.
    pub async fn json(
        &mut self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<Reply> {
        self.send(
            method,
            path,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }
}
