//! Reads what a reconcile needs to know before it changes anything: the
//! Secrets and Issuer the spec refers to, and the operator's own Secrets.
//! A reference that cannot work becomes a [`Problem`], reported as the
//! `Degraded` condition before any child is touched.

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client,
    core::{ApiResource, DynamicObject, GroupVersionKind},
};

use super::{reads::Reads, retry::retry};
use crate::{
    crd::{IssuerKind, RustyMailSpec},
    error::Error,
};

/// A reference in the spec that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// PascalCase reason, e.g. `SecretNotFound`.
    pub reason: &'static str,
    /// What is wrong and what to do, naming the field.
    pub message: String,
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

/// Every Secret the spec refers to, checked for existence and keys.
/// Returns the problems found and the data of `auth.existingSecret`.
pub async fn referenced_secrets(
    reads: &mut Reads,
    spec: &RustyMailSpec,
) -> Result<(Vec<Problem>, Option<Secret>), Error> {
    let mut problems = Vec::new();
    for (i, account) in spec.accounts.iter().enumerate() {
        let r = &account.credentials_secret_ref;
        let s = reads.typed::<Secret>(&r.name).await?;
        let field = format!("spec.accounts[{i}].credentialsSecretRef");
        problems.extend(check_keys(
            s.as_ref(),
            &r.name,
            &[&r.username_key, &r.password_key],
            &field,
        ));
        if let Some(ca) = &account.imap.ca_secret_ref {
            let s = reads.typed::<Secret>(&ca.name).await?;
            let field = format!("spec.accounts[{i}].imap.caSecretRef");
            problems.extend(check_keys(s.as_ref(), &ca.name, &[&ca.key], &field));
        }
    }
    let mut existing = None;
    if let Some(name) = &spec.auth.existing_secret {
        let s = reads.typed::<Secret>(name).await?;
        let keys = [
            crate::render::mounts::API_KEYS_KEY,
            crate::render::mounts::JWT_SECRET_KEY,
        ];
        problems.extend(check_keys(
            s.as_ref(),
            name,
            &keys,
            "spec.auth.existingSecret",
        ));
        existing = s;
    }
    if let Some(name) = &spec.tls.secret_name {
        let s = reads.typed::<Secret>(name).await?;
        problems.extend(check_keys(
            s.as_ref(),
            name,
            &["tls.crt", "tls.key"],
            "spec.tls.secretName",
        ));
    }
    Ok((problems, existing))
}

/// Checks that the cert-manager issuer named by `spec.tls.issuerRef` exists.
pub async fn issuer(
    client: &Client,
    namespace: &str,
    spec: &RustyMailSpec,
) -> Result<Option<Problem>, Error> {
    let Some(issuer) = &spec.tls.issuer_ref else {
        return Ok(None);
    };
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "cert-manager.io",
        "v1",
        issuer.kind.as_str(),
    ));
    let api: Api<DynamicObject> = match issuer.kind {
        IssuerKind::Issuer => Api::namespaced_with(client.clone(), namespace, &resource),
        IssuerKind::ClusterIssuer => Api::all_with(client.clone(), &resource),
    };
    let found = retry(|| api.get_opt(&issuer.name))
        .await
        .map_err(Error::kube(format!(
            "reading {} {}",
            issuer.kind.as_str(),
            issuer.name
        )))?;
    Ok(found.is_none().then(|| Problem {
        reason: "IssuerNotFound",
        message: format!(
            "spec.tls.issuerRef: cert-manager {} {} does not exist{}",
            issuer.kind.as_str(),
            issuer.name,
            match issuer.kind {
                IssuerKind::Issuer => format!(" in namespace {namespace}"),
                IssuerKind::ClusterIssuer => String::new(),
            }
        ),
    }))
}
