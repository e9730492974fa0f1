//! The operator's Prometheus metrics, served on `/metrics` by [`crate::admin`].
//!
//! All names carry the `rustymail_operator_` prefix:
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `reconciles_total` | counter | `result` = success, degraded, error, cancelled | finished reconciles; `degraded`: the spec cannot work as written (a user's mistake, reported in its status), never an operator failure |
//! | `reconcile_errors_total` | counter | `reason` | failed reconciles, by [`MetricLabel`]; degraded specs are not counted here |
//! | `reconcile_duration_seconds` | histogram | | time spent per reconcile |
//! | `leader` | gauge | | 1 while this replica holds the Lease |
//! | `managed_resources` | gauge | | RustyMail resources in the watched namespaces, as the watch caches hold them (on every replica) |
//! | `backing_off_resources` | gauge | | RustyMail resources waiting to retry after an error or a degraded spec; a deleted one leaves at once |
//! | `build_info` | info | `version` | the running version |
//!
//! Useful alerts: `sum(rustymail_operator_leader) != 1` (no leader, or two),
//! `rate(rustymail_operator_reconcile_errors_total[5m]) > 0` by reason (a
//! user's degraded spec never moves it).
//!
//! Depends on no other module of this crate.

use std::time::Instant;

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram, info::Info},
    registry::{Registry, Unit},
};

/// The prefix of every metric name.
pub const PREFIX: &str = "rustymail_operator";

/// The `Content-Type` of [`encode`]'s output (OpenMetrics text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the reconcile duration buckets, in seconds.
const DURATION_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A short, fixed label for a failure, used as the `reason` of
/// `reconcile_errors_total`; the controller's error type implements it
/// (`Error::metric_label()`). Labels must come from a small fixed set, never
/// from input, or the metric's cardinality explodes.
pub trait MetricLabel {
    /// The label, in snake_case (`kube_api`, `missing_secret`).
    fn metric_label(&self) -> &'static str;
}

impl MetricLabel for &'static str {
    fn metric_label(&self) -> &'static str {
        self
    }
}

/// How a reconcile ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum ReconcileResult {
    success,
    degraded,
    error,
    cancelled,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: ReconcileResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Handles to the operator's metrics; cheap to clone into the controller's
/// context.
#[derive(Clone, Debug)]
pub struct Metrics {
    reconciles: Family<ResultLabels, Counter>,
    errors: Family<ReasonLabels, Counter>,
    duration: Histogram,
    leader: Gauge,
    managed: Gauge,
    backing_off: Gauge,
}

