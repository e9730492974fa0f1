//! The RustyMail's status, computed from what a reconcile observed and did.
//!
//! Pure: the reconciler gathers an [`Outcome`] and this module turns it into
//! conditions a person can read. A condition keeps its
//! `lastTransitionTime` while its status stays the same, so an unchanged
//! world produces an identical status and no write.

use k8s_openapi::{
    api::apps::v1::Deployment,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

use crate::crd::{AccessStatus, CertificateStatus, RustyMailStatus};

/// The state of the serving certificate.
#[derive(Debug, Clone, PartialEq)]
pub enum CertificateState {
    /// Present and valid until the given time.
    Valid(CertificateStatus),
    /// Not (yet) usable; the reason and message say why.
    NotReady {
        /// PascalCase reason, e.g. `CertManagerNotInstalled`.
        reason: &'static str,
        /// What is going on and what to do.
        message: String,
    },
}

/// The condition type of the monitoring the spec asks for.
pub const MONITORING_READY: &str = "MonitoringReady";

/// The reason of monitoring asked for without the Prometheus Operator's API.
pub const PROMETHEUS_OPERATOR_NOT_INSTALLED: &str = "PrometheusOperatorNotInstalled";

/// What the status and the Warning Event say of monitoring asked for
/// without the Prometheus Operator's API.
pub const MONITORING_API_MISSING: &str = "spec.monitoring asks for a ServiceMonitor or PrometheusRule but the Prometheus Operator's API (monitoring.coreos.com/v1) is not served: install its CRDs and they are created within a minute, without restarting the operator";

/// Whether the monitoring objects the spec asks for exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitoringState {
    /// `spec.monitoring` asks for neither ServiceMonitor nor PrometheusRule.
    NotRequested,
    /// Asked for, and the monitoring.coreos.com API is served: applied.
    Applied,
    /// Asked for, but the monitoring.coreos.com API is not served.
    ApiMissing,
}

