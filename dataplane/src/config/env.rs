//! Environment variables from the RustyMail security guide, which override the
//! config file, exactly as the guide writes them: `REQUIRE_HTTPS`, `TLS_*`,
//! `JWT_*` (durations in bare seconds such as `3600`, or `1h`), `API_KEY*`.
//!
//! Every variable may also be given as `<NAME>_FILE`, naming a file that holds
//! the value (Docker and Vault-agent secrets); setting both is an error. The
//! two secrets are special: `JWT_SECRET_FILE` and `API_KEY_FILE` become the
//! watched `auth.jwt.secretFile` and `auth.apiKeys.file`, so that a rotated
//! secret is picked up without a restart.
//!
//! Where a value cannot be honoured as written, the data plane does the
//! nearest safe thing and returns a [`Warning`] naming the variable; errors
//! name the variable the user set, never an internal key.

use std::{collections::HashMap, path::PathBuf};

use super::{
    Config, ConfigError, Secret,
    tls::{CipherSuite, SUPPORTED_CIPHER_SUITES, TlsVersion},
    units::HumanDuration,
};

/// A source of environment variables: the process environment, or a map in tests.
pub trait Lookup {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A setting that was honoured differently from how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The variable, e.g. `TLS_CIPHERS`.
    pub var: &'static str,
    /// What the data plane did instead, and why.
    pub message: String,
}

/// Variables read from an `--env-file` (what a Vault agent template writes),
/// over the process environment: the file is read as a shell would source it
/// before starting the program, so its values win.
#[derive(Debug, Clone, Default)]
pub struct EnvFile {
    vars: HashMap<String, String>,
}

impl EnvFile {
    /// Reads `KEY=value` lines from `path`: blank lines and `#` comments are
    /// skipped (also after an unquoted value and a blank), an `export `
    /// prefix is allowed, and a value may be quoted with `"…"` (backslash
    /// escapes) or `'…'` (taken literally). Nothing is expanded: `$(…)` and
    /// `$VAR` are taken as written.
    pub fn read(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|(line, message)| ConfigError::Env {
            var: format!("--env-file {} line {line}", path.display()),
            message,
        })
    }

    /// Parses env-file text; an error carries the 1-based line number.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut vars = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let Some((name, value)) = line.split_once('=') else {
                return Err((i + 1, "expected NAME=value".to_owned()));
            };
            let name = name.trim();
            let valid = name.bytes().enumerate().all(|(j, b)| {
                b == b'_' || b.is_ascii_alphabetic() || (j > 0 && b.is_ascii_digit())
            });
            if name.is_empty() || !valid {
                return Err((i + 1, format!("{name:?} is not a variable name")));
            }
            let value = unquote(value.trim()).map_err(|m| (i + 1, format!("{name}: {m}")))?;
            vars.insert(name.to_owned(), value);
        }
        Ok(Self { vars })
    }
}

fn unquote(value: &str) -> Result<String, &'static str> {
    if let Some(inner) = value.strip_prefix('\'') {
        return inner
            .strip_suffix('\'')
            .map(str::to_owned)
            .ok_or("unterminated single quote");
    }
    let Some(inner) = value.strip_prefix('"') else {
        // As in a shell, an unquoted `#` after a blank starts a comment
        // (`JWT_EXPIRY=3600   # 1 hour`).
        let end = value
            .char_indices()
            .find(|&(i, c)| c == '#' && value[..i].ends_with([' ', '\t']))
            .map_or(value.len(), |(i, _)| i);
        return Ok(value[..end].trim_end().to_owned());
    };
    let inner = inner.strip_suffix('"').ok_or("unterminated double quote")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => return Err("trailing backslash"),
        }
    }
    Ok(out)
}

impl Lookup for EnvFile {
    fn var(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }
}

fn env_error(var: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Env {
        var: var.to_owned(),
        message: message.into(),
    }
}

/// Where a variable's value came from.
enum Given {
    /// `NAME=value`.
    Value(String),
    /// `NAME_FILE=path`.
    File(PathBuf),
}

