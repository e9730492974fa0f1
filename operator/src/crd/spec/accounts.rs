//! IMAP accounts: the mailboxes the API serves, where their credentials
//! live, and the SMTP servers they send through.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::rules;

/// An IMAP mailbox served by the API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountSpec {
    /// Name of the account in the API (`?account=NAME`); a DNS label.
    #[x_kube(validation = rules::dns_label())]
    #[schemars(length(max = 63))]
    pub name: String,
    /// The IMAP server.
    pub imap: ImapSpec,
    /// The IMAP user name, when it is not kept in the Secret: then the
    /// Secret needs only the password, and `usernameKey` is not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 320))]
    pub username: Option<String>,
    /// The Secret holding the IMAP password, and the user name unless
    /// `username` is set.
    pub credentials_secret_ref: CredentialsSecretRef,
    /// The SMTP submission server mail is sent through, logged in to with
    /// the same credentials; without it the account cannot send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSpec>,
}

/// How to reach an SMTP submission server. Plain SMTP is never offered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmtpSpec {
    /// Host name or address of the submission server.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// Port. Default 465.
    #[serde(default = "default_smtp_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// `tls` (implicit TLS, port 465, default) or `starttls` (port 587).
    #[serde(default)]
    pub security: ImapSecurity,
    /// A Secret key holding PEM CA certificates to trust for this server;
    /// default the IMAP server's `caSecretRef`, else the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// The `From` address of sent mail. Default the account's user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 320))]
    pub from: Option<String>,
}

fn default_smtp_port() -> i32 {
    465
}

/// How to reach an IMAP server. Plain IMAP is never offered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImapSpec {
    /// Host name or address of the IMAP server.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// Port. Default 993.
    #[serde(default = "default_imap_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// `tls` (implicit TLS, default) or `starttls`.
    #[serde(default)]
    pub security: ImapSecurity,
    /// A Secret key holding PEM CA certificates to trust for this server
    /// instead of the system roots (for private IMAP servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
}

fn default_imap_port() -> i32 {
    993
}

/// How the IMAP (or SMTP) connection is secured.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImapSecurity {
    /// Implicit TLS from the first byte (IMAP port 993, SMTP 465).
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS before login (IMAP port
    /// 143, SMTP 587).
    Starttls,
}

/// One key of a Secret in the RustyMail's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret. Default `ca.crt`.
    #[serde(default = "default_ca_key")]
    #[x_kube(validation = rules::secret_key())]
    #[schemars(length(max = 253))]
    pub key: String,
}

fn default_ca_key() -> String {
    "ca.crt".to_owned()
}

/// The Secret with an account's IMAP credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Name of the Secret, in the RustyMail's namespace.
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key holding the user name. Default `username`; not read when the
    /// account sets `username`.
    #[serde(default = "default_username_key")]
    #[x_kube(validation = rules::secret_key())]
    #[schemars(length(max = 253))]
    pub username_key: String,
    /// Key holding the password. Default `password`; the security guide's
    /// Secret calls it `imap-password`.
    #[serde(default = "default_password_key")]
    #[x_kube(validation = rules::secret_key())]
    #[schemars(length(max = 253))]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".to_owned()
}

fn default_password_key() -> String {
    "password".to_owned()
}
