//! The credentials step: the Secret the spec names, or the generated one,
//! kept or rotated when the rotate annotation asks.

use rand::CryptoRng;

use super::{Note, Observation};
use crate::render::{Credentials, CredentialsInput, Owner, credentials};

/// The credentials the children are rendered with, and what changed.
pub(super) struct Settled {
    /// What the renderer takes.
    pub(super) input: CredentialsInput,
    /// The rotation of the generated credentials, for `status.access`;
    /// `None` with `spec.auth.existingSecret`.
    pub(super) rotation: Option<String>,
    /// The Event of a rotation that replaced existing credentials.
    pub(super) note: Option<Note>,
}

/// The credentials of `obs`: the spec's own Secret as it is, or the
/// generated ones kept, created (from `rng`) or rotated.
pub(super) fn settle(obs: &Observation, owner: &Owner, rng: &mut impl CryptoRng) -> Settled {
    let rm = obs.rm.as_ref();
    if let Some(name) = &rm.spec.auth.existing_secret {
        let data = obs
            .secrets
            .get(name)
            .and_then(|s| s.data.clone())
            .unwrap_or_default();
        return Settled {
            input: CredentialsInput::Existing(data),
            rotation: None,
            note: None,
        };
    }
    let name = owner.child_name("-credentials");
    let had = obs.secret(&name).and_then(Credentials::from_secret);
    let requested = credentials::requested_rotation(rm);
    let settled = credentials::settle(had.clone(), requested, rng);
    let note = had.is_some_and(|h| h != settled).then(|| {
        Note::normal(
            "CredentialsRotated",
            "Rotate",
            format!(
                "revoked the previous API key and JWT secret: new ones in Secret {name} (rotation {}); each pod refuses the old key once its credentials volume updates, and the pods roll",
                settled.rotation.as_deref().unwrap_or("-")
            ),
        )
    });
    Settled {
        rotation: settled.rotation.clone(),
        input: CredentialsInput::Generated(settled),
        note,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::plan::scene::{Scene, secret};

    fn settled(scene: &Scene) -> Settled {
        let obs = scene.observation();
        let owner = Owner::of(&obs.rm).expect("owner");
        settle(&obs, &owner, &mut scene.rng())
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
        let rotated = settled(&scene.annotated("rustymail.io/rotate-credentials", "r1"));
        assert_eq!(rotated.rotation.as_deref(), Some("r1"));
        let note = rotated.note.expect("a rotation is announced");
        assert_eq!(note.reason, "CredentialsRotated");
        assert!(note.text.contains("mail-credentials"), "{}", note.text);
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
