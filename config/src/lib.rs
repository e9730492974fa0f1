//! The contract between the operator and the data plane: the data plane's
//! configuration file.
//!
//! One YAML document with camelCase keys and the sections `listen`, `tls`,
//! `auth`, `rateLimits`, `access`, `limits`, `headers`, `audit`, `mcp`,
//! `send` and `accounts`. The operator renders this file from these types and the data
//! plane reads it with them, so the two programs can never disagree about a
//! field name. Parsing is strict: an unknown key, a malformed value or an
//! inconsistent combination is an error that names the key at fault.
//!
//! This crate holds the types, their parsing, units and validation, and
//! depends only on serde and small value crates (no I/O runtime, no HTTP, no
//! TLS, no IMAP). Reading the file and the security guide's environment
//! overlay belong to the data plane, which is what reads the environment.

mod access;
mod mcp;
mod sections;
mod smtp;
pub mod tls;
pub mod units;
mod validate;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use access::Access;
pub use mcp::Mcp;
pub use sections::{
    Account, ApiKeys, Audit, AuditEvent, Auth, Headers, Imap, ImapSecurity, Jwt, JwtAlgorithm,
    Limits, Listen, RateLimits, Secret, Tls,
};
pub use smtp::{Send, Smtp, SmtpSecurity};
pub use validate::FieldError;

/// The whole configuration of one data plane process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    /// Listener addresses.
    pub listen: Listen,
    /// Certificate source and TLS policy.
    pub tls: Tls,
    /// API keys and JWT.
    pub auth: Auth,
    /// Request budgets.
    pub rate_limits: RateLimits,
    /// Client addresses refused outright.
    #[serde(skip_serializing_if = "is_default")]
    pub access: Access,
    /// Request size and time bounds.
    pub limits: Limits,
    /// Security headers.
    pub headers: Headers,
    /// Audit log.
    pub audit: Audit,
    /// MCP at `/mcp`.
    #[serde(skip_serializing_if = "is_default")]
    pub mcp: Mcp,
    /// The rules of sending mail (`POST /api/v1/send`).
    #[serde(skip_serializing_if = "is_default")]
    pub send: Send,
    /// The IMAP accounts served; the first is the default.
    pub accounts: Vec<Account>,
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error("config is not valid YAML: {0}")]
    Syntax(String),
    /// A key is unknown or a value has the wrong form.
    #[error("config key `{key}`: {message}")]
    Field {
        /// Dotted path of the key, e.g. `rateLimits.perIp`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// An environment variable that overrides the file is malformed (the
    /// data plane's environment overlay reports these).
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable, e.g. `TLS_MIN_VERSION`.
        var: String,
        /// What is wrong with it.
        message: String,
    },
    /// Values are well-formed but do not work together.
    #[error("invalid config:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldError>),
}

impl Config {
    /// Checks the cross-field rules, as [`Config::validate`], but returns them
    /// as one [`ConfigError`].
    pub fn check(&self) -> Result<(), ConfigError> {
        self.validate().map_err(ConfigError::Invalid)
    }

    /// Parses YAML text into a config without checking cross-field rules.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let value = if value.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            value
        };
        serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Field {
            key: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    /// Checks the rules a single field cannot express; returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let errors = validate::check(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Renders the config as the YAML document the data plane reads.
    pub fn to_yaml(&self) -> String {
        // Serializing plain structs of strings, numbers and lists cannot fail.
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

/// Whether a section is at its default, so the rendered file leaves it out.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
mod tests;
