//! `rustymail-operator render`: what the operator would apply for a
//! RustyMail file, as multi-document YAML, without a cluster.
//!
//! Generated values are generated for real, as the operator would: the
//! credentials Secret holds fresh random keys and a self-signed certificate
//! is freshly issued, so they differ on every run.
//!
//! May depend on, in this crate: `crd`, `render`.

use time::OffsetDateTime;

use crate::{
    crd::{CertificateSource, RustyMail, load},
    render::{self, CredentialsInput, Observed, Owner, RenderError, TlsPlan, credentials, tls},
};

/// Why a preview failed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The file is not an admissible RustyMail.
    #[error(transparent)]
    Load(#[from] load::LoadError),
    /// The RustyMail cannot be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Which optional APIs the preview assumes the cluster has.
#[derive(Debug, Clone, Copy, Default)]
pub struct Assume {
    /// cert-manager is installed.
    pub cert_manager: bool,
    /// The Prometheus Operator is installed.
    pub monitoring: bool,
    /// `tls.issuerRef` names an ACME issuer (Let's Encrypt).
    pub acme_issuer: bool,
}

/// Builds what the reconciler would observe in an empty cluster.
pub fn observe_fresh(
    rm: &RustyMail,
    assume: Assume,
    now: OffsetDateTime,
) -> Result<Observed, RenderError> {
    let owner = Owner::of(rm)?;
    let credentials = if rm.spec.auth.existing_secret.is_some() {
        CredentialsInput::Existing(Default::default())
    } else {
        let requested = credentials::requested_rotation(rm);
        // Nothing to keep in an empty cluster: no previous key, no grace.
        let at = k8s_openapi::jiff::Timestamp::from_second(now.unix_timestamp())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        CredentialsInput::Generated(credentials::settle(
            None,
            requested,
            k8s_openapi::jiff::SignedDuration::ZERO,
            at,
            &mut rand::rng(),
        ))
    };
    let self_signed = match TlsPlan::of(&owner, &rm.spec).source {
        CertificateSource::SelfSigned => {
            Some(tls::settle_self_signed(&owner, &rm.spec, None, now)?.0)
        }
        _ => None,
    };
    Ok(Observed {
        cert_manager: assume.cert_manager,
        monitoring: assume.monitoring,
        acme_issuer: assume.acme_issuer,
        credentials,
        self_signed,
    })
}

/// Renders the RustyMail in `text` to multi-document YAML, plus notes for the
/// user about what was left out and why.
pub fn preview(
    text: &str,
    namespace: &str,
    assume: Assume,
) -> Result<(String, Vec<String>), PreviewError> {
    let rm = load::from_yaml(text, namespace)?;
    let observed = observe_fresh(&rm, assume, OffsetDateTime::now_utc())?;
    let children = render::render(&rm, &observed)?;
    let mut notes = Vec::new();
    if rm.spec.tls.issuer_ref.is_some() && !assume.cert_manager {
        notes.push("tls.issuerRef is set but cert-manager was not assumed: the Certificate is left out (pass --cert-manager)".to_owned());
    }
    let wants_monitoring = rm.spec.monitoring.service_monitor || rm.spec.monitoring.prometheus_rule;
    if wants_monitoring && !assume.monitoring {
        notes.push("monitoring is requested but the Prometheus Operator was not assumed: ServiceMonitor and PrometheusRule are left out (pass --monitoring)".to_owned());
    }
    let docs: Vec<String> = children
        .iter()
        .map(|c| serde_saphyr::to_string(&c.to_value()).unwrap_or_default())
        .collect();
    Ok((format!("---\n{}", docs.join("---\n")), notes))
}
