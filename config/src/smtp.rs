//! Sending mail: an account's SMTP submission server (`accounts[].smtp`)
//! and the rules every send obeys (`send`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::units::{HumanDuration, Period, Rate};

/// How the connection to the SMTP submission server is secured; there is
/// no plaintext choice, since the account's password crosses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Implicit TLS from the first byte (submissions, port 465). The default.
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS before AUTH (submission,
    /// port 587); a server that does not offer STARTTLS is refused.
    Starttls,
}

/// The SMTP submission server of an account; it is logged in to with the
/// account's own user name and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Smtp {
    /// Host name or address of the server; the name its certificate must carry.
    pub host: String,
    /// Port. Default `465`.
    #[serde(default = "default_port")]
    pub port: u16,
    /// `tls` (default) or `starttls`.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// PEM bundle of CAs to trust for this server; default the account's
    /// `imap.caFile` (which `TLS_CA_PATH` fills), else the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The `From` address of sent mail. Default the account's user name,
    /// which must then be an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Time one submission may take: connect, TLS, AUTH and the message.
    /// Default `30s`.
    #[serde(
        default = "default_timeout",
        skip_serializing_if = "is_default_timeout"
    )]
    pub timeout: HumanDuration,
}

fn default_port() -> u16 {
    465
}

fn default_timeout() -> HumanDuration {
    HumanDuration::seconds(30)
}

fn is_default_timeout(v: &HumanDuration) -> bool {
    *v == default_timeout()
}

/// The rules of every send, whichever account it goes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Send {
    /// The recipients (to, cc and bcc) a message may go to: addresses
    /// (`alice@example.com`) and domains (`example.com`, matching every
    /// address at exactly that domain). Empty (the default): any recipient.
    /// A message with one recipient outside the list is refused whole,
    /// before anything reaches the SMTP server.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_recipients: Vec<String>,
    /// Messages each API key may send. Default `100/hour`.
    pub per_api_key: Rate,
    /// Recipients one message may have at most (to, cc and bcc together).
    /// Default `50`.
    pub max_recipients: u32,
}

impl Default for Send {
    fn default() -> Self {
        Self {
            allowed_recipients: Vec::new(),
            per_api_key: Rate::new(100, Period::Hour),
            max_recipients: 50,
        }
    }
}
