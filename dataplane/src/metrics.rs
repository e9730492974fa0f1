//! The data plane's Prometheus metrics, served on the admin listener's
//! `/metrics` in the OpenMetrics text format. Every name starts `rustymail_`.
//!
//! Labels are `&'static str` or a shared `Arc<str>` wherever they can be, so
//! that counting a request or a handshake allocates nothing once its series
//! exists.
//!
//! Failure counters whose labels come from a fixed set (certificate and
//! credential reload failures, authentication failures, rate-limited
//! requests) export every series at 0 from the start: an alert on
//! `increase()` then sees the first failure, which it would miss on a series
//! that first appears already at 1.
//!
//! May depend on, in this crate: `auth`, `ratelimit`, `tls`.

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// The `file` label of the API key file's reloads.
pub const API_KEYS_FILE: &str = "api_keys";
/// The `file` label of the JWT secret file's reloads.
pub const JWT_SECRET_FILE: &str = "jwt_secret";
/// Every `file` label of the credential reload series.
pub const CREDENTIAL_FILES: [&str; 2] = [API_KEYS_FILE, JWT_SECRET_FILE];

/// The certificate reload failure reason when the files cannot be read.
pub const CERTIFICATE_READ_FAILURE: &str = "read";

/// Every `reason` of `rustymail_tls_certificate_reload_failures_total`:
/// unreadable files, or why a certificate was rejected.
pub fn certificate_failure_reasons() -> impl Iterator<Item = &'static str> {
    std::iter::once(CERTIFICATE_READ_FAILURE)
        .chain(crate::tls::certificate::CertificateError::LABELS)
}

/// Labels of one served request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template (`/api/v1/status`), or `unmatched`.
    pub route: Arc<str>,
    /// The request method, or `OTHER` for unusual ones.
    pub method: &'static str,
    /// The response status code.
    pub status: u16,
}

/// Labels of a request's latency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template, or `unmatched`.
    pub route: Arc<str>,
}

/// Labels of a completed TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HandshakeLabels {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: &'static str,
    /// The negotiated ALPN protocol (`h2`, `http/1.1`), or `none`.
    pub alpn: &'static str,
    /// `full`, or `resumed` when the client resumed an earlier session (a
    /// ticket or a cached session ID), which skips the certificate signature.
    pub kind: &'static str,
}

/// Labels of a failure: a short reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// What went wrong, e.g. `timeout` or `mismatch`.
    pub reason: &'static str,
}

/// Labels of a rate-limited request: the budget it exceeded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ScopeLabels {
    /// `ip`, `user`, `api_key` or `auth_failures`.
    pub scope: &'static str,
}

/// Labels of a credentials file event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FileLabels {
    /// `api_keys` or `jwt_secret`.
    pub file: &'static str,
}

/// Labels of an IMAP account's series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AccountLabels {
    /// The account's name.
    pub account: String,
}

/// Labels of an IMAP command's latency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CommandLabels {
    /// The command, e.g. `FETCH` or `UID STORE`.
    pub command: &'static str,
}

/// Labels of an IMAP failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// What went wrong, e.g. `unreachable` or `auth`.
    pub kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the data plane records. Cloning is cheap and shares the values.
