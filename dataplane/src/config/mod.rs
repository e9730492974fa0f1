//! The data plane's configuration: the contract types of `rustymail-config`,
//! read from the config file with the security guide's environment variables
//! applied over it.
//!
//! The types, their parsing and validation live in `rustymail-config` (shared
//! with the operator, which renders the file); this module adds what only the
//! process that runs reads: the file and the environment.
//!
//! Depends on no other module of this crate.

pub mod env;

use std::path::Path;

pub use rustymail_config::*;

/// Reads and parses the config file at `path` and applies the variables of
/// `env` over it, without checking cross-field rules.
pub fn read(path: &Path, env: &impl env::Lookup) -> Result<Config, ConfigError> {
    read_reporting(path, env).map(|(config, _)| config)
}

/// As [`read`], also returning the variables that were honoured differently
/// from how they were written, for the caller to log.
pub fn read_reporting(
    path: &Path,
    env: &impl env::Lookup,
) -> Result<(Config, Vec<env::Warning>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut config = Config::parse(&text)?;
    let warnings = env::apply(&mut config, env)?;
    Ok((config, warnings))
}
