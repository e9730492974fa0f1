//! The credentials Secret `<name>-credentials`: a generated API key and JWT
//! secret. The renderer only lays out values it is given; generation and the
//! rule "create once, regenerate only on a new rotation request" live here as
//! small pure functions the reconciler calls.
//!
//! A rotation keeps the previous API key for a grace period
//! (`spec.auth.rotationGracePeriod`): `api-keys` then holds the new key on
//! its first line and the previous one as `<key> not-after=<RFC 3339>`,
//! which the data plane refuses from that instant on by itself. Once the
//! instant has passed, the next reconcile removes the line. The JWT secret
//! is replaced at once: see `docs/rotating-credentials.md`.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
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
    /// The API key they replaced, still accepted for the grace period.
    pub previous: Option<PreviousKey>,
}

/// A rotated API key in its grace period.
#[derive(Clone, PartialEq, Eq)]
pub struct PreviousKey {
    /// The key.
    pub api_key: String,
    /// The instant from which the data plane refuses it.
    pub not_after: Timestamp,
}

/// The ` not-after=` suffix of a key line (the data plane's key file format).
const NOT_AFTER: &str = " not-after=";

impl std::fmt::Debug for PreviousKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousKey")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("rotation", &self.rotation)
            .field(
                "previous_not_after",
                &self.previous.as_ref().map(|p| p.not_after),
            )
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
            previous: None,
        }
    }

    /// Until when the previous API key is accepted, if one is kept.
    pub fn previous_until(&self) -> Option<Timestamp> {
        self.previous.as_ref().map(|p| p.not_after)
    }

    /// Reads credentials back from the Secret the operator wrote; `None` when
    /// a key is missing or empty (the Secret is then filled anew). A
    /// previous key line that cannot be read is left out (and so removed).
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let data = secret.data.as_ref()?;
        let text = |key: &str| {
            data.get(key)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .filter(|s| !s.trim().is_empty())
        };
        let keys = text(API_KEYS_KEY)?;
        let mut lines = keys.lines().map(str::trim).filter(|l| !l.is_empty());
        let api_key = lines.next()?.to_owned();
        let previous = lines.find_map(|line| {
            let (key, instant) = line.split_once(NOT_AFTER)?;
            Some(PreviousKey {
                api_key: key.trim().to_owned(),
                not_after: instant.trim().parse().ok()?,
            })
        });
        Some(Self {
            api_key,
            jwt_secret: text(JWT_SECRET_KEY)?,
            rotation: secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ROTATION_ANNOTATION).cloned()),
            previous,
        })
    }

    /// The Secret's `data`: `api-keys` holds the current key, and the
    /// previous one on a second line while it is kept.
    pub fn data(&self) -> BTreeMap<String, ByteString> {
        let api_keys = match &self.previous {
            None => self.api_key.clone(),
            Some(p) => format!(
                "{}\n{}{NOT_AFTER}{}\n",
                self.api_key, p.api_key, p.not_after
            ),
        };
        BTreeMap::from([
            (API_KEYS_KEY.to_owned(), ByteString(api_keys.into_bytes())),
            (
                JWT_SECRET_KEY.to_owned(),
                ByteString(self.jwt_secret.clone().into_bytes()),
            ),
        ])
    }

    /// The digest in the pod template: of the current key and JWT secret
    /// only, so that removing an expired previous key rolls no pod.
    pub fn checksum(&self) -> String {
        checksum([
            (API_KEYS_KEY, self.api_key.as_bytes()),
            (JWT_SECRET_KEY, self.jwt_secret.as_bytes()),
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

/// Decides which credentials to use at `now`: the existing ones unless
/// there are none or the RustyMail asks for a rotation they do not answer
/// yet. A rotation keeps the replaced API key until `now + grace` (none
/// with a zero grace: refused at once); a kept key is dropped once `now`
/// reaches its end. Only the latest replaced key is kept.
pub fn settle(
    existing: Option<Credentials>,
    requested_rotation: Option<&str>,
    grace: SignedDuration,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Credentials {
    match existing {
        Some(mut c)
            if requested_rotation.is_none() || c.rotation.as_deref() == requested_rotation =>
        {
            if c.previous_until().is_some_and(|t| now >= t) {
                c.previous = None;
            }
            c
        }
        had => {
            let mut fresh = Credentials::generate(rng, requested_rotation.map(str::to_owned));
            fresh.previous = had.filter(|_| grace.is_positive()).and_then(|h| {
                Some(PreviousKey {
                    api_key: h.api_key,
                    not_after: now.checked_add(grace).ok()?,
                })
            });
            fresh
        }
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

    const GRACE: SignedDuration = SignedDuration::from_mins(5);

    fn at(text: &str) -> Timestamp {
        text.parse().expect("instant")
    }

    fn settle_now(
        existing: Option<Credentials>,
        rotation: Option<&str>,
        rng: &mut StdRng,
    ) -> Credentials {
        settle(existing, rotation, GRACE, at("2026-12-08T02:00:00Z"), rng)
    }

    #[test]
    fn existing_credentials_are_kept_without_a_rotation_request() {
        let mut rng = StdRng::seed_from_u64(1);
        let first = Credentials::generate(&mut rng, None);
        assert_eq!(settle_now(Some(first.clone()), None, &mut rng), first);
    }

    #[test]
    fn a_new_rotation_value_regenerates_and_the_same_one_keeps() {
        let mut rng = StdRng::seed_from_u64(2);
        let first = Credentials::generate(&mut rng, None);
        let rotated = settle_now(Some(first.clone()), Some("2026-11-28"), &mut rng);
        assert_ne!(rotated.api_key, first.api_key);
        assert_ne!(rotated.jwt_secret, first.jwt_secret);
        assert_eq!(rotated.rotation.as_deref(), Some("2026-11-28"));
        assert_eq!(
            settle_now(Some(rotated.clone()), Some("2026-11-28"), &mut rng),
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
    fn a_rotation_keeps_the_previous_key_for_the_grace_then_drops_it() {
        let mut rng = StdRng::seed_from_u64(5);
        let first = Credentials::generate(&mut rng, None);
        let now = at("2026-12-08T02:00:00Z");
        let rotated = settle(Some(first.clone()), Some("r1"), GRACE, now, &mut rng);
        let kept = rotated.previous.clone().expect("the previous key is kept");
        assert_eq!(kept.api_key, first.api_key);
        assert_eq!(kept.not_after, at("2026-12-08T02:05:00Z"));
        let owner_rm = crate::render::fixtures::minimal();
        let owner = Owner::of(&owner_rm).expect("named");
        let s = secret(&owner, &rotated);
        let keys = String::from_utf8(s.data.as_ref().expect("data")[API_KEYS_KEY].0.clone())
            .expect("utf-8");
        assert_eq!(
            keys,
            format!(
                "{}\n{} not-after=2026-12-08T02:05:00Z\n",
                rotated.api_key, first.api_key
            )
        );
        assert_eq!(Credentials::from_secret(&s).as_ref(), Some(&rotated));
        let within = at("2026-12-08T02:04:59Z");
        assert_eq!(
            settle(Some(rotated.clone()), Some("r1"), GRACE, within, &mut rng),
            rotated,
            "nothing changes within the grace"
        );
        let after = settle(
            Some(rotated.clone()),
            Some("r1"),
            GRACE,
            kept.not_after,
            &mut rng,
        );
        assert_eq!(after.previous, None);
        assert_eq!(
            (&after.api_key, &after.jwt_secret),
            (&rotated.api_key, &rotated.jwt_secret)
        );
        assert_eq!(
            after.checksum(),
            rotated.checksum(),
            "dropping it rolls no pod"
        );
        assert_ne!(after.checksum(), first.checksum());
    }

    #[test]
    fn a_zero_grace_refuses_the_previous_key_at_once() {
        let mut rng = StdRng::seed_from_u64(6);
        let first = Credentials::generate(&mut rng, None);
        let now = at("2026-12-08T02:00:00Z");
        let rotated = settle(
            Some(first),
            Some("incident"),
            SignedDuration::ZERO,
            now,
            &mut rng,
        );
        assert_eq!(rotated.previous, None);
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
