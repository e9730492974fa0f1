//! Fixtures for the data plane's integration tests: a server on loopback
//! ports with a CA-issued certificate in a kubelet-style directory, and real
//! TLS clients (rustls, and openssl/curl subprocesses).

#![allow(dead_code, unreachable_pub)]

pub mod imap;

use std::{
    net::SocketAddr,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, header::HeaderMap};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::{
    ClientConfig, RootCertStore, SupportedProtocolVersion,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use rustymail_dataplane::{
    config::Config,
    server::{Server, api},
    shutdown::Shutdown,
};
use tokio::{net::TcpStream, sync::oneshot};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// A CA and a kubelet-style Secret volume holding a leaf it issued.
pub struct CertDir {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
    generation: AtomicUsize,
}

impl CertDir {
    /// A fresh CA and a first leaf for `localhost` and `127.0.0.1`.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "RustyMail test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key"))
            .expect("CA certificate");
        let certs = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            ca,
            generation: AtomicUsize::new(0),
        };
        let (cert, key) = certs.issue();
        certs.publish(&cert, &key);
        symlink("..data/tls.crt", certs.path().join("tls.crt")).expect("link");
        symlink("..data/tls.key", certs.path().join("tls.key")).expect("link");
        certs
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate in PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A new leaf certificate and key, in PEM.
    pub fn issue(&self) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &self.ca)
            .expect("leaf");
        (cert.pem(), key.serialize_pem())
    }

    /// Writes `cert` and `key` exactly as kubelet does: a new `..<timestamp>`
    /// folder, a `..data_tmp` symlink renamed over `..data`, the old folder
    /// removed. Returns the leaf's DER (empty if `cert` does not parse).
    pub fn publish(&self, cert: &str, key: &str) -> Vec<u8> {
        let n = self.generation.fetch_add(1, Ordering::SeqCst);
        let folder = format!("..2026_01_01_00_00_00.{n:06}");
        let d = self.path();
        std::fs::create_dir(d.join(&folder)).expect("mkdir");
        std::fs::write(d.join(&folder).join("tls.crt"), cert).expect("write");
        std::fs::write(d.join(&folder).join("tls.key"), key).expect("write");
        let old = std::fs::read_link(d.join("..data")).ok();
        symlink(&folder, d.join("..data_tmp")).expect("link");
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("rename");
        if let Some(old) = old {
            std::fs::remove_dir_all(d.join(old)).expect("remove old folder");
        }
        first_der(cert).unwrap_or_default()
    }

    /// Issues and publishes a new leaf; returns its DER.
    pub fn rotate(&self) -> Vec<u8> {
        let (cert, key) = self.issue();
        self.publish(&cert, &key)
    }
}

/// The DER of the first certificate in `pem`, `None` if there is none.
fn first_der(pem: &str) -> Option<Vec<u8>> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|c| c.to_vec())
}

/// The DER of the first certificate in `pem`.
pub fn leaf_der(pem: &str) -> Vec<u8> {
    first_der(pem).expect("PEM certificate")
}

/// The config every test starts from: loopback ports chosen by the OS, the
/// certificate directory, short deadlines. Credentials are optional and the
/// budgets out of reach, so that tests of other things need neither; the
/// authentication and rate-limit tests turn them back on.
pub fn test_config(cert_dir: &Path) -> Config {
    let yaml = format!(
        r#"
listen: {{ api: "127.0.0.1:0", admin: "127.0.0.1:1", redirect: "127.0.0.1:2" }}
tls: {{ certDir: "{}", reloadInterval: 30s }}
limits: {{ headerReadTimeout: 2s, bodyReadTimeout: 2s, shutdownGracePeriod: 5s }}
auth: {{ apiKeys: {{ required: false }} }}
rateLimits: {{ perIp: 999999999/second, perUser: 999999999/second, perApiKey: 999999999/second }}
accounts:
  - name: test
    imap: {{ host: imap.invalid }}
    usernameFile: /dev/null
    passwordFile: /dev/null
"#,
        cert_dir.display()
    );
    let mut config = Config::parse(&yaml).expect("test config parses");
    config.validate().expect("test config is valid");
    // Distinct in validation, then all on OS-chosen ports.
    config.listen.admin = "127.0.0.1:0".parse().expect("addr");
    config.listen.redirect = Some("127.0.0.1:0".parse().expect("addr"));
    config
}

/// The API routes over one account whose IMAP server is never reached.
pub fn api_routes() -> axum::Router {
    let config = Config::parse(
        "accounts: [{name: test, imap: {host: imap.invalid}, usernameFile: /dev/null, passwordFile: /dev/null}]",
    )
    .expect("config");
    let accounts = rustymail_dataplane::imap::Accounts::new(
        &config.accounts,
        &rustymail_dataplane::metrics::Metrics::new(),
    )
    .expect("accounts");
    api::routes(api::ApiState {
        mail: rustymail_dataplane::service::MailService::new(accounts),
    })
}

/// A running in-process server.
pub struct TestServer {
    pub api: SocketAddr,
    pub admin: SocketAddr,
    pub redirect: Option<SocketAddr>,
    pub certs: CertDir,
    pub shutdown: Shutdown,
    /// Completes when the server has stopped.
    pub task: oneshot::Receiver<()>,
    /// Stops the server when a test ends early (a failed assertion), so
    /// that the test fails instead of waiting for the server forever.
    _stop_on_drop: StopOnDrop,
}

/// Triggers a shutdown when dropped.
struct StopOnDrop(Shutdown);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

