//! JSON Web Tokens, HS256 only: issuing access and refresh tokens, and
//! verifying them. Any other algorithm (`none` included), a bad signature,
//! another issuer or audience, a future `nbf`, a past `exp`, or a token of
//! the other use is refused.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::scope::Scopes;
use crate::config::Jwt;

/// The shortest HMAC secret accepted: the hash's own size, 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated between issuer and verifier, in seconds.
const LEEWAY_SECONDS: u64 = 5;

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    /// Calling the API.
    Access,
    /// Obtaining a new pair at `POST /api/v1/auth/refresh`, nothing else.
    Refresh,
}

/// The claims of a token this data plane issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user: the name of the API key the first token was issued for.
    pub sub: String,
    /// The issuer, `auth.jwt.issuer`.
    pub iss: String,
    /// The audience, `auth.jwt.audience`.
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Not before, Unix seconds.
    pub nbf: u64,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Access or refresh.
    #[serde(rename = "typ")]
    pub token_use: TokenUse,
    /// The scopes granted, space-separated (RFC 9068); absent: every scope
    /// its key grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Claims {
    /// The scopes the token grants at most.
    pub fn scopes(&self) -> Scopes {
        Scopes::from_claim(self.scope.as_deref())
    }
}

/// Why a token was refused; [`JwtRefusal::label`] is its metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtRefusal {
    /// Not a well-formed JWT.
    #[error("the token is malformed")]
    Malformed,
    /// Signed with another algorithm than HS256 (or not signed).
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// The signature does not verify with the current secret.
    #[error("the token's signature is invalid")]
    Signature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Another issuer.
    #[error("the token's issuer is not accepted")]
    Issuer,
    /// Another audience.
    #[error("the token's audience is not accepted")]
    Audience,
    /// A refresh token used as an access token, or the other way round.
    #[error("the token cannot be used here")]
    WrongUse,
}

impl JwtRefusal {
    /// Every reason a token is refused.
    pub const ALL: [Self; 8] = [
        Self::Malformed,
        Self::Algorithm,
        Self::Signature,
        Self::Expired,
        Self::NotYetValid,
        Self::Issuer,
        Self::Audience,
        Self::WrongUse,
    ];

    /// A short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::Algorithm => "token_algorithm",
            Self::Signature => "token_signature",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::Issuer => "token_issuer",
            Self::Audience => "token_audience",
            Self::WrongUse => "token_use",
        }
    }
}

/// A new access token and refresh token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// Why a JWT secret is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Shorter than [`MIN_SECRET_BYTES`].
    #[error(
        "the JWT secret is {0} bytes long; HS256 needs at least 32 (e.g. `openssl rand -hex 32`)"
    )]
    TooShort(usize),
    /// Refused by the JWT library.
    #[error("the JWT secret is not usable: {0}")]
    Unusable(String),
}

/// The keys and rules of one JWT secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    expiry: u64,
    refresh_expiry: u64,
}

impl JwtKeys {
    /// Keys for `secret` with the issuer, audience and lifetimes of `jwt`.
    pub fn new(secret: &[u8], jwt: &Jwt) -> Result<Self, SecretError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(secret.len()));
        }
        let unusable = |e: jsonwebtoken::errors::Error| SecretError::Unusable(e.to_string());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&jwt.issuer]);
        validation.set_audience(&[&jwt.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret).map_err(unusable)?,
            decoding: DecodingKey::from_secret(secret).map_err(unusable)?,
            validation,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            expiry: jwt.expiry.0.as_secs(),
            refresh_expiry: jwt.refresh_expiry.0.as_secs(),
        })
    }

    /// Signs `claims` (for tests that forge tokens with the real secret).
    pub fn sign(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail, and
        // HMAC signing has no failure mode either.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    fn claims(
        &self,
        subject: &str,
        scopes: Scopes,
        now: u64,
        token_use: TokenUse,
        lifetime: u64,
    ) -> Claims {
        Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(lifetime),
            token_use,
            scope: (scopes != Scopes::ALL).then(|| scopes.to_claim()),
        }
    }

    /// A new pair for `subject` granting `scopes`, issued at `now` (Unix
    /// seconds).
    pub fn issue(&self, subject: &str, scopes: Scopes, now: u64) -> TokenPair {
        TokenPair {
            access_token: self.sign(&self.claims(
                subject,
                scopes,
                now,
                TokenUse::Access,
                self.expiry,
            )),
            token_type: "Bearer".to_owned(),
            expires_in: self.expiry,
            refresh_token: self.sign(&self.claims(
                subject,
                scopes,
                now,
                TokenUse::Refresh,
                self.refresh_expiry,
            )),
            refresh_expires_in: self.refresh_expiry,
        }
    }

    /// The claims of `token` if it is valid now for `wanted`.
    pub fn verify(&self, token: &str, wanted: TokenUse) -> Result<Claims, JwtRefusal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| refusal(e.kind()))?;
        if data.claims.token_use != wanted {
            return Err(JwtRefusal::WrongUse);
        }
        Ok(data.claims)
    }
}

fn refusal(kind: &ErrorKind) -> JwtRefusal {
    match kind {
        ErrorKind::InvalidSignature => JwtRefusal::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => JwtRefusal::Algorithm,
        ErrorKind::ExpiredSignature => JwtRefusal::Expired,
        ErrorKind::ImmatureSignature => JwtRefusal::NotYetValid,
        ErrorKind::InvalidIssuer => JwtRefusal::Issuer,
        ErrorKind::InvalidAudience => JwtRefusal::Audience,
        _ => JwtRefusal::Malformed,
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