fn given(env: &impl Lookup, name: &str) -> Result<Option<Given>, ConfigError> {
    let file_var = format!("{name}_FILE");
    match (env.var(name), env.var(&file_var)) {
        (Some(_), Some(_)) => Err(env_error(
            name,
            format!("set {name} or {file_var}, not both"),
        )),
        (Some(v), None) => Ok(Some(Given::Value(v))),
        (None, Some(path)) => Ok(Some(Given::File(PathBuf::from(path)))),
        (None, None) => Ok(None),
    }
}

/// The value of `name`, or the trimmed contents of the file named by `<name>_FILE`.
fn value(env: &impl Lookup, name: &str) -> Result<Option<String>, ConfigError> {
    match given(env, name)? {
        Some(Given::Value(v)) => Ok(Some(v)),
        Some(Given::File(path)) => std::fs::read_to_string(&path)
            .map(|text| Some(text.trim().to_owned()))
            .map_err(|e| {
                env_error(
                    &format!("{name}_FILE"),
                    format!("cannot read {}: {e}", path.display()),
                )
            }),
        None => Ok(None),
    }
}

fn parse_bool(var: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(env_error(var, format!("{other:?} is not true or false"))),
    }
}

/// A duration in the guide's bare seconds (`3600`) or as `1h`, longer than zero.
fn parse_duration(var: &str, text: &str) -> Result<HumanDuration, ConfigError> {
    let text = text.trim();
    let duration = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(HumanDuration::seconds)
            .map_err(|_| env_error(var, format!("{text:?} is too large")))?
    } else {
        text.parse::<HumanDuration>().map_err(|_| {
            env_error(
                var,
                format!("{text:?} is not a number of seconds (3600) or a duration (1h)"),
            )
        })?
    };
    if duration.0.is_zero() {
        return Err(env_error(var, "must be longer than zero"));
    }
    Ok(duration)
}

/// Applies the guide's variables to `config`; returns what was honoured
/// differently from how it was written.
pub(super) fn apply(config: &mut Config, env: &impl Lookup) -> Result<Vec<Warning>, ConfigError> {
    let mut warnings = Vec::new();
    apply_imap(config, env)?;
    apply_tls(config, env, &mut warnings)?;
    apply_jwt(config, env)?;
    apply_api_keys(config, env, &mut warnings)?;
    Ok(warnings)
}

fn apply_tls(
    config: &mut Config,
    env: &impl Lookup,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let tls = &mut config.tls;
    if let Some(v) = value(env, "REQUIRE_HTTPS")? {
        tls.require_https = parse_bool("REQUIRE_HTTPS", &v)?;
    }
    let cert = value(env, "TLS_CERT_PATH")?;
    let key = value(env, "TLS_KEY_PATH")?;
    match (&cert, &key) {
        (Some(_), None) if tls.key_file.is_none() => {
            return Err(env_error(
                "TLS_CERT_PATH",
                "needs TLS_KEY_PATH, the certificate's private key",
            ));
        }
        (None, Some(_)) if tls.cert_file.is_none() => {
            return Err(env_error(
                "TLS_KEY_PATH",
                "needs TLS_CERT_PATH, the certificate it belongs to",
            ));
        }
        _ => {}
    }
    if cert.is_some() || key.is_some() {
        // A file pair from the environment replaces the file's certificate source.
        tls.cert_dir = None;
        tls.cert_file = cert.map(PathBuf::from).or(tls.cert_file.take());
        tls.key_file = key.map(PathBuf::from).or(tls.key_file.take());
    }
    if let Some(v) = value(env, "TLS_MIN_VERSION")? {
        tls.min_version = TlsVersion::parse_env(&v).ok_or_else(|| {
            env_error(
                "TLS_MIN_VERSION",
                format!("unknown TLS version {v:?}; use TLS1.2 or TLS1.3"),
            )
        })?;
    }
    if let Some(v) = value(env, "TLS_CIPHERS")? {
        let listed: Vec<CipherSuite> = v
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| name.parse::<CipherSuite>())
            .collect::<Result<_, _>>()
            .map_err(|message| env_error("TLS_CIPHERS", message))?;
        tls.cipher_suites = complete_suites(listed, tls.min_version, warnings)?;
    }
    Ok(())
}

