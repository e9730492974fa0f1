//! What the status says of the serving certificate, and which names a
//! cert-manager issuer is asked for, decided from the observed Secret, the
//! Certificate's own conditions and the issuer the watch of issuers holds.
//!
//! ```text
//!  cert-manager not served ─> CertManagerNotInstalled
//!  issuer missing ─────────> IssuerNotFound (and Degraded)
//!  Secret holds a valid certificate ─> Valid
//!  Certificate Issuing=False ─> IssuanceFailed (cert-manager's reason and message)
//!  issuer Ready≠True ─> IssuerNotReady (the issuer's reason and message)
//!  Certificate Ready=False ─> Issuing (cert-manager's reason and message)
//! ```

use std::{sync::Arc, time::Duration};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time};
use kube::core::DynamicObject;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Note, Observation, timestamp};
use crate::{
    controller::{apis::Apis, status::CertificateState},
    crd::{CertificateSource, CertificateStatus, IssuerRef},
    error::Error,
    render::{self, Owner, TlsMaterial, TlsPlan, tls},
};

/// What the watch of cert-manager issuers shows of `spec.tls.issuerRef`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum IssuerLookup {
    /// Not looked up: no `issuerRef`, cert-manager not served, or an
    /// external issuer (another API group), which the operator does not read.
    #[default]
    NotLookedUp,
    /// A cert-manager issuer the watch does not hold: it does not exist.
    Missing,
    /// The issuer, as the watch holds it.
    Found(Arc<DynamicObject>),
}

impl IssuerLookup {
    /// Whether the issuer is an ACME issuer (cert-manager's `spec.acme`).
    pub fn is_acme(&self) -> bool {
        match self {
            Self::Found(issuer) => issuer
                .data
                .pointer("/spec/acme")
                .is_some_and(|v| !v.is_null()),
            _ => false,
        }
    }
}

/// Condition `type_` of an object's `status.conditions`: (status, reason, message).
fn condition(object: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    let text = |c: &Value, field: &str| c.get(field).and_then(Value::as_str).map(str::to_owned);
    object
        .data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| {
            (
                text(c, "status").unwrap_or_default(),
                text(c, "reason").unwrap_or_default(),
                text(c, "message").unwrap_or_default(),
            )
        })
}

/// `reason: message`, or the one of them that is set.
fn explained(reason: &str, message: &str) -> String {
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (true, _) => message.to_owned(),
        (false, true) => reason.to_owned(),
    }
}

/// Why cert-manager has not issued (yet), from the Certificate's conditions
/// and the issuer's, when they say anything.
fn cert_manager_says(
    issuer_ref: Option<&IssuerRef>,
    issuer: &IssuerLookup,
    certificate: Option<&DynamicObject>,
) -> Option<CertificateState> {
    let name = certificate
        .and_then(|c| c.metadata.name.clone())
        .unwrap_or_default();
    if let Some((status, reason, message)) = certificate.and_then(|c| condition(c, "Issuing"))
        && status == "False"
        && !message.is_empty()
    {
        return Some(CertificateState::NotReady {
            reason: "IssuanceFailed",
            message: format!(
                "cert-manager could not issue Certificate {name}: {}",
                explained(&reason, &message)
            ),
        });
    }
    if let (IssuerLookup::Found(found), Some(r)) = (issuer, issuer_ref) {
        let ready = condition(found, "Ready");
        if ready.as_ref().is_none_or(|(status, _, _)| status != "True") {
            let why = ready.map_or_else(
                || "it has no Ready condition yet".to_owned(),
                |(_, reason, message)| explained(&reason, &message),
            );
            return Some(CertificateState::NotReady {
                reason: "IssuerNotReady",
                message: format!("{} {} is not ready: {why}", r.kind, r.name),
            });
        }
    }
    match certificate.and_then(|c| condition(c, "Ready")) {
        Some((status, reason, message)) if status == "False" => Some(CertificateState::NotReady {
            reason: "Issuing",
            message: format!(
                "cert-manager is issuing Certificate {name}: {}",
                explained(&reason, &message)
            ),
        }),
        _ => None,
    }
}

/// Everything the certificate's state is decided from.
pub struct CertificateInputs<'a> {
    /// Where the certificate comes from.
    pub plan: &'a TlsPlan,
    /// The optional APIs served.
    pub apis: Apis,
    /// `spec.tls.issuerRef`.
    pub issuer_ref: Option<&'a IssuerRef>,
    /// The issuer as looked up.
    pub issuer: &'a IssuerLookup,
    /// The cert-manager Certificate, if it exists.
    pub certificate: Option<&'a DynamicObject>,
    /// The Secret the pods mount, if it exists.
    pub secret: Option<&'a Secret>,
    /// `spec.tls.renewBefore`.
    pub renew_before: Duration,
    /// The time of the observation.
    pub now: OffsetDateTime,
}

