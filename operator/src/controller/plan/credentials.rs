//! The credentials step: the Secret the spec names, or the generated one,
//! kept or rotated when the rotate annotation asks.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rand::CryptoRng;
use rustymail_config::units::HumanDuration;

use super::{Note, Observation, timestamp};
use crate::render::{Credentials, CredentialsInput, Owner, RenderError, credentials};

/// The credentials the children are rendered with, and what changed.
pub(super) struct Settled {
    /// What the renderer takes.
    pub(super) input: CredentialsInput,
    /// The rotation of the generated credentials, for `status.access`;
    /// `None` with `spec.auth.existingSecret`.
    pub(super) rotation: Option<String>,
    /// The Event of a rotation that replaced existing credentials.
    pub(super) note: Option<Note>,
    /// Until when the replaced API key is still accepted, if one is kept.
    pub(super) previous_until: Option<Timestamp>,
}

/// `spec.auth.rotationGracePeriod`, parsed.
fn grace(obs: &Observation) -> Result<SignedDuration, RenderError> {
    let field = "spec.auth.rotationGracePeriod";
    let text = &obs.rm.spec.auth.rotation_grace_period;
    let parsed: HumanDuration = text
        .parse()
        .map_err(|e: rustymail_config::units::UnitError| {
            RenderError::invalid(field, e.to_string())
        })?;
    SignedDuration::try_from(parsed.0)
        .map_err(|_| RenderError::invalid(field, format!("{text} is too long")))
}

fn rotated_text(name: &str, settled: &Credentials) -> String {
    let rotation = settled.rotation.as_deref().unwrap_or("-");
    match settled.previous_until() {
        Some(until) => format!(
            "rotated the API key and JWT secret: new ones in Secret {name} (rotation {rotation}); the previous API key is accepted until {until} (spec.auth.rotationGracePeriod), tokens signed with the previous JWT secret are refused once a pod has the new one, and the pods roll"
        ),
        None => format!(
            "revoked the previous API key and JWT secret: new ones in Secret {name} (rotation {rotation}); each pod refuses the old key once its credentials volume updates, and the pods roll"
        ),
    }
}

/// The credentials of `obs`: the spec's own Secret as it is, or the
/// generated ones kept, created (from `rng`) or rotated; a previous key
/// kept until `obs.now` plus the grace, dropped from then on.
pub(super) fn settle(
    obs: &Observation,
    owner: &Owner,
    rng: &mut impl CryptoRng,
) -> Result<Settled, RenderError> {
    let rm = obs.rm.as_ref();
    if let Some(name) = &rm.spec.auth.existing_secret {
        let data = obs
            .secrets
            .get(name)
            .and_then(|s| s.data.clone())
            .unwrap_or_default();
        return Ok(Settled {
            input: CredentialsInput::Existing(data),
            rotation: None,
            note: None,
            previous_until: None,
        });
    }
    let name = owner.child_name("-credentials");
    let had = obs.secret(&name).and_then(Credentials::from_secret);
    let requested = credentials::requested_rotation(rm);
    let settled = credentials::settle(had.clone(), requested, grace(obs)?, timestamp(obs.now), rng);
    let rotated =
        had.is_some_and(|h| h.rotation != settled.rotation || h.api_key != settled.api_key);
    let note = rotated.then(|| {
        Note::normal(
            "CredentialsRotated",
            "Rotate",
            rotated_text(&name, &settled),
        )
    });
    Ok(Settled {
        rotation: settled.rotation.clone(),
        previous_until: settled.previous_until(),
        input: CredentialsInput::Generated(settled),
        note,
    })
}

/// The rotation the credentials in the cluster carry now (before this
/// reconcile settles them); `None` with `spec.auth.existingSecret`.
pub(super) fn observed_rotation(obs: &Observation, credentials_secret: &str) -> Option<String> {
    match obs.rm.spec.auth.existing_secret {
        Some(_) => None,
        None => obs
            .secret(credentials_secret)
            .and_then(Credentials::from_secret)
            .and_then(|c| c.rotation),
    }
}

/// Until when the credentials in the cluster accept their previous API key
/// (before this reconcile settles them); `None` with `spec.auth.existingSecret`.
pub(super) fn observed_previous_until(
    obs: &Observation,
    credentials_secret: &str,
) -> Option<Timestamp> {
    match obs.rm.spec.auth.existing_secret {
        Some(_) => None,
        None => obs
            .secret(credentials_secret)
            .and_then(Credentials::from_secret)
            .and_then(|c| c.previous_until()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::plan::scene::{Scene, secret};

    fn settled(scene: &Scene) -> Settled {
        let obs = scene.observation();
        let owner = Owner::of(&obs.rm).expect("owner");
        settle(&obs, &owner, &mut scene.rng()).expect("settles")
    }

    #[test]
    fn new_credentials_are_generated_without_an_event() {
        let first = settled(&Scene::new());
        assert!(matches!(first.input, CredentialsInput::Generated(_)));
        assert!(first.note.is_none(), "nothing was revoked");
    }

    #[test]
    fn existing_credentials_are_kept_until_a_rotation_is_asked_for() {
        let scene = Scene::new().executed();
        let kept = settled(&scene);
        assert!(kept.note.is_none());
        let now = timestamp(scene.observation().now);
        let rotated = settled(&scene.annotated("rustymail.io/rotate-credentials", "r1"));
        assert_eq!(rotated.rotation.as_deref(), Some("r1"));
        let note = rotated.note.expect("a rotation is announced");
        assert_eq!(note.reason, "CredentialsRotated");
        assert!(note.text.contains("mail-credentials"), "{}", note.text);
        let until = rotated
            .previous_until
            .expect("the default grace keeps the old key");
        assert_eq!(until, now + SignedDuration::from_mins(5));
        assert!(
            note.text.contains(&format!("accepted until {until}")),
            "{}",
            note.text
        );
    }

    #[test]
    fn a_zero_grace_revokes_the_old_key_at_once() {
        let scene = Scene::new()
            .executed()
            .spec(|s| s.auth.rotation_grace_period = "0s".to_owned())
            .annotated("rustymail.io/rotate-credentials", "incident-1");
        let rotated = settled(&scene);
        assert_eq!(rotated.previous_until, None);
        let note = rotated.note.expect("a rotation is announced");
        assert!(note.text.starts_with("revoked"), "{}", note.text);
    }

    #[test]
    fn the_specs_own_secret_is_used_as_it_is() {
        let scene = Scene::new()
            .with_secret(secret("own", &["api-keys", "jwt-secret"]))
            .spec(|s| s.auth.existing_secret = Some("own".to_owned()));
        let own = settled(&scene);
        let CredentialsInput::Existing(data) = own.input else {
            panic!("generated instead of the spec's Secret");
        };
        assert!(data.contains_key("api-keys"));
        assert_eq!((own.rotation, own.note.is_none()), (None, true));
    }
}
