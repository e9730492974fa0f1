//! The decision of one reconcile, as a pure function of what was observed,
//! the clock and a random source: which children to apply and delete, which
//! Events to publish, and the status to write.
//!
//! ```text
//!  references ok? ──no──> Degraded: Warning Event, status, nothing applied
//!       │yes
//!  paused? ──yes──> status only
//!       │no            (the isolation lever, on or off, moves the
//!                       NetworkPolicy even when Degraded or paused: see `access`)
//!       │no
//!  credentials (keep | rotate) ─┐
//!  certificate (keep | issue) ──┴─> render ─> name taken? ──yes──> Degraded
//!                                              │no
//!        apply what differs, delete what is no longer desired, status
//! ```
//!
//! Nothing here talks to the API server; `execute` carries the plan out.

mod access;
mod certificate;
mod references;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use k8s_openapi::{api::core::v1::Secret, jiff::Timestamp};
use kube::Resource;
use rand::CryptoRng;
use time::OffsetDateTime;

pub use certificate::IssuerLookup;
use certificate::{CertificateInputs, certificate_state};
pub use references::{Problem, secret_references};

use super::{
    apis::Apis,
    diff,
    status::{self, CertificateState, MonitoringState, Outcome},
};
use crate::{
    crd::{CertificateSource, CertificateStatus, RustyMail, RustyMailStatus},
    error::Error,
    kinds::Kind,
    render::{
        self, Child, ChildKey, Credentials, CredentialsInput, Observed, Owner, TlsMaterial,
        TlsPlan, credentials, tls,
    },
};

/// How often a settled RustyMail is looked at again.
pub const RESYNC: Duration = Duration::from_secs(300);

/// Everything one reconcile observed.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The RustyMail, with the status it last had written.
    pub rm: Arc<RustyMail>,
    /// Which optional APIs the cluster serves.
    pub apis: Apis,
    /// The Secrets the spec refers to that exist, by name.
    pub secrets: BTreeMap<String, Secret>,
    /// The cert-manager issuer `spec.tls.issuerRef` names.
    pub issuer: IssuerLookup,
    /// Every object found under a name a child of this RustyMail may have.
    pub children: BTreeMap<ChildKey, Child>,
    /// The time of the observation.
    pub now: OffsetDateTime,
}

/// Normal or Warning, as Events are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something a person may want to know.
    Normal,
    /// Something a person must act on.
    Warning,
}

/// An Event to publish on the RustyMail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Normal or Warning.
    pub severity: Severity,
    /// PascalCase reason, e.g. `ChildrenUpdated`.
    pub reason: &'static str,
    /// What the operator did, e.g. `Apply`.
    pub action: &'static str,
    /// The human-readable text.
    pub text: String,
}

impl Note {
    fn normal(reason: &'static str, action: &'static str, text: String) -> Self {
        Self {
            severity: Severity::Normal,
            reason,
            action,
            text,
        }
    }
}

/// How the reconcile ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done; look again after this long.
    Requeue(Duration),
    /// The spec cannot work as written; retried with backoff.
    Degraded {
        /// PascalCase reason.
        reason: &'static str,
        /// Every problem, joined.
        message: String,
    },
}

/// What one reconcile is to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Children to apply (missing or different), in apply order.
    pub apply: Vec<Child>,
    /// Children to delete: controlled by this RustyMail and no longer desired.
    pub delete: Vec<ChildKey>,
    /// Events to publish.
    pub events: Vec<Note>,
    /// The status to write; `None` when the RustyMail already reports it.
    pub status: Option<RustyMailStatus>,
    /// How the reconcile ends.
    pub verdict: Verdict,
}

impl Observation {
    /// The candidate names of every child kind the cluster serves.
    pub fn candidates(owner: &Owner, apis: Apis) -> Vec<ChildKey> {
        Kind::ALL
            .into_iter()
            .filter(|k| apis.serves(*k))
            .flat_map(|kind| {
                kind.info()
                    .name_suffixes
                    .iter()
                    .map(move |suffix| ChildKey {
                        kind,
                        name: owner.child_name(suffix),
                    })
            })
            .collect()
    }

