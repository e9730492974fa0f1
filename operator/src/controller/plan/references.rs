//! The Secrets and the issuer a spec refers to, checked before any child is
//! touched. A reference that cannot work becomes a [`Problem`], reported as
//! the `Degraded` condition.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;

use super::{IssuerLookup, Observation};
use crate::{
    crd::{IssuerKind, IssuerRef, RustyMailSpec},
    render::mounts::{API_KEY_KEY, API_KEYS_KEY, JWT_SECRET_KEY},
};

/// A reference in the spec that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// PascalCase reason, e.g. `SecretNotFound`.
    pub reason: &'static str,
    /// What is wrong and what to do, naming the field.
    pub message: String,
}

/// Every Secret the spec refers to by name.
pub fn secret_references(spec: &RustyMailSpec) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for account in &spec.accounts {
        names.insert(account.credentials_secret_ref.name.clone());
        if let Some(ca) = &account.imap.ca_secret_ref {
            names.insert(ca.name.clone());
        }
        if let Some(ca) = account.smtp.as_ref().and_then(|s| s.ca_secret_ref.as_ref()) {
            names.insert(ca.name.clone());
        }
    }
    names.extend(spec.auth.existing_secret.clone());
    names.extend(spec.tls.secret_name.clone());
    names
}

/// Checks that `secret` exists and holds `keys`; names `field` when not.
fn check_keys(secret: Option<&Secret>, name: &str, keys: &[&str], field: &str) -> Option<Problem> {
    let Some(secret) = secret else {
        return Some(Problem {
            reason: "SecretNotFound",
            message: format!(
                "{field}: Secret {name} does not exist; create it or fix the reference"
            ),
        });
    };
    let has = |k: &str| {
        secret.data.as_ref().is_some_and(|d| d.contains_key(k))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(k))
    };
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !has(k))
        .map(|k| format!("{k:?}"))
        .collect();
    (!missing.is_empty()).then(|| Problem {
        reason: "SecretKeyMissing",
        message: format!("{field}: Secret {name} has no key {}", missing.join(", ")),
    })
}

/// Every referenced Secret, checked for existence and keys against `secrets`
/// (the referenced Secrets that exist, by name).
pub fn secret_problems(spec: &RustyMailSpec, secrets: &BTreeMap<String, Secret>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, account) in spec.accounts.iter().enumerate() {
        let r = &account.credentials_secret_ref;
        let field = format!("spec.accounts[{i}].credentialsSecretRef");
        let keys: &[&str] = match account.username {
            Some(_) => &[&r.password_key],
            None => &[&r.username_key, &r.password_key],
        };
        problems.extend(check_keys(secrets.get(&r.name), &r.name, keys, &field));
        if let Some(ca) = &account.imap.ca_secret_ref {
            let field = format!("spec.accounts[{i}].imap.caSecretRef");
            problems.extend(check_keys(
                secrets.get(&ca.name),
                &ca.name,
                &[&ca.key],
                &field,
            ));
        }
        if let Some(ca) = account.smtp.as_ref().and_then(|s| s.ca_secret_ref.as_ref()) {
            let field = format!("spec.accounts[{i}].smtp.caSecretRef");
            problems.extend(check_keys(
                secrets.get(&ca.name),
                &ca.name,
                &[&ca.key],
                &field,
            ));
        }
    }
    if let Some(name) = &spec.auth.existing_secret {
        let secret = secrets.get(name);
        let field = "spec.auth.existingSecret";
        problems.extend(check_keys(secret, name, &[JWT_SECRET_KEY], field).or_else(|| {
            // The guide's single `api-key` stands in for the list.
            check_keys(secret, name, &[API_KEYS_KEY], field)
                .and(check_keys(secret, name, &[API_KEY_KEY], field))
                .map(|_| Problem {
                    reason: "SecretKeyMissing",
                    message: format!(
                        "{field}: Secret {name} has no key \"{API_KEYS_KEY}\" (API keys, one a line) \
                         nor \"{API_KEY_KEY}\" (a single API key)"
                    ),
                })
        }));
    }
    if let Some(name) = &spec.tls.secret_name {
        problems.extend(check_keys(
            secrets.get(name),
            name,
            &["tls.crt", "tls.key"],
            "spec.tls.secretName",
        ));
    }
    problems
}

