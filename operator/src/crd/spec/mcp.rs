//! MCP for AI agents at `/mcp` on the API port.

use serde::{Deserialize, Serialize};

use super::default_true;
use kube::KubeSchema;

/// MCP (the Model Context Protocol, Streamable HTTP) at `/mcp` on the API
/// port 9437, behind the same TLS, keys, rate limits and audit as the REST
/// API; stateless, so any replica answers any request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpSpec {
    /// Serve `/mcp` and `/.well-known/oauth-protected-resource`. Default
    /// true: it gives no access a key does not have over REST.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Browser origins `/mcp` accepts on requests that carry `Origin`, e.g.
    /// `https://app.example.com:443`. Default none: such requests get 403;
    /// agents send no `Origin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub allowed_origins: Vec<String>,
    /// Host names accepted beside the Service's names, `tls.dnsNames` and
    /// the Ingress host, which are always accepted (against DNS rebinding,
    /// any other `Host` gets 403).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub extra_allowed_hosts: Vec<String>,
    /// The resource identifier of `/mcp` in the OAuth metadata, e.g.
    /// `https://mail.example.com/mcp`. Default: `https://<Ingress host>/mcp`
    /// with an Ingress, else `https://<the request's host>/mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub resource: Option<String>,
    /// Authorization servers named in the OAuth metadata
    /// (`authorization_servers`). The data plane verifies only the tokens
    /// it issues itself (`POST /api/v1/auth/token`, HS256, audience
    /// checked), so a token an OAuth client obtains from a server listed
    /// here is refused with 401. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(max = 2048)))]
    pub authorization_servers: Vec<String>,
}

impl Default for McpSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_origins: Vec::new(),
            extra_allowed_hosts: Vec::new(),
            resource: None,
            authorization_servers: Vec::new(),
        }
    }
}
