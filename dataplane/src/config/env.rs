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

/// Applies the guide's variables to `config`.
pub(super) fn apply(config: &mut Config, env: &impl Lookup) -> Result<(), ConfigError> {
    apply_imap(config, env)?;
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
            account.password = Some(super::Secret(password));
        }
        if let Some(file) = file {
            account.password_file = PathBuf::from(file);
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

    fn with_accounts(names: &[&str], pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for name in names {
            config.accounts.push(crate::config::Account {
                name: (*name).to_owned(),
                imap: crate::config::Imap {
                    host: "imap.example.com".to_owned(),
                    ..Default::default()
                },
                username_file: "/u".into(),
                password_file: "/p".into(),
                password: None,
            });
        }
        apply(&mut config, &env(pairs)).map(|()| config)
    }

    #[test]
    fn imap_password_variables_set_the_single_accounts_password() {
        let c = with_accounts(&["one"], &[("IMAP_PASSWORD", "s3cret")]).expect("applies");
        assert_eq!(
            c.accounts[0].password.as_ref().map(|s| s.0.as_str()),
            Some("s3cret")
        );
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the password stays out of Debug"
        );
        let c = with_accounts(&["one"], &[("IMAP_PASSWORD_FILE", "/run/secrets/imap")])
            .expect("applies");
        assert_eq!(
            c.accounts[0].password_file,
            PathBuf::from("/run/secrets/imap")
        );
        let err = with_accounts(&["one", "two"], &[("IMAP_PASSWORD", "x")]).unwrap_err();
        assert!(
            err.to_string().contains("IMAP_PASSWORD") && err.to_string().contains("2 accounts"),
            "{err}"
        );
    }

    #[test]
    fn tls_ca_path_is_the_ca_of_accounts_without_their_own() {
        let mut c = with_accounts(&["one", "two"], &[]).expect("applies");
        c.accounts[1].imap.ca_file = Some("/own.pem".into());
        apply(&mut c, &env(&[("TLS_CA_PATH", "/ca.pem")])).expect("applies");
        assert_eq!(c.accounts[0].imap.ca_file, Some("/ca.pem".into()));
        assert_eq!(c.accounts[1].imap.ca_file, Some("/own.pem".into()));
    }

    #[test]
    fn without_variables_the_file_stands() {
        let c = applied(&[]).expect("applies");
        assert_eq!(c.tls.cert_dir, Some("/from/file".into()));
        assert!(c.tls.require_https);
    }
}
