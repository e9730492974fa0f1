//! Environment variables from the RustyMail security guide, which override the
//! config file.
//!
//! Every variable may also be given as `<NAME>_FILE`, naming a file that holds
//! the value (Docker and Vault-agent secrets); setting both is an error.

use std::path::PathBuf;

use super::{
    Config, ConfigError,
    tls::{CipherSuite, TlsVersion},
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

fn env_error(var: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Env {
        var: var.to_owned(),
        message: message.into(),
    }
}

/// The value of `name`, or the trimmed contents of the file named by `<name>_FILE`.
fn value(env: &impl Lookup, name: &str) -> Result<Option<String>, ConfigError> {
    let file_var = format!("{name}_FILE");
    match (env.var(name), env.var(&file_var)) {
        (Some(_), Some(_)) => Err(env_error(
            name,
            format!("set {name} or {file_var}, not both"),
        )),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|text| Some(text.trim().to_owned()))
            .map_err(|e| env_error(&file_var, format!("cannot read {path}: {e}"))),
        (None, None) => Ok(None),
    }
}

fn parse_bool(var: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(env_error(var, format!("{other:?} is not true or false"))),
    }
}

/// Applies the TLS variables of the guide to `config`.
pub(super) fn apply(config: &mut Config, env: &impl Lookup) -> Result<(), ConfigError> {
    let tls = &mut config.tls;
    if let Some(v) = value(env, "REQUIRE_HTTPS")? {
        tls.require_https = parse_bool("REQUIRE_HTTPS", &v)?;
    }
    let cert = value(env, "TLS_CERT_PATH")?;
    let key = value(env, "TLS_KEY_PATH")?;
    if cert.is_some() || key.is_some() {
        // A file pair from the environment replaces the file's certificate source.
        tls.cert_dir = None;
        tls.cert_file = cert.map(PathBuf::from).or(tls.cert_file.take());
        tls.key_file = key.map(PathBuf::from).or(tls.key_file.take());
    }
    if let Some(v) = value(env, "TLS_CA_PATH")? {
        tls.ca_file = Some(PathBuf::from(v));
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
        tls.cipher_suites = v
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| name.parse::<CipherSuite>())
            .collect::<Result<_, _>>()
            .map_err(|message| env_error("TLS_CIPHERS", message))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Lookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn applied(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.tls.cert_dir = Some("/from/file".into());
        apply(&mut config, &env(pairs)).map(|()| config)
    }

    #[test]
    fn guide_variables_override_the_file() {
        let c = applied(&[
            ("REQUIRE_HTTPS", "false"),
            ("TLS_CERT_PATH", "/tls/cert.pem"),
            ("TLS_KEY_PATH", "/tls/key.pem"),
            ("TLS_CA_PATH", "/tls/ca.pem"),
            ("TLS_MIN_VERSION", "TLS1.3"),
            (
                "TLS_CIPHERS",
                "TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256",
            ),
        ])
        .expect("applies");
        assert!(!c.tls.require_https);
        assert_eq!(c.tls.cert_dir, None);
        assert_eq!(c.tls.cert_file, Some("/tls/cert.pem".into()));
        assert_eq!(c.tls.key_file, Some("/tls/key.pem".into()));
        assert_eq!(c.tls.ca_file, Some("/tls/ca.pem".into()));
        assert_eq!(c.tls.min_version, TlsVersion::Tls13);
        let names: Vec<_> = c.tls.cipher_suites.iter().map(|s| s.name).collect();
        assert_eq!(names, ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]);
    }

    #[test]
    fn unknown_version_or_cipher_is_named() {
        let err = applied(&[("TLS_MIN_VERSION", "TLS1.1")]).unwrap_err();
        assert!(err.to_string().contains("TLS_MIN_VERSION"), "{err}");
        assert!(err.to_string().contains("TLS1.1"), "{err}");
        let err = applied(&[("TLS_CIPHERS", "TLS_RSA_WITH_RC4_128_SHA")]).unwrap_err();
        assert!(err.to_string().contains("TLS_CIPHERS"), "{err}");
        assert!(
            err.to_string().contains("TLS_RSA_WITH_RC4_128_SHA"),
            "{err}"
        );
    }

    #[test]
    fn file_variants_are_read_and_conflicts_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("min");
        std::fs::write(&path, "TLS1.3\n").expect("write");
        let path = path.to_string_lossy().into_owned();
        let c = applied(&[("TLS_MIN_VERSION_FILE", &path)]).expect("applies");
        assert_eq!(c.tls.min_version, TlsVersion::Tls13);
        let err = applied(&[
            ("TLS_MIN_VERSION", "TLS1.2"),
            ("TLS_MIN_VERSION_FILE", &path),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
    }

    #[test]
    fn without_variables_the_file_stands() {
        let c = applied(&[]).expect("applies");
        assert_eq!(c.tls.cert_dir, Some("/from/file".into()));
        assert!(c.tls.require_https);
    }
}
