//! Authentication of API clients: API keys and JWT.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::numbers;
use crate::crd::rules;

/// Authentication of API clients.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// API keys sent in a header.
    #[serde(default)]
    pub api_key: ApiKeySpec,
    /// JSON Web Tokens issued by `POST /api/v1/auth/token`.
    #[serde(default)]
    pub jwt: JwtSpec,
    /// How long a rotated generated API key stays accepted beside the new
    /// one (`rustymail.io/rotate-credentials`), so clients can switch without
    /// a refused request. Default `5m`; `0` refuses it at once (a leaked key).
    /// The JWT secret is replaced at once either way.
    #[serde(
        default = "default_rotation_grace_period",
        deserialize_with = "numbers::duration"
    )]
    #[x_kube(validation = rules::duration())]
    #[schemars(schema_with = "numbers::int_or_string_schema")]
    pub rotation_grace_period: String,
    /// Use this Secret instead of generated credentials; the operator never
    /// writes it. Keys: `jwt-secret`, and `api-keys` (one `name:key` or bare
    /// key a line) or `api-key` (a single key, as the security guide's
    /// Secret has it); with both, `api-keys` is read and `api-key` ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(max = 253))]
    pub existing_secret: Option<String>,
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            api_key: ApiKeySpec::default(),
            jwt: JwtSpec::default(),
            rotation_grace_period: default_rotation_grace_period(),
            existing_secret: None,
        }
    }
}

fn default_rotation_grace_period() -> String {
    "5m".to_owned()
}

/// API-key authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySpec {
    /// Header carrying the key. Default `X-API-Key`.
    #[serde(default = "default_api_key_header")]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[A-Za-z0-9-]+$')").message("must be an HTTP header name (letters, digits, '-')"))]
    #[schemars(length(min = 1, max = 128))]
    pub header: String,
    /// Paths served without authentication (each starting with `/`). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = kube::core::Rule::new("self.all(p, p.startsWith('/'))").message("every public path must start with /"))]
    #[schemars(length(max = 32), inner(length(max = 256)))]
    pub public_paths: Vec<String>,
}

impl Default for ApiKeySpec {
    fn default() -> Self {
        Self {
            header: default_api_key_header(),
            public_paths: Vec::new(),
        }
    }
}

fn default_api_key_header() -> String {
    "X-API-Key".to_owned()
}

/// JWT settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(format!("{} <= {}", rules::as_duration("expiry"), rules::as_duration("refreshExpiry"))).message("auth.jwt.refreshExpiry must not be shorter than auth.jwt.expiry"))]
pub struct JwtSpec {
    /// Access-token lifetime. Default `1h`; a bare number is seconds (`3600`).
    #[serde(default = "default_jwt_expiry", deserialize_with = "numbers::duration")]
    #[x_kube(validation = rules::duration())]
    #[schemars(schema_with = "numbers::int_or_string_schema")]
    pub expiry: String,
    /// Refresh-token lifetime. Default `168h`; a bare number is seconds.
    #[serde(
        default = "default_jwt_refresh_expiry",
        deserialize_with = "numbers::duration"
    )]
    #[x_kube(validation = rules::duration())]
    #[schemars(schema_with = "numbers::int_or_string_schema")]
    pub refresh_expiry: String,
    /// `iss` claim. Default `rustymail`.
    #[serde(default = "default_jwt_issuer")]
    #[schemars(length(min = 1))]
    pub issuer: String,
    /// `aud` claim. Default `rustymail-api`.
    #[serde(default = "default_jwt_audience")]
    #[schemars(length(min = 1))]
    pub audience: String,
}

impl Default for JwtSpec {
    fn default() -> Self {
        Self {
            expiry: default_jwt_expiry(),
            refresh_expiry: default_jwt_refresh_expiry(),
            issuer: default_jwt_issuer(),
            audience: default_jwt_audience(),
        }
    }
}

fn default_jwt_expiry() -> String {
    "1h".to_owned()
}

fn default_jwt_refresh_expiry() -> String {
    "168h".to_owned()
}

fn default_jwt_issuer() -> String {
    "rustymail".to_owned()
}

fn default_jwt_audience() -> String {
    "rustymail-api".to_owned()
}
