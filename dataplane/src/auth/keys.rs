//! API keys: the `name:key` file format (pure parsing) and the set of keys
//! held as SHA-256 digests, compared in constant time.
//!
//! A line may end in ` scopes=<names>` (comma-separated, see
//! [`super::scope`]): `agent:k3y scopes=read_mail` is a read-only key. A
//! line without it grants every scope, as every key did before scopes.
//!
//! A line may also end in ` not-after=<RFC 3339 instant>`: the key is
//! accepted until that instant and refused from then on, without a reload.
//! The operator writes a rotated key's predecessor so, for its grace period:
//! `rmk_old… not-after=2026-12-08T02:35:00Z`.

use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::scope::Scopes;

/// The name of a key given without one (a bare line, or `API_KEY`).
pub const DEFAULT_KEY_NAME: &str = "default";

/// A short stable identifier of a key (the first bytes of its digest), the
/// key of the per-API-key rate limit. It reveals nothing usable about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub u64);

/// One accepted key.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// The key's name: the user a request with it acts as.
    pub name: Arc<str>,
    /// Its identifier for rate limiting.
    pub id: KeyId,
    /// What it may do.
    pub scopes: Scopes,
    /// The instant from which it is refused (`not-after=`), if any.
    pub not_after: Option<Timestamp>,
    digest: [u8; 32],
}

/// Why a key file was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct KeyFileError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong (never the key itself).
    pub message: &'static str,
}

/// The keys accepted now.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<ApiKey>,
}

fn digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

impl KeySet {
    /// Parses a key file: one key a line, `name:key` or a bare key (named
    /// `default`); blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |message| KeyFileError {
                line: i + 1,
                message,
            };
            let mut line = line;
            let mut scopes = Scopes::UNMARKED;
            let mut not_after = None;
            while let Some((rest, suffix)) = line.rsplit_once(char::is_whitespace) {
                if let Some(names) = suffix.strip_prefix("scopes=") {
                    scopes = Scopes::parse(names).map_err(|_| {
                        error("unknown scope in scopes= (known: read_mail, change_mail, delete, manage_folders, send)")
                    })?;
                } else if let Some(instant) = suffix.strip_prefix("not-after=") {
                    not_after = Some(instant.parse::<Timestamp>().map_err(|_| {
                        error("not-after= must be an RFC 3339 instant, e.g. 2026-12-08T02:35:00Z")
                    })?);
                } else {
                    break;
                }
                line = rest.trim_end();
            }
            let (name, key) = match line.split_once(':') {
                Some((name, key)) => (name.trim(), key.trim()),
                None => (DEFAULT_KEY_NAME, line),
            };
            if name.is_empty() {
                return Err(error("the name before ':' is empty"));
            }
            if key.is_empty() {
                return Err(error("the key after ':' is empty"));
            }
            keys.push(ApiKey {
                not_after,
                ..ApiKey::new(name, key, scopes)
            });
        }
        Ok(Self { keys })
    }

    /// A set of the one key `key`, named `default`.
    pub fn single(key: &str) -> Self {
        Self {
            keys: vec![ApiKey::new(DEFAULT_KEY_NAME, key, Scopes::UNMARKED)],
        }
    }

    /// The key matching `presented` that is still accepted at `now`. Every
    /// stored digest is compared, in constant time, whichever matches.
    pub fn find(&self, presented: &[u8], now: Timestamp) -> Option<&ApiKey> {
        let wanted = digest(presented);
        let mut found = None;
        for key in &self.keys {
            let equal = bool::from(key.digest.ct_eq(&wanted));
            if equal && found.is_none() && key.accepted_at(now) {
                found = Some(key);
            }
        }
        found
    }

    /// The first key named `name` still accepted at `now` (the subject of a
    /// token it issued).
    pub fn named(&self, name: &str, now: Timestamp) -> Option<&ApiKey> {
        self.keys
            .iter()
            .find(|k| &*k.name == name && k.accepted_at(now))
    }

    /// The key with the identifier `id`.
    pub fn by_id(&self, id: KeyId) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is accepted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The names of the keys, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| &*k.name)
    }
}

