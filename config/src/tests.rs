use super::*;

const MINIMAL: &str = r#"
tls:
  certDir: /var/run/rustymail/tls
accounts:
  - name: support
    imap: { host: imap.example.com }
    usernameFile: /var/run/rustymail/accounts/support/username
    passwordFile: /var/run/rustymail/accounts/support/password
"#;

fn invalid_keys(text: &str) -> Vec<String> {
    let config = Config::parse(text).expect("parses");
    config
        .validate()
        .expect_err("should be invalid")
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[test]
fn minimal_config_gets_secure_defaults() {
    let config = Config::parse(MINIMAL).expect("parses");
    config.validate().expect("valid");
    assert_eq!(config.listen.api.port(), 9437);
    assert_eq!(config.listen.admin.port(), 9090);
    assert_eq!(config.tls.min_version, tls::TlsVersion::Tls12);
    assert!(config.tls.require_https);
    assert!(config.auth.api_keys.required);
    assert_eq!(config.accounts[0].imap.port, 993);
    assert_eq!(config.accounts[0].imap.security, ImapSecurity::Tls);
    assert_eq!(config.limits.max_body_size, units::ByteSize::mib(10));
}

#[test]
fn rendered_yaml_reads_back_identically() {
    let config = Config::parse(MINIMAL).expect("parses");
    let again = Config::parse(&config.to_yaml()).expect("rendered YAML parses");
    assert_eq!(config, again);
}

#[test]
fn unknown_key_is_named_with_its_path() {
    let err = Config::parse("rateLimits:\n  perIP: 100/minute\n").unwrap_err();
    let ConfigError::Field { key, message } = err else {
        panic!("expected a field error, got {err}")
    };
    assert_eq!(key, "rateLimits.perIP");
    assert!(message.contains("perIP"), "{message}");
}

#[test]
fn malformed_value_is_named_with_its_path() {
    let err = Config::parse("rateLimits:\n  perIp: lots\n").unwrap_err();
    assert!(err.to_string().contains("rateLimits.perIp"), "{err}");
    assert!(err.to_string().contains("lots"), "{err}");
    let err = Config::parse("tls:\n  cipherSuites: [TLS_RSA_WITH_RC4_128_SHA]\n").unwrap_err();
    assert!(err.to_string().contains("tls.cipherSuites[0]"), "{err}");
}

#[test]
fn syntax_errors_are_reported_as_yaml_errors() {
    assert!(matches!(
        Config::parse("listen: [unclosed"),
        Err(ConfigError::Syntax(_))
    ));
}

#[test]
fn missing_certificate_source_and_accounts_are_reported_together() {
    assert_eq!(invalid_keys("{}"), ["tls.certDir", "accounts"]);
}

#[test]
fn cross_field_rules_name_the_key_at_fault() {
    let base = MINIMAL.to_owned();
    let cases = [
        ("listen: {api: '0.0.0.0:9090'}\n", "listen.admin"),
        (
            "auth: {jwt: {expiry: 2h, refreshExpiry: 1h}}\n",
            "auth.jwt.refreshExpiry",
        ),
        (
            "auth: {apiKeys: {header: 'X API Key'}}\n",
            "auth.apiKeys.header",
        ),
        (
            "limits: {allowedContentTypes: [json]}\n",
            "limits.allowedContentTypes[0]",
        ),
        ("limits: {maxHeaderSize: '100'}\n", "limits.maxHeaderSize"),
    ];
    for (extra, key) in cases {
        assert_eq!(invalid_keys(&format!("{base}{extra}")), [key], "{extra}");
    }
}

#[test]
fn tls13_only_policy_rejects_tls12_suites() {
    let text = MINIMAL.replace(
        "  certDir: /var/run/rustymail/tls",
        "  certDir: /tls\n  minVersion: '1.3'\n  cipherSuites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]",
    );
    assert_eq!(invalid_keys(&text), ["tls.cipherSuites[1]"]);
}

#[test]
fn duplicate_and_malformed_account_names_are_rejected() {
    let text = format!(
        "{MINIMAL}  - name: support\n    imap: {{host: other}}\n    usernameFile: /u\n    passwordFile: /p\n  - name: Bad_Name\n    imap: {{host: ''}}\n    usernameFile: /u\n    passwordFile: /p\n"
    );
    assert_eq!(
        invalid_keys(&text),
        [
            "accounts[1].name",
            "accounts[2].name",
            "accounts[2].imap.host"
        ]
    );
}

#[test]
fn self_signed_stands_in_for_a_certificate_source() {
    let text = MINIMAL.replace("  certDir: /var/run/rustymail/tls", "  minVersion: '1.2'");
    let mut config = Config::parse(&text).expect("parses");
    assert_eq!(invalid_keys(&text), ["tls.certDir"]);
    config.tls.use_self_signed();
    config
        .validate()
        .expect("self-signed needs no certificate source");
    assert!(!config.to_yaml().contains("selfSigned"), "never rendered");
}

#[test]
fn unprintable_security_header_is_rejected() {
    let text = format!("{MINIMAL}headers: {{frameOptions: \"\\u0007\"}}\n");
    assert_eq!(invalid_keys(&text), ["headers.frameOptions"]);
}

#[test]
fn numbers_written_unquoted_mean_what_people_mean() {
    let text = format!(
        "{}limits: {{maxBodySize: 10485760, maxHeaderSize: 8192, headerReadTimeout: 15}}\nauth: {{jwt: {{expiry: 3600, refreshExpiry: 604800}}}}\n",
        MINIMAL.replace(
            "  certDir: /var/run/rustymail/tls",
            "  certDir: /tls\n  minVersion: 1.3\n  reloadInterval: 30"
        )
    );
    let config = Config::parse(&text).expect("unquoted numbers parse");
    config.validate().expect("valid");
    assert_eq!(config.tls.min_version, tls::TlsVersion::Tls13);
    assert_eq!(config.limits.max_body_size, units::ByteSize::mib(10));
    assert_eq!(
        config.limits.header_read_timeout,
        units::HumanDuration::seconds(15)
    );
    assert_eq!(config.auth.jwt.expiry, units::HumanDuration::hours(1));
    assert_eq!(
        config.auth.jwt.refresh_expiry,
        units::HumanDuration::hours(168)
    );
    let rendered = config.to_yaml();
    for canonical in [
        "minVersion: '1.3'",
        "maxBodySize: 10Mi",
        "expiry: 1h",
        "refreshExpiry: 168h",
    ] {
        assert!(
            rendered.contains(canonical) || rendered.contains(&canonical.replace('\'', "\"")),
            "{canonical} not in\n{rendered}"
        );
    }
    assert_eq!(Config::parse(&rendered).expect("reads back"), config);
}

#[test]
fn unquoted_numbers_that_mean_nothing_are_refused_by_key() {
    for (extra, key) in [
        ("tls: {certDir: /tls, minVersion: 1.1}\n", "tls.minVersion"),
        ("tls: {certDir: /tls, minVersion: 1}\n", "tls.minVersion"),
        ("limits: {maxBodySize: 1.5}\n", "limits.maxBodySize"),
        ("auth: {jwt: {expiry: -5}}\n", "auth.jwt.expiry"),
    ] {
        let text = format!("accounts: []\n{extra}");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.to_string().contains(key), "{extra}: {err}");
    }
}

