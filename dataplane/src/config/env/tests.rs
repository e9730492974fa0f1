use std::collections::HashMap;

use super::*;
use crate::config::{Account, Imap};

fn env(pairs: &[(&str, &str)]) -> impl Lookup {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn base() -> Config {
    let mut config = Config::default();
    config.tls.cert_dir = Some("/from/file".into());
    config.accounts.push(account("support"));
    config
}

fn account(name: &str) -> Account {
    Account {
        name: name.to_owned(),
        imap: Imap {
            host: "imap.example.com".to_owned(),
            ..Default::default()
        },
        smtp: None,
        username: None,
        username_file: Some("/u".into()),
        password_file: Some("/p".into()),
        password: None,
    }
}

fn with_accounts(names: &[&str], pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut config = Config {
        accounts: names.iter().map(|n| account(n)).collect(),
        ..Config::default()
    };
    apply(&mut config, &env(pairs)).map(|_| config)
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
    let c =
        with_accounts(&["one"], &[("IMAP_PASSWORD_FILE", "/run/secrets/imap")]).expect("applies");
    assert_eq!(
        c.accounts[0].password_file,
        Some(PathBuf::from("/run/secrets/imap"))
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

fn applied(pairs: &[(&str, &str)]) -> Result<(Config, Vec<Warning>), ConfigError> {
    let mut config = base();
    apply(&mut config, &env(pairs)).map(|w| (config, w))
}

/// The guide's environment block, as its security guide writes it.
const GUIDE: &[(&str, &str)] = &[
    ("REQUIRE_HTTPS", "true"),
    ("TLS_CERT_PATH", "/etc/ssl/certs/rustymail.crt"),
    ("TLS_KEY_PATH", "/etc/ssl/private/rustymail.key"),
    ("TLS_CA_PATH", "/etc/ssl/certs/ca-certificates.crt"),
    ("TLS_MIN_VERSION", "TLS1.2"),
    (
        "TLS_CIPHERS",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "JWT_SECRET",
        "8f0c5a3d9e1b47c2a6f4d8e0b3c7a1f59e2d4c6b8a0f1e3d5c7b9a2e4f6d8c0a",
    ),
    ("JWT_EXPIRY", "3600"),
    ("JWT_REFRESH_EXPIRY", "604800"),
    ("JWT_ALGORITHM", "HS256"),
    ("JWT_ISSUER", "rustymail"),
    ("JWT_AUDIENCE", "rustymail-api"),
    (
        "API_KEY",
        "3b9f1c7e5a2d4f6b8c0e1a3d5f7b9c2e4a6d8f0b1c3e5a7d9f2b4c6e8a0d1f3b",
    ),
    ("API_KEY_HEADER", "X-API-Key"),
    ("API_KEY_REQUIRED", "true"),
    ("API_KEY_WHITELIST", "/health,/metrics"),
];

#[test]
fn the_guides_block_is_honoured_as_written() {
    let (c, warnings) = applied(GUIDE).expect("the guide's settings apply");
    assert!(c.tls.require_https);
    assert_eq!(c.tls.cert_dir, None);
    assert_eq!(c.tls.cert_file, Some("/etc/ssl/certs/rustymail.crt".into()));
    assert_eq!(
        c.tls.key_file,
        Some("/etc/ssl/private/rustymail.key".into())
    );
    assert_eq!(
        c.tls.ca_file, None,
        "TLS_CA_PATH is not the server's issuer"
    );
    assert_eq!(
        c.accounts[0].imap.ca_file,
        Some("/etc/ssl/certs/ca-certificates.crt".into())
    );
    assert_eq!(c.tls.min_version, TlsVersion::Tls12);
    let names: Vec<_> = c.tls.cipher_suites.iter().map(|s| s.name).collect();
    assert_eq!(
        &names[..2],
        [
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        ]
    );
    assert!(names.contains(&"TLS_AES_128_GCM_SHA256"), "{names:?}");
    assert_eq!(c.auth.jwt.expiry, HumanDuration::hours(1));
    assert_eq!(c.auth.jwt.refresh_expiry, HumanDuration::hours(168));
    assert_eq!(c.auth.jwt.issuer, "rustymail");
    assert_eq!(c.auth.jwt.audience, "rustymail-api");
    assert_eq!(
        c.auth.jwt.secret.as_ref().map(|s| s.expose().len()),
        Some(64)
    );
    assert_eq!(
        c.auth.api_keys.key.as_ref().map(|s| s.expose().len()),
        Some(64)
    );
    assert_eq!(c.auth.api_keys.header, "X-API-Key");
    assert!(c.auth.api_keys.required);
    assert_eq!(c.auth.api_keys.public_paths, ["/health", "/metrics"]);
    let vars: Vec<_> = warnings.iter().map(|w| w.var).collect();
    assert_eq!(vars, ["TLS_CIPHERS", "API_KEY_WHITELIST"]);
    assert!(
        warnings[0].message.contains("TLS 1.3 stays enabled"),
        "{warnings:?}"
    );
    c.validate().expect("the result is a valid config");
}

#[test]
fn durations_take_bare_seconds_or_units_and_errors_name_the_variable() {
    let (c, _) =
        applied(&[("JWT_EXPIRY", "15m"), ("JWT_REFRESH_EXPIRY", "86400")]).expect("applies");
    assert_eq!(c.auth.jwt.expiry, HumanDuration::seconds(900));
    assert_eq!(c.auth.jwt.refresh_expiry, HumanDuration::hours(24));
    for (var, value) in [
        ("JWT_EXPIRY", "soon"),
        ("JWT_EXPIRY", "0"),
        ("JWT_REFRESH_EXPIRY", "60"),
        ("JWT_ALGORITHM", "RS256"),
        ("JWT_ALGORITHM", "none"),
        ("API_KEY_HEADER", "X API Key"),
        ("API_KEY_REQUIRED", "maybe"),
        ("API_KEY_WHITELIST", "health"),
        ("TLS_MIN_VERSION", "TLS1.1"),
        ("TLS_CIPHERS", "TLS_RSA_WITH_RC4_128_SHA"),
        ("TLS_CERT_PATH", "/only/the/cert.pem"),
        ("JWT_SECRET", "too-short"),
    ] {
        let err = applied(&[(var, value)]).expect_err(var).to_string();
        assert!(err.contains(var), "{var}={value}: {err}");
        assert!(
            !err.contains("auth."),
            "{var}={value} named an internal key: {err}"
        );
    }
}

#[test]
fn secret_files_become_watched_files_and_conflicts_are_refused() {
    let (c, _) = applied(&[
        ("JWT_SECRET_FILE", "/run/secrets/jwt_secret"),
        ("API_KEY_FILE", "/run/secrets/api_key"),
    ])
    .expect("applies");
    assert_eq!(
        c.auth.jwt.secret_file,
        Some("/run/secrets/jwt_secret".into())
    );
    assert_eq!(c.auth.api_keys.file, Some("/run/secrets/api_key".into()));
    assert!(c.auth.jwt.secret.is_none() && c.auth.api_keys.key.is_none());
    let err = applied(&[("API_KEY", "k"), ("API_KEY_FILE", "/f")]).unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
}

#[test]
fn other_file_variants_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("min");
    std::fs::write(&path, "TLS1.3\n").expect("write");
    let path = path.to_string_lossy().into_owned();
    let (c, _) = applied(&[("TLS_MIN_VERSION_FILE", &path)]).expect("applies");
    assert_eq!(c.tls.min_version, TlsVersion::Tls13);
    let err = applied(&[
        ("TLS_MIN_VERSION", "TLS1.2"),
        ("TLS_MIN_VERSION_FILE", &path),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
}

#[test]
fn tls13_only_with_tls12_ciphers_is_refused_by_name() {
    let err = applied(&[
        ("TLS_MIN_VERSION", "TLS1.3"),
        ("TLS_CIPHERS", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("TLS_CIPHERS") && err.contains("TLS_MIN_VERSION"),
        "{err}"
    );
}

#[test]
fn without_variables_the_file_stands() {
    let (c, warnings) = applied(&[]).expect("applies");
    assert_eq!(c.tls.cert_dir, Some("/from/file".into()));
    assert!(c.tls.require_https);
    assert!(warnings.is_empty());
}

#[test]
fn env_files_read_like_a_sourced_shell_file() {
    let file = EnvFile::parse(
        "# written by vault agent\n\
         export JWT_SECRET=\"abc\\\"def\"\n\
         API_KEY='k$1'\n\
         \n\
         JWT_EXPIRY=3600              # 1 hour\n\
         API_KEY_WHITELIST=/health,/metrics#x\n",
    )
    .expect("parses");
    assert_eq!(file.var("JWT_SECRET").as_deref(), Some("abc\"def"));
    assert_eq!(file.var("API_KEY").as_deref(), Some("k$1"));
    assert_eq!(file.var("JWT_EXPIRY").as_deref(), Some("3600"));
    assert_eq!(
        file.var("API_KEY_WHITELIST").as_deref(),
        Some("/health,/metrics#x")
    );
    let (line, message) = EnvFile::parse("A=1\nnot a line\n").unwrap_err();
    assert_eq!(line, 2, "{message}");
    assert!(EnvFile::parse("X=\"open\n").is_err());
}