    /// The Secret `name`: a child, or a Secret the spec refers to.
    fn secret(&self, name: &str) -> Option<&Secret> {
        let key = ChildKey {
            kind: Kind::Secret,
            name: name.to_owned(),
        };
        match self.children.get(&key) {
            Some(Child::Secret(s)) => Some(s),
            _ => self.secrets.get(name),
        }
    }

    fn controls(&self, child: &Child) -> bool {
        let uid = self.rm.meta().uid.as_deref();
        child
            .meta()
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
    }
}

fn timestamp(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_second(t.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The status for `outcome`, or `None` when the RustyMail already reports it.
fn status_change(obs: &Observation, outcome: &Outcome) -> Option<RustyMailStatus> {
    let status = status::compute(outcome, obs.rm.status.as_ref(), timestamp(obs.now));
    (obs.rm.status.as_ref() != Some(&status)).then_some(status)
}

fn has_condition(rm: &RustyMail, type_: &str, check: impl Fn(&str, &str) -> bool) -> bool {
    rm.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && check(&c.status, &c.message))
    })
}

/// A plan that changes no child and reports `problems` as `Degraded`.
fn degrade(obs: &Observation, mut outcome: Outcome, problems: &[Problem]) -> Plan {
    let reason = problems.first().map_or("Degraded", |p| p.reason);
    let message = problems
        .iter()
        .map(|p| p.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    outcome.degraded = Some((reason, message.clone()));
    let already = has_condition(&obs.rm, "Degraded", |s, m| s == "True" && m == message);
    let events = (!already)
        .then(|| Note {
            severity: Severity::Warning,
            reason,
            action: "Reconcile",
            text: message.clone(),
        })
        .into_iter()
        .collect();
    Plan {
        apply: Vec::new(),
        delete: Vec::new(),
        events,
        status: status_change(obs, &outcome),
        verdict: Verdict::Degraded { reason, message },
    }
}

/// What becomes of the monitoring the spec asks for, given the APIs served.
fn monitoring_state(obs: &Observation) -> MonitoringState {
    let asked = &obs.rm.spec.monitoring;
    if !(asked.service_monitor || asked.prometheus_rule) {
        MonitoringState::NotRequested
    } else if obs.apis.monitoring {
        MonitoringState::Applied
    } else {
        MonitoringState::ApiMissing
    }
}

/// The Warning Event of monitoring asked for without the Prometheus
/// Operator's API, once: when the RustyMail does not report it yet.
fn monitoring_note(obs: &Observation) -> Option<Note> {
    let missing = monitoring_state(obs) == MonitoringState::ApiMissing;
    let reported = has_condition(&obs.rm, status::MONITORING_READY, |s, _| s == "False");
    (missing && !reported).then(|| Note {
        severity: Severity::Warning,
        reason: status::PROMETHEUS_OPERATOR_NOT_INSTALLED,
        action: "Reconcile",
        text: status::MONITORING_API_MISSING.to_owned(),
    })
}

/// Decides what one reconcile does, from `obs` and the random source `rng`.
pub fn plan(obs: &Observation, rng: &mut impl CryptoRng) -> Result<Plan, Error> {
    let mut plan = decide(obs, rng)?;
    plan.events.extend(monitoring_note(obs));
    Ok(plan)
}

/// [`plan`] but for the Event of missing monitoring, which every path shares.
fn decide(obs: &Observation, rng: &mut impl CryptoRng) -> Result<Plan, Error> {
    let rm = obs.rm.as_ref();
    let owner = Owner::of(rm)?;
    let tls_plan = TlsPlan::of(&owner, &rm.spec);
    let (_, renew_before) = tls::lifetimes(&rm.spec)?;
    let missing_issuer = rm
        .spec
        .tls
        .issuer_ref
        .as_ref()
        .map(|issuer| references::missing_issuer(issuer, &owner.namespace));
    let certificate = match obs.children.get(&ChildKey {
        kind: Kind::Certificate,
        name: owner.child_name("-tls"),
    }) {
        Some(Child::Certificate(c)) => Some(c),
        _ => None,
    };
    let certificate_inputs = |secret| CertificateInputs {
        plan: &tls_plan,
        apis: obs.apis,
        issuer_ref: rm.spec.tls.issuer_ref.as_ref(),
        issuer: &obs.issuer,
        certificate,
        secret,
        renew_before,
        now: obs.now,
    };
    let missing_issuer_text = missing_issuer
        .as_ref()
        .map(|p| p.message.clone())
        .unwrap_or_default();
    let deployment = match obs.children.get(&ChildKey {
        kind: Kind::Deployment,
        name: owner.name.clone(),
    }) {
        Some(Child::Deployment(d)) => Some(d.clone()),
        _ => None,
    };
    let isolation = access::isolation(obs, &owner);
    let credentials_name = rm
        .spec
        .auth
        .existing_secret
        .clone()
        .unwrap_or_else(|| owner.child_name("-credentials"));
    let observed_rotation = match rm.spec.auth.existing_secret {
        Some(_) => None,
        None => obs
            .secret(&credentials_name)
            .and_then(Credentials::from_secret)
            .and_then(|c| c.rotation),
    };
    let mut outcome = Outcome {
        generation: rm.meta().generation,
        paused: rm.spec.paused,
        desired_replicas: rm.spec.replicas,
        deployment,
        deployment_changing: false,
        certificate: certificate_state(
            &certificate_inputs(obs.secret(&tls_plan.secret_name)),
            &missing_issuer_text,
        ),
        monitoring: monitoring_state(obs),
        degraded: None,
        endpoint: format!(
            "https://{}.{}.svc:{}",
            owner.name,
            owner.namespace,
            render::API_PORT
        ),
        credentials_secret: credentials_name,
        access: access::status(
            &rm.spec,
            &owner.namespace,
            isolation.isolated,
            access::blocked_now(obs, &owner),
            observed_rotation,
        ),
    };

    let mut problems = references::secret_problems(&rm.spec, &obs.secrets);
    match (&obs.issuer, missing_issuer) {
        (IssuerLookup::Missing, Some(problem)) => problems.push(problem),
        (issuer, _) if issuer.is_acme() => {
            problems.extend(references::acme_without_public_names(&rm.spec));
        }
        _ => {}
    }
    if !problems.is_empty() {
        let mut plan = access::with_isolation(degrade(obs, outcome, &problems), isolation);
        access::announce(obs, &owner, &mut plan);
        return Ok(plan);
    }
    if rm.spec.paused {
        let mut plan = access::with_isolation(
            Plan {
                apply: Vec::new(),
                delete: Vec::new(),
                events: Vec::new(),
                status: status_change(obs, &outcome),
                verdict: Verdict::Requeue(RESYNC),
            },
            isolation,
        );
        access::announce(obs, &owner, &mut plan);
        return Ok(plan);
    }

    let mut events = Vec::new();
    let credentials = match &rm.spec.auth.existing_secret {
        Some(name) => CredentialsInput::Existing(
            obs.secrets
                .get(name)
                .and_then(|s| s.data.clone())
                .unwrap_or_default(),
        ),
        None => {
            let name = owner.child_name("-credentials");
            let had = obs.secret(&name).and_then(Credentials::from_secret);
            let requested = credentials::requested_rotation(rm);
            let settled = credentials::settle(had.clone(), requested, rng);
            if had.is_some_and(|h| h != settled) {
                events.push(Note::normal(
                    "CredentialsRotated",
                    "Rotate",
                    format!(
                        "revoked the previous API key and JWT secret: new ones in Secret {name} (rotation {}); each pod refuses the old key once its credentials volume updates, and the pods roll",
                        settled.rotation.as_deref().unwrap_or("-")
                    ),
                ));
            }
            outcome.access.credentials_rotation = settled.rotation.clone();
            CredentialsInput::Generated(settled)
        }
    };

    let self_signed = match tls_plan.source {
        CertificateSource::SelfSigned => {
            let existing = obs
                .secret(&tls_plan.secret_name)
                .and_then(TlsMaterial::from_secret);
            let (material, issued) = tls::settle_self_signed(&owner, &rm.spec, existing, obs.now)?;
            if issued {
                events.push(Note::normal(
                    "CertificateIssued",
                    "Issue",
                    format!(
                        "issued a self-signed certificate into Secret {}",
                        tls_plan.secret_name
                    ),
                ));
                let secret = render::tls::self_signed_secret(&owner, &tls_plan, &material);
                outcome.certificate =
                    certificate_state(&certificate_inputs(Some(&secret)), &missing_issuer_text);
            }
            Some(material)
        }
        _ => None,
    };

    let desired = render::render(
        rm,
        &Observed {
            cert_manager: obs.apis.cert_manager,
            monitoring: obs.apis.monitoring,
            acme_issuer: obs.issuer.is_acme(),
            credentials,
            self_signed,
        },
    )?;

    let taken: Vec<String> = desired
        .iter()
        .filter_map(|d| obs.children.get(&d.key()))
        .filter(|o| !obs.controls(o))
        .map(|o| o.key().to_string())
        .collect();
    if !taken.is_empty() {
        let problem = Problem {
            reason: "NameConflict",
            message: format!(
                "{} already exist and are not controlled by this RustyMail: rename or delete them",
                taken.join(", ")
            ),
        };
        let mut plan = access::with_isolation(
            degrade(obs, outcome, std::slice::from_ref(&problem)),
            isolation,
        );
        access::announce(obs, &owner, &mut plan);
        return Ok(plan);
    }

    let apply: Vec<Child> = desired
        .iter()
        .filter(|d| {
            !obs.children
                .get(&d.key())
                .is_some_and(|o| diff::satisfied_by(&d.to_value(), &o.to_value()))
        })
        .cloned()
        .collect();
    let wanted: BTreeSet<ChildKey> = desired.iter().map(Child::key).collect();
    let referenced = secret_references(&rm.spec);
    let delete: Vec<ChildKey> = obs
        .children
        .iter()
        .filter(|(key, child)| {
            !wanted.contains(key)
                && obs.controls(child)
                && child.meta().deletion_timestamp.is_none()
                && !(key.kind == Kind::Secret && referenced.contains(&key.name))
        })
        .map(|(key, _)| key.clone())
        .collect();
    outcome.deployment_changing = apply.iter().any(|c| c.kind() == Kind::Deployment);
    outcome.access.blocked_cidrs =
        u32::try_from(rm.spec.access.blocked_cidrs.len()).unwrap_or(u32::MAX);

    let changes: Vec<String> = apply
        .iter()
        .map(|c| format!("applied {}", c.key()))
        .chain(delete.iter().map(|k| format!("deleted {k}")))
        .collect();
    if !changes.is_empty() {
        events.push(Note::normal("ChildrenUpdated", "Apply", changes.join(", ")));
    }
    if has_condition(rm, "Degraded", |s, _| s == "True") {
        events.push(Note::normal(
            "Recovered",
            "Reconcile",
            "every reference resolves again and all children are applied".to_owned(),
        ));
    }

    let until_renewal = match &outcome.certificate {
        CertificateState::Valid(CertificateStatus {
            renewal_time: Some(t),
            ..
        }) if tls_plan.source == CertificateSource::SelfSigned => {
            let secs = t.0.as_second() - timestamp(obs.now).as_second();
            Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(1))
        }
        _ => RESYNC,
    };
    let mut plan = Plan {
        status: status_change(obs, &outcome),
        apply,
        delete,
        events,
        verdict: Verdict::Requeue(until_renewal.min(RESYNC)),
    };
    access::announce(obs, &owner, &mut plan);
    Ok(plan)
}