#[test]
fn an_account_may_name_its_user_instead_of_a_file() {
    let text = MINIMAL.replace(
        "    usernameFile: /var/run/rustymail/accounts/support/username\n",
        "    username: support@example.com\n",
    );
    let config = Config::parse(&text).expect("parses");
    config.validate().expect("valid");
    assert_eq!(
        config.accounts[0].username.as_deref(),
        Some("support@example.com")
    );
    let neither = MINIMAL.replace(
        "    usernameFile: /var/run/rustymail/accounts/support/username\n",
        "",
    );
    assert_eq!(invalid_keys(&neither), ["accounts[0].username"]);
    let both = MINIMAL.replace(
        "    usernameFile: /var/run/rustymail/accounts/support/username\n",
        "    usernameFile: /u\n    username: u\n",
    );
    assert_eq!(invalid_keys(&both), ["accounts[0].username"]);
}

#[test]
fn an_account_may_name_its_smtp_server_and_sending_has_defaults() {
    let text = format!(
        "{MINIMAL}    smtp: {{host: smtp.example.com, security: starttls, port: 587}}\nsend:\n  allowedRecipients: [example.org, boss@example.net]\n"
    );
    let config = Config::parse(&text).expect("parses");
    config.check().expect("valid");
    let smtp = config.accounts[0].smtp.as_ref().expect("smtp");
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.security),
        ("smtp.example.com", 587, crate::SmtpSecurity::Starttls)
    );
    assert_eq!(config.send.per_api_key.to_string(), "100/hour");
    assert_eq!(config.send.max_recipients, 50);
    let again = Config::parse(&config.to_yaml()).expect("round trip");
    assert_eq!(again, config);
}

#[test]
fn bad_send_settings_are_named() {
    let text = format!(
        "{MINIMAL}    smtp: {{host: '', port: 0, from: not-an-address}}\nsend:\n  allowedRecipients: ['two words', '@x']\n  maxRecipients: 0\n"
    );
    let errors = Config::parse(&text)
        .expect("parses")
        .validate()
        .unwrap_err();
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "accounts[0].smtp.host",
            "accounts[0].smtp.port",
            "accounts[0].smtp.from",
            "send.allowedRecipients[0]",
            "send.allowedRecipients[1]",
            "send.maxRecipients"
        ]
    );
    let plain = "accounts: [{name: a, imap: {host: h}, username: u, passwordFile: /p, smtp: {host: h, security: none}}]";
    assert!(Config::parse(plain).is_err(), "SMTP without TLS is refused");
}