#[derive(Clone)]
pub struct Metrics {
    /// Requests served, by route, method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Time from request head to response head, by route.
    pub request_duration: HistogramFamily<RouteLabels>,
    /// Completed TLS handshakes, by version, ALPN protocol and kind.
    pub handshakes: Family<HandshakeLabels, Counter>,
    /// Failed TLS handshakes, by reason.
    pub handshake_failures: Family<ReasonLabels, Counter>,
    /// The served certificate's `notAfter`, in seconds since the Unix epoch.
    pub certificate_not_after: Gauge,
    /// Certificates swapped in after a change on disk.
    pub certificate_reloads: Counter,
    /// Certificate changes rejected (the old certificate kept serving), by reason.
    pub certificate_reload_failures: Family<ReasonLabels, Counter>,
    /// Open connections on the API listener.
    pub open_connections: Gauge,
    /// Connections closed at once because `limits.maxConnections` were open.
    pub rejected_connections: Counter,
    /// Requests refused for want of valid credentials, by reason.
    pub auth_failures: Family<ReasonLabels, Counter>,
    /// Requests refused with 429, by the budget they exceeded.
    pub rate_limited: Family<ScopeLabels, Counter>,
    /// Requests refused with 403 because their client address is in `access.blockedCidrs`.
    pub blocked_requests: Counter,
    /// Credentials files re-read with a change taken into use, by file.
    pub credential_reloads: Family<FileLabels, Counter>,
    /// Credentials file changes rejected (the previous credentials kept), by file.
    pub credential_reload_failures: Family<FileLabels, Counter>,
    /// Audit lines lost because the writer fell behind.
    pub audit_events_dropped: Counter,
    /// Open IMAP connections (in use or pooled), by account.
    pub imap_connections: Family<AccountLabels, Gauge>,
    /// IMAP command latency, by command.
    pub imap_command_duration: HistogramFamily<CommandLabels>,
    /// Failed IMAP operations, by kind.
    pub imap_errors: Family<KindLabels, Counter>,
    /// Whether each account's IMAP server was reachable at the last check (1) or not (0).
    pub imap_up: Family<AccountLabels, Gauge>,
    registry: Arc<Registry>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    /// Creates the metrics and registers them.
    pub fn new() -> Self {
        let mut m = Self {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            handshakes: Family::default(),
            handshake_failures: Family::default(),
            certificate_not_after: Gauge::default(),
            certificate_reloads: Counter::default(),
            certificate_reload_failures: Family::default(),
            open_connections: Gauge::default(),
            rejected_connections: Counter::default(),
            auth_failures: Family::default(),
            rate_limited: Family::default(),
            blocked_requests: Counter::default(),
            credential_reloads: Family::default(),
            credential_reload_failures: Family::default(),
            audit_events_dropped: Counter::default(),
            imap_connections: Family::default(),
            imap_command_duration: Family::new_with_constructor(latency_histogram),
            imap_errors: Family::default(),
            imap_up: Family::default(),
            registry: Arc::default(),
        };
        let mut registry = Registry::with_prefix("rustymail");
        registry.register(
            "http_requests",
            "HTTP requests served, by route, method and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request head to response head, by route",
            m.request_duration.clone(),
        );
        registry.register(
            "tls_handshakes",
            "Completed TLS handshakes on the API listener",
            m.handshakes.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "Failed TLS handshakes on the API listener, by reason",
            m.handshake_failures.clone(),
        );
        registry.register(
            "tls_certificate_not_after_seconds",
            "Expiry (notAfter) of the served certificate, in Unix seconds",
            m.certificate_not_after.clone(),
        );
        registry.register(
            "tls_certificate_reloads",
            "Certificates swapped in after a change on disk",
            m.certificate_reloads.clone(),
        );
        registry.register(
            "tls_certificate_reload_failures",
            "Certificate changes rejected, the old certificate kept serving",
            m.certificate_reload_failures.clone(),
        );
        registry.register(
            "open_connections",
            "Open connections on the API listener",
            m.open_connections.clone(),
        );
        registry.register(
            "rejected_connections",
            "Connections closed at once because limits.maxConnections were open",
            m.rejected_connections.clone(),
        );
        registry.register(
            "auth_failures",
            "API requests refused for want of valid credentials, by reason",
            m.auth_failures.clone(),
        );
        registry.register(
            "rate_limited_requests",
            "API requests refused with 429, by the budget they exceeded",
            m.rate_limited.clone(),
        );
        registry.register(
            "blocked_requests",
            "API requests refused with 403 because their client address is in access.blockedCidrs",
            m.blocked_requests.clone(),
        );
        registry.register(
            "credential_reloads",
            "Credentials files re-read with a change taken into use, by file",
            m.credential_reloads.clone(),
        );
        registry.register(
            "credential_reload_failures",
            "Credentials file changes rejected, the previous credentials kept, by file",
            m.credential_reload_failures.clone(),
        );
        registry.register(
            "audit_events_dropped",
            "Audit lines lost because the audit writer fell behind",
            m.audit_events_dropped.clone(),
        );
        registry.register(
            "imap_connections",
            "Open IMAP connections (in use or pooled), by account",
            m.imap_connections.clone(),
        );
        registry.register(
            "imap_command_duration_seconds",
            "IMAP command latency, by command",
            m.imap_command_duration.clone(),
        );
        registry.register(
            "imap_errors",
            "Failed IMAP operations, by kind",
            m.imap_errors.clone(),
        );
        registry.register(
            "imap_up",
            "Whether the account's IMAP server was reachable at the last check",
            m.imap_up.clone(),
        );
        m.registry = Arc::new(registry);
        m.export_failures_at_zero();
        m
    }

