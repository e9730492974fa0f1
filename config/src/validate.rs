//! Cross-field rules of the config: what each value allows on its own, but not
//! in combination, or what serde cannot say.
//!
//! May depend on, in this crate: `tls`.

use std::{collections::HashSet, fmt};

use super::{Config, tls::TlsVersion};

/// One broken rule, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the key, e.g. `accounts[1].name`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Collects problems as they are found.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            key: key.into(),
            message: message.into(),
        });
    }
}

/// Returns every rule `config` breaks, in file order.
pub(super) fn check(config: &Config) -> Vec<FieldError> {
    let mut p = Problems::default();
    check_listen(config, &mut p);
    check_tls(config, &mut p);
    check_auth(config, &mut p);
    check_limits(config, &mut p);
    check_headers(config, &mut p);
    check_accounts(config, &mut p);
    check_send(config, &mut p);
    p.0
}

fn check_listen(config: &Config, p: &mut Problems) {
    let l = &config.listen;
    if l.api == l.admin {
        p.add("listen.admin", "must differ from listen.api");
    }
    if let Some(redirect) = l.redirect
        && (redirect == l.api || redirect == l.admin)
    {
        p.add(
            "listen.redirect",
            "must differ from listen.api and listen.admin",
        );
    }
}

fn check_tls(config: &Config, p: &mut Problems) {
    let t = &config.tls;
    match (&t.cert_dir, &t.cert_file, &t.key_file) {
        (Some(_), None, None) | (None, Some(_), Some(_)) => {}
        (Some(_), _, _) => p.add("tls.certDir", "set either certDir or certFile and keyFile, not both"),
        (None, Some(_), None) => p.add("tls.keyFile", "certFile needs keyFile"),
        (None, None, Some(_)) => p.add("tls.certFile", "keyFile needs certFile"),
        (None, None, None) if t.require_https && !t.self_signed => p.add(
            "tls.certDir",
            "no certificate source: set certDir (or certFile and keyFile), or run `serve --self-signed` for local use",
        ),
        (None, None, None) => {}
    }
    if !t.cipher_suites.is_empty() {
        let versions: &[TlsVersion] = match t.min_version {
            TlsVersion::Tls12 => &[TlsVersion::Tls12, TlsVersion::Tls13],
            TlsVersion::Tls13 => &[TlsVersion::Tls13],
        };
        for v in versions {
            if !t.cipher_suites.iter().any(|s| s.version == *v) {
                p.add(
                    "tls.cipherSuites",
                    format!(
                        "lists no TLS {v} suite, but minVersion {} enables TLS {v}",
                        t.min_version
                    ),
                );
            }
        }
        for (i, suite) in t.cipher_suites.iter().enumerate() {
            if suite.version < t.min_version {
                p.add(
                    format!("tls.cipherSuites[{i}]"),
                    format!(
                        "{} is a TLS 1.2 suite, unusable with minVersion 1.3",
                        suite.name
                    ),
                );
            }
        }
    }
    if t.reload_interval.0.is_zero() {
        p.add("tls.reloadInterval", "must be longer than zero");
    }
}

/// Whether `s` is a valid HTTP header name (an RFC 9110 token).
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_auth(config: &Config, p: &mut Problems) {
    let a = &config.auth;
    if !is_header_name(&a.api_keys.header) {
        p.add(
            "auth.apiKeys.header",
            format!("{:?} is not a valid HTTP header name", a.api_keys.header),
        );
    }
    for (i, path) in a.api_keys.public_paths.iter().enumerate() {
        if !path.starts_with('/') {
            p.add(
                format!("auth.apiKeys.publicPaths[{i}]"),
                format!("{path:?} must start with /"),
            );
        }
    }
    if a.jwt.expiry.0.is_zero() {
        p.add("auth.jwt.expiry", "must be longer than zero");
    }
    if a.jwt.refresh_expiry < a.jwt.expiry {
        p.add(
            "auth.jwt.refreshExpiry",
            "must not be shorter than auth.jwt.expiry",
        );
    }
    if a.jwt.issuer.is_empty() {
        p.add("auth.jwt.issuer", "must not be empty");
    }
    if a.jwt.audience.is_empty() {
        p.add("auth.jwt.audience", "must not be empty");
    }
}

