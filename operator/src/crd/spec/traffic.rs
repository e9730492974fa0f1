//! Request budgets, request limits and the rules of sending mail.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::numbers;
use crate::crd::rules;

/// Request budgets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitsSpec {
    /// Per client address. Default `100/minute`.
    #[serde(default = "default_per_ip")]
    #[x_kube(validation = rules::rate())]
    #[schemars(length(max = 32))]
    pub per_ip: String,
    /// Per authenticated user. Default `1000/hour`.
    #[serde(default = "default_per_user")]
    #[x_kube(validation = rules::rate())]
    #[schemars(length(max = 32))]
    pub per_user: String,
    /// Per API key. Default `10000/hour`.
    #[serde(default = "default_per_api_key")]
    #[x_kube(validation = rules::rate())]
    #[schemars(length(max = 32))]
    pub per_api_key: String,
    /// CIDRs of proxies whose X-Forwarded-For is trusted (e.g. the ingress
    /// controller's pods). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = rules::cidrs())]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    pub trusted_proxies: Vec<String>,
}

impl Default for RateLimitsSpec {
    fn default() -> Self {
        Self {
            per_ip: default_per_ip(),
            per_user: default_per_user(),
            per_api_key: default_per_api_key(),
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_per_ip() -> String {
    "100/minute".to_owned()
}

fn default_per_user() -> String {
    "1000/hour".to_owned()
}

fn default_per_api_key() -> String {
    "10000/hour".to_owned()
}

/// Request limits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSpec {
    /// Largest request body. Default `10Mi`; a bare number is bytes.
    #[serde(default = "default_max_body_size", deserialize_with = "numbers::size")]
    #[x_kube(validation = rules::size())]
    #[schemars(schema_with = "numbers::int_or_string_schema")]
    pub max_body_size: String,
    /// Largest request head. Default `8Ki`; a bare number is bytes.
    #[serde(
        default = "default_max_header_size",
        deserialize_with = "numbers::size"
    )]
    #[x_kube(validation = rules::size())]
    #[schemars(schema_with = "numbers::int_or_string_schema")]
    pub max_header_size: String,
    /// Media types accepted in request bodies. Default the data plane's own:
    /// `application/json`, `application/x-www-form-urlencoded` (the form
    /// `POST /auth/refresh` takes) and `message/rfc822` (raw messages).
    #[serde(default = "default_content_types")]
    #[x_kube(validation = kube::core::Rule::new("self.all(t, t.matches('^[a-z0-9.+-]+/[a-z0-9.+-]+$'))").message("every entry must be a media type such as application/json"))]
    #[schemars(length(max = 32), inner(length(max = 128)))]
    pub allowed_content_types: Vec<String>,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        Self {
            max_body_size: default_max_body_size(),
            max_header_size: default_max_header_size(),
            allowed_content_types: default_content_types(),
        }
    }
}

fn default_max_body_size() -> String {
    "10Mi".to_owned()
}

fn default_max_header_size() -> String {
    "8Ki".to_owned()
}

fn default_content_types() -> Vec<String> {
    rustymail_config::Limits::default().allowed_content_types
}

/// The rules every send obeys (`POST /api/v1/send`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendSpec {
    /// Recipients mail may go to: addresses (`alice@example.com`) and
    /// domains (`example.com`, every address at exactly that domain).
    /// Default: none listed, any recipient.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024), inner(length(min = 1, max = 320)))]
    pub allowed_recipients: Vec<String>,
    /// Messages each API key may send. Default `100/hour`.
    #[serde(default = "default_send_per_api_key")]
    #[x_kube(validation = rules::rate())]
    #[schemars(length(max = 32))]
    pub per_api_key: String,
    /// Recipients of one message at most. Default 50.
    #[serde(default = "default_max_recipients")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_recipients: i32,
}

impl Default for SendSpec {
    fn default() -> Self {
        Self {
            allowed_recipients: Vec::new(),
            per_api_key: default_send_per_api_key(),
            max_recipients: default_max_recipients(),
        }
    }
}

fn default_send_per_api_key() -> String {
    "100/hour".to_owned()
}

fn default_max_recipients() -> i32 {
    50
}
