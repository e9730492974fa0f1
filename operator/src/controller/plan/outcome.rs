//! The status step: what the status reports, as observed before anything is
//! changed, and when a settled reconcile looks again.

use std::time::Duration;

use kube::Resource;

use super::{Observation, RESYNC, access, credentials, frame::Frame, monitoring_state, timestamp};
use crate::{
    controller::status::{CertificateState, Outcome},
    crd::{CertificateSource, CertificateStatus},
    kinds::Kind,
    render::{self, Child, ChildKey},
};

/// The outcome `obs` shows before this reconcile changes anything.
pub(super) fn observed(obs: &Observation, frame: &Frame) -> Outcome {
    let rm = obs.rm.as_ref();
    let owner = &frame.owner;
    let deployment = match obs.children.get(&ChildKey {
        kind: Kind::Deployment,
        name: owner.name.clone(),
    }) {
        Some(Child::Deployment(d)) => Some(d.clone()),
        _ => None,
    };
    let credentials_secret = rm
        .spec
        .auth
        .existing_secret
        .clone()
        .unwrap_or_else(|| owner.child_name("-credentials"));
    let rotation = credentials::observed_rotation(obs, &credentials_secret);
    let previous_until = credentials::observed_previous_until(obs, &credentials_secret);
    let mut access = access::status(
        &rm.spec,
        &owner.namespace,
        frame.isolation.isolated,
        access::blocked_now(obs, owner),
        rotation,
    );
    access.previous_key_accepted_until =
        previous_until.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time);
    Outcome {
        generation: rm.meta().generation,
        paused: rm.spec.paused,
        desired_replicas: rm.spec.replicas,
        deployment,
        deployment_changing: false,
        certificate: frame.certificate_state(obs, obs.secret(&frame.tls_plan.secret_name)),
        monitoring: monitoring_state(obs),
        degraded: None,
        endpoint: format!(
            "https://{}.{}.svc:{}",
            owner.name,
            owner.namespace,
            render::API_PORT
        ),
        credentials_secret,
        access,
    }
}

/// How long a settled reconcile waits before looking again: until an
/// operator-issued certificate is due for renewal or a rotated API key's
/// grace ends (its line is then removed), at most [`RESYNC`].
pub(super) fn requeue_after(outcome: &Outcome, frame: &Frame, obs: &Observation) -> Duration {
    let until_renewal = match &outcome.certificate {
        CertificateState::Valid(CertificateStatus {
            renewal_time: Some(t),
            ..
        }) if frame.tls_plan.source == CertificateSource::SelfSigned => {
            let secs = t.0.as_second() - timestamp(obs.now).as_second();
            Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(1))
        }
        _ => RESYNC,
    };
    let until_previous_key_ends = match &outcome.access.previous_key_accepted_until {
        Some(t) => {
            let secs = t.0.as_second() - timestamp(obs.now).as_second();
            Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(1))
        }
        None => RESYNC,
    };
    until_renewal.min(until_previous_key_ends).min(RESYNC)
}

#[cfg(test)]
mod tests {
    use time::Duration as Span;

    use super::*;
    use crate::controller::plan::scene::Scene;

    fn outcome(scene: &Scene) -> (Outcome, Frame) {
        let obs = scene.observation();
        let frame = Frame::of(&obs).expect("frame");
        (observed(&obs, &frame), frame)
    }

    #[test]
    fn a_new_rustymail_shows_no_deployment_and_no_certificate_yet() {
        let (outcome, _) = outcome(&Scene::new());
        assert!(outcome.deployment.is_none());
        assert!(matches!(
            outcome.certificate,
            CertificateState::NotReady { .. }
        ));
        assert_eq!(outcome.endpoint, "https://mail.team-a.svc:9437");
        assert_eq!(outcome.credentials_secret, "mail-credentials");
        assert_eq!(outcome.generation, Some(1));
    }

    #[test]
    fn an_issued_certificate_is_valid_and_the_requeue_meets_its_renewal() {
        let scene = Scene::new().executed();
        let (settled, frame) = outcome(&scene);
        assert!(settled.deployment.is_some());
        assert!(matches!(settled.certificate, CertificateState::Valid(_)));
        let obs = scene.observation();
        assert_eq!(
            requeue_after(&settled, &frame, &obs),
            RESYNC,
            "renewal is far off"
        );
        let due = scene.later(Span::days(80));
        let (late, frame) = outcome(&due);
        let wait = requeue_after(&late, &frame, &due.observation());
        assert!(wait < RESYNC, "{wait:?}");
    }
}
