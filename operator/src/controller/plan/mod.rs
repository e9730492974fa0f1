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
//! Each step is a pure function of its own, with its own tests: the
//! references (`references`), the credentials (`credentials`), the
//! certificate (`certificate`), the incident levers (`access`), the
//! children to apply and delete (`children`) and what the status reports
//! (`outcome`); `frame` holds what they all read. Nothing here talks to
//! the API server; `execute` carries the plan out.

mod access;
mod certificate;
mod children;
mod credentials;
mod frame;
mod outcome;
mod references;
#[cfg(test)]
mod scene;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp,
};
use kube::Resource;
use rand::CryptoRng;
use time::OffsetDateTime;

pub use certificate::IssuerLookup;
use frame::Frame;
pub use references::{Problem, secret_references};

use super::{
    apis::Apis,
    diff,
    status::{self, MonitoringState, Outcome},
};
use crate::{
    crd::{RustyMail, RustyMailStatus},
    error::Error,
    kinds::Kind,
    render::{self, Child, ChildKey, Observed, Owner},
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

/// [`plan`] but for the Event of missing monitoring, which every path
/// shares: the steps below, in order, each a function of its own.
fn decide(obs: &Observation, rng: &mut impl CryptoRng) -> Result<Plan, Error> {
    let rm = obs.rm.as_ref();
    let frame = Frame::of(obs)?;
    let mut outcome = outcome::observed(obs, &frame);

    let problems = references::problems(obs, frame.missing_issuer.clone());
    if !problems.is_empty() {
        let degraded = degrade(obs, outcome, &problems);
        return Ok(frame.hold(obs, degraded));
    }
    if rm.spec.paused {
        let paused = Plan {
            apply: Vec::new(),
            delete: Vec::new(),
            events: Vec::new(),
            status: status_change(obs, &outcome),
            verdict: Verdict::Requeue(RESYNC),
        };
        return Ok(frame.hold(obs, paused));
    }

    let mut events = Vec::new();
    let credentials = credentials::settle(obs, &frame.owner, rng)?;
    events.extend(credentials.note);
    outcome.access.credentials_rotation = credentials.rotation;
    outcome.access.previous_key_accepted_until = credentials.previous_until.map(Time);
    let self_signed = match certificate::settle_self_signed(obs, &frame.owner, &frame.tls_plan)? {
        Some(settled) => {
            if let Some((secret, note)) = settled.issued {
                events.push(note);
                outcome.certificate = frame.certificate_state(obs, Some(&secret));
            }
            Some(settled.material)
        }
        None => None,
    };

    let desired = render::render(
        rm,
        &Observed {
            cert_manager: obs.apis.cert_manager,
            monitoring: obs.apis.monitoring,
            acme_issuer: obs.issuer.is_acme(),
            credentials: credentials.input,
            self_signed,
        },
    )?;
    if let Some(problem) = children::name_conflict(obs, &desired) {
        let degraded = degrade(obs, outcome, std::slice::from_ref(&problem));
        return Ok(frame.hold(obs, degraded));
    }
    let changes = children::changes(obs, &desired);
    outcome.deployment_changing = changes.apply.iter().any(|c| c.kind() == Kind::Deployment);
    outcome.access.blocked_cidrs =
        u32::try_from(rm.spec.access.blocked_cidrs.len()).unwrap_or(u32::MAX);
    events.extend(children::notes(rm, &changes));

    let mut plan = Plan {
        status: status_change(obs, &outcome),
        verdict: Verdict::Requeue(outcome::requeue_after(&outcome, &frame, obs)),
        apply: changes.apply,
        delete: changes.delete,
        events,
    };
    access::announce(obs, &frame.owner, &mut plan);
    Ok(plan)
}