/// The suites of `TLS_CIPHERS` with every version that `min` enables served:
/// a version the list names no suite of keeps its own supported suites (the
/// guide lists two TLS 1.2 suites and still means TLS 1.3 to work).
fn complete_suites(
    mut listed: Vec<CipherSuite>,
    min: TlsVersion,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<CipherSuite>, ConfigError> {
    if listed.is_empty() {
        return Ok(listed);
    }
    let unusable: Vec<_> = listed
        .iter()
        .filter(|s| s.version < min)
        .map(|s| s.name)
        .collect();
    if !unusable.is_empty() {
        return Err(env_error(
            "TLS_CIPHERS",
            format!(
                "{} are TLS 1.2 suites, unusable with TLS_MIN_VERSION=TLS1.3",
                unusable.join(", ")
            ),
        ));
    }
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        if version < min || listed.iter().any(|s| s.version == version) {
            continue;
        }
        let added: Vec<CipherSuite> = SUPPORTED_CIPHER_SUITES
            .iter()
            .filter(|s| s.version == version)
            .copied()
            .collect();
        warnings.push(Warning {
            var: "TLS_CIPHERS",
            message: format!(
                "lists no TLS {version} suite; TLS {version} stays enabled with its own suites ({})",
                added.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            ),
        });
        listed.extend(added);
    }
    Ok(listed)
}

fn apply_jwt(config: &mut Config, env: &impl Lookup) -> Result<(), ConfigError> {
    let jwt = &mut config.auth.jwt;
    match given(env, "JWT_SECRET")? {
        Some(Given::Value(v)) => {
            let v = v.trim();
            if v.len() < MIN_JWT_SECRET_BYTES {
                return Err(env_error(
                    "JWT_SECRET",
                    format!(
                        "is {} bytes long; HS256 needs at least {MIN_JWT_SECRET_BYTES} (e.g. `openssl rand -hex 32`)",
                        v.len()
                    ),
                ));
            }
            jwt.secret = Some(Secret::new(v));
            jwt.secret_file = None;
        }
        Some(Given::File(path)) => {
            jwt.secret = None;
            jwt.secret_file = Some(path);
        }
        None => {}
    }
    let expiry = value(env, "JWT_EXPIRY")?;
    let refresh = value(env, "JWT_REFRESH_EXPIRY")?;
    if let Some(v) = &expiry {
        jwt.expiry = parse_duration("JWT_EXPIRY", v)?;
    }
    if let Some(v) = &refresh {
        jwt.refresh_expiry = parse_duration("JWT_REFRESH_EXPIRY", v)?;
    }
    if (expiry.is_some() || refresh.is_some()) && jwt.refresh_expiry < jwt.expiry {
        let var = if refresh.is_some() {
            "JWT_REFRESH_EXPIRY"
        } else {
            "JWT_EXPIRY"
        };
        return Err(env_error(
            var,
            format!(
                "a refresh token ({}) must not expire before the access token ({})",
                jwt.refresh_expiry, jwt.expiry
            ),
        ));
    }
    if let Some(v) = value(env, "JWT_ALGORITHM")?
        && !v.trim().eq_ignore_ascii_case("HS256")
    {
        return Err(env_error(
            "JWT_ALGORITHM",
            format!("{v:?} is not supported; only HS256 is"),
        ));
    }
    for (var, field) in [
        ("JWT_ISSUER", &mut jwt.issuer),
        ("JWT_AUDIENCE", &mut jwt.audience),
    ] {
        if let Some(v) = value(env, var)? {
            if v.trim().is_empty() {
                return Err(env_error(var, "must not be empty"));
            }
            *field = v.trim().to_owned();
        }
    }
    Ok(())
}