/// The problem of an issuer that does not exist.
pub fn missing_issuer(issuer: &IssuerRef, namespace: &str) -> Problem {
    Problem {
        reason: "IssuerNotFound",
        message: format!(
            "spec.tls.issuerRef: cert-manager {} {} does not exist{}; create it or fix the reference",
            issuer.kind,
            issuer.name,
            match issuer.cert_manager_kind() {
                Some(IssuerKind::ClusterIssuer) => String::new(),
                _ => format!(" in namespace {namespace}"),
            }
        ),
    }
}

/// The problem of an ACME issuer asked for no public name: an ACME server
/// signs only public names, so the spec must list at least one.
pub fn acme_without_public_names(spec: &RustyMailSpec) -> Option<Problem> {
    let issuer = spec.tls.issuer_ref.as_ref()?;
    spec.tls.dns_names.is_empty().then(|| Problem {
        reason: "PublicDnsNamesRequired",
        message: format!(
            "spec.tls.dnsNames: {} {} is an ACME issuer (such as Let's Encrypt), which signs public names only, and the list is empty: add the public names clients use (e.g. the Ingress host)",
            issuer.kind, issuer.name
        ),
    })
}

/// The references step: every reference of the spec that cannot work, in
/// the order they are reported: the Secrets and their keys, then the issuer
/// (`missing_issuer`, when the watch of issuers does not hold it) or an ACME
/// issuer asked for no public name.
pub(super) fn problems(obs: &Observation, missing_issuer: Option<Problem>) -> Vec<Problem> {
    let mut problems = secret_problems(&obs.rm.spec, &obs.secrets);
    match (&obs.issuer, missing_issuer) {
        (IssuerLookup::Missing, Some(problem)) => problems.push(problem),
        (issuer, _) if issuer.is_acme() => {
            problems.extend(acme_without_public_names(&obs.rm.spec));
        }
        _ => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::controller::plan::scene::{Scene, acme, issuer};

    fn reasons(scene: &Scene) -> Vec<&'static str> {
        let obs = scene.observation();
        let rm = obs.rm.as_ref();
        let namespace = rm.metadata.namespace.clone().unwrap_or_default();
        let missing = rm
            .spec
            .tls
            .issuer_ref
            .as_ref()
            .map(|issuer| missing_issuer(issuer, &namespace));
        problems(&obs, missing)
            .into_iter()
            .map(|p| p.reason)
            .collect()
    }

    #[test]
    fn a_complete_spec_has_no_problem() {
        assert!(reasons(&Scene::new()).is_empty());
    }

    #[test]
    fn a_missing_secret_and_a_missing_issuer_are_each_reported() {
        let mut scene = Scene::new()
            .without_secret("support-imap")
            .with_cluster_issuer("letsencrypt", acme(), true);
        scene.issuer = IssuerLookup::Missing;
        assert_eq!(reasons(&scene), ["SecretNotFound", "IssuerNotFound"]);
    }

    #[test]
    fn an_acme_issuer_needs_a_public_name() {
        let scene = Scene::new().with_cluster_issuer("letsencrypt", acme(), true);
        assert_eq!(reasons(&scene), ["PublicDnsNamesRequired"]);
        let named = scene.spec(|s| s.tls.dns_names = vec!["mail.example.com".to_owned()]);
        assert!(reasons(&named).is_empty());
        let mut ca =
            Scene::new().with_cluster_issuer("ca", json!({"ca": {"secretName": "ca"}}), true);
        ca.issuer = IssuerLookup::Found(Arc::new(issuer("ca", json!({"ca": {}}), true)));
        assert!(reasons(&ca).is_empty(), "only an ACME issuer needs one");
    }

    #[test]
    fn an_smtp_ca_secret_is_referenced_and_checked() {
        let scene = Scene::new().spec(|s| {
            s.accounts[0].smtp = Some(crate::crd::SmtpSpec {
                host: "smtp.example.com".to_owned(),
                port: 465,
                security: crate::crd::ImapSecurity::Tls,
                ca_secret_ref: Some(crate::crd::SecretKeyRef {
                    name: "smtp-ca".to_owned(),
                    key: "ca.crt".to_owned(),
                }),
                from: None,
            })
        });
        let obs = scene.observation();
        assert!(secret_references(&obs.rm.spec).contains("smtp-ca"));
        let problems = secret_problems(&obs.rm.spec, &BTreeMap::new());
        assert!(
            problems.iter().any(|p| p.reason == "SecretNotFound"
                && p.message.starts_with("spec.accounts[0].smtp.caSecretRef")),
            "{problems:?}"
        );
    }
}
