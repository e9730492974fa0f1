//! The one middleware wrapped around every API route: it runs the
//! [`Guard`] (rate limits, authentication), enforces the request limits,
//! answers a panicking handler with a 500, gives every error the JSON body,
//! adds the security headers, counts the request and its latency, and
//! writes the audit line of a mailbox access.
//!
//! It is one hand-written tower service rather than a stack of layers (axum
//! `from_fn`/`map_response`, tower-http's body limit, body deadline and
//! panic catcher): each layer clones its inner service, wraps the body or
//! boxes a future again for every request, and on a small request those
//! copies and allocations cost more than the handler.

use std::{
    convert::Infallible,
    future::{Future, Ready, ready},
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    BoxError,
    body::{Body, Bytes, HttpBody},
    extract::{MatchedPath, Request},
    http::Method,
    response::{IntoResponse, Response},
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{
    error::{panic_response, with_json_error_body},
    guard::{Caller, Guard, user_agent},
    headers::SecurityHeaders,
    limits::RequestLimits,
    route_metrics::{Route, RouteMetrics},
};
use crate::{audit::Event, config::AuditEvent, metrics::Metrics};

/// What every hardened route shares.
struct Shared {
    headers: SecurityHeaders,
    limits: RequestLimits,
    metrics: Metrics,
    guard: Arc<Guard>,
}

/// Paths whose requests read or change mailboxes: each is a `data_access`
/// audit event.
const DATA_PATHS: [&str; 2] = ["/api/v1/folders", "/api/v1/emails"];

/// A mailbox access, written to the audit log when its answer is known.
struct DataAccess {
    user: Option<Arc<str>>,
    client_ip: std::net::IpAddr,
    user_agent: Option<String>,
    method: &'static str,
    path: String,
}

impl DataAccess {
    /// The access `req` makes, if it is one and such events are written.
    fn of(guard: &Guard, req: &Request, method: &'static str) -> Option<Box<Self>> {
        let path = req.uri().path();
        if !DATA_PATHS.iter().any(|p| path.starts_with(p))
            || !guard.audit().enabled(AuditEvent::DataAccess)
        {
            return None;
        }
        let caller = req.extensions().get::<Caller>()?;
        Some(Box::new(Self {
            user: caller.identity.as_ref().map(|i| Arc::clone(&i.user)),
            client_ip: caller.client_ip,
            user_agent: user_agent(req.headers()).map(str::to_owned),
            method,
            path: path.to_owned(),
        }))
    }

    fn record(&self, guard: &Guard, status: u16) {
        let result = status.to_string();
        guard.audit().record(&Event {
            category: AuditEvent::DataAccess,
            user: self.user.as_deref(),
            client_ip: Some(self.client_ip),
            user_agent: self.user_agent.as_deref(),
            action: self.method,
            resource: &self.path,
            result: &result,
        });
    }
}

/// One hardened route's state: the shared settings and its own metrics.
struct RouteState {
    shared: Arc<Shared>,
    metrics: RouteMetrics,
}

/// Wraps a route in [`Harden`].
#[derive(Clone)]
pub struct HardenLayer(Arc<Shared>);

impl HardenLayer {
    /// Admits requests with `guard`, enforces `limits`, adds `headers`, and
    /// counts requests in `metrics`.
    pub fn new(
        headers: SecurityHeaders,
        limits: RequestLimits,
        metrics: Metrics,
        guard: Arc<Guard>,
    ) -> Self {
        Self(Arc::new(Shared {
            headers,
            limits,
            metrics,
            guard,
        }))
    }
}

impl<S> Layer<S> for HardenLayer {
    type Service = Harden<S>;

    fn layer(&self, inner: S) -> Harden<S> {
        let metrics = RouteMetrics::new(self.0.metrics.clone());
        Harden {
            inner,
            state: Arc::new(RouteState {
                shared: Arc::clone(&self.0),
                metrics,
            }),
        }
    }
}

/// A route behind the limits, JSON errors, security headers and metrics.
/// axum builds one per route and clones it for every request, so the state
/// lives behind an `Arc`.
#[derive(Clone)]
pub struct Harden<S> {
    inner: S,
    state: Arc<RouteState>,
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl<S, B> Service<Request> for Harden<S>
where
    S: Service<Request, Response = Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = HardenFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let path = req
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let route = self.state.metrics.route(path);
        let method = method_label(req.method());
        let started = Instant::now();
        let shared = &self.state.shared;
        let mut access = None;
        let refusal = shared.guard.admit(&mut req).or_else(|| {
            shared.limits.admit(&mut req).err().map(|refusal| {
                shared.guard.audit_refusal(&req, refusal.status);
                refusal.into_response()
            })
        });
        let state = match refusal {
            Some(response) => {
                drain_refused_upload(req, shared.limits.body_read_timeout);
                State::Done {
                    response: ready(response),
                }
            }
            None => {
                access = DataAccess::of(&shared.guard, &req, method);
                match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
                    Ok(future) => State::Inner { future },
                    Err(panic) => State::Done {
                        response: ready(panic_response(panic)),
                    },
                }
            }
        };
        HardenFuture {
            state,
            route_state: Arc::clone(&self.state),
            route,
            method,
            started,
            access,
        }
    }
}

/// The most of a refused HTTP/2 upload read and discarded.
const DRAIN_BYTES: usize = 256 << 20;

/// Reads and discards the rest of a refused HTTP/2 request's body, within
/// `deadline` and [`DRAIN_BYTES`], while the refusal is answered.
///
/// An HTTP/2 stream whose body the server stops reading is reset; a
/// client still uploading (Debian's curl, for one) then reports a failed
/// transfer instead of the refusal's status. Reading on lets the client
/// finish its upload and read the answer, as nginx does; a stream that
/// outlasts the bounds is reset as before. HTTP/1.1 needs none of this:
/// the connection lingers instead (see `linger`).
fn drain_refused_upload(req: Request, deadline: std::time::Duration) {
    if req.version() != axum::http::Version::HTTP_2 || req.body().is_end_stream() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut body = req.into_body();
    runtime.spawn(async move {
        let _ = tokio::time::timeout(deadline, async {
            let mut read = 0usize;
            while read < DRAIN_BYTES {
                match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                    Some(Ok(frame)) => {
                        read += frame.data_ref().map_or(0, |d| d.len());
                    }
                    Some(Err(_)) | None => break,
                }
            }
        })
        .await;
    });
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        /// Answered without the route: refused, or the route panicked.
        Done { response: Ready<Response> },
        Inner { #[pin] future: F },
    }
}

pin_project! {
    /// The response of a [`Harden`]ed route.
    pub struct HardenFuture<F> {
        #[pin]
        state: State<F>,
        route_state: Arc<RouteState>,
        route: Route,
        method: &'static str,
        started: Instant,
        access: Option<Box<DataAccess>>,
    }
}

impl<F, B> Future for HardenFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.state.project() {
            StateProj::Done { response } => std::task::ready!(Pin::new(response).poll(cx)),
            StateProj::Inner { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(Ok(response))) => response.map(Body::new),
                    Ok(Poll::Ready(Err(never))) => match never {},
                    Err(panic) => panic_response(panic),
                }
            }
        };
        let mut response = with_json_error_body(response);
        let route_state = &**this.route_state;
        route_state.shared.headers.apply(response.headers_mut());
        route_state.metrics.record(
            this.route,
            this.method,
            response.status().as_u16(),
            this.started.elapsed().as_secs_f64(),
        );
        if let Some(access) = this.access.take() {
            access.record(&route_state.shared.guard, response.status().as_u16());
        }
        Poll::Ready(Ok(response))
    }
}