impl Metrics {
    /// Registers the operator's metrics in `registry` (which should carry
    /// [`PREFIX`], see [`registry`]) and returns their handles.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Histogram::new(DURATION_BUCKETS),
            leader: Gauge::default(),
            managed: Gauge::default(),
            backing_off: Gauge::default(),
        };
        // Every result exists from the start, so rates and alerts see zeros
        // instead of absent series.
        for result in [
            ReconcileResult::success,
            ReconcileResult::degraded,
            ReconcileResult::error,
            ReconcileResult::cancelled,
        ] {
            let _ = metrics.reconciles.get_or_create(&ResultLabels { result });
        }
        registry.register(
            "reconciles",
            "Finished reconciles of RustyMail resources, by result",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles of RustyMail resources, by reason",
            metrics.errors.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "Time spent reconciling one RustyMail resource",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and may write, else 0",
            metrics.leader.clone(),
        );
        registry.register(
            "managed_resources",
            "RustyMail resources in the watched namespaces",
            metrics.managed.clone(),
        );
        registry.register(
            "backing_off_resources",
            "RustyMail resources waiting to retry after a failed reconcile",
            metrics.backing_off.clone(),
        );
        registry.register(
            "build",
            "The operator's version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        metrics
    }

    /// Starts timing a reconcile; call [`ReconcileTimer::success`] or
    /// [`ReconcileTimer::failure`] when it ends. A timer dropped without
    /// either (the reconcile future was cancelled) counts as `cancelled`.
    pub fn reconcile(&self) -> ReconcileTimer {
        ReconcileTimer {
            metrics: self.clone(),
            started: Instant::now(),
            result: ReconcileResult::cancelled,
        }
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Records how many RustyMail resources are watched.
    pub fn set_managed_resources(&self, count: usize) {
        self.managed.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Records how many RustyMail resources are backing off after errors.
    pub fn set_backing_off_resources(&self, count: usize) {
        self.backing_off
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// Measures one reconcile; records its duration and result when consumed or
/// dropped.
#[derive(Debug)]
#[must_use = "a timer records its reconcile when success() or failure() is called"]
pub struct ReconcileTimer {
    metrics: Metrics,
    started: Instant,
    result: ReconcileResult,
}

impl ReconcileTimer {
    /// The reconcile succeeded.
    pub fn success(mut self) {
        self.result = ReconcileResult::success;
    }

    /// The spec cannot work as written: the RustyMail reports it as
    /// `Degraded`; the operator itself did not fail.
    pub fn degraded(mut self) {
        self.result = ReconcileResult::degraded;
    }

    /// The reconcile failed with `error`, counted under its label.
    pub fn failure(mut self, error: &impl MetricLabel) {
        self.result = ReconcileResult::error;
        self.metrics
            .errors
            .get_or_create(&ReasonLabels {
                reason: error.metric_label(),
            })
            .inc();
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics
            .reconciles
            .get_or_create(&ResultLabels {
                result: self.result,
            })
            .inc();
        self.metrics
            .duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// A registry carrying [`PREFIX`], ready for [`Metrics::register`].
pub fn registry() -> Registry {
    Registry::with_prefix(PREFIX)
}

/// Encodes every metric of `registry` in the OpenMetrics text format
/// ([`CONTENT_TYPE`]).
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    enum TestError {
        Api,
    }

    impl MetricLabel for TestError {
        fn metric_label(&self) -> &'static str {
            match self {
                TestError::Api => "kube_api",
            }
        }
    }

    fn setup() -> (Registry, Metrics) {
        let mut registry = registry();
        let metrics = Metrics::register(&mut registry);
        (registry, metrics)
    }

    fn text(registry: &Registry) -> String {
        encode(registry).unwrap_or_else(|e| panic!("encoding failed: {e}"))
    }

    #[test]
    fn reconciles_are_counted_by_result_and_timed() {
        let (registry, metrics) = setup();
        metrics.reconcile().success();
        metrics.reconcile().success();
        metrics.reconcile().failure(&TestError::Api);
        drop(metrics.reconcile());

        let text = text(&registry);
        assert!(text.contains("rustymail_operator_reconciles_total{result=\"success\"} 2"));
        assert!(text.contains("rustymail_operator_reconciles_total{result=\"error\"} 1"));
        assert!(text.contains("rustymail_operator_reconciles_total{result=\"cancelled\"} 1"));
        assert!(text.contains("rustymail_operator_reconcile_duration_seconds_count 4"));
        assert!(text.contains("rustymail_operator_reconcile_duration_seconds_bucket{le=\"0.01\"}"));
    }

    #[test]
    fn errors_are_counted_by_their_label() {
        let (registry, metrics) = setup();
        metrics.reconcile().failure(&TestError::Api);
        metrics.reconcile().failure(&"missing_secret");
        metrics.reconcile().failure(&"missing_secret");

        let text = text(&registry);
        assert!(text.contains("rustymail_operator_reconcile_errors_total{reason=\"kube_api\"} 1"));
        assert!(
            text.contains("rustymail_operator_reconcile_errors_total{reason=\"missing_secret\"} 2")
        );
    }

    #[test]
    fn a_degraded_spec_is_counted_apart_from_operator_errors() {
        let (registry, metrics) = setup();
        metrics.reconcile().degraded();
        metrics.reconcile().failure(&TestError::Api);

        let text = text(&registry);
        assert!(text.contains("rustymail_operator_reconciles_total{result=\"degraded\"} 1"));
        assert!(text.contains("rustymail_operator_reconciles_total{result=\"error\"} 1"));
        assert!(!text.contains("reason=\"degraded\""), "{text}");
    }

    #[test]
    fn gauges_report_leadership_and_resource_counts() {
        let (registry, metrics) = setup();
        assert!(text(&registry).contains("rustymail_operator_leader 0"));
        metrics.set_leader(true);
        metrics.set_managed_resources(12);
        metrics.set_backing_off_resources(3);

        let text = text(&registry);
        assert!(text.contains("rustymail_operator_leader 1"));
        assert!(text.contains("rustymail_operator_managed_resources 12"));
        assert!(text.contains("rustymail_operator_backing_off_resources 3"));
    }

    #[test]
    fn the_exposition_is_openmetrics_with_build_info() {
        let (registry, _metrics) = setup();
        let text = text(&registry);
        assert!(text.contains(&format!(
            "rustymail_operator_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("# TYPE rustymail_operator_reconciles counter"));
        assert!(text.contains("rustymail_operator_reconciles_total{result=\"error\"} 0"));
        assert!(text.contains("rustymail_operator_reconciles_total{result=\"degraded\"} 0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
