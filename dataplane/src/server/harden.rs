//! The one middleware wrapped around every API route: it enforces the
//! request limits, answers a panicking handler with a 500, gives every error
//! the JSON body, adds the security headers, and counts the request and its
//! latency.
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
    http::SecurityHeaders,
    limits::RequestLimits,
    route_metrics::{Route, RouteMetrics},
};
use crate::metrics::Metrics;

/// What every hardened route shares.
struct Shared {
    headers: SecurityHeaders,
    limits: RequestLimits,
    metrics: Metrics,
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
    /// Enforces `limits`, adds `headers`, and counts requests in `metrics`.
    pub fn new(headers: SecurityHeaders, limits: RequestLimits, metrics: Metrics) -> Self {
        Self(Arc::new(Shared {
            headers,
            limits,
            metrics,
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
        let state = match self.state.shared.limits.admit(&mut req) {
            Err(refusal) => State::Done {
                response: ready(refusal.into_response()),
            },
            Ok(()) => match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
                Ok(future) => State::Inner { future },
                Err(panic) => State::Done {
                    response: ready(panic_response(panic)),
                },
            },
        };
        HardenFuture {
            state,
            route_state: Arc::clone(&self.state),
            route,
            method,
            started,
        }
    }
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
        Poll::Ready(Ok(response))
    }
}
