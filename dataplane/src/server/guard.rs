//! The API's door: who is calling and whether they may call now. Run by the
//! hardening middleware before a route, it finds the client address,
//! refuses it if it is blocked, spends its budget, authenticates the
//! request (unless its path is public), spends the user's and key's
//! budgets, and leaves a [`Caller`] in the request for the route. Refusals
//! are 403, 401 or 429 with a JSON body, counted in metrics and written to
//! the audit log.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower::Service;

use super::error::ApiError;
use crate::{
    access::Blocklist,
    audit::{AuditLog, Event},
    auth::{
        Authenticator, Identity, Refusal,
        resource::{self as oauth, ResourceServer},
    },
    config::AuditEvent,
    metrics::{Metrics, ReasonLabels, ScopeLabels},
    ratelimit::{Limited, Limits, client_ip},
};

/// The peer address of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Who sent a request, as the guard found: kept in its extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client address (see [`crate::ratelimit::client_ip`]).
    pub client_ip: IpAddr,
    /// The authenticated caller; `None` on a public path, or without
    /// credentials when they are not required.
    pub identity: Option<Identity>,
}

/// Authentication, rate limits and the audit log of the API listener.
pub struct Guard {
    auth: Arc<Authenticator>,
    blocklist: Blocklist,
    limits: Arc<Limits>,
    audit: AuditLog,
    metrics: Metrics,
    resource_server: Option<ResourceServer>,
}

/// The prefixes of the routes that need the guard itself (token issuance,
/// the audit lines of MCP tool calls).
const GUARDED_ROUTES: [&str; 2] = ["/api/v1/auth/", oauth::MCP_PATH];

/// The `User-Agent` of `headers`, if readable.
pub fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

impl Guard {
    /// A guard checking with `auth` and `limits`, writing to `audit`.
    pub fn new(
        auth: Arc<Authenticator>,
        limits: Arc<Limits>,
        audit: AuditLog,
        metrics: Metrics,
    ) -> Self {
        Self {
            auth,
            blocklist: Blocklist::default(),
            limits,
            audit,
            metrics,
            resource_server: None,
        }
    }

    /// The same guard as an OAuth resource server (MCP): the metadata paths
    /// are public and a 401 names the metadata document.
    pub fn with_resource_server(self, resource_server: ResourceServer) -> Self {
        Self {
            resource_server: Some(resource_server),
            ..self
        }
    }

    /// The same guard, refusing the clients `blocklist` blocks.
    pub fn with_blocklist(self, blocklist: Blocklist) -> Self {
        Self { blocklist, ..self }
    }

    /// The credentials in use.
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Admits `req`, leaving a [`Caller`] in it (`None`), or answers it
    /// (`Some`: the refusal).
    pub fn admit(self: &Arc<Self>, req: &mut Request) -> Option<Response> {
        let peer = req
            .extensions()
            .get::<PeerAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
        let ip = client_ip(peer, req.headers(), self.limits.trusted_proxies());
        if let Some(net) = self.blocklist.blocking(ip) {
            return Some(self.blocked(*net, ip, req));
        }
        if let Err(limited) = self.limits.check_ip(ip) {
            return Some(self.limited(limited, ip, None, req));
        }
        let path = req.uri().path();
        let metadata = self.resource_server.is_some()
            && (path == oauth::METADATA_PATH || path == oauth::METADATA_PATH_FOR_MCP);
        let identity = if metadata || self.auth.is_public(path) {
            None
        } else {
            match self.auth.authenticate(req.headers()) {
                Ok(identity) => identity,
                Err(refusal) => {
                    let mut response = self.refused(refusal, ip, req.headers(), path);
                    if let Some(server) = &self.resource_server {
                        let authority = oauth::authority(req.uri(), req.headers());
                        response.headers_mut().insert(
                            header::WWW_AUTHENTICATE,
                            server.challenge(authority.as_deref()),
                        );
                    }
                    return Some(response);
                }
            }
        };
        if let Some(identity) = &identity
            && let Err(limited) = self.limits.check_identity(identity)
        {
            return Some(self.limited(limited, ip, Some(&identity.user), req));
        }
        if let Some(identity) = &identity {
            self.audit_grace(identity, ip, req);
        }
        if GUARDED_ROUTES.iter().any(|p| path.starts_with(p)) {
            req.extensions_mut().insert(Arc::clone(self));
        }
        req.extensions_mut().insert(Caller {
            client_ip: ip,
            identity,
        });
        None
    }

    /// Audits a request admitted with a rotated API key in its grace
    /// period, so that clients that have not switched yet can be found.
    fn audit_grace(&self, identity: &Identity, ip: IpAddr, req: &Request) {
        if !self.audit.enabled(AuditEvent::Authentication) {
            return;
        }
        if let Some(until) = self.auth.accepted_until(identity) {
            let result = format!("success:previous_key_accepted_until:{until}");
            self.audit.record(&Event {
                category: AuditEvent::Authentication,
                user: Some(&identity.user),
                client_ip: Some(ip),
                user_agent: user_agent(req.headers()),
                action: "authenticate",
                resource: req.uri().path(),
                result: &result,
            });
        }
    }

