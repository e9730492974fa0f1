//! Accepting connections: the per-listener accept loop with its connection
//! cap and graceful drain, the TLS handshake with its deadline, and HTTP/1.1
//! or HTTP/2 chosen by ALPN.

use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::graceful::{GracefulShutdown, Watcher},
    service::TowerToHyperService,
};
use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

use super::{guard::WithPeer, linger::Linger};
use crate::{
    config::Limits,
    metrics::{HandshakeLabels, Metrics},
    shutdown::Shutdown,
};

/// Connection bookkeeping of one listener.
#[derive(Clone)]
pub(super) struct ConnectionCap {
    /// One permit per connection allowed open.
    pub permits: Arc<Semaphore>,
    /// Connections open now.
    pub open: Gauge,
    /// Connections refused for want of a permit.
    pub rejected: Counter,
}

impl ConnectionCap {
    /// A cap of `max` connections, counted in metrics that are not exported.
    pub fn unexported(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            open: Gauge::default(),
            rejected: Counter::default(),
        }
    }
}

/// Accepts connections on `listener` and runs `serve` on each, until
/// `shutdown`; then stops accepting and gives open connections `grace` to
/// finish their requests before cutting them.
pub(super) async fn accept_loop<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    cap: ConnectionCap,
    shutdown: Shutdown,
    grace: Duration,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Watcher) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = Arc::clone(&cap.permits).try_acquire_owned() else {
                        cap.rejected.inc();
                        tracing::warn!(listener = name, %peer, "connection limit reached; connection closed");
                        continue;
                    };
                    let open = cap.open.clone();
                    open.inc();
                    let connection = serve(tcp, peer, graceful.watcher());
                    connections.spawn(async move {
                        connection.await;
                        open.dec();
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors, most likely: back off a little.
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(
        listener = name,
        open = connections.len(),
        "draining connections"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            cut = connections.len(),
            "grace period over; cutting connections"
        );
    }
    connections.shutdown().await;
}

/// HTTP/1.1 and HTTP/2 connection settings shared by a listener's connections.
///
/// The protocol is known before HTTP starts (ALPN, or HTTP/1.1 on the plain
/// listeners), so each connection runs hyper's builder for its version
/// directly: no version sniffing, and an HTTP/1.1 connection's task does not
/// carry room for HTTP/2's state.
pub(super) struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    /// Settings enforcing `limits`. Request heads are checked precisely by
    /// the limits layer; hyper's own bounds sit above, so that an oversized
    /// head normally gets the JSON 431.
    pub fn new(limits: &Limits) -> Self {
        let head = usize::try_from(limits.max_header_size.0).unwrap_or(usize::MAX);
        let mut h1 = http1::Builder::new();
        // Half-closed clients are served: a request in flight runs to its end
        // (an IMAP change is not cut halfway) instead of hyper polling the
        // socket for EOF meanwhile, which also costs a fresh read buffer per
        // request. Slow or silent clients are still cut by the deadlines.
        // A response's head and body are copied into one buffer before TLS
        // (`writev(false)`): rustls copies whatever it is given into its
        // record anyway, and one slice is cheaper for it than several.
        h1.timer(TokioTimer::new())
            .writev(false)
            .half_close(true)
            .header_read_timeout(limits.header_read_timeout.0)
            .max_buf_size(head.saturating_mul(2).max(16 * 1024));
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(head.saturating_mul(2)).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .keep_alive_interval(Some(Duration::from_secs(30)));
        Self { h1, h2 }
    }

    /// The HTTP connection on `io`, which ends when the peer leaves or
    /// `watcher` signals shutdown. Boxed, and built outside any `async fn`,
    /// so that the connection's state is stored once, at its exact size,
    /// and the task waiting for it stays small.
    pub fn connection<I>(
        &self,
        io: I,
        peer: SocketAddr,
        h2: bool,
        app: Router,
        watcher: Watcher,
    ) -> Connection
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = TowerToHyperService::new(WithPeer::new(app, peer));
        let io = TokioIo::new(io);
        if h2 {
            Box::pin(watcher.watch(self.h2.serve_connection(io, service)))
        } else {
            Box::pin(watcher.watch(self.h1.serve_connection(io, service)))
        }
    }
}

/// An HTTP connection being served.
pub(super) type Connection = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// Waits for `connection` to end; a protocol error is logged at debug level
/// (clients that misbehave are not the server's problem).
pub(super) async fn finish(connection: Connection, peer: SocketAddr) {
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The API listener's connections: TLS (or plain HTTP when HTTPS is not
/// required and no certificate is configured), then HTTP.
pub(super) struct ApiConnections {
    /// `None` serves plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// How long a client has to complete the handshake.
    pub handshake_timeout: Duration,
    /// HTTP settings.
    pub protocols: Protocols,
    /// The hardened API.
    pub app: Router,
    /// Handshake counters.
    pub metrics: Metrics,
}

impl ApiConnections {
    /// Serves one accepted connection.
    pub async fn serve(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, watcher: Watcher) {
        if let Some(http) = self.start(tcp, peer, watcher).await {
            finish(http, peer).await;
        }
    }

    /// The TLS handshake, then the HTTP connection to serve; `None` when the
    /// handshake failed. Apart from [`ApiConnections::serve`] so that the
    /// handshake's state and the connection's never take room together.
    async fn start(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        watcher: Watcher,
    ) -> Option<Connection> {
        // Responses are small and latency matters more than packet count.
        let _ = tcp.set_nodelay(true);
        let tcp = Linger::new(tcp);
        let app = self.app.clone();
        let Some(acceptor) = &self.tls else {
            return Some(self.protocols.connection(tcp, peer, false, app, watcher));
        };
        let stream = match tokio::time::timeout(self.handshake_timeout, acceptor.accept(tcp)).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                self.handshake_failed(peer, handshake_failure_reason(&e), &e);
                return None;
            }
            Err(_) => {
                self.handshake_failed(peer, "timeout", &"handshake deadline passed");
                return None;
            }
        };
        let labels = handshake_labels(stream.get_ref().1);
        self.metrics.handshakes.get_or_create(&labels).inc();
        let h2 = labels.alpn == "h2";
        Some(self.protocols.connection(stream, peer, h2, app, watcher))
    }

    fn handshake_failed(
        &self,
        peer: SocketAddr,
        reason: &'static str,
        error: &dyn std::fmt::Display,
    ) {
        Metrics::count_failure(&self.metrics.handshake_failures, reason);
        tracing::debug!(%peer, reason, error = %error, "TLS handshake failed");
    }
}

/// How a completed handshake is counted.
fn handshake_labels(session: &rustls::ServerConnection) -> HandshakeLabels {
    HandshakeLabels {
        version: match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            _ => "TLSv1.2",
        },
        alpn: match session.alpn_protocol() {
            Some(b"h2") => "h2",
            Some(b"http/1.1") => "http/1.1",
            // Only the protocols of `policy::ALPN_PROTOCOLS` can be agreed.
            Some(_) => "other",
            None => "none",
        },
        kind: match session.handshake_kind() {
            Some(rustls::HandshakeKind::Resumed) => "resumed",
            _ => "full",
        },
    }
}

/// A short label for a failed handshake.
fn handshake_failure_reason(e: &std::io::Error) -> &'static str {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::PeerIncompatible(_)) => "incompatible",
        Some(rustls::Error::AlertReceived(_)) => "alert",
        Some(_) => "protocol",
        None => "io",
    }
}
