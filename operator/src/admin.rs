//! The admin HTTP server: `/metrics` for Prometheus, `/healthz` for the
//! liveness probe, `/readyz` for the readiness probe.
//!
//! - `/healthz` answers 200 while the process serves at all.
//! - `/readyz` answers 200 once the controller reports its caches synced (a
//!   `watch` flag it sets), 503 before. A replica that is not the leader is
//!   still ready: it is a warm standby.
//! - `/metrics` answers the registry in OpenMetrics text.
//!
//! Plain HTTP/1.1 on its own port, meant to be reached only by the kubelet
//! and the monitoring namespace (the chart's NetworkPolicy). Slow clients are
//! cut off after [`HEADER_READ_TIMEOUT`], and at most [`MAX_CONNECTIONS`]
//! are served at once. On shutdown the listener closes and open connections
//! get [`SHUTDOWN_GRACE`] to finish.
//!
//! May depend on, in this crate: `metrics`.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use clap::Args;
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::Bytes,
    header::{ALLOW, CONTENT_TYPE, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use prometheus_client::registry::Registry;
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};

use crate::metrics;

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How many connections are served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// How long open connections may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Command-line arguments of the admin server; flatten into the `run` command.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct AdminArgs {
    /// Address of the admin server (`/metrics`, `/healthz`, `/readyz`).
    /// Default `0.0.0.0:8080`.
    #[arg(
        long = "admin-addr",
        env = "ADMIN_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub addr: SocketAddr,
}

/// What the admin endpoints report.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The metrics served on `/metrics`.
    pub registry: Arc<Registry>,
    /// `true` once the controller's caches have synced; `/readyz` follows it.
    pub ready: watch::Receiver<bool>,
}

/// The admin server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr} for the admin server (is the port in use?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The socket's address could not be read.
    #[error("cannot read the admin server's address")]
    LocalAddr(#[source] std::io::Error),
}

/// A bound admin server, not yet serving.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    state: AdminState,
}

impl AdminServer {
    /// Opens the listening socket on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, state: AdminState) -> Result<Self, AdminError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        Ok(Self { listener, state })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, AdminError> {
        self.listener.local_addr().map_err(AdminError::LocalAddr)
    }

    /// Serves until `shutdown` completes, then lets open connections finish
    /// for up to [`SHUTDOWN_GRACE`].
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self { listener, state } = self;
        let graceful = GracefulShutdown::new();
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_closed) => break,
                },
            };
            let stream = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: wait, retry.
                        tracing::warn!(%error, "admin server cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let state = state.clone();
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let response = respond(&state, request.method(), request.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "admin connection ended with an error");
                }
                drop(permit);
            });
        }
        drop(listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("admin connections still open after the shutdown grace period");
        }
    }
}

/// Answers one admin request.
pub fn respond(state: &AdminState, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if *state.ready.borrow() => text(StatusCode::OK, "ok\n"),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: caches have not synced yet\n",
        ),
        "/metrics" => match metrics::encode(&state.registry) {
            Ok(body) => with_type(StatusCode::OK, body, metrics::CONTENT_TYPE),
            Err(error) => {
                tracing::error!(%error, "cannot encode metrics");
                text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n")
            }
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(status, body, "text/plain; charset=utf-8")
}

fn with_type(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn state() -> (AdminState, watch::Sender<bool>) {
        let mut registry = metrics::registry();
        let metrics = metrics::Metrics::register(&mut registry);
        metrics.set_leader(true);
        let (ready_tx, ready) = watch::channel(false);
        let state = AdminState {
            registry: Arc::new(registry),
            ready,
        };
        (state, ready_tx)
    }

    #[test]
    fn healthz_is_ok_while_the_process_runs() {
        let (state, _ready) = state();
        assert_eq!(respond(&state, &Method::GET, "/healthz").status(), 200);
        assert_eq!(respond(&state, &Method::HEAD, "/healthz").status(), 200);
    }

    #[test]
    fn readyz_waits_for_the_caches_to_sync() {
        let (state, ready) = state();
        assert_eq!(respond(&state, &Method::GET, "/readyz").status(), 503);
        ready.send_replace(true);
        assert_eq!(respond(&state, &Method::GET, "/readyz").status(), 200);
    }

    #[test]
    fn metrics_are_served_as_openmetrics() {
        let (state, _ready) = state();
        let response = respond(&state, &Method::GET, "/metrics");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response
                .headers()
                .get(CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
            Some(metrics::CONTENT_TYPE.as_bytes())
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let (state, _ready) = state();
        assert_eq!(respond(&state, &Method::GET, "/").status(), 404);
        let response = respond(&state, &Method::POST, "/healthz");
        assert_eq!(response.status(), 405);
        assert_eq!(
            response.headers().get(ALLOW).map(HeaderValue::as_bytes),
            Some(&b"GET, HEAD"[..])
        );
    }

    #[test]
    fn the_address_defaults_to_port_8080_and_can_be_changed() -> Result<(), clap::Error> {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            admin: AdminArgs,
        }
        if std::env::var_os("ADMIN_ADDR").is_none() {
            let cli = Cli::try_parse_from(["op"])?;
            assert_eq!(cli.admin.addr, SocketAddr::from(([0, 0, 0, 0], 8080)));
        }
        let cli = Cli::try_parse_from(["op", "--admin-addr", "127.0.0.1:9999"])?;
        assert_eq!(cli.admin.addr, SocketAddr::from(([127, 0, 0, 1], 9999)));
        Ok(())
    }

    async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok(response)
    }

    #[tokio::test]
    async fn serves_over_http_until_shutdown() -> Result<(), Box<dyn std::error::Error>> {
        let (state, ready) = state();
        let server = AdminServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), state).await?;
        let addr = server.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));

        assert!(get(addr, "/healthz").await?.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await?.starts_with("HTTP/1.1 503"));
        ready.send_replace(true);
        assert!(get(addr, "/readyz").await?.starts_with("HTTP/1.1 200"));
        let metrics = get(addr, "/metrics").await?;
        assert!(metrics.contains("rustymail_operator_leader 1"), "{metrics}");

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), task).await??;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "the listener is closed after shutdown"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_second_server_on_a_taken_port_says_so() -> Result<(), Box<dyn std::error::Error>> {
        let (state, _ready) = state();
        let first = AdminServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), state.clone()).await?;
        let taken = first.local_addr()?;
        let err = AdminServer::bind(taken, state).await.err();
        assert!(matches!(err, Some(AdminError::Bind { addr, .. }) if addr == taken));
        Ok(())
    }
}