fn apply_api_keys(
    config: &mut Config,
    env: &impl Lookup,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let keys = &mut config.auth.api_keys;
    match given(env, "API_KEY")? {
        Some(Given::Value(v)) => {
            if v.trim().is_empty() {
                return Err(env_error("API_KEY", "must not be empty"));
            }
            keys.key = Some(Secret::new(v.trim()));
            keys.file = None;
        }
        Some(Given::File(path)) => {
            keys.key = None;
            keys.file = Some(path);
        }
        None => {}
    }
    if let Some(v) = value(env, "API_KEY_HEADER")? {
        let v = v.trim();
        if v.is_empty()
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(env_error(
                "API_KEY_HEADER",
                format!("{v:?} is not a valid HTTP header name"),
            ));
        }
        if v.eq_ignore_ascii_case("authorization") {
            return Err(env_error(
                "API_KEY_HEADER",
                "Authorization already carries keys and tokens as `Bearer <value>`; name another header",
            ));
        }
        keys.header = v.to_owned();
    }
    if let Some(v) = value(env, "API_KEY_REQUIRED")? {
        keys.required = parse_bool("API_KEY_REQUIRED", &v)?;
    }
    if let Some(v) = value(env, "API_KEY_WHITELIST")? {
        let paths: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = paths.iter().find(|p| !p.starts_with('/')) {
            return Err(env_error(
                "API_KEY_WHITELIST",
                format!("{bad:?} must be a path starting with /"),
            ));
        }
        let admin: Vec<&str> = paths
            .iter()
            .map(String::as_str)
            .filter(|p| ADMIN_PATHS.contains(p))
            .collect();
        if !admin.is_empty() {
            warnings.push(Warning {
                var: "API_KEY_WHITELIST",
                message: format!(
                    "{} kept as public paths of the API listener, where no route serves them; \
                     health and metrics are served on the admin listener (listen.admin: \
                     /healthz, /readyz, /metrics), which needs no key",
                    admin.join(", ")
                ),
            });
        }
        keys.public_paths = paths;
    }
    Ok(())
}

/// Applies `IMAP_PASSWORD` (the password itself) or `IMAP_PASSWORD_FILE` (a
/// file holding it, re-read when it changes) to the only account, and
/// `TLS_CA_PATH` as the CA bundle of every account that names none: the CA
/// IMAP servers are verified against.
fn apply_imap(config: &mut Config, env: &impl Lookup) -> Result<(), ConfigError> {
    let password = env.var("IMAP_PASSWORD");
    let file = env.var("IMAP_PASSWORD_FILE");
    if password.is_some() && file.is_some() {
        return Err(env_error(
            "IMAP_PASSWORD",
            "set IMAP_PASSWORD or IMAP_PASSWORD_FILE, not both",
        ));
    }
    let var = match (&password, &file) {
        (Some(_), _) => Some("IMAP_PASSWORD"),
        (None, Some(_)) => Some("IMAP_PASSWORD_FILE"),
        (None, None) => None,
    };
    if let Some(var) = var {
        let [account] = config.accounts.as_mut_slice() else {
            return Err(env_error(
                var,
                format!(
                    "sets the password of a single-account setup, but the config has {} accounts; use accounts[].passwordFile",
                    config.accounts.len()
                ),
            ));
        };
        if let Some(password) = password {
            account.password = Some(Secret(password));
        }
        if let Some(file) = file {
            account.password_file = Some(PathBuf::from(file));
        }
    }
    if let Some(ca) = env.var("TLS_CA_PATH") {
        for account in &mut config.accounts {
            if account.imap.ca_file.is_none() {
                account.imap.ca_file = Some(PathBuf::from(&ca));
            }
        }
    }
    Ok(())
}

/// The shortest HS256 secret accepted: the hash's own size, 256 bits.
const MIN_JWT_SECRET_BYTES: usize = 32;

/// Paths the guide lists as public that the admin listener serves, open.
const ADMIN_PATHS: [&str; 4] = ["/health", "/healthz", "/readyz", "/metrics"];

#[cfg(test)]
mod tests;
