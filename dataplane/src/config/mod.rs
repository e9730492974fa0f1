//! The data plane's configuration file.
//!
//! One YAML document with camelCase keys and the sections `listen`, `tls`,
//! `auth`, `rateLimits`, `access`, `limits`, `headers`, `audit` and
//! `accounts`. The
//! operator renders this file from these same types, so the two programs can
//! never disagree about a field name. Loading is strict: an unknown key, a
//! malformed value or an inconsistent combination is an error that names the
//! key at fault.

mod access;
pub mod env;
mod mcp;
mod sections;
pub mod tls;
pub mod units;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use access::Access;
pub use mcp::Mcp;
pub use sections::{
    Account, ApiKeys, Audit, AuditEvent, Auth, Headers, Imap, ImapSecurity, Jwt, JwtAlgorithm,
    Limits, Listen, RateLimits, Secret, Tls,
};
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
    /// An environment variable that overrides the file is malformed.
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
    /// Reads, parses and validates the config file at `path`, with the
    /// guide's environment variables applied over it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config = Self::read(path, &env::ProcessEnv)?;
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    /// Reads and parses the config file at `path` and applies the variables
    /// of `env` over it, without checking cross-field rules.
    pub fn read(path: &Path, env: &impl env::Lookup) -> Result<Self, ConfigError> {
        Self::read_reporting(path, env).map(|(config, _)| config)
    }

    /// As [`Config::read`], also returning the variables that were honoured
    /// differently from how they were written, for the caller to log.
    pub fn read_reporting(
        path: &Path,
        env: &impl env::Lookup,
    ) -> Result<(Self, Vec<env::Warning>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text)?;
        let warnings = env::apply(&mut config, env)?;
        Ok((config, warnings))
    }

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
