//! The children step: which rendered children to apply (missing or
//! different from the cluster's), which to delete (controlled by this
//! RustyMail and no longer desired), and names someone else holds.

use std::collections::BTreeSet;

use super::{Note, Observation, Problem, diff, has_condition, secret_references};
use crate::{
    crd::RustyMail,
    kinds::Kind,
    render::{Child, ChildKey},
};

/// The children a reconcile writes.
pub(super) struct Changes {
    /// Missing or different, in apply order.
    pub(super) apply: Vec<Child>,
    /// No longer desired.
    pub(super) delete: Vec<ChildKey>,
}

/// The children of `desired` whose names an object this RustyMail does not
/// control already has, as the problem that keeps them untouched.
pub(super) fn name_conflict(obs: &Observation, desired: &[Child]) -> Option<Problem> {
    let taken: Vec<String> = desired
        .iter()
        .filter_map(|d| obs.children.get(&d.key()))
        .filter(|o| !obs.controls(o))
        .map(|o| o.key().to_string())
        .collect();
    (!taken.is_empty()).then(|| Problem {
        reason: "NameConflict",
        message: format!(
            "{} already exist and are not controlled by this RustyMail: rename or delete them",
            taken.join(", ")
        ),
    })
}

/// What turns the observed children into `desired`. A Secret the spec
/// refers to is never deleted, nor is a child already being deleted.
pub(super) fn changes(obs: &Observation, desired: &[Child]) -> Changes {
    let apply = desired
        .iter()
        .filter(|d| {
            !obs.children
                .get(&d.key())
                .is_some_and(|o| diff::satisfied_by(&d.to_value(), &o.to_value()))
        })
        .cloned()
        .collect();
    let wanted: BTreeSet<ChildKey> = desired.iter().map(Child::key).collect();
    let referenced = secret_references(&obs.rm.spec);
    let delete = obs
        .children
        .iter()
        .filter(|(key, child)| {
            !wanted.contains(key)
                && obs.controls(child)
                && child.meta().deletion_timestamp.is_none()
                && !(key.kind == Kind::Secret && referenced.contains(&key.name))
        })
        .map(|(key, _)| key.clone())
        .collect();
    Changes { apply, delete }
}

/// The Events of `changes`: what was applied and deleted, and the recovery
/// of a RustyMail that was Degraded.
pub(super) fn notes(rm: &RustyMail, changes: &Changes) -> Vec<Note> {
    let mut notes = Vec::new();
    let done: Vec<String> = changes
        .apply
        .iter()
        .map(|c| format!("applied {}", c.key()))
        .chain(changes.delete.iter().map(|k| format!("deleted {k}")))
        .collect();
    if !done.is_empty() {
        notes.push(Note::normal("ChildrenUpdated", "Apply", done.join(", ")));
    }
    if has_condition(rm, "Degraded", |s, _| s == "True") {
        notes.push(Note::normal(
            "Recovered",
            "Reconcile",
            "every reference resolves again and all children are applied".to_owned(),
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::plan::scene::{Scene, foreign_service};

    /// A RustyMail built and settled, and the children it holds: exactly
    /// what its next render desires.
    fn settled() -> (Scene, Vec<Child>) {
        let scene = Scene::new().executed();
        let children = scene.children.values().cloned().collect();
        (scene, children)
    }

    #[test]
    fn nothing_changes_when_the_cluster_holds_what_is_desired() {
        let (scene, wanted) = settled();
        let changes = changes(&scene.observation(), &wanted);
        assert!(changes.apply.is_empty() && changes.delete.is_empty());
        assert!(notes(&scene.rm, &changes).is_empty());
    }

    #[test]
    fn a_missing_child_is_applied_and_an_undesired_one_deleted() {
        let (mut scene, mut wanted) = settled();
        let at =
            |wanted: &[Child], kind| wanted.iter().position(|c| c.kind() == kind).expect("child");
        let dropped = wanted.remove(at(&wanted, Kind::PodDisruptionBudget));
        let missing = wanted[at(&wanted, Kind::Service)].clone();
        scene.children.remove(&missing.key());
        let changes = changes(&scene.observation(), &wanted);
        let applied: Vec<ChildKey> = changes.apply.iter().map(Child::key).collect();
        assert_eq!(applied, [missing.key()]);
        assert_eq!(changes.delete, [dropped.key()]);
        let texts: Vec<String> = notes(&scene.rm, &changes)
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(texts[0].contains("applied Service mail"), "{texts:?}");
        assert!(
            texts[0].contains("deleted PodDisruptionBudget"),
            "{texts:?}"
        );
    }

    #[test]
    fn a_secret_the_spec_refers_to_is_never_deleted() {
        let (scene, wanted) = settled();
        let scene = scene.spec(|s| s.auth.existing_secret = Some("mail-credentials".to_owned()));
        let without: Vec<Child> = wanted
            .into_iter()
            .filter(|c| c.key().name != "mail-credentials")
            .collect();
        let changes = changes(&scene.observation(), &without);
        assert!(changes.delete.is_empty(), "{:?}", changes.delete);
    }

    #[test]
    fn a_name_held_by_another_owner_is_a_conflict() {
        let scene = Scene::new();
        let wanted = scene.plan().apply;
        assert!(name_conflict(&scene.observation(), &wanted).is_none());
        let taken = scene.with_child(foreign_service());
        let problem = name_conflict(&taken.observation(), &wanted).expect("conflict");
        assert_eq!(problem.reason, "NameConflict");
        assert!(
            problem.message.contains("Service mail"),
            "{}",
            problem.message
        );
    }
}