impl ApiKey {
    fn new(name: &str, key: &str, scopes: Scopes) -> Self {
        let digest = digest(key.as_bytes());
        let mut id = [0; 8];
        id.copy_from_slice(&digest[..8]);
        Self {
            name: Arc::from(name),
            id: KeyId(u64::from_le_bytes(id)),
            scopes,
            not_after: None,
            digest,
        }
    }

    /// Whether the key is accepted at `now`: always without `not-after=`,
    /// else strictly before that instant.
    pub fn accepted_at(&self, now: Timestamp) -> bool {
        self.not_after.is_none_or(|t| now < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::now()
    }

    #[test]
    fn named_bare_and_commented_lines_are_read() {
        let set = KeySet::parse("# keys\nci:abc123\n\n  ops : def456 \nghi789\n").expect("parses");
        assert_eq!(set.names().collect::<Vec<_>>(), ["ci", "ops", "default"]);
        assert_eq!(set.find(b"def456", now()).map(|k| &*k.name), Some("ops"));
        assert_eq!(
            set.find(b"ghi789", now()).map(|k| &*k.name),
            Some("default")
        );
        assert!(set.find(b"abc12", now()).is_none());
        assert!(set.find(b"ci:abc123", now()).is_none());
    }

    #[test]
    fn malformed_lines_are_named_without_the_key() {
        let err = KeySet::parse("ok:1\n:secret-value\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(!err.to_string().contains("secret-value"));
        assert_eq!(KeySet::parse("name:\n").unwrap_err().line, 1);
    }

    #[test]
    fn a_scopes_suffix_narrows_a_key_and_its_absence_grants_all() {
        let set = KeySet::parse(
            "agent:k3y scopes=read_mail\nops:k4y\nbare scopes=read_mail,change_mail,delete,manage_folders\n",
        )
        .expect("parses");
        let agent = set.find(b"k3y", now()).expect("the read-only key");
        assert_eq!(agent.scopes, Scopes::READ_ONLY);
        assert_eq!(
            set.find(b"k4y", now()).map(|k| k.scopes),
            Some(Scopes::UNMARKED)
        );
        let bare = set.find(b"bare", now()).expect("a bare key with scopes");
        assert_eq!((&*bare.name, bare.scopes), ("default", Scopes::UNMARKED));
        let err = KeySet::parse("x:secret-value scopes=admin").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(!err.to_string().contains("secret-value"));
    }

    #[test]
    fn a_not_after_suffix_accepts_a_key_until_that_instant_only() {
        let set = KeySet::parse(
            "rmk_new\nrmk_old not-after=2026-12-08T02:35:00Z\nro:k5y scopes=read_mail not-after=2026-12-08T02:35:00Z\n",
        )
        .expect("parses");
        let before: Timestamp = "2026-12-08T02:34:59Z".parse().expect("instant");
        let at: Timestamp = "2026-12-08T02:35:00Z".parse().expect("instant");
        let old = set
            .find(b"rmk_old", before)
            .expect("accepted before its instant");
        assert_eq!((&*old.name, old.not_after), ("default", Some(at)));
        assert!(
            set.find(b"rmk_old", at).is_none(),
            "refused from its instant on"
        );
        assert!(
            set.find(b"rmk_new", at).is_some(),
            "a key without one stays"
        );
        let ro = set
            .find(b"k5y", before)
            .expect("both suffixes, in either order");
        assert_eq!(ro.scopes, Scopes::READ_ONLY);
        assert!(set.find(b"k5y", at).is_none());
        assert_eq!(set.named("default", at).map(|k| k.not_after), Some(None));
        let err = KeySet::parse("x:secret-value not-after=tomorrow").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(!err.to_string().contains("secret-value"));
    }

    #[test]
    fn keys_are_held_as_digests_only() {
        let set = KeySet::parse("ci:very-secret-key").expect("parses");
        assert!(!format!("{set:?}").contains("very-secret-key"));
    }
}
