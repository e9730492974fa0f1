//! API keys: the `name:key` file format (pure parsing) and the set of keys
//! held as SHA-256 digests, compared in constant time.
//!
//! A line may end in ` scopes=<names>` (comma-separated, see
//! [`super::scope`]): `agent:k3y scopes=read_mail` is a read-only key. A
//! line without it grants every scope, as every key did before scopes.

use std::sync::Arc;

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
            let (line, scopes) = match line.rsplit_once(char::is_whitespace) {
                Some((rest, names)) if names.starts_with("scopes=") => {
                    let scopes = Scopes::parse(&names["scopes=".len()..]).map_err(|_| {
                        error("unknown scope in scopes= (known: read_mail, change_mail, delete, manage_folders, send)")
                    })?;
                    (rest.trim_end(), scopes)
                }
                _ => (line, Scopes::UNMARKED),
            };
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
            keys.push(ApiKey::new(name, key, scopes));
        }
        Ok(Self { keys })
    }

    /// A set of the one key `key`, named `default`.
    pub fn single(key: &str) -> Self {
        Self {
            keys: vec![ApiKey::new(DEFAULT_KEY_NAME, key, Scopes::UNMARKED)],
        }
    }

    /// The key matching `presented`. Every stored digest is compared, in
    /// constant time, whichever matches.
    pub fn find(&self, presented: &[u8]) -> Option<&ApiKey> {
        let wanted = digest(presented);
        let mut found = None;
        for key in &self.keys {
            let equal = bool::from(key.digest.ct_eq(&wanted));
            if equal && found.is_none() {
                found = Some(key);
            }
        }
        found
    }

    /// The first key named `name` (the subject of a token it issued).
    pub fn named(&self, name: &str) -> Option<&ApiKey> {
        self.keys.iter().find(|k| &*k.name == name)
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
            digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_bare_and_commented_lines_are_read() {
        let set = KeySet::parse("# keys\nci:abc123\n\n  ops : def456 \nghi789\n").expect("parses");
        assert_eq!(set.names().collect::<Vec<_>>(), ["ci", "ops", "default"]);
        assert_eq!(set.find(b"def456").map(|k| &*k.name), Some("ops"));
        assert_eq!(set.find(b"ghi789").map(|k| &*k.name), Some("default"));
        assert!(set.find(b"abc12").is_none());
        assert!(set.find(b"ci:abc123").is_none());
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
        let agent = set.find(b"k3y").expect("the read-only key");
        assert_eq!(agent.scopes, Scopes::READ_ONLY);
        assert_eq!(set.find(b"k4y").map(|k| k.scopes), Some(Scopes::UNMARKED));
        let bare = set.find(b"bare").expect("a bare key with scopes");
        assert_eq!((&*bare.name, bare.scopes), ("default", Scopes::UNMARKED));
        let err = KeySet::parse("x:secret-value scopes=admin").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(!err.to_string().contains("secret-value"));
    }

    #[test]
    fn keys_are_held_as_digests_only() {
        let set = KeySet::parse("ci:very-secret-key").expect("parses");
        assert!(!format!("{set:?}").contains("very-secret-key"));
    }
}
