//! The mail service: every mail operation defined once, between the
//! interfaces that offer them (the REST API today) and the protocol adapter
//! that carries them out (IMAP).
//!
//! ```text
//!  REST handler ─┐                     ┌─ scope check (auth::scope)
//!  (MCP, …)     ─┼─▶ MailService::call ┼─ rate-limit cost (ratelimit)
//!                │    (the one gate)   ├─ audit line (audit)
//!                │                     └─ Operation::run ─▶ imap::Account
//! ```
//!
//! An interface builds an operation's input type (e.g. [`ListMessages`]),
//! describes the caller in a [`Call`] and passes both to
//! [`MailService::call`]; it cannot reach an account otherwise, so it cannot
//! skip a check. Each operation's [`Spec`] names the scope it needs, its
//! audit category and its rate-limit cost.
//!
//! May depend on `imap`, `smtp`, `mail`, `auth` (identity and scopes),
//! `ratelimit`, `audit`, `metrics` and `config`; never on `server` or any
//! interface.

mod error;
mod folders;
mod messages;
mod operation;
pub mod send;

use std::{net::IpAddr, sync::Arc};

pub use self::{
    error::{MailError, check_name},
    folders::{CreateFolder, DeleteFolder, GetFolder, ListFolders, RenameFolder},
    messages::{
        AppendMessage, DeleteMessage, Expunge, GetAttachment, GetMessage, ListAttachments,
        ListMessages, MessageRef, MoveMessage, SearchMessages, SetFlags,
    },
    operation::{Operation, Spec},
    send::{Delivery, SendMessage, Sending},
};
use crate::{
    audit::{AuditLog, Event},
    auth::{Identity, scope::Scopes},
    config::AuditEvent,
    imap::Accounts,
    metrics::{Metrics, ScopeLabels},
    ratelimit::Limits,
};

/// What the calling interface has already done for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounting {
    /// The interface charged one request of the caller's budgets and writes
    /// the call's audit line itself (the REST API: one request and one
    /// `data_access` line per HTTP request, with its status code).
    Transport,
    /// Nothing: the service charges the operation's whole cost and writes
    /// its audit line.
    Service,
}

impl Accounting {
    /// Requests already charged for the call.
    fn prepaid(self) -> u32 {
        match self {
            Self::Transport => 1,
            Self::Service => 0,
        }
    }
}

/// Who calls an operation, through which interface.
#[derive(Debug, Clone)]
pub struct Call {
    /// The authenticated caller; `None` when credentials are not required
    /// and none were presented (such a caller may do everything but send).
    pub identity: Option<Identity>,
    /// The client address, as the rate limits count it.
    pub client_ip: IpAddr,
    /// The client's `User-Agent`, or the interface's name for its client.
    pub user_agent: Option<String>,
    /// What the call acts on, as the interface names it in audit lines
    /// (the REST API: the request path).
    pub resource: String,
    /// What the interface has already charged and audited.
    pub accounting: Accounting,
}

impl Call {
    fn scopes(&self) -> Scopes {
        self.identity
            .as_ref()
            .map_or(Scopes::UNMARKED, |i| i.scopes)
    }

    fn user(&self) -> Option<&str> {
        self.identity.as_ref().map(|i| &*i.user)
    }
}

/// Budgets, audit log and metrics of the calls the service accounts itself.
#[derive(Clone)]
struct Ledger {
    limits: Arc<Limits>,
    audit: AuditLog,
    metrics: Metrics,
}

/// Every mail operation over the configured accounts, behind one gate.
#[derive(Clone)]
pub struct MailService {
    accounts: Accounts,
    ledger: Option<Ledger>,
    sending: Option<Arc<Sending>>,
}

impl MailService {
    /// The operations over `accounts`, with scope checks only: no budgets
    /// and no audit log (for a server that accounts nothing itself).
    pub fn new(accounts: Accounts) -> Self {
        Self {
            accounts,
            ledger: None,
            sending: None,
        }
    }

    /// The same service, charging `limits`, writing to `audit` and counting
    /// refusals in `metrics` for the calls it accounts.
    pub fn with_accounting(self, limits: Arc<Limits>, audit: AuditLog, metrics: Metrics) -> Self {
        Self {
            ledger: Some(Ledger {
                limits,
                audit,
                metrics,
            }),
            ..self
        }
    }

    /// The same service, able to send mail with `sending`.
    pub fn with_sending(self, sending: Sending) -> Self {
        Self {
            sending: Some(Arc::new(sending)),
            ..self
        }
    }

    /// Sends `op` for `call` ([`send`]): the gate of every operation (scope
    /// `send`, request budgets), then the rules of sending, the submission
    /// and the Sent copy. `idempotency_key` makes a retry return the first
    /// outcome. Every send writes its own `data_access` line naming the
    /// account and the number of recipients, never the content.
    pub async fn send(
        &self,
        call: &Call,
        op: SendMessage,
        idempotency_key: Option<&str>,
    ) -> Result<Delivery, MailError> {
        let spec = SendMessage::SPEC;
        self.authorize(call, spec)?;
        self.charge(call, spec)?;
        let recipients = op.to.len() + op.cc.len() + op.bcc.len();
        let account_name = self
            .accounts
            .get(op.account.as_deref())
            .map(|a| a.name().to_owned())
            .unwrap_or_else(|_| op.account.clone().unwrap_or_default());
        let result = self.send_checked(call, op, idempotency_key).await;
        self.audit_send(call, &account_name, recipients, &result);
        result
    }

