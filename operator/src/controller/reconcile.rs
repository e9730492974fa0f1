//! One reconcile of one RustyMail: observe, decide, apply, report.
//!
//! ```text
//!  references ok? ──no──> Degraded, Event, nothing changed, retry with backoff
//!       │yes
//!  paused? ──yes──> status only
//!       │no
//!  credentials (keep | rotate) ─┐
//!  certificate (keep | issue) ──┴─> render ─> apply what differs ─> prune ─> status
//! ```

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::{apps::v1::Deployment, core::v1::Secret},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    Context,
    apis::Apis,
    children::{self, Change},
    observe::{self, Problem},
    reads::Reads,
    retry::retry,
    status::{self, CertificateState, Outcome},
};
use crate::{
    crd::{CertificateSource, CertificateStatus, RustyMail},
    error::Error,
    render::{
        self, Credentials, CredentialsInput, FIELD_MANAGER, Observed, Owner, TlsMaterial, TlsPlan,
        credentials, tls,
    },
};

/// How often a settled RustyMail is looked at again.
const RESYNC: Duration = Duration::from_secs(300);

fn timestamp(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_second(t.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// What the certificate looks like now, for the status.
fn certificate_state(
    plan: &TlsPlan,
    apis: Apis,
    secret: Option<&Secret>,
    renew_before: Duration,
    now: OffsetDateTime,
) -> CertificateState {
    if plan.source == CertificateSource::CertManager && !apis.cert_manager {
        return CertificateState::NotReady {
            reason: "CertManagerNotInstalled",
            message: "spec.tls.issuerRef is set but cert-manager (cert-manager.io/v1) is not installed: install it, or remove issuerRef to use an operator-issued certificate".to_owned(),
        };
    }
    let Some(material) = secret.and_then(TlsMaterial::from_secret) else {
        return CertificateState::NotReady {
            reason: if plan.source == CertificateSource::CertManager {
                "Issuing"
            } else {
                "SecretNotFound"
            },
            message: format!("waiting for the certificate in Secret {}", plan.secret_name),
        };
    };
    match tls::inspect(&material.chain_pem) {
        Err(e) => CertificateState::NotReady {
            reason: "InvalidCertificate",
            message: format!("Secret {}: {e}", plan.secret_name),
        },
        Ok(info) if info.not_after <= now => CertificateState::NotReady {
            reason: "Expired",
            message: format!(
                "the certificate in Secret {} expired at {}",
                plan.secret_name,
                timestamp(info.not_after)
            ),
        },
        Ok(info) => CertificateState::Valid(CertificateStatus {
            secret_name: plan.secret_name.clone(),
            not_after: Some(Time(timestamp(info.not_after))),
            renewal_time: (plan.source != CertificateSource::User)
                .then(|| Time(timestamp(info.not_after - renew_before))),
            source: plan.source,
        }),
    }
}

/// Publishes an Event on `rm`; a failure to publish is logged, never fatal.
pub(super) async fn publish(
    ctx: &Context,
    rm: &RustyMail,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &rm.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}

/// Writes the status for `outcome` unless it is what the RustyMail already reports.
async fn write_status(
    ctx: &Context,
    rm: &RustyMail,
    owner: &Owner,
    outcome: &Outcome,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let status = status::compute(outcome, rm.status.as_ref(), timestamp(now));
    if rm.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<RustyMail> = Api::namespaced(ctx.client.clone(), &owner.namespace);
    let patch = json!({
        "apiVersion": RustyMail::api_version(&()),
        "kind": RustyMail::kind(&()),
        "metadata": {"name": owner.name, "namespace": owner.namespace},
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&patch);
    retry(|| api.patch_status(&owner.name, &params, &patch))
        .await
        .map_err(Error::kube(format!(
            "writing status of RustyMail {}/{}",
            owner.namespace, owner.name
        )))?;
    Ok(())
}

/// Reconciles `rm`; only called while this replica leads.
pub async fn reconcile(rm: Arc<RustyMail>, ctx: Arc<Context>) -> Result<Action, Error> {
    let owner = Owner::of(&rm)?;
    let client = &ctx.client;
    let now = OffsetDateTime::now_utc();
    let apis = ctx
        .apis
        .get()
        .await
        .map_err(Error::kube("discovering optional APIs"))?;
    let plan = TlsPlan::of(&owner, &rm.spec);
    let (_, renew_before) = tls::lifetimes(&rm.spec)?;

    let mut reads = Reads::new(client.clone(), &owner.namespace);
    let (mut problems, existing_credentials) =
        observe::referenced_secrets(&mut reads, &rm.spec).await?;
    if apis.cert_manager {
        problems.extend(observe::issuer(client, &owner.namespace, &rm.spec).await?);
    }

    let tls_secret = reads.typed::<Secret>(&plan.secret_name).await?;
    let deployment = reads.typed::<Deployment>(&owner.name).await?;

    let mut outcome = Outcome {
        generation: rm.meta().generation,
        paused: rm.spec.paused,
        desired_replicas: rm.spec.replicas,
        deployment,
        certificate: certificate_state(&plan, apis, tls_secret.as_ref(), renew_before, now),
        degraded: None,
        endpoint: format!(
            "https://{}.{}.svc:{}",
            owner.name,
            owner.namespace,
            render::API_PORT
        ),
        credentials_secret: rm
            .spec
            .auth
            .existing_secret
            .clone()
            .unwrap_or_else(|| owner.child_name("-credentials")),
    };

    if let Some(first) = problems.first() {
        return degrade(&ctx, &rm, &owner, outcome, first, &problems).await;
    }
    if rm.spec.paused {
        write_status(&ctx, &rm, &owner, &outcome, now).await?;
        return Ok(Action::requeue(RESYNC));
    }

    let credentials = match &existing_credentials {
        Some(secret) => CredentialsInput::Existing(secret.data.clone().unwrap_or_default()),
        None => {
            let name = owner.child_name("-credentials");
            let current = reads.typed::<Secret>(&name).await?;
            let requested = credentials::requested_rotation(&rm);
            let had = current.as_ref().and_then(Credentials::from_secret);
            let settled = credentials::settle(had.clone(), requested, &mut rand::rng());
            if had.is_some_and(|h| h != settled) {
                publish(
                    &ctx,
                    &rm,
                    EventType::Normal,
                    "CredentialsRotated",
                    "Rotate",
                    format!("new API key and JWT secret in Secret {name}"),
                )
                .await;
            }
            CredentialsInput::Generated(settled)
        }
    };

    let self_signed = match plan.source {
        CertificateSource::SelfSigned => {
            let existing = tls_secret.as_ref().and_then(TlsMaterial::from_secret);
            let (material, issued) = tls::settle_self_signed(&owner, &rm.spec, existing, now)?;
            if issued {
                publish(
                    &ctx,
                    &rm,
                    EventType::Normal,
                    "CertificateIssued",
                    "Issue",
                    format!(
                        "issued a self-signed certificate into Secret {}",
                        plan.secret_name
                    ),
                )
                .await;
                let issued_secret = render::tls::self_signed_secret(&owner, &plan, &material);
                outcome.certificate =
                    certificate_state(&plan, apis, Some(&issued_secret), renew_before, now);
            }
            Some(material)
        }
        _ => None,
    };

    let observed = Observed {
        cert_manager: apis.cert_manager,
        monitoring: apis.monitoring,
        credentials,
        self_signed,
    };
    let desired = render::render(&rm, &observed)?;
    let mut current = Vec::with_capacity(desired.len());
    for child in &desired {
        current.push(children::read(&mut reads, child).await?);
    }
    let foreign = children::foreign(&rm, &current);
    if !foreign.is_empty() {
        let problem = Problem {
            reason: "NameConflict",
            message: format!(
                "{} already exist and are not controlled by this RustyMail: rename or delete them",
                foreign.join(", ")
            ),
        };
        return degrade(
            &ctx,
            &rm,
            &owner,
            outcome,
            &problem,
            std::slice::from_ref(&problem),
        )
        .await;
    }
    let (mut changes, applied) = children::apply(client, &owner, current).await?;
    changes.extend(children::prune(client, &mut reads, &rm, &owner, apis, &desired).await?);
    if let Some(d) = applied
        .iter()
        .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "Deployment"))
    {
        outcome.deployment = serde_json::to_value(d)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok());
    }
    if !changes.is_empty() {
        let note: Vec<String> = changes
            .iter()
            .map(|c| match c {
                Change::Applied(what) => format!("applied {what}"),
                Change::Deleted(what) => format!("deleted {what}"),
            })
            .collect();
        tracing::info!(rustymail = %owner.name, namespace = %owner.namespace, changes = %note.join(", "), "children updated");
        publish(
            &ctx,
            &rm,
            EventType::Normal,
            "ChildrenUpdated",
            "Apply",
            note.join(", "),
        )
        .await;
    }

    let previously_degraded = rm.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Degraded" && c.status == "True")
    });
    if previously_degraded {
        publish(
            &ctx,
            &rm,
            EventType::Normal,
            "Recovered",
            "Reconcile",
            "every reference resolves again and all children are applied".to_owned(),
        )
        .await;
    }
    write_status(&ctx, &rm, &owner, &outcome, now).await?;

    let until_renewal = match &outcome.certificate {
        CertificateState::Valid(CertificateStatus {
            renewal_time: Some(t),
            ..
        }) if plan.source == CertificateSource::SelfSigned => {
            let secs = t.0.as_second() - timestamp(now).as_second();
            Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(1))
        }
        _ => RESYNC,
    };
    Ok(Action::requeue(until_renewal.min(RESYNC)))
}

/// Reports a spec that cannot work, changes nothing else, and fails the
/// reconcile so it is retried with backoff.
async fn degrade(
    ctx: &Context,
    rm: &RustyMail,
    owner: &Owner,
    mut outcome: Outcome,
    first: &Problem,
    all: &[Problem],
) -> Result<Action, Error> {
    let message = all
        .iter()
        .map(|p| p.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    outcome.degraded = Some((first.reason, message.clone()));
    let already = rm
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Degraded"))
        .is_some_and(|c| c.status == "True" && c.message == message);
    if !already {
        publish(
            ctx,
            rm,
            EventType::Warning,
            first.reason,
            "Reconcile",
            message.clone(),
        )
        .await;
    }
    write_status(ctx, rm, owner, &outcome, OffsetDateTime::now_utc()).await?;
    Err(Error::Degraded {
        reason: first.reason,
        message,
    })
}
