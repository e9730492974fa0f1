//! Carries a [`Plan`] out: applies children (server-side apply, field
//! manager `rustymail-operator`, forced), deletes the ones no longer wanted,
//! publishes the Events and writes the status. Every write is remembered
//! (see `recent`) so the next reconcile does not mistake a lagging cache for
//! a missing child.

use kube::{
    Api, Resource,
    api::{DeleteParams, Patch, PatchParams},
    core::DynamicObject,
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};
use serde_json::json;

use super::{
    Context,
    plan::{Note, Observation, Plan, Severity, Verdict},
    retry::retry,
};
use crate::{
    crd::RustyMail,
    error::Error,
    render::{Child, ChildKey, FIELD_MANAGER, Owner},
};

/// Publishes `note` on `rm`; a failure to publish is logged, never fatal.
pub async fn publish(ctx: &Context, rm: &RustyMail, note: &Note) {
    let event = Event {
        type_: match note.severity {
            Severity::Normal => EventType::Normal,
            Severity::Warning => EventType::Warning,
        },
        reason: note.reason.to_owned(),
        note: Some(note.text.clone()),
        action: note.action.to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &rm.object_ref(&())).await {
        tracing::warn!(error = %e, reason = note.reason, "cannot publish event");
    }
}

fn api(ctx: &Context, owner: &Owner, key: &ChildKey) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), &owner.namespace, &key.kind.resource())
}

/// The `resourceVersion` the reconcile saw for `key`.
fn seen_version(obs: &Observation, key: &ChildKey) -> Option<String> {
    obs.children
        .get(key)
        .and_then(|c| c.meta().resource_version.clone())
}

async fn apply(
    ctx: &Context,
    obs: &Observation,
    owner: &Owner,
    child: &Child,
) -> Result<(), Error> {
    let key = child.key();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let value = child.to_value();
    let patch = Patch::Apply(&value);
    let api = api(ctx, owner, &key);
    let applied = retry(|| api.patch(&key.name, &params, &patch))
        .await
        .map_err(Error::kube(format!(
            "applying {} {}/{}",
            key.kind.info().kind,
            owner.namespace,
            key.name
        )))?;
    let mut applied = applied;
    applied.metadata.managed_fields = None;
    let applied = serde_json::to_value(applied)
        .and_then(|v| Child::from_value(key.kind, v))
        .ok();
    ctx.writes.children.record(
        (owner.namespace.clone(), key.clone()),
        seen_version(obs, &key),
        applied,
    );
    Ok(())
}

async fn delete(
    ctx: &Context,
    obs: &Observation,
    owner: &Owner,
    key: &ChildKey,
) -> Result<(), Error> {
    let params = DeleteParams::background();
    let api = api(ctx, owner, key);
    match retry(|| api.delete(&key.name, &params)).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => {
            let what = format!(
                "deleting {} {}/{}",
                key.kind.info().kind,
                owner.namespace,
                key.name
            );
            return Err(Error::kube(what)(e));
        }
    }
    ctx.writes.children.record(
        (owner.namespace.clone(), key.clone()),
        seen_version(obs, key),
        None,
    );
    Ok(())
}

async fn write_status(
    ctx: &Context,
    obs: &Observation,
    owner: &Owner,
    plan: &Plan,
) -> Result<(), Error> {
    let Some(status) = &plan.status else {
        return Ok(());
    };
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
    ctx.writes.statuses.record(
        (owner.namespace.clone(), owner.name.clone()),
        obs.rm.meta().resource_version.clone(),
        Some(status.clone()),
    );
    Ok(())
}

/// Executes `plan`, made from `obs`.
pub async fn execute(ctx: &Context, obs: &Observation, plan: Plan) -> Result<Action, Error> {
    let rm = obs.rm.as_ref();
    let owner = Owner::of(rm)?;
    for child in &plan.apply {
        apply(ctx, obs, &owner, child).await?;
    }
    for key in &plan.delete {
        delete(ctx, obs, &owner, key).await?;
    }
    if !plan.apply.is_empty() || !plan.delete.is_empty() {
        let applied: Vec<String> = plan.apply.iter().map(|c| c.key().to_string()).collect();
        let deleted: Vec<String> = plan.delete.iter().map(ToString::to_string).collect();
        tracing::info!(rustymail = %owner.name, namespace = %owner.namespace, applied = %applied.join(", "), deleted = %deleted.join(", "), "children updated");
    }
    for note in &plan.events {
        publish(ctx, rm, note).await;
    }
    write_status(ctx, obs, &owner, &plan).await?;
    match plan.verdict {
        Verdict::Requeue(after) => Ok(Action::requeue(after)),
        Verdict::Degraded { reason, message } => Err(Error::Degraded { reason, message }),
    }
}