impl TestServer {
    /// Starts a server with the default test config changed by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(api_routes(), tweak).await
    }

    /// Starts a server serving `routes`. It runs as in production: on a
    /// multi-threaded runtime of its own, so that its connections are served
    /// on other threads than the test's clients, with the same races.
    pub async fn start_with(routes: axum::Router, tweak: impl FnOnce(&mut Config)) -> Self {
        let certs = CertDir::new();
        let mut config = test_config(certs.path());
        tweak(&mut config);
        let shutdown = Shutdown::new();
        let (bound, addresses) = oneshot::channel();
        let (stopped, task) = oneshot::channel();
        let run = shutdown.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let server = Server::bind(config, routes).await.expect("server binds");
                let _ = bound.send((
                    server.api_addr(),
                    server.admin_addr(),
                    server.redirect_addr(),
                ));
                server.run(run).await;
            });
            let _ = stopped.send(());
        });
        let (api, admin, redirect) = addresses.await.expect("server started");
        Self {
            api,
            admin,
            redirect,
            certs,
            _stop_on_drop: StopOnDrop(shutdown.clone()),
            shutdown,
            task,
        }
    }

    /// A rustls client trusting the test CA, speaking `versions` and offering `alpn`.
    pub fn client(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> TlsConnector {
        client_for(&self.certs.ca_pem(), versions, alpn)
    }

    /// A TLS 1.3/1.2 connection offering ALPN `alpn`.
    pub async fn connect(&self, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.api).await.expect("connect");
        self.client(rustls::ALL_VERSIONS, alpn)
            .connect(server_name(), tcp)
            .await
            .expect("TLS handshake")
    }

    /// An HTTP/1.1 connection over TLS.
    pub async fn h1(&self) -> Http1 {
        Http1::over(self.connect(&[b"http/1.1"]).await).await
    }

    /// `GET path` on a new HTTP/1.1 connection.
    pub async fn get(&self, path: &str) -> Reply {
        self.h1().await.send(get(path)).await.expect("response")
    }

    /// `GET /api/v1/status` with `headers`, on a new HTTP/1.1 connection.
    pub async fn status_with(&self, headers: &[(&str, &str)]) -> Reply {
        self.h1()
            .await
            .send(request("GET", "/api/v1/status", headers, ""))
            .await
            .expect("reply")
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let tcp = TcpStream::connect(self.admin).await.expect("connect");
        let reply = Http1::over(tcp)
            .await
            .send(get("/metrics"))
            .await
            .expect("metrics");
        String::from_utf8_lossy(&reply.body).into_owned()
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.expect("server task");
    }
}

/// The name the test certificate is issued for.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("name")
}

/// A rustls client trusting `ca_pem`.
pub fn client_for(
    ca_pem: &str,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("CA added");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// A `GET` request.
pub fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::default())
        .expect("request")
}

/// An HTTP/1.1 client connection.
pub struct Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Http1 {
    /// Speaks HTTP/1.1 on `io`.
    pub async fn over<I>(io: I) -> Self
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        Self(sender)
    }

    /// Sends `req` and reads the whole response.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
        self.0.ready().await?;
        let res = self.0.send_request(req).await?;
        read(res).await
    }
}

/// An HTTP/2 client connection.
pub struct Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>);

impl Http2 {
    /// Speaks HTTP/2 on `io`.
    pub async fn over<I>(io: I) -> Self
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(conn);
        Self(sender)
    }

    /// Sends `req` and reads the whole response.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
        self.0.ready().await?;
        let res = self.0.send_request(req).await?;
        read(res).await
    }
}

async fn read(res: hyper::Response<hyper::body::Incoming>) -> Result<Reply, hyper::Error> {
    let (parts, body) = res.into_parts();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await?.to_bytes(),
    })
}

/// The DER of the certificate the server presents on a new connection.
pub async fn served_leaf(connector: &TlsConnector, api: SocketAddr) -> Vec<u8> {
    let tcp = TcpStream::connect(api).await.expect("connect");
    let tls = connector
        .connect(server_name(), tcp)
        .await
        .expect("handshake");
    let (_, session) = tls.get_ref();
    session
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("server presented a certificate")
        .to_vec()
}

/// Runs `openssl s_client` against `addr` with `args`; returns its combined output.
pub async fn s_client(addr: SocketAddr, args: &[&str]) -> String {
    let out = tokio::process::Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE, out)
        .await
        .expect("openssl s_client finishes")
        .expect("openssl is installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes `text` to a file `name` in `dir`, returning its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// Upper bound on any single wait in these tests, so a broken server fails
/// the test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A kubelet-style Secret volume of credentials files: each file is a
/// symlink through `..data`, swapped atomically by [`SecretDir::publish`].
pub struct SecretDir {
    dir: tempfile::TempDir,
    generation: AtomicUsize,
}

impl SecretDir {
    /// A volume holding `files` (`(name, contents)`).
    pub fn new(files: &[(&str, &str)]) -> Self {
        let secrets = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            generation: AtomicUsize::new(0),
        };
        secrets.publish(files);
        for (name, _) in files {
            symlink(format!("..data/{name}"), secrets.path().join(name)).expect("link");
        }
        secrets
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of the file `name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// Replaces every file at once, as kubelet does on a Secret update.
    pub fn publish(&self, files: &[(&str, &str)]) {
        let n = self.generation.fetch_add(1, Ordering::SeqCst);
        let folder = format!("..2026_01_01_00_00_00.{n:06}");
        let d = self.path();
        std::fs::create_dir(d.join(&folder)).expect("mkdir");
        for (name, text) in files {
            std::fs::write(d.join(&folder).join(name), text).expect("write");
        }
        let old = std::fs::read_link(d.join("..data")).ok();
        symlink(&folder, d.join("..data_tmp")).expect("link");
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("rename");
        if let Some(old) = old {
            std::fs::remove_dir_all(d.join(old)).expect("remove old folder");
        }
    }
}

/// A request of `method` to `path` with the extra `headers` and `body`.
pub fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request")
}