    async fn send_checked(
        &self,
        call: &Call,
        op: SendMessage,
        idempotency_key: Option<&str>,
    ) -> Result<Delivery, MailError> {
        if let Some(key) = idempotency_key {
            send::check_idempotency_key(key)?;
        }
        let account = self.accounts.get(op.account.as_deref())?;
        let sending = self
            .sending
            .as_ref()
            .ok_or_else(|| send::SendError::NotConfigured(account.name().to_owned()))?;
        let checked = sending.check(&op)?;
        let caller = call.identity.as_ref().map(|i| (&*i.user, i.key.0));
        sending
            .send(account, op, checked, caller, idempotency_key)
            .await
    }

    /// The `data_access` line of a send: who, which account, how many
    /// recipients, and the outcome.
    fn audit_send(
        &self,
        call: &Call,
        account: &str,
        recipients: usize,
        result: &Result<Delivery, MailError>,
    ) {
        let Some(ledger) = &self.ledger else { return };
        if !ledger.audit.enabled(AuditEvent::DataAccess) {
            return;
        }
        let outcome = match result {
            Ok(d) if d.replayed => "replayed".to_owned(),
            Ok(_) => "success".to_owned(),
            Err(e) => format!("failed:{}", e.kind()),
        };
        let resource = format!("account={account} recipients={recipients}");
        let spec = SendMessage::SPEC;
        let mut event = self.event(call, AuditEvent::DataAccess, spec, &outcome);
        event.resource = &resource;
        ledger.audit.record(&event);
    }

    /// The names of the accounts, in config order (the first is the
    /// default): what an interface lists for a caller to choose from.
    pub fn account_names(&self) -> Vec<&str> {
        self.accounts.all().map(|a| a.name()).collect()
    }

    /// The name of the account `named` (or the default), if there is one.
    pub fn account_name(&self, named: Option<&str>) -> Option<&str> {
        self.accounts.get(named).ok().map(|a| a.name())
    }

    /// Runs `op` for `call`: checks its scope, charges what its interface has
    /// not, checks its input, runs it on its account and writes its audit
    /// line unless the interface does.
    pub async fn call<O: Operation>(&self, call: &Call, op: O) -> Result<O::Output, MailError> {
        let spec = O::SPEC;
        self.authorize(call, spec)?;
        self.charge(call, spec)?;
        let result = self.run(op).await;
        if call.accounting == Accounting::Service {
            self.audit(call, spec, result.as_ref().err());
        }
        result
    }

    async fn run<O: Operation>(&self, op: O) -> Result<O::Output, MailError> {
        op.check()?;
        let account = self.accounts.get(op.account())?;
        op.run(account).await
    }

    /// Refuses a caller without the operation's scope, audited as an
    /// `authorization` event.
    fn authorize(&self, call: &Call, spec: Spec) -> Result<(), MailError> {
        if call.scopes().allows(spec.scope) {
            return Ok(());
        }
        if let Some(ledger) = &self.ledger
            && ledger.audit.enabled(AuditEvent::Authorization)
        {
            let result = format!("denied:scope:{}", spec.scope);
            ledger
                .audit
                .record(&self.event(call, AuditEvent::Authorization, spec, &result));
        }
        Err(MailError::Forbidden(spec.scope))
    }

    /// Spends what the operation costs beyond what its interface charged.
    fn charge(&self, call: &Call, spec: Spec) -> Result<(), MailError> {
        let Some(ledger) = &self.ledger else {
            return Ok(());
        };
        let cost = spec.cost.saturating_sub(call.accounting.prepaid());
        let Err(limited) = ledger
            .limits
            .spend(call.client_ip, call.identity.as_ref(), cost)
        else {
            return Ok(());
        };
        let scope = limited.scope.as_str();
        ledger
            .metrics
            .rate_limited
            .get_or_create(&ScopeLabels { scope })
            .inc();
        if ledger.audit.enabled(AuditEvent::SecurityEvent) {
            let result = format!("denied:rate_limit:{scope}");
            ledger
                .audit
                .record(&self.event(call, AuditEvent::SecurityEvent, spec, &result));
        }
        Err(MailError::Limited(limited))
    }

    /// Writes the operation's own audit line: `success`, or `failed:` and
    /// the kind of failure.
    fn audit(&self, call: &Call, spec: Spec, error: Option<&MailError>) {
        let Some(ledger) = &self.ledger else { return };
        if !ledger.audit.enabled(spec.audit) {
            return;
        }
        let result = match error {
            None => "success".to_owned(),
            Some(e) => format!("failed:{}", e.kind()),
        };
        ledger
            .audit
            .record(&self.event(call, spec.audit, spec, &result));
    }

    fn event<'a>(
        &self,
        call: &'a Call,
        category: AuditEvent,
        spec: Spec,
        result: &'a str,
    ) -> Event<'a> {
        Event {
            category,
            user: call.user(),
            client_ip: Some(call.client_ip),
            user_agent: call.user_agent.as_deref(),
            action: spec.name,
            resource: &call.resource,
            result,
        }
    }
}

#[cfg(test)]
mod tests;
