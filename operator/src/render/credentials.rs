//! The credentials Secret `<name>-credentials`: a generated API key and JWT
//! secret. The renderer only lays out values it is given; generation and the
//! rule "create once, regenerate only on a new rotation request" live here as
//! small pure functions the reconciler calls.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use rand::CryptoRng;
use sha2::{Digest, Sha256};

use super::{
    meta::{Component, Owner},
    mounts::{API_KEY_KEY, API_KEYS_KEY, JWT_SECRET_KEY},
};
use crate::crd::RustyMail;

/// Annotation on the RustyMail asking for new credentials: any new value rotates them.
pub const ROTATE_ANNOTATION: &str = "rustymail.io/rotate-credentials";
/// Annotation on the credentials Secret recording which rotation request it answers.
pub const ROTATION_ANNOTATION: &str = "rustymail.io/rotation";

/// The generated credentials of one RustyMail.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The API key clients send in the API-key header.
    pub api_key: String,
    /// The HMAC secret JWTs are signed with.
    pub jwt_secret: String,
    /// The `rustymail.io/rotate-credentials` value they were generated for.
    pub rotation: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Fresh credentials: a 256-bit API key and a 512-bit JWT secret.
    pub fn generate(rng: &mut impl CryptoRng, rotation: Option<String>) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let mut secret = [0u8; 64];
        rng.fill_bytes(&mut secret);
        Self {
            api_key: format!("rmk_{}", URL_SAFE_NO_PAD.encode(key)),
            jwt_secret: URL_SAFE_NO_PAD.encode(secret),
            rotation,
        }
    }

    /// Reads credentials back from the Secret the operator wrote; `None` when
    /// a key is missing or empty (the Secret is then filled anew).
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let data = secret.data.as_ref()?;
        let text = |key: &str| {
            data.get(key)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .filter(|s| !s.trim().is_empty())
        };
        Some(Self {
            api_key: text(API_KEYS_KEY)?,
            jwt_secret: text(JWT_SECRET_KEY)?,
            rotation: secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ROTATION_ANNOTATION).cloned()),
        })
    }

    /// The Secret's `data`.
    pub fn data(&self) -> BTreeMap<String, ByteString> {
        BTreeMap::from([
            (
                API_KEYS_KEY.to_owned(),
                ByteString(self.api_key.clone().into_bytes()),
            ),
            (
                JWT_SECRET_KEY.to_owned(),
                ByteString(self.jwt_secret.clone().into_bytes()),
            ),
        ])
    }
}

/// The key of a user's Secret (`auth.existingSecret`) the data plane reads
/// its API keys from: `api-keys` (one `name:key` or bare key a line) when
/// present, else the security guide's single `api-key` when present.
pub fn api_keys_key(data: &BTreeMap<String, ByteString>) -> &'static str {
    if !data.contains_key(API_KEYS_KEY) && data.contains_key(API_KEY_KEY) {
        API_KEY_KEY
    } else {
        API_KEYS_KEY
    }
}

/// The `rustymail.io/rotate-credentials` value `rm` carries, if any.
pub fn requested_rotation(rm: &RustyMail) -> Option<&str> {
    rm.metadata
        .annotations
        .as_ref()?
        .get(ROTATE_ANNOTATION)
        .map(String::as_str)
}

/// Decides which credentials to use: the existing ones unless there are none
/// or the RustyMail asks for a rotation they do not answer yet.
pub fn settle(
    existing: Option<Credentials>,
    requested_rotation: Option<&str>,
    rng: &mut impl CryptoRng,
) -> Credentials {
    match existing {
        Some(c) if requested_rotation.is_none() || c.rotation.as_deref() == requested_rotation => c,
        _ => Credentials::generate(rng, requested_rotation.map(str::to_owned)),
    }
}

/// The Secret `<name>-credentials` holding `credentials`.
pub fn secret(owner: &Owner, credentials: &Credentials) -> Secret {
    let mut metadata = owner.meta(owner.child_name("-credentials"), Component::Security);
    if let Some(rotation) = &credentials.rotation {
        metadata.annotations = Some(BTreeMap::from([(
            ROTATION_ANNOTATION.to_owned(),
            rotation.clone(),
        )]));
    }
    Secret {
        metadata,
        type_: Some("Opaque".to_owned()),
        data: Some(credentials.data()),
        ..Secret::default()
    }
}

/// A stable digest of Secret or ConfigMap data, for pod-template annotations
/// that roll the pods when the content changes.
pub fn checksum<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort();
    let mut hash = Sha256::new();
    for (key, value) in entries {
        hash.update((key.len() as u64).to_be_bytes());
        hash.update(key.as_bytes());
        hash.update((value.len() as u64).to_be_bytes());
        hash.update(value);
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn existing_credentials_are_kept_without_a_rotation_request() {
        let mut rng = StdRng::seed_from_u64(1);
        let first = Credentials::generate(&mut rng, None);
        assert_eq!(settle(Some(first.clone()), None, &mut rng), first);
    }

    #[test]
    fn a_new_rotation_value_regenerates_and_the_same_one_keeps() {
        let mut rng = StdRng::seed_from_u64(2);
        let first = Credentials::generate(&mut rng, None);
        let rotated = settle(Some(first.clone()), Some("2026-11-28"), &mut rng);
        assert_ne!(rotated.api_key, first.api_key);
        assert_ne!(rotated.jwt_secret, first.jwt_secret);
        assert_eq!(rotated.rotation.as_deref(), Some("2026-11-28"));
        assert_eq!(
            settle(Some(rotated.clone()), Some("2026-11-28"), &mut rng),
            rotated
        );
    }

    #[test]
    fn secret_round_trips_and_an_emptied_secret_is_refilled() {
        let mut rng = StdRng::seed_from_u64(3);
        let owner_rm = crate::render::fixtures::minimal();
        let owner = Owner::of(&owner_rm).expect("named");
        let creds = Credentials::generate(&mut rng, Some("r1".into()));
        let mut s = secret(&owner, &creds);
        assert_eq!(Credentials::from_secret(&s), Some(creds));
        s.data = Some(BTreeMap::new());
        assert_eq!(Credentials::from_secret(&s), None);
    }

    #[test]
    fn generated_keys_are_long_and_distinct() {
        let mut rng = StdRng::seed_from_u64(4);
        let a = Credentials::generate(&mut rng, None);
        let b = Credentials::generate(&mut rng, None);
        assert!(a.api_key.len() >= 40 && a.jwt_secret.len() >= 80);
        assert_ne!(a.api_key, b.api_key);
    }

    #[test]
    fn checksum_ignores_order_and_sees_every_byte() {
        let a = checksum([("a", b"1".as_slice()), ("b", b"2".as_slice())]);
        assert_eq!(
            a,
            checksum([("b", b"2".as_slice()), ("a", b"1".as_slice())])
        );
        assert_ne!(
            a,
            checksum([("a", b"1".as_slice()), ("b", b"3".as_slice())])
        );
        assert_ne!(
            checksum([("ab", b"".as_slice())]),
            checksum([("a", b"b".as_slice())])
        );
    }
}
