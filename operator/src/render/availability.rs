//! The PodDisruptionBudget that keeps all but one pod up during voluntary
//! disruptions (node drains, upgrades).

use k8s_openapi::{
    api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::meta::{Component, Owner};
use crate::crd::RustyMailSpec;

/// The PodDisruptionBudget `<name>` with `maxUnavailable: 1`, only when there
/// is more than one replica (with one, it would block every drain).
pub fn pod_disruption_budget(owner: &Owner, spec: &RustyMailSpec) -> Option<PodDisruptionBudget> {
    (spec.replicas > 1).then(|| PodDisruptionBudget {
        metadata: owner.meta(owner.name.clone(), Component::Api),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(owner.selector()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}
