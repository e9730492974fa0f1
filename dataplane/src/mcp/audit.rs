//! The audit lines of tool calls: `data_access` for each call with the
//! tool (`action`), the account (`resource`, `mcp:<account>`) and the
//! outcome, `authorization` for a call refused for want of a scope. Never
//! an argument's value or any mail content.

use std::sync::Arc;

use http::request::Parts;

use super::tools::Spec;
use crate::{
    audit::Event,
    config::AuditEvent,
    server::guard::{Caller, Guard, user_agent},
};

/// The audit of one tool call.
pub struct ToolAudit<'a> {
    guard: Option<&'a Arc<Guard>>,
    caller: Option<&'a Caller>,
    user_agent: Option<&'a str>,
    spec: &'a Spec,
    resource: String,
}

impl<'a> ToolAudit<'a> {
    /// For the call of `spec` on `account` in the HTTP request of `parts`.
    pub fn new(parts: Option<&'a Parts>, spec: &'a Spec, account: &str) -> Self {
        Self {
            guard: parts.and_then(|p| p.extensions.get::<Arc<Guard>>()),
            caller: parts.and_then(|p| p.extensions.get::<Caller>()),
            user_agent: parts.and_then(|p| user_agent(&p.headers)),
            spec,
            resource: format!("mcp:{account}"),
        }
    }

    fn record(&self, category: AuditEvent, result: &str) {
        let Some(guard) = self.guard else { return };
        if !guard.audit().enabled(category) {
            return;
        }
        guard.audit().record(&Event {
            category,
            user: self
                .caller
                .and_then(|c| c.identity.as_ref())
                .map(|i| &*i.user),
            client_ip: self.caller.map(|c| c.client_ip),
            user_agent: self.user_agent,
            action: self.spec.wire,
            resource: &self.resource,
            result,
        });
    }

    /// The call was refused: the caller lacks the tool's scope (the line
    /// the mail service writes for such a refusal).
    pub fn refused(&self) {
        let result = format!("denied:scope:{}", self.spec.scope);
        self.record(AuditEvent::Authorization, &result);
    }

    /// The call ran; `error` is its error code if it failed.
    pub fn done(&self, error: Option<&str>) {
        let result = error.map_or_else(|| "success".to_owned(), |code| format!("failed:{code}"));
        self.record(AuditEvent::DataAccess, &result);
    }
}
