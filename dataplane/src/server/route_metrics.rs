//! The request metrics of one route, resolved once instead of per request.
//!
//! Counting a request in a labelled family means hashing its labels and
//! taking the family's lock, shared by every worker thread. A route nearly
//! always sees one path template and answers nearly every request with one
//! method and status, so those series are looked up on the route's first
//! request and kept; anything else goes through the families as before.

use std::sync::{Arc, OnceLock};

use prometheus_client::metrics::{counter::Counter, histogram::Histogram};

use crate::metrics::{Metrics, RequestLabels, RouteLabels};

/// The label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// Which route a request was counted under.
pub(super) enum Route {
    /// The route's usual path template.
    Usual,
    /// Another template (or `unmatched`), counted through the families.
    Other(Arc<str>),
}

/// One route's series, looked up on first use.
pub(super) struct RouteMetrics {
    metrics: Metrics,
    label: OnceLock<Arc<str>>,
    duration: OnceLock<Histogram>,
    requests: OnceLock<(&'static str, u16, Counter)>,
}

impl RouteMetrics {
    /// Series of `metrics`, none resolved yet.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            metrics,
            label: OnceLock::new(),
            duration: OnceLock::new(),
            requests: OnceLock::new(),
        }
    }

    /// The route of a request that matched the template `path` (`None`:
    /// no route matched).
    pub fn route(&self, path: Option<&str>) -> Route {
        let path = path.unwrap_or(UNMATCHED);
        if **self.label.get_or_init(|| Arc::from(path)) == *path {
            Route::Usual
        } else {
            Route::Other(Arc::from(path))
        }
    }

    /// Counts a request to `route` answered with `status` after `seconds`.
    pub fn record(&self, route: &Route, method: &'static str, status: u16, seconds: f64) {
        let usual = match route {
            Route::Usual => self.label.get(),
            Route::Other(_) => None,
        };
        let Some(label) = usual else {
            let label = match route {
                Route::Other(label) => Arc::clone(label),
                // `route` set the usual label before any `Usual` existed.
                Route::Usual => Arc::from(UNMATCHED),
            };
            return self.record_in_families(label, method, status, seconds);
        };
        let route = || Arc::clone(label);
        self.duration
            .get_or_init(|| {
                let labels = RouteLabels { route: route() };
                self.metrics.request_duration.get_or_create_owned(&labels)
            })
            .observe(seconds);
        let (usual_method, usual_status, counter) = self.requests.get_or_init(|| {
            let labels = RequestLabels {
                route: route(),
                method,
                status,
            };
            (
                method,
                status,
                self.metrics.requests.get_or_create_owned(&labels),
            )
        });
        if *usual_method == method && *usual_status == status {
            counter.inc();
        } else {
            let labels = RequestLabels {
                route: route(),
                method,
                status,
            };
            self.metrics.requests.get_or_create(&labels).inc();
        }
    }

    fn record_in_families(&self, route: Arc<str>, method: &'static str, status: u16, seconds: f64) {
        let labels = RouteLabels {
            route: Arc::clone(&route),
        };
        self.metrics
            .request_duration
            .get_or_create(&labels)
            .observe(seconds);
        let labels = RequestLabels {
            route,
            method,
            status,
        };
        self.metrics.requests.get_or_create(&labels).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_and_other_requests_land_in_the_same_series_as_without_the_cache() {
        let metrics = Metrics::new();
        let route = RouteMetrics::new(metrics.clone());
        for (path, status) in [
            (Some("/a"), 200),
            (Some("/a"), 200),
            (Some("/a"), 404),
            (Some("/b"), 200),
            (None, 404),
        ] {
            let r = route.route(path);
            route.record(&r, "GET", status, 0.001);
        }
        let text = metrics.encode();
        for series in [
            "rustymail_http_requests_total{route=\"/a\",method=\"GET\",status=\"200\"} 2",
            "rustymail_http_requests_total{route=\"/a\",method=\"GET\",status=\"404\"} 1",
            "rustymail_http_requests_total{route=\"/b\",method=\"GET\",status=\"200\"} 1",
            "rustymail_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
            "rustymail_http_request_duration_seconds_count{route=\"/a\"} 3",
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
    }
}
