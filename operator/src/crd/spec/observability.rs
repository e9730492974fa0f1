//! Monitoring and audit logging.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::default_true;

/// Prometheus Operator objects, created only when the monitoring.coreos.com API exists.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Create a ServiceMonitor for the metrics port. Default false.
    #[serde(default)]
    pub service_monitor: bool,
    /// Create a PrometheusRule with RustyMail's alerts. Default false.
    #[serde(default)]
    pub prometheus_rule: bool,
}

/// The audit log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSpec {
    /// Write audit events. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Events to record. Default: all.
    #[serde(default = "default_audit_events")]
    pub events: Vec<AuditEventKind>,
}

impl Default for AuditSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            events: default_audit_events(),
        }
    }
}

/// Kinds of audit event.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditEventKind {
    /// Logins and token issuance.
    Authentication,
    /// Refused requests.
    Authorization,
    /// Mailbox reads and changes.
    DataAccess,
    /// Certificate and credential reloads.
    ConfigurationChange,
    /// Rate-limit hits and malformed requests.
    SecurityEvent,
}

fn default_audit_events() -> Vec<AuditEventKind> {
    use AuditEventKind::*;
    vec![
        Authentication,
        Authorization,
        DataAccess,
        ConfigurationChange,
        SecurityEvent,
    ]
}
