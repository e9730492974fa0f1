//! Who a request acts for: API keys and JSON Web Tokens.
//!
//! ```text
//!  X-API-Key: <key>              ─▶ key set (SHA-256 digests, constant-time) ─┐
//!  Authorization: Bearer <key>   ─┘                                           ├─▶ Identity {user, key}
//!  Authorization: Bearer <a.b.c> ─▶ JWT (HS256, iss, aud, nbf, exp, typ=access)┘
//! ```
//!
//! - [`keys`]: the key file format and the digests (pure).
//! - [`jwt`]: issuing and verifying tokens (pure).
//! - [`cache`]: access tokens already verified, so a repeated token costs
//!   a hash and a comparison instead of a verification.
//! - [`reload`]: re-reading the key file and the JWT secret when they change.
//! - [`resource`]: OAuth resource-server documents and challenges (MCP).
//! - [`routes`]: `POST /api/v1/auth/token` and `POST /api/v1/auth/refresh`.
//! - [`scope`]: what a credential may do (every credential may do all today).
//!
//! The [`Authenticator`] holds the current keys and JWT secret behind
//! `ArcSwap`s, so that a rotation takes effect for the next request while a
//! request in flight finishes with what it was admitted with.
//!
//! May depend on, in this crate: `audit`, `config`, `metrics`, `server`,
//! `shutdown`, `watch`.

pub mod cache;
pub mod jwt;
pub mod keys;
pub mod reload;
pub mod resource;
pub mod routes;
pub mod scope;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use arc_swap::{ArcSwap, ArcSwapOption};
use axum::http::{HeaderMap, HeaderName, header};

use self::{
    cache::TokenCache,
    jwt::{JwtKeys, JwtRefusal, SecretError, TokenPair, TokenUse},
    keys::{KeyFileError, KeyId, KeySet},
    scope::Scopes,
};
use crate::config::{Auth, Jwt};

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// An API key, in the configured header or as a bearer token.
    ApiKey,
    /// An access token issued by `POST /api/v1/auth/token`.
    Token,
}

impl Method {
    /// The label used in audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ApiKey => "api_key",
            Method::Token => "token",
        }
    }
}

/// An authenticated caller, kept in the request's extensions.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user: the key's name, or the token's subject (the name of the key
    /// it was issued for).
    pub user: Arc<str>,
    /// The API key the request is counted against.
    pub key: KeyId,
    /// How the caller proved it.
    pub method: Method,
    /// What it may do: its key's scopes, narrowed by a token's `scope` claim.
    pub scopes: Scopes,
}

/// Why a request was not authenticated; [`Refusal::label`] is the reason
/// counted in `rustymail_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No credentials, and they are required.
    #[error("credentials are required: an API key or a bearer token")]
    Missing,
    /// A key that is not (or no longer) accepted.
    #[error("the API key is not valid")]
    InvalidKey,
    /// A token that is not valid.
    #[error(transparent)]
    Token(#[from] JwtRefusal),
    /// A valid token whose key has since been removed.
    #[error("the token's API key is no longer accepted")]
    RevokedSubject,
    /// A token was presented but no JWT secret is configured.
    #[error("tokens are not enabled on this server")]
    TokensDisabled,
}

impl Refusal {
    /// Every refusal, each with its own [`Refusal::label`]: the series of
    /// `rustymail_auth_failures_total` the data plane exports from the start.
    pub fn all() -> impl Iterator<Item = Self> {
        [
            Refusal::Missing,
            Refusal::InvalidKey,
            Refusal::RevokedSubject,
            Refusal::TokensDisabled,
        ]
        .into_iter()
        .chain(JwtRefusal::ALL.into_iter().map(Refusal::Token))
    }

    /// A short label for metrics and audit lines.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::InvalidKey => "invalid_key",
            Refusal::Token(t) => t.label(),
            Refusal::RevokedSubject => "revoked_subject",
            Refusal::TokensDisabled => "tokens_disabled",
        }
    }
}

/// Why the credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A credentials file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// `API key file` or `JWT secret file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The key file has a malformed line.
    #[error("API key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The line at fault.
        #[source]
        source: KeyFileError,
    },
    /// The JWT secret is too short.
    #[error("{origin}: {source}")]
    Secret {
        /// The file, or `JWT_SECRET`.
        origin: String,
        /// Its length.
        #[source]
        source: SecretError,
    },
    /// The configured header cannot be a header name.
    #[error("auth.apiKeys.header: {0:?} is not a valid HTTP header name")]
    Header(String),
}

