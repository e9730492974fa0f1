//! Leaving the endpoints: once the shutdown has started, every HTTP/1.1
//! response carries `Connection: close`, so a kept-alive client opens its
//! next connection to a pod that stays, during the shutdown delay, instead
//! of racing the drain that closes its idle connection. HTTP/2 clients get
//! a GOAWAY when the drain starts.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, Response, Version, header},
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::shutdown::Shutdown;

/// `app`, answering with `Connection: close` over HTTP/1.x once `shutdown`
/// has fired.
pub fn close_connections_on_shutdown(app: Router, shutdown: Shutdown) -> Router {
    app.layer(CloseOnShutdownLayer(shutdown))
}

/// Wraps routes in [`CloseOnShutdown`].
#[derive(Clone)]
struct CloseOnShutdownLayer(Shutdown);

impl<S> Layer<S> for CloseOnShutdownLayer {
    type Service = CloseOnShutdown<S>;

    fn layer(&self, inner: S) -> CloseOnShutdown<S> {
        CloseOnShutdown {
            inner,
            shutdown: self.0.clone(),
        }
    }
}

/// A route whose HTTP/1.x responses close the connection once the shutdown
/// has started.
#[derive(Clone)]
struct CloseOnShutdown<S> {
    inner: S,
    shutdown: Shutdown,
}

impl<S, B> Service<Request> for CloseOnShutdown<S>
where
    S: Service<Request, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = CloseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let http1 = req.version() < Version::HTTP_2;
        CloseFuture {
            inner: self.inner.call(req),
            shutdown: http1.then(|| self.shutdown.clone()),
        }
    }
}

pin_project! {
    /// The response of a [`CloseOnShutdown`] route.
    struct CloseFuture<F> {
        #[pin]
        inner: F,
        shutdown: Option<Shutdown>,
    }
}

impl<F, B, E> Future for CloseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(shutdown)) = (&mut result, this.shutdown.as_ref())
            && shutdown.is_triggered()
        {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(result)
    }
}
