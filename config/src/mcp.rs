//! The `mcp` section: MCP for AI agents at `/mcp`.

use serde::{Deserialize, Serialize};

/// MCP (Streamable HTTP) on the API listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Mcp {
    /// Serve `/mcp` and `/.well-known/oauth-protected-resource`. Default
    /// `true`: MCP is how most agents reach mail, behind the same keys,
    /// limits and audit as REST; `false` answers both with 404.
    pub enabled: bool,
    /// `Host` values `/mcp` accepts (`name` matches any port, `name:port`
    /// that port), against DNS rebinding. Default the loopback names, as
    /// for a local `serve --self-signed`; behind a Service or an Ingress
    /// list the names clients use (the operator renders the Service's and
    /// `spec.tls.dnsNames`). An empty list accepts any host.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted on requests that carry `Origin`, e.g.
    /// `https://app.example.com:443` (`:*` for any port). Default none:
    /// every request carrying `Origin` is refused with 403; agents send none.
    pub allowed_origins: Vec<String>,
    /// The resource identifier of `/mcp` (RFC 8707), e.g.
    /// `https://mail.example.com/mcp`, named in the Protected Resource
    /// Metadata. Default: `https://<the request's host>/mcp`.
    pub resource: Option<String>,
    /// Authorization servers listed in the Protected Resource Metadata.
    /// The data plane verifies only the tokens it issues itself (HS256,
    /// `auth.jwt.audience` checked), so a token an OAuth client obtains
    /// from a server listed here is refused with 401. Default none.
    pub authorization_servers: Vec<String>,
}

impl Default for Mcp {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_hosts: ["localhost", "127.0.0.1", "::1"]
                .map(str::to_owned)
                .to_vec(),
            allowed_origins: Vec::new(),
            resource: None,
            authorization_servers: Vec::new(),
        }
    }
}