/// Reads an API key file.
pub fn read_key_file(path: &Path) -> Result<KeySet, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
        what: "API key file",
        path: path.to_owned(),
        source,
    })?;
    KeySet::parse(&text).map_err(|source| AuthError::KeyFile {
        path: path.to_owned(),
        source,
    })
}

/// Reads a JWT secret file: its contents, surrounding whitespace removed.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, AuthError> {
    let bytes = std::fs::read(path).map_err(|source| AuthError::Read {
        what: "JWT secret file",
        path: path.to_owned(),
        source,
    })?;
    Ok(bytes.trim_ascii().to_vec())
}

/// The current credentials and the rules for checking them.
pub struct Authenticator {
    keys: ArcSwap<KeySet>,
    jwt: ArcSwapOption<JwtKeys>,
    /// Counts JWT secret changes; tokens verified under an older one are
    /// not served from `tokens`.
    secret_generation: AtomicU64,
    tokens: TokenCache,
    jwt_settings: Jwt,
    header: HeaderName,
    required: bool,
    public_paths: Box<[String]>,
}

/// Where the refresh route is: it authenticates by the refresh token in
/// its body, so the request itself needs no access credentials.
pub const REFRESH_PATH: &str = "/api/v1/auth/refresh";

/// Where access and refresh tokens are issued for an API key.
pub const TOKEN_PATH: &str = "/api/v1/auth/token";

impl Authenticator {
    /// Loads the keys and the JWT secret that `auth` configures.
    pub fn from_config(auth: &Auth) -> Result<Self, AuthError> {
        let header = HeaderName::try_from(auth.api_keys.header.as_str())
            .map_err(|_| AuthError::Header(auth.api_keys.header.clone()))?;
        let keys = match (&auth.api_keys.key, &auth.api_keys.file) {
            (Some(key), _) => KeySet::single(key.expose()),
            (None, Some(path)) => read_key_file(path)?,
            (None, None) => KeySet::default(),
        };
        let jwt = match (&auth.jwt.secret, &auth.jwt.secret_file) {
            (Some(secret), _) => Some(
                JwtKeys::new(secret.expose().as_bytes(), &auth.jwt).map_err(|source| {
                    AuthError::Secret {
                        origin: "JWT_SECRET".to_owned(),
                        source,
                    }
                })?,
            ),
            (None, Some(path)) => {
                let secret = read_secret_file(path)?;
                Some(
                    JwtKeys::new(&secret, &auth.jwt).map_err(|source| AuthError::Secret {
                        origin: format!("JWT secret file {}", path.display()),
                        source,
                    })?,
                )
            }
            (None, None) => None,
        };
        Ok(Self {
            keys: ArcSwap::from_pointee(keys),
            jwt: ArcSwapOption::new(jwt.map(Arc::new)),
            secret_generation: AtomicU64::new(0),
            tokens: TokenCache::default(),
            jwt_settings: auth.jwt.clone(),
            header,
            required: auth.api_keys.required,
            public_paths: auth.api_keys.public_paths.clone().into_boxed_slice(),
        })
    }

    /// Whether requests without credentials are refused.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The keys accepted now.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Until when the API key `identity` authenticated with is accepted:
    /// `Some` for a rotated key in its grace period (a `not-after=` line),
    /// `None` for a key without an end and for tokens.
    pub fn accepted_until(&self, identity: &Identity) -> Option<jiff::Timestamp> {
        if identity.method != Method::ApiKey {
            return None;
        }
        let keys = self.keys.load();
        keys.by_id(identity.key).and_then(|k| k.not_after)
    }

    /// Whether tokens can be issued and verified.
    pub fn tokens_enabled(&self) -> bool {
        self.jwt.load().is_some()
    }

    /// Accepts `keys` from now on.
    pub fn replace_keys(&self, keys: KeySet) {
        self.keys.store(Arc::new(keys));
    }

