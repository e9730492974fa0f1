//! OAuth 2.1 resource-server behaviour, as MCP clients expect it
//! (MCP 2025-06-18 and later, "Authorization"):
//!
//! - `GET /.well-known/oauth-protected-resource` (and the same with `/mcp`
//!   appended, where RFC 9728 §3.1 has clients look first): the Protected
//!   Resource Metadata document, naming the resource, its authorization
//!   servers and its scopes;
//! - a `401` carries `WWW-Authenticate: Bearer resource_metadata="…"`, so a
//!   client finds that document;
//! - a caller whose key or token lacks a tool's scope gets `403` with
//!   `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`.
//!
//! The audience of a token is checked where every token is verified
//! (`auth.jwt.audience`, see [`crate::auth::jwt`]).

use axum::{
    Json,
    extract::Request,
    http::{HeaderMap, HeaderValue, header},
};
use serde::Serialize;

use super::scope::Scope;

/// Where MCP is served: the resource these documents describe.
pub const MCP_PATH: &str = "/mcp";

/// Where the metadata document is served.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The metadata path with the resource's path appended (RFC 9728 §3.1).
pub const METADATA_PATH_FOR_MCP: &str = "/.well-known/oauth-protected-resource/mcp";

/// What the metadata document and the challenges say about this server.
#[derive(Debug, Clone, Default)]
pub struct ResourceServer {
    /// The resource identifier (RFC 8707), e.g. `https://mail.example.com/mcp`;
    /// `None`: `https://<the request's host>/mcp`.
    pub resource: Option<String>,
    /// The authorization servers that issue tokens for it.
    pub authorization_servers: Vec<String>,
}

/// The Protected Resource Metadata document (RFC 9728 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// The resource identifier.
    pub resource: String,
    /// Issuers of tokens for it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Where a token may be presented: the `Authorization` header only.
    pub bearer_methods_supported: Vec<&'static str>,
    /// The scopes a token may carry.
    pub scopes_supported: Vec<&'static str>,
    /// A name for people.
    pub resource_name: &'static str,
}

/// The authority a request was sent to: the URI's (HTTP/2) or `Host`.
pub fn authority(uri: &axum::http::Uri, headers: &HeaderMap) -> Option<String> {
    uri.authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .filter(|a| {
            !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
}

impl ResourceServer {
    /// What `mcp` configures.
    pub fn from_config(mcp: &crate::config::Mcp) -> Self {
        Self {
            resource: mcp.resource.clone(),
            authorization_servers: mcp.authorization_servers.clone(),
        }
    }

    /// The resource identifier for a request sent to `authority`.
    pub fn resource(&self, authority: Option<&str>) -> String {
        match (&self.resource, authority) {
            (Some(r), _) => r.clone(),
            (None, Some(a)) => format!("https://{a}/mcp"),
            (None, None) => "https://localhost/mcp".to_owned(),
        }
    }

    /// The metadata document's URL for a request sent to `authority`: on the
    /// resource's origin, the resource's path appended.
    pub fn metadata_url(&self, authority: Option<&str>) -> String {
        let resource = self.resource(authority);
        let (origin, path) = split_origin(&resource);
        format!("{origin}{METADATA_PATH}{path}")
    }

    /// The metadata document for a request sent to `authority`.
    pub fn metadata(&self, authority: Option<&str>) -> Metadata {
        Metadata {
            resource: self.resource(authority),
            authorization_servers: self.authorization_servers.clone(),
            bearer_methods_supported: vec!["header"],
            scopes_supported: Scope::ALL.iter().map(|s| s.as_str()).collect(),
            resource_name: "RustyMail",
        }
    }

    /// The `WWW-Authenticate` value of a 401 for a request sent to `authority`.
    pub fn challenge(&self, authority: Option<&str>) -> HeaderValue {
        let value = format!(
            "Bearer realm=\"rustymail\", resource_metadata=\"{}\"",
            self.metadata_url(authority)
        );
        HeaderValue::from_str(&value)
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"rustymail\""))
    }

    /// The `WWW-Authenticate` value of a 403 for want of `scope`.
    pub fn insufficient_scope(&self, authority: Option<&str>, scope: Scope) -> HeaderValue {
        let value = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\"",
            scope.as_str(),
            self.metadata_url(authority)
        );
        HeaderValue::from_str(&value)
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"insufficient_scope\""))
    }
}

/// `https://host:port/path` as (`https://host:port`, `/path`).
fn split_origin(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

/// `GET /.well-known/oauth-protected-resource[/mcp]`.
pub async fn metadata(
    axum::extract::State(server): axum::extract::State<std::sync::Arc<ResourceServer>>,
    req: Request,
) -> Json<Metadata> {
    let authority = authority(req.uri(), req.headers());
    Json(server.metadata(authority.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_names_the_resource_of_the_requests_host() {
        let server = ResourceServer::default();
        let doc = server.metadata(Some("mail.example.com"));
        assert_eq!(doc.resource, "https://mail.example.com/mcp");
        assert_eq!(doc.bearer_methods_supported, ["header"]);
        assert_eq!(
            doc.scopes_supported,
            [
                "read_mail",
                "change_mail",
                "delete",
                "manage_folders",
                "send"
            ]
        );
        assert_eq!(
            server.metadata_url(Some("mail.example.com:8443")),
            "https://mail.example.com:8443/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn a_configured_resource_wins_over_the_host() {
        let server = ResourceServer {
            resource: Some("https://mail.example.com/mcp".to_owned()),
            authorization_servers: vec!["https://auth.example.com".to_owned()],
        };
        assert_eq!(
            server.challenge(Some("10.0.0.7:9437")),
            "Bearer realm=\"rustymail\", resource_metadata=\"https://mail.example.com/.well-known/oauth-protected-resource/mcp\""
        );
        assert_eq!(
            server.insufficient_scope(None, Scope::ChangeMail),
            "Bearer error=\"insufficient_scope\", scope=\"change_mail\", resource_metadata=\"https://mail.example.com/.well-known/oauth-protected-resource/mcp\""
        );
        let doc = serde_json::to_value(server.metadata(None)).expect("json");
        assert_eq!(doc["authorization_servers"][0], "https://auth.example.com");
    }

    #[test]
    fn a_hostile_host_header_is_not_echoed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("evil\"x"));
        assert_eq!(authority(&"/mcp".parse().expect("uri"), &headers), None);
    }
}