    /// Creates every failure series with a fixed label set at 0.
    fn export_failures_at_zero(&self) {
        for reason in certificate_failure_reasons() {
            let _ = self
                .certificate_reload_failures
                .get_or_create(&ReasonLabels { reason });
        }
        for file in CREDENTIAL_FILES {
            let _ = self
                .credential_reload_failures
                .get_or_create(&FileLabels { file });
        }
        for refusal in crate::auth::Refusal::all() {
            let _ = self.auth_failures.get_or_create(&ReasonLabels {
                reason: refusal.label(),
            });
        }
        for scope in crate::ratelimit::Scope::ALL {
            let _ = self.rate_limited.get_or_create(&ScopeLabels {
                scope: scope.as_str(),
            });
        }
    }

    /// Renders every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// The open-connection gauge of IMAP account `account`.
    pub fn imap_connections(&self, account: &str) -> Gauge {
        self.imap_connections.get_or_create_owned(&AccountLabels {
            account: account.to_owned(),
        })
    }

    /// Records that IMAP `command` took `seconds`.
    pub fn observe_imap_command(&self, command: &'static str, seconds: f64) {
        self.imap_command_duration
            .get_or_create(&CommandLabels { command })
            .observe(seconds);
    }

    /// Counts a failed IMAP operation of `kind`.
    pub fn count_imap_error(&self, kind: &'static str) {
        self.imap_errors.get_or_create(&KindLabels { kind }).inc();
    }

    /// Counts a failure with `reason` in `family`.
    pub fn count_failure(family: &Family<ReasonLabels, Counter>, reason: &'static str) {
        family.get_or_create(&ReasonLabels { reason }).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_counters_are_exported_at_zero_before_the_first_failure() {
        let text = Metrics::new().encode();
        for series in [
            "rustymail_tls_certificate_reload_failures_total{reason=\"read\"} 0",
            "rustymail_tls_certificate_reload_failures_total{reason=\"mismatch\"} 0",
            "rustymail_credential_reload_failures_total{file=\"api_keys\"} 0",
            "rustymail_credential_reload_failures_total{file=\"jwt_secret\"} 0",
            "rustymail_auth_failures_total{reason=\"missing\"} 0",
            "rustymail_auth_failures_total{reason=\"invalid_key\"} 0",
            "rustymail_auth_failures_total{reason=\"token_expired\"} 0",
            "rustymail_rate_limited_requests_total{scope=\"ip\"} 0",
            "rustymail_rate_limited_requests_total{scope=\"auth_failures\"} 0",
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
    }

    #[test]
    fn every_certificate_error_label_is_exported_from_the_start() {
        use crate::tls::certificate::CertificateError;
        let text = Metrics::new().encode();
        for error in [
            CertificateError::NoCertificate,
            CertificateError::BadChain(String::new()),
            CertificateError::BadKey(String::new()),
            CertificateError::Mismatch(rustls::Error::General(String::new())),
            CertificateError::Untrusted(String::new()),
        ] {
            let series = format!(
                "rustymail_tls_certificate_reload_failures_total{{reason=\"{}\"}} 0",
                error.label()
            );
            assert!(text.contains(&series), "{series} missing");
        }
    }

    #[test]
    fn every_metric_is_exposed_with_the_prefix() {
        let m = Metrics::new();
        m.certificate_reloads.inc();
        Metrics::count_failure(&m.certificate_reload_failures, "mismatch");
        let text = m.encode();
        for name in [
            "rustymail_tls_certificate_reloads_total 1",
            "rustymail_tls_certificate_reload_failures_total{reason=\"mismatch\"} 1",
            "rustymail_tls_certificate_not_after_seconds",
            "rustymail_open_connections",
            "rustymail_rejected_connections_total",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
