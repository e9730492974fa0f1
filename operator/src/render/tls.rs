//! The serving certificate: a cert-manager `Certificate`, the user's own
//! Secret, or a Secret holding a CA and leaf the operator issues itself.
//!
//! Issuing is random (fresh keys), so it sits beside, not inside, the
//! renderer: the reconciler and the preview call [`settle_self_signed`] on
//! what they observed and hand the result to the renderer.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::core::DynamicObject;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustymail_config::units::HumanDuration;
use serde_json::json;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{
    RenderError,
    meta::{Component, Owner},
};
use crate::{
    crd::{CertificateSource, RustyMailSpec},
    kinds::Kind,
};

/// Where the certificate of a RustyMail comes from, decided from its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPlan {
    /// Who issues it.
    pub source: CertificateSource,
    /// The kubernetes.io/tls Secret the pods mount.
    pub secret_name: String,
}

impl TlsPlan {
    /// Reads the plan off the spec.
    pub fn of(owner: &Owner, spec: &RustyMailSpec) -> Self {
        match (&spec.tls.issuer_ref, &spec.tls.secret_name) {
            (_, Some(secret)) => Self {
                source: CertificateSource::User,
                secret_name: secret.clone(),
            },
            (Some(_), None) => Self {
                source: CertificateSource::CertManager,
                secret_name: owner.child_name("-tls"),
            },
            (None, None) => Self {
                source: CertificateSource::SelfSigned,
                secret_name: owner.child_name("-tls"),
            },
        }
    }
}

/// The DNS names the certificate must cover: the Service's names, the
/// Ingress host and `tls.dnsNames`, without repeats.
pub fn dns_names(owner: &Owner, spec: &RustyMailSpec) -> Vec<String> {
    let mut names = owner.service_dns_names();
    let extra = spec
        .tls
        .dns_names
        .iter()
        .chain(spec.ingress.as_ref().map(|i| &i.host));
    for name in extra {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// The DNS names an ACME issuer is asked for: `tls.dnsNames` alone, without
/// repeats. An ACME server (Let's Encrypt) refuses the whole order when one
/// name is not public, so the Service's cluster names stay out.
pub fn public_dns_names(spec: &RustyMailSpec) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in &spec.tls.dns_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// The cert-manager `Certificate` `<name>-tls`: ECDSA P-256, a new key on every
/// renewal, and Secret labels that map the Secret back to its RustyMail. An
/// `acme` issuer is asked for the public `tls.dnsNames` only, any other for
/// the Service's names too.
pub fn certificate(
    owner: &Owner,
    spec: &RustyMailSpec,
    plan: &TlsPlan,
    acme: bool,
) -> Option<DynamicObject> {
    let issuer = spec.tls.issuer_ref.as_ref()?;
    let names = if acme {
        public_dns_names(spec)
    } else {
        dns_names(owner, spec)
    };
    let mut object = DynamicObject::new(&owner.child_name("-tls"), &Kind::Certificate.resource());
    object.metadata = owner.meta(owner.child_name("-tls"), Component::Security);
    object.data = json!({
        "spec": {
            "secretName": plan.secret_name,
            "issuerRef": {"name": issuer.name, "kind": issuer.kind, "group": issuer.group},
            "dnsNames": names,
            "duration": spec.tls.duration,
            "renewBefore": spec.tls.renew_before,
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["server auth", "digital signature"],
            "secretTemplate": {"labels": owner.labels(Component::Security)},
        }
    });
    Some(object)
}

/// PEM material of an operator-issued certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// Leaf then CA certificate.
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
    /// The CA certificate clients trust.
    pub ca_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Reads material back from a kubernetes.io/tls Secret.
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let data = secret.data.as_ref()?;
        let text = |k: &str| {
            data.get(k)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
        };
        Some(Self {
            chain_pem: text("tls.crt")?,
            key_pem: text("tls.key")?,
            ca_pem: text("ca.crt").unwrap_or_default(),
        })
    }
}

/// Validity and names of a PEM certificate's first (leaf) certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
}

/// Parses the first certificate of a PEM chain.
pub fn inspect(chain_pem: &str) -> Result<CertificateInfo, RenderError> {
    let bad = |why: String| RenderError::Certificate(why);
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes())
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    let (_, cert) =
        X509Certificate::from_der(&pem.contents).map_err(|e| bad(format!("not X.509: {e}")))?;
    let dns_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(CertificateInfo {
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        dns_names,
    })
}

/// `spec.tls.duration` and `spec.tls.renewBefore`, parsed with the data plane's parser.
pub fn lifetimes(spec: &RustyMailSpec) -> Result<(Duration, Duration), RenderError> {
    let parse = |field: &str, value: &str| {
        value
            .parse::<HumanDuration>()
            .map(|d| d.0)
            .map_err(|e| RenderError::invalid(field, e.to_string()))
    };
    Ok((
        parse("spec.tls.duration", &spec.tls.duration)?,
        parse("spec.tls.renewBefore", &spec.tls.renew_before)?,
    ))
}

/// The operator-issued certificate: `existing` while it is good, a new one
/// (and `true`) when it is missing, unreadable, short of a name, or due.
pub fn settle_self_signed(
    owner: &Owner,
    spec: &RustyMailSpec,
    existing: Option<TlsMaterial>,
    now: OffsetDateTime,
) -> Result<(TlsMaterial, bool), RenderError> {
    let wanted = dns_names(owner, spec);
    let (lifetime, renew_before) = lifetimes(spec)?;
    match existing {
        Some(current) if !needs_issue(Some(&current), &wanted, renew_before, now) => {
            Ok((current, false))
        }
        _ => Ok((issue_self_signed(owner, wanted, lifetime, now)?, true)),
    }
}