/// What a reconcile found and did, as the status reports it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `metadata.generation` of the RustyMail.
    pub generation: Option<i64>,
    /// `spec.paused`.
    pub paused: bool,
    /// `spec.replicas`.
    pub desired_replicas: i32,
    /// The Deployment as last read, if it exists.
    pub deployment: Option<Deployment>,
    /// The Deployment is being changed by this reconcile, so its rollout is
    /// not complete whatever its status says.
    pub deployment_changing: bool,
    /// The certificate.
    pub certificate: CertificateState,
    /// The ServiceMonitor and PrometheusRule.
    pub monitoring: MonitoringState,
    /// Why the RustyMail cannot work as specified, if it cannot.
    pub degraded: Option<(&'static str, String)>,
    /// `https://<name>.<namespace>.svc:9437`.
    pub endpoint: String,
    /// The credentials Secret in use.
    pub credentials_secret: String,
    /// Who may reach the API and the incident levers in force; the rotation
    /// time is kept from the previous status while the rotation is the same.
    pub access: AccessStatus,
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Pods of the Deployment: (replicas, ready, available, updated, rolled out).
fn rollout(outcome: &Outcome) -> (i32, i32, i32, bool) {
    let Some(d) = &outcome.deployment else {
        return (0, 0, 0, false);
    };
    let status = d.status.clone().unwrap_or_default();
    let current =
        d.metadata.generation.is_some() && status.observed_generation >= d.metadata.generation;
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let done = current
        && !outcome.deployment_changing
        && updated >= outcome.desired_replicas
        && replicas <= outcome.desired_replicas;
    (
        replicas,
        status.ready_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
        done,
    )
}

/// Computes the status for `outcome`, keeping transition times from `previous`.
pub fn compute(
    outcome: &Outcome,
    previous: Option<&RustyMailStatus>,
    now: Timestamp,
) -> RustyMailStatus {
    let now = Time(now);
    let g = outcome.generation;
    let (replicas, ready, available, rolled_out) = rollout(outcome);

    let available_cond = if outcome.desired_replicas == 0 {
        condition(
            "Available",
            false,
            "ScaledToZero",
            "spec.replicas is 0: nothing serves the API",
            g,
            &now,
        )
    } else if available > 0 {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            format!("{available} of {} pods available", outcome.desired_replicas),
            g,
            &now,
        )
    } else {
        condition(
            "Available",
            false,
            "NoPodsAvailable",
            "no data plane pod is available yet",
            g,
            &now,
        )
    };

    let cert_cond = match &outcome.certificate {
        CertificateState::Valid(c) => {
            let until = c
                .not_after
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            condition(
                "CertificateReady",
                true,
                "Valid",
                format!(
                    "certificate in Secret {} is valid until {until}",
                    c.secret_name
                ),
                g,
                &now,
            )
        }
        CertificateState::NotReady { reason, message } => {
            condition("CertificateReady", false, reason, message.clone(), g, &now)
        }
    };

    let degraded_cond = match &outcome.degraded {
        Some((reason, message)) => condition("Degraded", true, reason, message.clone(), g, &now),
        None => condition(
            "Degraded",
            false,
            "AsExpected",
            "all referenced objects exist and every child is applied",
            g,
            &now,
        ),
    };

    let progressing_cond = if outcome.paused {
        condition(
            "Progressing",
            false,
            "Paused",
            "spec.paused is true: children are left as they are",
            g,
            &now,
        )
    } else if outcome.degraded.is_some() {
        condition(
            "Progressing",
            false,
            "Blocked",
            "waiting for the problem reported by Degraded to be fixed",
            g,
            &now,
        )
    } else if rolled_out {
        condition(
            "Progressing",
            false,
            "Complete",
            "the data plane runs the current spec",
            g,
            &now,
        )
    } else {
        condition(
            "Progressing",
            true,
            "RollingOut",
            format!(
                "rolling out: {ready} of {} pods ready",
                outcome.desired_replicas
            ),
            g,
            &now,
        )
    };

    let cert_ok = matches!(outcome.certificate, CertificateState::Valid(_));
    let all_ready = ready >= outcome.desired_replicas && outcome.desired_replicas > 0;
    let ready_cond = if let Some((reason, _)) = &outcome.degraded {
        condition(
            "Ready",
            false,
            reason,
            "degraded: see the Degraded condition",
            g,
            &now,
        )
    } else if !cert_ok {
        condition(
            "Ready",
            false,
            "CertificateNotReady",
            "the serving certificate is not ready: see CertificateReady",
            g,
            &now,
        )
    } else if !all_ready {
        condition(
            "Ready",
            false,
            "PodsNotReady",
            format!("{ready} of {} pods ready", outcome.desired_replicas),
            g,
            &now,
        )
    } else {
        condition(
            "Ready",
            true,
            "Ready",
            format!("serving on {} with {ready} ready pods", outcome.endpoint),
            g,
            &now,
        )
    };

    let monitoring_cond = match outcome.monitoring {
        MonitoringState::NotRequested => condition(
            MONITORING_READY,
            true,
            "NotRequested",
            "spec.monitoring asks for no ServiceMonitor or PrometheusRule",
            g,
            &now,
        ),
        MonitoringState::Applied => condition(
            MONITORING_READY,
            true,
            "Applied",
            "the ServiceMonitor and PrometheusRule spec.monitoring asks for are applied",
            g,
            &now,
        ),
        MonitoringState::ApiMissing => condition(
            MONITORING_READY,
            false,
            PROMETHEUS_OPERATOR_NOT_INSTALLED,
            MONITORING_API_MISSING,
            g,
            &now,
        ),
    };

    let mut conditions = vec![
        ready_cond,
        available_cond,
        cert_cond,
        progressing_cond,
        degraded_cond,
        monitoring_cond,
    ];
    for c in &mut conditions {
        let old = previous.and_then(|p| p.conditions.iter().find(|o| o.type_ == c.type_));
        if let Some(old) = old.filter(|o| o.status == c.status) {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }

    RustyMailStatus {
        observed_generation: g,
        conditions,
        replicas: Some(replicas),
        ready_replicas: Some(ready),
        certificate: match &outcome.certificate {
            CertificateState::Valid(c) => Some(c.clone()),
            CertificateState::NotReady { .. } => previous.and_then(|p| p.certificate.clone()),
        },
        endpoint: Some(outcome.endpoint.clone()),
        credentials_secret: Some(outcome.credentials_secret.clone()),
        access: Some(access_status(outcome, previous, &now)),
    }
}

/// `status.access`: the rotation time is the previous one while the
/// rotation answered is the same, else now.
fn access_status(
    outcome: &Outcome,
    previous: Option<&RustyMailStatus>,
    now: &Time,
) -> AccessStatus {
    let mut access = outcome.access.clone();
    let before = previous.and_then(|p| p.access.as_ref());
    access.credentials_rotated_at = match before {
        Some(b) if b.credentials_rotation == access.credentials_rotation => {
            b.credentials_rotated_at.clone()
        }
        _ => access.credentials_rotation.as_ref().map(|_| now.clone()),
    };
    access
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::apps::v1::DeploymentStatus, apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };

    use super::*;
    use crate::crd::CertificateSource;

    fn deployment(
        generation: i64,
        observed: i64,
        replicas: i32,
        updated: i32,
        ready: i32,
    ) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            status: Some(DeploymentStatus {
                observed_generation: Some(observed),
                replicas: Some(replicas),
                updated_replicas: Some(updated),
                ready_replicas: Some(ready),
                available_replicas: Some(ready),
                ..DeploymentStatus::default()
            }),
            ..Deployment::default()
        }
    }

    fn outcome() -> Outcome {
        Outcome {
            generation: Some(3),
            paused: false,
            desired_replicas: 2,
            deployment: Some(deployment(5, 5, 2, 2, 2)),
            deployment_changing: false,
            certificate: CertificateState::Valid(CertificateStatus {
                secret_name: "mail-tls".into(),
                not_after: None,
                renewal_time: None,
                source: CertificateSource::SelfSigned,
            }),
            monitoring: MonitoringState::NotRequested,
            degraded: None,
            endpoint: "https://mail.ns.svc:9437".into(),
            credentials_secret: "mail-credentials".into(),
            access: AccessStatus::default(),
        }
    }

    fn get<'a>(s: &'a RustyMailStatus, t: &str) -> &'a Condition {
        s.conditions
            .iter()
            .find(|c| c.type_ == t)
            .unwrap_or_else(|| panic!("{t} missing"))
    }

    #[test]
    fn healthy_rollout_is_ready_with_every_condition_at_the_generation() {
        let s = compute(&outcome(), None, Timestamp::UNIX_EPOCH);
        assert_eq!(get(&s, "Ready").status, "True");
        assert_eq!(get(&s, "Available").status, "True");
        assert_eq!(get(&s, "CertificateReady").status, "True");
        assert_eq!(
            (
                get(&s, "Progressing").status.as_str(),
                get(&s, "Progressing").reason.as_str()
            ),
            ("False", "Complete")
        );
        assert_eq!(get(&s, "Degraded").status, "False");
        assert!(
            s.conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );
        assert_eq!((s.replicas, s.ready_replicas), (Some(2), Some(2)));
    }

    #[test]
    fn a_rollout_in_progress_is_progressing_and_not_ready() {
        let o = Outcome {
            deployment: Some(deployment(6, 5, 3, 1, 1)),
            ..outcome()
        };
        let s = compute(&o, None, Timestamp::UNIX_EPOCH);
        assert_eq!(get(&s, "Progressing").status, "True");
        assert_eq!(get(&s, "Ready").reason, "PodsNotReady");
    }

    #[test]
    fn degraded_and_paused_say_why() {
        let o = Outcome {
            degraded: Some(("SecretNotFound", "Secret support-imap not found".into())),
            ..outcome()
        };
        let s = compute(&o, None, Timestamp::UNIX_EPOCH);
        assert_eq!(
            (
                get(&s, "Degraded").status.as_str(),
                get(&s, "Degraded").message.as_str()
            ),
            ("True", "Secret support-imap not found")
        );
        assert_eq!(get(&s, "Ready").reason, "SecretNotFound");
        let p = compute(
            &Outcome {
                paused: true,
                ..outcome()
            },
            None,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(get(&p, "Progressing").reason, "Paused");
    }

    #[test]
    fn transition_times_survive_unchanged_conditions() {
        let first = compute(&outcome(), None, Timestamp::UNIX_EPOCH);
        let later = Timestamp::from_second(1_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let again = compute(&outcome(), Some(&first), later);
        assert_eq!(
            again, first,
            "an unchanged world yields an identical status"
        );
        let degraded = compute(
            &Outcome {
                degraded: Some(("X", "y".into())),
                ..outcome()
            },
            Some(&first),
            later,
        );
        assert_eq!(get(&degraded, "Degraded").last_transition_time.0, later);
        assert_eq!(
            get(&degraded, "Available").last_transition_time.0,
            Timestamp::UNIX_EPOCH
        );
    }

    #[test]
    fn missing_certificate_blocks_readiness_but_keeps_the_last_known_one() {
        let first = compute(&outcome(), None, Timestamp::UNIX_EPOCH);
        let o = Outcome {
            certificate: CertificateState::NotReady {
                reason: "CertManagerNotInstalled",
                message: "install cert-manager".into(),
            },
            ..outcome()
        };
        let s = compute(&o, Some(&first), Timestamp::UNIX_EPOCH);
        assert_eq!(
            get(&s, "CertificateReady").reason,
            "CertManagerNotInstalled"
        );
        assert_eq!(get(&s, "Ready").reason, "CertificateNotReady");
        assert_eq!(s.certificate, first.certificate);
    }
}
