//! The one middleware wrapped around every API route: it refuses requests
//! over the head and content-type limits, gives every error the JSON body,
//! adds the security headers, and counts the request and its latency.
//!
//! It is a hand-written tower service rather than a stack of axum
//! `from_fn`/`map_response` layers: those box a future, clone the inner
//! service and box it again at every layer of every request, which on a
//! small request cost more than the handler.

use std::{
    convert::Infallible,
    future::{Future, Ready, ready},
    pin::Pin,
    sync::{Arc, OnceLock},
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

use super::{error::with_json_error_body, http::SecurityHeaders, limits::RequestLimits};
use crate::metrics::{Metrics, RequestLabels, RouteLabels};

/// The label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// What every hardened route shares.
struct Shared {
    headers: SecurityHeaders,
    limits: RequestLimits,
    metrics: Metrics,
    unmatched: Arc<str>,
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
            unmatched: Arc::from(UNMATCHED),
        }))
    }
}

impl<S> Layer<S> for HardenLayer {
    type Service = Harden<S>;

    fn layer(&self, inner: S) -> Harden<S> {
        Harden {
            inner,
            shared: Arc::clone(&self.0),
            route: Arc::default(),
        }
    }
}

/// A route behind the limits, JSON errors, security headers and metrics.
#[derive(Clone)]
pub struct Harden<S> {
    inner: S,
    shared: Arc<Shared>,
    /// The route label of the first request: axum wraps each route in its
    /// own service (cloned for every request), so later requests share it.
    route: Arc<OnceLock<Arc<str>>>,
}

impl<S> Harden<S> {
    /// The metric label of `req`'s route, without allocating when it is the
    /// route this service has seen before.
    fn route_label(&self, req: &Request) -> Arc<str> {
        let Some(path) = req.extensions().get::<MatchedPath>() else {
            return Arc::clone(&self.shared.unmatched);
        };
        let path = path.as_str();
        let first = self.route.get_or_init(|| Arc::from(path));
        if **first == *path {
            Arc::clone(first)
        } else {
            Arc::from(path)
        }
    }
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

    fn call(&mut self, req: Request) -> Self::Future {
        let route = self.route_label(&req);
        let method = method_label(req.method());
        let started = Instant::now();
        let state = match self.shared.limits.check(&req) {
            Err(refusal) => State::Refused {
                response: ready(refusal.into_response()),
            },
            Ok(()) => State::Inner {
                future: self.inner.call(req),
            },
        };
        HardenFuture {
            state,
            shared: Arc::clone(&self.shared),
            route,
            method,
            started,
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Refused { response: Ready<Response> },
        Inner { #[pin] future: F },
    }
}

pin_project! {
    /// The response of a [`Harden`]ed route.
    pub struct HardenFuture<F> {
        #[pin]
        state: State<F>,
        shared: Arc<Shared>,
        route: Arc<str>,
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
            StateProj::Refused { response } => std::task::ready!(Pin::new(response).poll(cx)),
            StateProj::Inner { future } => match std::task::ready!(future.poll(cx)) {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            },
        };
        let mut response = with_json_error_body(response);
        this.shared.headers.apply(response.headers_mut());
        let metrics = &this.shared.metrics;
        let route = Arc::clone(this.route);
        metrics
            .request_duration
            .get_or_create(&RouteLabels { route })
            .observe(this.started.elapsed().as_secs_f64());
        metrics
            .requests
            .get_or_create(&RequestLabels {
                route: Arc::clone(this.route),
                method: this.method,
                status: response.status().as_u16(),
            })
            .inc();
        Poll::Ready(Ok(response))
    }
}