/// Whether the operator must issue a new self-signed certificate: there is
/// none, it does not parse, it lacks a wanted name, or it is due for renewal.
pub fn needs_issue(
    existing: Option<&TlsMaterial>,
    wanted_names: &[String],
    renew_before: Duration,
    now: OffsetDateTime,
) -> bool {
    let Some(info) = existing.and_then(|m| inspect(&m.chain_pem).ok()) else {
        return true;
    };
    let covers = wanted_names.iter().all(|n| info.dns_names.contains(n));
    !covers || now + renew_before >= info.not_after
}

/// Issues a fresh CA and an ECDSA P-256 leaf for `dns_names`, valid from now for `lifetime`.
pub fn issue_self_signed(
    owner: &Owner,
    dns_names: Vec<String>,
    lifetime: Duration,
    now: OffsetDateTime,
) -> Result<TlsMaterial, RenderError> {
    let err = |e: rcgen::Error| RenderError::Certificate(format!("cannot issue certificate: {e}"));
    let not_before = now - Duration::from_secs(300);
    let not_after = now + lifetime;

    let mut ca_params = CertificateParams::default();
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(
        DnType::CommonName,
        format!("rustymail {}/{} CA", owner.namespace, owner.name),
    );
    ca_params.distinguished_name = ca_dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf = CertificateParams::new(dns_names.clone()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        dns_names
            .first()
            .cloned()
            .unwrap_or_else(|| owner.name.clone()),
    );
    leaf.distinguished_name = dn;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_key = KeyPair::generate().map_err(err)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(err)?;

    Ok(TlsMaterial {
        chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        key_pem: leaf_key.serialize_pem(),
        ca_pem: ca_cert.pem(),
    })
}

/// The kubernetes.io/tls Secret `<name>-tls` holding operator-issued material.
pub fn self_signed_secret(owner: &Owner, plan: &TlsPlan, material: &TlsMaterial) -> Secret {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    Secret {
        metadata: owner.meta(plan.secret_name.clone(), Component::Security),
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(BTreeMap::from([
            ("tls.crt".to_owned(), bytes(&material.chain_pem)),
            ("tls.key".to_owned(), bytes(&material.key_pem)),
            ("ca.crt".to_owned(), bytes(&material.ca_pem)),
        ])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;

    const DAY: Duration = Duration::from_secs(86_400);

    fn owner() -> Owner {
        Owner::of(&fixtures::minimal()).expect("named")
    }

    #[test]
    fn issued_leaf_covers_the_service_names_and_lifetime() {
        let now = OffsetDateTime::now_utc();
        let names = owner().service_dns_names();
        let material = issue_self_signed(&owner(), names.clone(), 90 * DAY, now).expect("issued");
        let info = inspect(&material.chain_pem).expect("parses");
        assert_eq!(info.dns_names, names);
        assert!((info.not_after - (now + 90 * DAY)).abs() < time::Duration::seconds(2));
        assert_eq!(material.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(material.chain_pem.ends_with(&material.ca_pem));
    }

    #[test]
    fn reissue_happens_only_when_due_missing_or_names_change() {
        let now = OffsetDateTime::now_utc();
        let names = owner().service_dns_names();
        let material = issue_self_signed(&owner(), names.clone(), 90 * DAY, now).expect("issued");
        assert!(!needs_issue(Some(&material), &names, 30 * DAY, now));
        assert!(needs_issue(
            Some(&material),
            &names,
            30 * DAY,
            now + 61 * DAY
        ));
        let mut more = names.clone();
        more.push("mail.example.com".into());
        assert!(needs_issue(Some(&material), &more, 30 * DAY, now));
        assert!(needs_issue(None, &names, 30 * DAY, now));
        let corrupt = TlsMaterial {
            chain_pem: "garbage".into(),
            ..material
        };
        assert!(needs_issue(Some(&corrupt), &names, 30 * DAY, now));
    }

    #[test]
    fn settling_keeps_a_good_certificate_and_issues_one_when_due() {
        let rm = fixtures::minimal();
        let now = OffsetDateTime::now_utc();
        let (first, issued) = settle_self_signed(&owner(), &rm.spec, None, now).expect("issued");
        assert!(issued);
        let (kept, issued) =
            settle_self_signed(&owner(), &rm.spec, Some(first.clone()), now).expect("kept");
        assert_eq!((kept, issued), (first.clone(), false));
        let (lifetime, renew_before) = lifetimes(&rm.spec).expect("durations");
        let due = now + (lifetime - renew_before) + DAY;
        let (renewed, issued) =
            settle_self_signed(&owner(), &rm.spec, Some(first.clone()), due).expect("renewed");
        assert!(issued);
        assert_ne!(renewed.chain_pem, first.chain_pem);
    }

    #[test]
    fn an_unparsable_lifetime_names_its_field() {
        let mut spec = fixtures::minimal().spec;
        spec.tls.renew_before = "soon".into();
        let err = settle_self_signed(&owner(), &spec, None, OffsetDateTime::now_utc())
            .expect_err("refused");
        assert!(err.to_string().contains("spec.tls.renewBefore"), "{err}");
    }
}