    /// Signs and verifies with `secret` from now on; tokens signed with the
    /// previous secret stop verifying.
    pub fn replace_jwt_secret(&self, secret: &[u8]) -> Result<(), SecretError> {
        let keys = JwtKeys::new(secret, &self.jwt_settings)?;
        self.jwt.store(Some(Arc::new(keys)));
        // After the store: whoever sees the new generation verifies with
        // the new secret.
        self.secret_generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Whether `path` is served without authentication: a configured public
    /// path (a trailing `*` matches any rest), or the refresh route, which
    /// checks its own token.
    pub fn is_public(&self, path: &str) -> bool {
        path == REFRESH_PATH
            || self.public_paths.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            })
    }

    /// Who the request with `headers` acts for: `Ok(None)` when it carries
    /// no credentials and they are not required.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Identity>, Refusal> {
        if let Some(key) = headers.get(&self.header) {
            return self.by_key(key.as_bytes()).map(Some);
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()));
        match bearer {
            Some(token) if looks_like_jwt(token) => self.by_token(token).map(Some),
            Some(key) => self.by_key(key).map(Some),
            None if self.required => Err(Refusal::Missing),
            None => Ok(None),
        }
    }

    fn by_key(&self, presented: &[u8]) -> Result<Identity, Refusal> {
        let keys = self.keys.load();
        let key = keys
            .find(presented, jiff::Timestamp::now())
            .ok_or(Refusal::InvalidKey)?;
        Ok(Identity {
            user: Arc::clone(&key.name),
            key: key.id,
            method: Method::ApiKey,
            scopes: key.scopes,
        })
    }

    fn by_token(&self, token: &[u8]) -> Result<Identity, Refusal> {
        let generation = self.secret_generation.load(Ordering::Acquire);
        let now = jwt::unix_now();
        if let Some(verified) = self.tokens.get(token, generation, now) {
            return self.holder_of(&verified.subject, verified.scopes, Method::Token);
        }
        let text = std::str::from_utf8(token).map_err(|_| JwtRefusal::Malformed)?;
        let claims = self.verify(text, TokenUse::Access)?;
        let scopes = claims.scopes();
        self.tokens
            .put(token, &claims.sub, scopes, claims.exp, generation);
        self.holder_of(&claims.sub, scopes, Method::Token)
    }

    fn verify(&self, token: &str, wanted: TokenUse) -> Result<jwt::Claims, Refusal> {
        let jwt = self.jwt.load();
        let jwt = jwt.as_ref().ok_or(Refusal::TokensDisabled)?;
        Ok(jwt.verify(token, wanted)?)
    }

    /// The identity of the key named `subject`, which must still be
    /// accepted, with its scopes narrowed to `scopes`.
    fn holder_of(
        &self,
        subject: &str,
        scopes: Scopes,
        method: Method,
    ) -> Result<Identity, Refusal> {
        let keys = self.keys.load();
        let key = keys
            .named(subject, jiff::Timestamp::now())
            .ok_or(Refusal::RevokedSubject)?;
        Ok(Identity {
            user: Arc::clone(&key.name),
            key: key.id,
            method,
            scopes: key.scopes.intersect(scopes),
        })
    }

    /// A new token pair for `identity`; `None` when tokens are not enabled.
    pub fn issue(&self, identity: &Identity) -> Option<TokenPair> {
        let jwt = self.jwt.load();
        jwt.as_ref()
            .map(|j| j.issue(&identity.user, identity.scopes, jwt::unix_now()))
    }

    /// A new token pair for the holder of `refresh_token`.
    pub fn refresh(&self, refresh_token: &str) -> Result<(Identity, TokenPair), Refusal> {
        let claims = self.verify(refresh_token, TokenUse::Refresh)?;
        let identity = self.holder_of(&claims.sub, claims.scopes(), Method::Token)?;
        let pair = self.issue(&identity).ok_or(Refusal::TokensDisabled)?;
        Ok((identity, pair))
    }
}

/// The credentials of an `Authorization: Bearer <credentials>` value.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let rest = rest.trim_ascii();
    (!rest.is_empty()).then_some(rest)
}

/// Whether a bearer credential is a JWT (three dot-separated parts) rather
/// than an API key.
fn looks_like_jwt(credential: &[u8]) -> bool {
    credential.iter().filter(|&&b| b == b'.').count() == 2
}

#[cfg(test)]
mod tests;