/// What the certificate looks like now, for the status.
pub fn certificate_state(inputs: &CertificateInputs<'_>, missing_issuer: &str) -> CertificateState {
    let plan = inputs.plan;
    let cert_manager = plan.source == CertificateSource::CertManager;
    if cert_manager && !inputs.apis.cert_manager {
        return CertificateState::NotReady {
            reason: "CertManagerNotInstalled",
            message: "spec.tls.issuerRef is set but cert-manager (cert-manager.io/v1) is not installed: install it, or remove issuerRef to use an operator-issued certificate".to_owned(),
        };
    }
    if cert_manager && *inputs.issuer == IssuerLookup::Missing {
        return CertificateState::NotReady {
            reason: "IssuerNotFound",
            message: missing_issuer.to_owned(),
        };
    }
    let parsed = inputs
        .secret
        .and_then(TlsMaterial::from_secret)
        .map(|m| tls::inspect(&m.chain_pem));
    if let Some(Ok(info)) = &parsed
        && info.not_after > inputs.now
    {
        return CertificateState::Valid(CertificateStatus {
            secret_name: plan.secret_name.clone(),
            not_after: Some(Time(timestamp(info.not_after))),
            renewal_time: (plan.source != CertificateSource::User)
                .then(|| Time(timestamp(info.not_after - inputs.renew_before))),
            source: plan.source,
        });
    }
    if cert_manager
        && let Some(state) = cert_manager_says(inputs.issuer_ref, inputs.issuer, inputs.certificate)
    {
        return state;
    }
    match parsed {
        None => CertificateState::NotReady {
            reason: if cert_manager {
                "Issuing"
            } else {
                "SecretNotFound"
            },
            message: format!("waiting for the certificate in Secret {}", plan.secret_name),
        },
        Some(Err(e)) => CertificateState::NotReady {
            reason: "InvalidCertificate",
            message: format!("Secret {}: {e}", plan.secret_name),
        },
        Some(Ok(info)) => CertificateState::NotReady {
            reason: "Expired",
            message: format!(
                "the certificate in Secret {} expired at {}",
                plan.secret_name,
                timestamp(info.not_after)
            ),
        },
    }
}

/// An operator-issued certificate as this reconcile leaves it.
pub(super) struct SelfSigned {
    /// The CA and leaf the children are rendered with.
    pub(super) material: TlsMaterial,
    /// The Secret and the Event of a certificate issued now (it was missing
    /// or due for renewal).
    pub(super) issued: Option<(Secret, Note)>,
}

/// The certificate step: with neither `issuerRef` nor `secretName`, the CA
/// and leaf in the cluster kept, or issued when missing or due; `None` when
/// cert-manager or the user's Secret provides the certificate.
pub(super) fn settle_self_signed(
    obs: &Observation,
    owner: &Owner,
    tls_plan: &TlsPlan,
) -> Result<Option<SelfSigned>, Error> {
    if tls_plan.source != CertificateSource::SelfSigned {
        return Ok(None);
    }
    let existing = obs
        .secret(&tls_plan.secret_name)
        .and_then(TlsMaterial::from_secret);
    let (material, issued) = tls::settle_self_signed(owner, &obs.rm.spec, existing, obs.now)?;
    let issued = issued.then(|| {
        let secret = render::tls::self_signed_secret(owner, tls_plan, &material);
        let note = Note::normal(
            "CertificateIssued",
            "Issue",
            format!(
                "issued a self-signed certificate into Secret {}",
                tls_plan.secret_name
            ),
        );
        (secret, note)
    });
    Ok(Some(SelfSigned { material, issued }))
}

#[cfg(test)]
mod tests {
    use time::Duration as Span;

    use super::*;
    use crate::controller::plan::scene::Scene;

    fn settled(scene: &Scene) -> Option<SelfSigned> {
        let obs = scene.observation();
        let owner = Owner::of(&obs.rm).expect("owner");
        let plan = TlsPlan::of(&owner, &obs.rm.spec);
        settle_self_signed(&obs, &owner, &plan).expect("settles")
    }

    #[test]
    fn a_missing_certificate_is_issued_and_a_current_one_kept() {
        let first = settled(&Scene::new()).expect("operator-issued");
        let (secret, note) = first.issued.expect("issued");
        assert_eq!(secret.metadata.name.as_deref(), Some("mail-tls"));
        assert_eq!(note.reason, "CertificateIssued");
        let kept = settled(&Scene::new().executed()).expect("operator-issued");
        assert!(kept.issued.is_none(), "a current certificate is kept");
    }

    #[test]
    fn a_certificate_due_for_renewal_is_issued_again() {
        let due = Scene::new().executed().later(Span::days(80));
        assert!(settled(&due).expect("operator-issued").issued.is_some());
    }

    #[test]
    fn cert_manager_or_the_users_secret_needs_no_issuing() {
        let users = Scene::new().spec(|s| s.tls.secret_name = Some("own-tls".to_owned()));
        assert!(settled(&users).is_none());
    }
}
