//! Why a tool call failed, as the agent reads it: the REST API's stable
//! error codes, and messages that name the argument at fault.

use serde_json::{Value, json};

use crate::{
    imap::ImapError,
    server::api::errors::{classify, classify_send},
    service::MailError,
};

/// Why a tool call failed: the REST API's error code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// A stable code, as in REST's `{"error": {"code"}}`.
    pub code: &'static str,
    /// What went wrong, naming the argument at fault.
    pub message: String,
}

impl ToolError {
    /// A bad argument.
    pub fn bad(message: impl Into<String>) -> Self {
        Self {
            code: "bad_parameter",
            message: message.into(),
        }
    }

    /// The structured content of the error result.
    pub fn to_json(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl From<ImapError> for ToolError {
    fn from(e: ImapError) -> Self {
        let (_, code) = classify(&e);
        let message = match &e {
            ImapError::UnknownAccount(name) => {
                format!("argument `account`: no account named {name:?}")
            }
            other => other.to_string(),
        };
        Self { code, message }
    }
}

impl From<MailError> for ToolError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::BadRequest(message) => {
                Self::bad(message.replace("parameter `", "argument `"))
            }
            MailError::Imap(e) => e.into(),
            MailError::Forbidden(scope) => Self {
                code: "insufficient_scope",
                message: format!("this key or token does not grant the scope {scope}"),
            },
            MailError::Send(e) => Self {
                code: classify_send(&e).1,
                message: e.to_string(),
            },
            MailError::Limited(limited) => Self {
                code: "too_many_requests",
                message: format!(
                    "rate limit exceeded ({} budget); retry in {} s",
                    limited.scope.as_str(),
                    limited.retry_after.as_secs().max(1)
                ),
            },
        }
    }
}
