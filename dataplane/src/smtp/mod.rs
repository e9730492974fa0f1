//! SMTP submission: the message of a send, built ([`compose`]) and handed
//! to the account's submission server with lettre over rustls, logged in
//! with the account's own credentials; which recipients may be written to
//! ([`allow`]).
//!
//! A submission first opens a connection of its own up to AUTH (connect,
//! TLS or STARTTLS, EHLO, AUTH, then QUIT): if that fails, nothing was
//! sent and the failure says so ([`SmtpError::Unavailable`] or, for a
//! refused login, [`SmtpError::Rejected`]). Then the message goes over a
//! fresh connection; a reply code there is the server's answer, while a
//! connection lost mid-transaction leaves the outcome unknown
//! ([`SmtpError::Uncertain`]), which a caller must not retry blindly.
//!
//! The server's certificate is verified as an IMAP server's is: against the
//! CA file (`smtp.caFile`, else the account's `imap.caFile`, which
//! `TLS_CA_PATH` fills) or else the system roots, for the configured host name.
//!
//! May depend on, in this crate: `config`, `imap::credentials`.

pub mod allow;
pub mod compose;

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{
        authentication::Credentials as SmtpCredentials,
        client::{Certificate, CertificateStore, Tls, TlsParameters},
    },
};

use crate::{
    config::{Account, SmtpSecurity},
    imap::credentials::Credentials,
};

/// The server's answer to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The reply code, e.g. `250`.
    pub code: u16,
    /// The reply text, e.g. `2.0.0 Ok: queued as 4BxY`.
    pub message: String,
}

/// Why a submission failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    /// The server could not be reached, TLS failed or the credentials could
    /// not be read: nothing was sent.
    #[error("account {account:?}: the SMTP server is unavailable, nothing was sent: {reason}")]
    Unavailable {
        /// The account.
        account: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with a refusal (4xx or 5xx): the message was not
    /// accepted.
    #[error("account {account:?}: the SMTP server refused the message with {code}: {message}")]
    Rejected {
        /// The account.
        account: String,
        /// The SMTP reply code, e.g. `550` or `535`.
        code: u16,
        /// What the server said.
        message: String,
    },
    /// The connection failed while the message was being submitted: the
    /// server may or may not have accepted it.
    #[error(
        "account {account:?}: the SMTP connection failed during the submission; the message may have been sent: {reason}"
    )]
    Uncertain {
        /// The account.
        account: String,
        /// What failed.
        reason: String,
    },
}

impl SmtpError {
    /// A short label for audit lines and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "smtp_unavailable",
            Self::Rejected { .. } => "smtp_rejected",
            Self::Uncertain { .. } => "smtp_uncertain",
        }
    }
}

/// The submission server of one account.
pub struct Submitter {
    account: String,
    host: String,
    port: u16,
    security: SmtpSecurity,
    tls: TlsParameters,
    timeout: Duration,
    from: Option<String>,
    credentials: Credentials,
}

impl Submitter {
    /// The submitter of `account`, `None` when it has no `smtp`; fails when
    /// its CA file is unusable.
    pub fn new(account: &Account) -> Result<Option<Self>, String> {
        let Some(smtp) = &account.smtp else {
            return Ok(None);
        };
        let context = |e: String| format!("account {:?}: smtp: {e}", account.name);
        let mut tls = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = smtp.ca_file.as_ref().or(account.imap.ca_file.as_ref()) {
            let pem = std::fs::read(path)
                .map_err(|e| context(format!("cannot read CA file {}: {e}", path.display())))?;
            let ca = Certificate::from_pem(&pem)
                .map_err(|e| context(format!("CA file {}: {e}", path.display())))?;
            tls = tls
                .certificate_store(CertificateStore::None)
                .add_root_certificate(ca);
        }
        let tls = tls.build_rustls().map_err(|e| context(e.to_string()))?;
        Ok(Some(Self {
            account: account.name.clone(),
            host: smtp.host.clone(),
            port: smtp.port,
            security: smtp.security,
            tls,
            timeout: smtp.timeout.0,
            from: smtp.from.clone(),
            credentials: Credentials::new(account),
        }))
    }

    /// The `From` address: `smtp.from`, else the account's user name.
    pub fn from_address(&self) -> Result<String, SmtpError> {
        match &self.from {
            Some(from) => Ok(from.clone()),
            None => Ok(self.login()?.0),
        }
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> SmtpError {
        SmtpError::Unavailable {
            account: self.account.clone(),
            reason: reason.to_string(),
        }
    }

    fn login(&self) -> Result<(String, String), SmtpError> {
        let login = self
            .credentials
            .read()
            .map_err(|e| self.unavailable(format!("the credentials cannot be read: {e}")))?;
        Ok((login.username, login.password.expose().to_owned()))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpError> {
        let (user, password) = self.login()?;
        let tls = match self.security {
            SmtpSecurity::Tls => Tls::Wrapper(self.tls.clone()),
            SmtpSecurity::Starttls => Tls::Required(self.tls.clone()),
        };
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
                .port(self.port)
                .tls(tls)
                .credentials(SmtpCredentials::new(user, password))
                .timeout(Some(self.timeout))
                .build(),
        )
    }

    /// Submits `message`: checks the server up to AUTH, then sends it.
    pub async fn submit(&self, message: &Message) -> Result<Accepted, SmtpError> {
        let transport = self.transport()?;
        match transport.test_connection().await {
            Ok(true) => {}
            Ok(false) => return Err(self.unavailable("the server did not answer NOOP")),
            Err(e) => return Err(self.refused(&e).unwrap_or_else(|| self.unavailable(&e))),
        }
        match transport.send(message.clone()).await {
            Ok(response) => Ok(Accepted {
                code: code_number(response.code()),
                message: response.message().collect::<Vec<_>>().join(" "),
            }),
            Err(e) => Err(self.refused(&e).unwrap_or_else(|| SmtpError::Uncertain {
                account: self.account.clone(),
                reason: e.to_string(),
            })),
        }
    }

    /// The refusal `e` reports, if it is a reply of the server.
    fn refused(&self, e: &lettre::transport::smtp::Error) -> Option<SmtpError> {
        let code = e.status()?;
        Some(SmtpError::Rejected {
            account: self.account.clone(),
            code: code_number(code),
            message: e.to_string(),
        })
    }
}

/// The three digits of `code` as a number, e.g. `550`.
fn code_number(code: lettre::transport::smtp::response::Code) -> u16 {
    code.to_string().parse().unwrap_or(0)
}
