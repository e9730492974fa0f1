//! The incident levers in the plan. Isolation is applied even when nothing
//! else may be (`paused`, Degraded): a lever pulled under pressure must not
//! wait for an unrelated fix. Each lever shows in `status.access` and is
//! announced with an Event when it changes.

use rustymail_config::Config;

use super::{Note, Observation, Plan, diff};
use crate::{
    crd::{AccessStatus, RustyMailSpec},
    kinds::Kind,
    render::{Child, ChildKey, Owner, mounts, network_policy},
};

/// What the isolation lever asks of the NetworkPolicy now, whatever else
/// the plan may do.
#[derive(Debug, Default)]
pub(super) struct Isolation {
    /// The policy to apply: the isolating one, or the open one again.
    apply: Option<Child>,
    /// The policy to delete: the one isolation forced while
    /// `networkPolicy.enabled` is false, once isolation is lifted.
    delete: Option<ChildKey>,
    /// Whether the isolating policy is in force once the plan is carried out.
    pub(super) isolated: bool,
}

/// Whether the policy `found` admits nobody to the API port.
fn admits_nobody(found: &Child) -> bool {
    let value = found.to_value();
    let rules = value["spec"]["ingress"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    !rules.iter().any(|rule| match rule["ports"].as_array() {
        Some(ports) => ports
            .iter()
            .any(|p| p["port"] == i64::from(crate::render::API_PORT)),
        None => true,
    })
}

/// What the isolation lever asks for: with `spec.access.isolate`, the
/// isolating NetworkPolicy, unless the cluster has it; without, the open
/// policy (or none) again, when an isolating one of this RustyMail's is
/// still in place. An object of that name this RustyMail does not control
/// is never touched (the plan reports the conflict).
pub(super) fn isolation(obs: &Observation, owner: &Owner) -> Isolation {
    let spec = &obs.rm.spec;
    let desired = network_policy::network_policy(owner, spec).map(Child::NetworkPolicy);
    let key = ChildKey {
        kind: Kind::NetworkPolicy,
        name: owner.name.clone(),
    };
    let found = obs.children.get(&key);
    let ours = found.is_some_and(|f| obs.controls(f));
    let satisfied = match (&desired, found) {
        (Some(d), Some(f)) => diff::satisfied_by(&d.to_value(), &f.to_value()),
        (None, None) => true,
        _ => false,
    };
    if spec.access.isolate {
        let allowed = found.is_none() || ours;
        return Isolation {
            apply: desired.filter(|_| !satisfied && allowed),
            delete: None,
            isolated: satisfied || allowed,
        };
    }
    if satisfied || !ours || !found.is_some_and(admits_nobody) {
        return Isolation::default();
    }
    Isolation {
        delete: desired.is_none().then_some(key),
        apply: desired,
        isolated: false,
    }
}

/// The CIDRs blocked by a rendered or observed config ConfigMap; `None`
/// when it is absent or unreadable.
fn blocked_in(config_map: Option<&Child>) -> Option<Vec<String>> {
    let Some(Child::ConfigMap(cm)) = config_map else {
        return None;
    };
    let text = cm.data.as_ref()?.get(mounts::CONFIG_FILE)?;
    let config = Config::parse(text).ok()?;
    Some(
        config
            .access
            .blocked_cidrs
            .iter()
            .map(ToString::to_string)
            .collect(),
    )
}

fn config_key(owner: &Owner) -> ChildKey {
    ChildKey {
        kind: Kind::ConfigMap,
        name: owner.child_name("-config"),
    }
}

/// How many client ranges the data plane's config in the cluster blocks.
pub(super) fn blocked_now(obs: &Observation, owner: &Owner) -> u32 {
    let count = blocked_in(obs.children.get(&config_key(owner))).map_or(0, |b| b.len());
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// `status.access`, without the rotation time (kept by the status).
pub(super) fn status(
    spec: &RustyMailSpec,
    namespace: &str,
    isolated: bool,
    blocked_cidrs: u32,
    credentials_rotation: Option<String>,
) -> AccessStatus {
    AccessStatus {
        isolated,
        reachable_from: network_policy::reachable_from(spec, namespace),
        blocked_cidrs,
        credentials_rotation,
        credentials_rotated_at: None,
        previous_key_accepted_until: None,
    }
}

/// Adds what the isolation lever asks for to a plan that changes nothing else.
pub(super) fn with_isolation(mut plan: Plan, isolation: Isolation) -> Plan {
    plan.apply.extend(isolation.apply);
    plan.delete.extend(isolation.delete);
    plan
}

/// Announces the levers `plan` changes: isolation switched on or off, and a
/// new list of blocked CIDRs in the config it applies.
pub(super) fn announce(obs: &Observation, owner: &Owner, plan: &mut Plan) {
    let before = obs
        .rm
        .status
        .as_ref()
        .and_then(|s| s.access.as_ref())
        .is_some_and(|a| a.isolated);
    if let Some(after) = plan.status.as_ref().and_then(|s| s.access.as_ref())
        && after.isolated != before
    {
        plan.events.push(if after.isolated {
            Note::normal(
                "Isolated",
                "Isolate",
                format!(
                    "spec.access.isolate: NetworkPolicy {} admits no client on port 9437; the monitoring namespaces still reach 9090",
                    owner.name
                ),
            )
        } else {
            Note::normal(
                "IsolationLifted",
                "Isolate",
                format!(
                    "NetworkPolicy {} admits clients on port 9437 again: {}",
                    owner.name,
                    match after.reachable_from.as_slice() {
                        [] => "none".to_owned(),
                        who => who.join("; "),
                    }
                ),
            )
        });
    }
    let key = config_key(owner);
    let applied = plan.apply.iter().find(|c| c.key() == key);
    if let Some(next) = blocked_in(applied) {
        let previous = blocked_in(obs.children.get(&key)).unwrap_or_default();
        if next != previous {
            let text = match next.as_slice() {
                [] => "the data plane blocks no client range any more".to_owned(),
                ranges => format!(
                    "the data plane refuses clients in {} range(s) with 403: {}",
                    ranges.len(),
                    ranges.join(", ")
                ),
            };
            plan.events.push(Note::normal(
                "BlockedCIDRsChanged",
                "Block",
                format!("{text} (spec.access.blockedCIDRs; the pods roll to take it up)"),
            ));
        }
    }
}
