//! MCP (the Model Context Protocol) for AI agents, at `/mcp` on the API
//! listener: Streamable HTTP served by rmcp, the official Rust SDK, as a
//! tower service inside the same hardened stack as the REST routes (TLS,
//! authentication, rate limits, body limits, security headers, metrics).
//!
//! ```text
//! POST /mcp ─▶ harden (guard: key or token, budgets; limits) ─▶ scope gate ─▶ rmcp (Host, Origin,
//!              protocol version) ─▶ MailMcp::call_tool ─▶ MailService::call ─▶ IMAP
//!                                                         (audit: data_access | authorization)
//! ```
//!
//! Stateless: no `Mcp-Session-Id`, no session table. A request negotiating
//! 2026-07-28 carries its version and capabilities itself; one of the
//! handshake revisions (2025-06-18, 2025-11-25) is answered `initialize`
//! and then each request on its own, so any replica answers any request.
//! The GET stream and DELETE are refused with 405, as the transport allows.
//!
//! - [`tools`]: the tools, their input schemas (the operations' types) and annotations.
//! - [`calls`]: what each tool does: its operation, through [`MailService::call`].
//! - [`handler`]: the rmcp server handler.
//! - [`shape`], [`draft`]: bodies in windows, capped attachments, drafts (pure).
//! - [`audit`]: the audit lines of tool calls.
//! - [`error`]: why a tool call failed.
//!
//! May depend on `service` (every mail operation), `auth` (scopes, the
//! OAuth documents), `server::guard` (the admitted caller) and
//! `server::api::errors` (the REST error codes); nothing depends on it but
//! `server`, which mounts it. The OAuth metadata and challenges it serves
//! are in [`crate::auth::resource`].

pub mod audit;
pub mod calls;
pub mod draft;
pub mod error;
pub mod handler;
pub mod shape;
pub mod tools;

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
};
use serde_json::{Value, json};

use self::{
    audit::ToolAudit,
    handler::{MailMcp, account_of, refusal, scopes},
};
use crate::{
    auth::resource::{self as oauth, ResourceServer},
    server::guard::Caller,
    service::MailService,
};

/// Where MCP is served.
pub const PATH: &str = oauth::MCP_PATH;

/// The JSON-RPC error code of a call refused for want of a scope.
pub const INSUFFICIENT_SCOPE: i32 = -32003;

/// How `/mcp` is served.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `Host` values accepted (`host` or `host:port`); an empty list admits
    /// any host.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted when a request carries `Origin`; empty:
    /// none (requests without `Origin`, as agents send, always pass).
    pub allowed_origins: Vec<String>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// What the OAuth metadata and challenges say.
    pub resource_server: ResourceServer,
}

impl Settings {
    /// The settings of `mcp`, bodies bounded by `max_body_bytes`.
    pub fn from_config(mcp: &crate::config::Mcp, max_body_bytes: usize) -> Self {
        Self {
            allowed_hosts: mcp.allowed_hosts.clone(),
            allowed_origins: mcp.allowed_origins.clone(),
            max_body_bytes,
            resource_server: ResourceServer::from_config(mcp),
        }
    }
}

/// What the scope gate needs.
#[derive(Clone)]
struct Gate {
    mail: MailService,
    resource_server: Arc<ResourceServer>,
    max_body_bytes: usize,
}

/// `/mcp` and the OAuth metadata routes over the operations of `mail`.
pub fn routes(mail: MailService, settings: &Settings) -> Router {
    let server = MailMcp::new(mail.clone());
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_allowed_origins(settings.allowed_origins.clone())
        .with_max_request_body_bytes(settings.max_body_bytes);
    let config = if settings.allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config
    };
    let config = if settings.allowed_origins.is_empty() {
        config.enforce_origin_validation()
    } else {
        config
    };
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let resource_server = Arc::new(settings.resource_server.clone());
    let gate = Gate {
        mail,
        resource_server: Arc::clone(&resource_server),
        max_body_bytes: settings.max_body_bytes,
    };
    let mcp = Router::new()
        .nest_service(PATH, service)
        .layer(middleware::from_fn_with_state(gate, scope_gate));
    let metadata = Router::new()
        .route(oauth::METADATA_PATH, get(oauth::metadata))
        .route(oauth::METADATA_PATH_FOR_MCP, get(oauth::metadata))
        .with_state(resource_server);
    mcp.merge(metadata)
}

/// The id and tool name of a `tools/call` request body.
fn tool_call(body: &[u8]) -> Option<(Value, Value, String)> {
    let message: Value = serde_json::from_slice(body).ok()?;
    if message.get("method")?.as_str()? != "tools/call" {
        return None;
    }
    let params = message.get("params")?;
    let name = params.get("name")?.as_str()?.to_owned();
    let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
    Some((
        message.get("id").cloned().unwrap_or(Value::Null),
        arguments,
        name,
    ))
}

/// Answers a `tools/call` of a tool whose scope the caller lacks with 403
/// `insufficient_scope` (RFC 6750 §3.1), before rmcp sees it; everything
/// else goes on.
async fn scope_gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let caller_scopes = scopes(req.extensions().get::<Caller>());
    if req.method() != Method::POST || tools::all_allowed(caller_scopes) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, gate.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    if let Some((id, arguments, name)) = tool_call(&bytes)
        && let Some(spec) = tools::spec(&name)
        && !caller_scopes.allows(spec.scope)
    {
        let account = account_of(&gate.mail, &arguments);
        ToolAudit::new(Some(&parts), spec, &account).refused();
        let authority = oauth::authority(&parts.uri, &parts.headers);
        let message = refusal(spec);
        let body = json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {"code": INSUFFICIENT_SCOPE, "message": message,
                      "data": {"error": "insufficient_scope", "scope": spec.scope.as_str()}},
        });
        let mut response = (StatusCode::FORBIDDEN, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::WWW_AUTHENTICATE,
            gate.resource_server
                .insufficient_scope(authority.as_deref(), spec.scope),
        );
        return response;
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