    /// Answers a request whose credentials were refused: counted, limited
    /// per address (unless it had none), audited, 401.
    pub fn refused(
        &self,
        refusal: Refusal,
        ip: IpAddr,
        headers: &HeaderMap,
        path: &str,
    ) -> Response {
        self.metrics
            .auth_failures
            .get_or_create(&ReasonLabels {
                reason: refusal.label(),
            })
            .inc();
        // Presenting nothing guesses nothing: only wrong credentials count
        // against the address's budget of failures.
        if refusal != Refusal::Missing {
            self.limits.failed_authentication(ip);
        }
        if self.audit.enabled(AuditEvent::Authentication) {
            let result = format!("denied:{}", refusal.label());
            self.audit.record(&Event {
                category: AuditEvent::Authentication,
                user: None,
                client_ip: Some(ip),
                user_agent: user_agent(headers),
                action: "authenticate",
                resource: path,
                result: &result,
            });
        }
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            refusal.to_string(),
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"rustymail\""),
        );
        response
    }

    /// Answers a request from a blocked client: counted, audited, 403.
    fn blocked(&self, net: ipnet::IpNet, ip: IpAddr, req: &Request) -> Response {
        self.metrics.blocked_requests.inc();
        if self.audit.enabled(AuditEvent::SecurityEvent) {
            let result = format!("denied:blocked_cidr:{net}");
            self.audit.record(&Event {
                category: AuditEvent::SecurityEvent,
                user: None,
                client_ip: Some(ip),
                user_agent: user_agent(req.headers()),
                action: req.method().as_str(),
                resource: req.uri().path(),
                result: &result,
            });
        }
        ApiError::new(
            StatusCode::FORBIDDEN,
            "client_blocked",
            "requests from this address are blocked",
        )
        .into_response()
    }

    fn limited(&self, limited: Limited, ip: IpAddr, user: Option<&str>, req: &Request) -> Response {
        let scope = limited.scope.as_str();
        self.metrics
            .rate_limited
            .get_or_create(&ScopeLabels { scope })
            .inc();
        if self.audit.enabled(AuditEvent::SecurityEvent) {
            let result = format!("denied:rate_limit:{scope}");
            self.audit.record(&Event {
                category: AuditEvent::SecurityEvent,
                user,
                client_ip: Some(ip),
                user_agent: user_agent(req.headers()),
                action: req.method().as_str(),
                resource: req.uri().path(),
                result: &result,
            });
        }
        too_many_requests(&limited)
    }

    /// Writes a security event for a request the limits refused (413, 415,
    /// 431) or that failed validation.
    pub fn audit_refusal(&self, req: &Request, status: StatusCode) {
        if !self.audit.enabled(AuditEvent::SecurityEvent) {
            return;
        }
        let caller = req.extensions().get::<Caller>();
        let result = status.as_u16().to_string();
        self.audit.record(&Event {
            category: AuditEvent::SecurityEvent,
            user: caller.and_then(|c| c.identity.as_ref()).map(|i| &*i.user),
            client_ip: caller.map(|c| c.client_ip),
            user_agent: user_agent(req.headers()),
            action: req.method().as_str(),
            resource: req.uri().path(),
            result: &result,
        });
    }
}

/// The 429 answer to `limited`: `Retry-After` and the `RateLimit-*` fields
/// of the IETF draft (limit, remaining, seconds to reset, policy).
pub fn too_many_requests(limited: &Limited) -> Response {
    let seconds = limited.retry_after.as_secs() + u64::from(limited.retry_after.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let message = format!(
        "rate limit exceeded ({} budget of {}); retry in {seconds} s",
        limited.scope.as_str(),
        limited.rate
    );
    let mut response =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message).into_response();
    let h = response.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    h.insert("ratelimit-limit", HeaderValue::from(limited.rate.requests));
    h.insert("ratelimit-remaining", HeaderValue::from_static("0"));
    h.insert("ratelimit-reset", HeaderValue::from(seconds));
    let policy = format!(
        "{};w={}",
        limited.rate.requests,
        limited.rate.period.duration().as_secs()
    );
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        h.insert("ratelimit-policy", policy);
    }
    response
}

/// A service that stamps every request with the connection's [`PeerAddr`].
#[derive(Clone)]
pub struct WithPeer<S> {
    inner: S,
    peer: PeerAddr,
}

impl<S> WithPeer<S> {
    /// Stamps the requests `inner` serves with `peer`.
    pub fn new(inner: S, peer: SocketAddr) -> Self {
        Self {
            inner,
            peer: PeerAddr(peer),
        }
    }
}

impl<S, B> Service<axum::http::Request<B>> for WithPeer<S>
where
    S: Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.peer);
        self.inner.call(req)
    }
}