fn check_limits(config: &Config, p: &mut Problems) {
    let l = &config.limits;
    if l.max_body_size.0 == 0 {
        p.add("limits.maxBodySize", "must be larger than zero");
    }
    if l.max_header_size.0 < 1024 {
        p.add("limits.maxHeaderSize", "must be at least 1Ki");
    }
    for (i, ct) in l.allowed_content_types.iter().enumerate() {
        let valid = ct
            .split_once('/')
            .is_some_and(|(t, s)| is_header_name(t) && is_header_name(s));
        if !valid {
            p.add(
                format!("limits.allowedContentTypes[{i}]"),
                format!("{ct:?} is not a media type like application/json"),
            );
        }
    }
    for (key, value) in [
        ("limits.headerReadTimeout", l.header_read_timeout),
        ("limits.bodyReadTimeout", l.body_read_timeout),
    ] {
        if value.0.is_zero() {
            p.add(key, "must be longer than zero");
        }
    }
    if l.max_connections == 0 {
        p.add("limits.maxConnections", "must be at least 1");
    }
    if l.shutdown_grace_period.0.is_zero() {
        p.add("limits.shutdownGracePeriod", "must be longer than zero");
    }
}

fn check_headers(config: &Config, p: &mut Problems) {
    let h = &config.headers;
    for (key, value) in [
        (
            "headers.strictTransportSecurity",
            &h.strict_transport_security,
        ),
        ("headers.contentSecurityPolicy", &h.content_security_policy),
        ("headers.frameOptions", &h.frame_options),
        ("headers.referrerPolicy", &h.referrer_policy),
    ] {
        let printable = value.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
        if value.trim().is_empty() || !printable {
            p.add(key, "must be non-empty printable ASCII");
        }
    }
}

/// Whether `s` is a DNS label: lowercase letters, digits and `-`, 1 to 63 long.
fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_accounts(config: &Config, p: &mut Problems) {
    if config.accounts.is_empty() {
        p.add("accounts", "at least one IMAP account is required");
    }
    let mut seen = HashSet::new();
    for (i, account) in config.accounts.iter().enumerate() {
        if !is_dns_label(&account.name) {
            p.add(
                format!("accounts[{i}].name"),
                format!(
                    "{:?} must be lowercase letters, digits and '-', at most 63 long",
                    account.name
                ),
            );
        }
        if !seen.insert(account.name.as_str()) {
            p.add(
                format!("accounts[{i}].name"),
                format!("{:?} is used by an earlier account", account.name),
            );
        }
        if account.imap.host.trim().is_empty() {
            p.add(format!("accounts[{i}].imap.host"), "must not be empty");
        }
        if account.imap.port == 0 {
            p.add(
                format!("accounts[{i}].imap.port"),
                "must be between 1 and 65535",
            );
        }
        if let Some(smtp) = &account.smtp {
            if smtp.host.trim().is_empty() {
                p.add(format!("accounts[{i}].smtp.host"), "must not be empty");
            }
            if smtp.port == 0 {
                p.add(
                    format!("accounts[{i}].smtp.port"),
                    "must be between 1 and 65535",
                );
            }
            if let Some(from) = &smtp.from
                && !is_address(from)
            {
                p.add(
                    format!("accounts[{i}].smtp.from"),
                    format!("{from:?} is not a mail address (local@domain)"),
                );
            }
        }
        match (&account.username, &account.username_file) {
            (Some(_), Some(_)) => p.add(
                format!("accounts[{i}].username"),
                "set username or usernameFile, not both",
            ),
            (None, None) => p.add(
                format!("accounts[{i}].username"),
                "set username (the IMAP user name) or usernameFile (a file holding it)",
            ),
            (Some(name), None) if name.trim().is_empty() => {
                p.add(format!("accounts[{i}].username"), "must not be empty")
            }
            _ => {}
        }
        if account.password_file.is_none() && account.password.is_none() {
            p.add(
                format!("accounts[{i}].passwordFile"),
                "set passwordFile (a file holding the IMAP password), or IMAP_PASSWORD or IMAP_PASSWORD_FILE for a single-account setup",
            );
        }
    }
}

/// Whether `s` looks like `local@domain`: one `@`, both sides non-empty,
/// no whitespace or angle brackets.
fn is_address(s: &str) -> bool {
    let plain = !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>');
    matches!(s.split_once('@'), Some((local, domain))
        if plain && !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
}

fn check_send(config: &Config, p: &mut Problems) {
    let send = &config.send;
    for (i, entry) in send.allowed_recipients.iter().enumerate() {
        let domain = !entry.is_empty()
            && !entry.contains('@')
            && !entry.starts_with('.')
            && !entry.chars().any(char::is_whitespace);
        if !domain && !is_address(entry) {
            p.add(
                format!("send.allowedRecipients[{i}]"),
                format!(
                    "{entry:?} is neither an address (local@domain) nor a domain (example.com)"
                ),
            );
        }
    }
    if send.max_recipients == 0 {
        p.add("send.maxRecipients", "must be at least 1");
    }
}
