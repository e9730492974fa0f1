//! A fault-injection proxy between the operator and the real API server:
//! HTTPS in (its own certificate, trusted through the operator's
//! kubeconfig), HTTPS out to kube-apiserver. Requests pass through
//! unchanged, Authorization included, so the API server still
//! authenticates and authorizes the operator; rules matched by verb,
//! resource and field manager answer with a `Status` (409, 429, 500, 503)
//! or add latency, seeded; watches end after a time or a number of events;
//! API groups can be hidden from discovery (`/apis`), as if not installed.
//!
//! Depends on no other module of this crate.

mod faults;
mod request;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{
    Request, Response,
    body::{Frame, Incoming},
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use rustls::{
    ClientConfig, RootCertStore, ServerConfig,
    crypto::aws_lc_rs,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use faults::{Action, FaultRule, Faults, Trigger, WatchFaults};
pub use request::RequestInfo;

type Body = BoxBody<Bytes, hyper::Error>;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Its certificate or TLS configuration.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// Its listening socket.
    #[error("listening on 127.0.0.1: {0}")]
    Listen(#[from] std::io::Error),
    /// The upstream URL is not `https://HOST:PORT`.
    #[error("upstream {0} is not https://HOST:PORT")]
    Upstream(String),
}

/// One request the proxy answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// What it was.
    pub request: RequestInfo,
    /// The HTTP code returned (injected or the API server's).
    pub code: u16,
    /// Whether the proxy made the answer up.
    pub injected: bool,
}

struct State {
    faults: Faults,
    hidden_groups: Vec<String>,
    log: Vec<Served>,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    ca_pem: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

struct Upstream {
    addr: String,
    connector: TlsConnector,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (the API server's
    /// `https://127.0.0.1:PORT`, whose certificate `upstream_ca_pem` signs);
    /// `seed` drives the random faults.
    pub async fn start(
        upstream: &str,
        upstream_ca_pem: &str,
        seed: u64,
    ) -> Result<Self, ProxyError> {
        let addr = upstream
            .strip_prefix("https://")
            .map(|a| a.trim_end_matches('/').to_owned())
            .ok_or_else(|| ProxyError::Upstream(upstream.to_owned()))?;
        let tls = |e: &dyn std::fmt::Display| ProxyError::Tls(e.to_string());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(upstream_ca_pem.as_bytes()).map_err(|e| tls(&e))?)
            .map_err(|e| tls(&e))?;
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        let upstream = Arc::new(Upstream {
            addr,
            connector: TlsConnector::from(Arc::new(client)),
        });

        let own = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .map_err(|e| tls(&e))?;
        let key = PrivateKeyDer::try_from(own.signing_key.serialize_der()).map_err(|e| tls(&e))?;
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_no_client_auth()
            .with_single_cert(vec![own.cert.der().clone()], key)
            .map_err(|e| tls(&e))?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(server));

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            faults: Faults::new(seed),
            hidden_groups: Vec::new(),
            log: Vec::new(),
        }));
        let task = tokio::spawn(accept_loop(listener, acceptor, upstream, state.clone()));
        Ok(Self {
            addr,
            ca_pem: own.cert.pem(),
            state,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`, for a kubeconfig.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The proxy's certificate (PEM), for a kubeconfig's CA.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Adds a fault rule.
    pub fn add(&self, rule: FaultRule) {
        self.state().faults.add(rule);
    }

    /// Ends watches after a time or a number of events.
    pub fn set_watch_faults(&self, watch: WatchFaults) {
        self.state().faults.watch = watch;
    }

    /// Removes every rule and watch fault.
    pub fn clear(&self) {
        self.state().faults.clear();
    }

    /// Leaves `groups` out of the `/apis` discovery answer.
    pub fn hide_api_groups(&self, groups: &[&str]) {
        self.state().hidden_groups = groups.iter().map(|g| (*g).to_owned()).collect();
    }

    /// Every request answered so far.
    pub fn served(&self) -> Vec<Served> {
        self.state().log.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    upstream: Arc<Upstream>,
    state: Arc<Mutex<State>>,
) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, upstream, state) = (acceptor.clone(), upstream.clone(), state.clone());
        connections.spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| handle(req, upstream.clone(), state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

async fn handle(
    req: Request<Incoming>,
    upstream: Arc<Upstream>,
    state: Arc<Mutex<State>>,
) -> Result<Response<Body>, hyper::Error> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let info = RequestInfo::resolve(req.method().as_str(), &path);
    let (decision, watch_faults, hidden) = {
        let mut s = lock(&state);
        let decision = s
            .faults
            .decide(&info.verb, &info.resource, &info.field_manager);
        (decision, s.faults.watch, s.hidden_groups.clone())
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let record = |code: u16, injected: bool| {
        lock(&state).log.push(Served {
            request: info.clone(),
            code,
            injected,
        });
    };
    if let Some(status) = decision.error {
        let code = status["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500);
        record(code, true);
        let mut response = Response::new(full(status.to_string()));
        *response.status_mut() =
            hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        if code == 429 || code == 503 {
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
        }
        return Ok(response);
    }
    let response = match forward(req, &upstream).await {
        Ok(response) => response,
        Err(why) => {
            record(502, true);
            let mut response = Response::new(full(format!("fault proxy: upstream: {why}")));
            *response.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            return Ok(response);
        }
    };
    record(response.status().as_u16(), false);
    let (parts, body) = response.into_parts();
    let body = if info.verb == "watch" {
        cut_watch(body, watch_faults)
    } else if path.split('?').next() == Some("/apis") && !hidden.is_empty() {
        let mut parts = parts;
        let body = without_groups(body.collect().await?.to_bytes(), &hidden);
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
        return Ok(Response::from_parts(parts, full(body)));
    } else {
        body.boxed()
    };
    Ok(Response::from_parts(parts, body))
}

/// Sends `req` to the API server over a fresh TLS connection.
async fn forward(
    req: Request<Incoming>,
    upstream: &Upstream,
) -> Result<Response<Incoming>, String> {
    let tcp = TcpStream::connect(&upstream.addr)
        .await
        .map_err(|e| e.to_string())?;
    let host = upstream
        .addr
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let tls = upstream
        .connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// The watch's body, ended after `faults.drop_after` or
/// `faults.drop_after_events` events (one JSON object a line).
fn cut_watch(body: Incoming, faults: WatchFaults) -> Body {
    if faults == WatchFaults::default() {
        return body.boxed();
    }
    let deadline = faults.drop_after.map(|d| tokio::time::Instant::now() + d);
    let limit = faults.drop_after_events;
    let stream = futures::stream::unfold((body, 0u64), move |(mut body, events)| async move {
        if limit.is_some_and(|l| events >= l) {
            return None;
        }
        let next = match deadline {
            Some(at) => tokio::time::timeout_at(at, body.frame()).await.ok()?,
            None => body.frame().await,
        };
        let frame: Result<Frame<Bytes>, hyper::Error> = next?;
        let lines = frame
            .as_ref()
            .ok()
            .and_then(Frame::data_ref)
            .map_or(0, |d| d.iter().filter(|b| **b == b'\n').count() as u64);
        Some((frame, (body, events + lines)))
    });
    StreamBody::new(stream).boxed()
}

/// An `APIGroupList` without the `hidden` groups.
fn without_groups(body: Bytes, hidden: &[String]) -> Bytes {
    let Ok(mut list) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    if let Some(groups) = list["groups"].as_array_mut() {
        groups.retain(|g| !hidden.iter().any(|h| g["name"] == h.as_str()));
    }
    Bytes::from(list.to_string())
}
