//! What every mail operation declares: its name, the scope it needs, its
//! audit category and its rate-limit cost, and how it runs on an account.

use std::future::Future;

use super::MailError;
use crate::{auth::scope::Scope, config::AuditEvent, imap::Account};

/// The fixed facts of an operation, read by the service's gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The operation's name, e.g. `list_messages`: the action of its audit line.
    pub name: &'static str,
    /// The scope a caller needs.
    pub scope: Scope,
    /// The audit category of the call.
    pub audit: AuditEvent,
    /// Requests of the caller's budgets one call spends.
    pub cost: u32,
}

impl Spec {
    /// A mailbox read: `read_mail`, audited as `data_access`, costing one request.
    pub const fn read(name: &'static str) -> Self {
        Self::data_access(name, Scope::ReadMail)
    }

    /// A mailbox access needing `scope`, audited as `data_access`, costing
    /// one request.
    pub const fn data_access(name: &'static str, scope: Scope) -> Self {
        Self {
            name,
            scope,
            audit: AuditEvent::DataAccess,
            cost: 1,
        }
    }
}

/// One mail operation: its input is the implementing type, its output
/// [`Operation::Output`].
pub trait Operation: Send + Sized {
    /// What a successful call returns.
    type Output: Send;

    /// The operation's scope, audit category and cost.
    const SPEC: Spec;

    /// The account named in the input; `None` for the first configured.
    fn account(&self) -> Option<&str>;

    /// Checks the input without any I/O; a bad parameter is named in the error.
    fn check(&self) -> Result<(), MailError>;

    /// Carries the operation out on `account`.
    fn run(self, account: &Account)
    -> impl Future<Output = Result<Self::Output, MailError>> + Send;
}
