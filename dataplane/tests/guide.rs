//! The RustyMail security guide's settings, as the guide writes them: its
//! certificate commands, its environment block (in an `--env-file`, as a
//! Vault agent would write it), served to curl. Runs the real binary and
//! reads every line it logs.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Runs `program args` in `dir`; panics with its output if it fails.
fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A loopback port free now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// curl against the data plane, resolving the guide's host name to it.
fn curl(dir: &Path, api: SocketAddr, args: &[&str]) -> (String, String) {
    let resolve = format!("rustymail.local:{}:127.0.0.1", api.port());
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            "rustymail.crt",
            "--resolve",
            &resolve,
        ])
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (status.to_owned(), body.to_owned())
}

#[test]
fn the_guides_environment_block_and_certificate_commands_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // The guide's "Self-Signed Certificates (Development)" commands, verbatim.
    run(d, "openssl", &["genrsa", "-out", "rustymail.key", "4096"]);
    run(
        d,
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "rustymail.key",
            "-out",
            "rustymail.csr",
            "-subj",
            "/C=US/ST=State/L=City/O=Organization/CN=rustymail.local",
        ],
    );
    run(
        d,
        "openssl",
        &[
            "x509",
            "-req",
            "-days",
            "365",
            "-in",
            "rustymail.csr",
            "-signkey",
            "rustymail.key",
            "-out",
            "rustymail.crt",
        ],
    );
    run(
        d,
        "openssl",
        &["x509", "-in", "rustymail.crt", "-text", "-noout"],
    );
    // `JWT_SECRET=$(openssl rand -hex 32)`, `API_KEY=$(openssl rand -hex 32)`.
    let jwt_secret = run(d, "openssl", &["rand", "-hex", "32"]);
    let api_key = run(d, "openssl", &["rand", "-hex", "32"]);

    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = d.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ api: \"{api}\", admin: \"{admin}\" }}\n\
             accounts:\n  - name: support\n    imap: {{ host: imap.example.com }}\n    \
             usernameFile: /dev/null\n    passwordFile: /dev/null\n"
        ),
    )
    .expect("config");
    let cert = d.join("rustymail.crt");
    let key = d.join("rustymail.key");
    // The guide's blocks, comments and all; only paths and generated values filled in.
    let env = format!(
        "# Environment variables\n\
         REQUIRE_HTTPS=true\n\
         TLS_CERT_PATH={cert}\n\
         TLS_KEY_PATH={key}\n\
         TLS_CA_PATH=/etc/ssl/certs/ca-certificates.crt\n\
         \n\
         # Strong TLS configuration\n\
         TLS_MIN_VERSION=TLS1.2\n\
         TLS_CIPHERS=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n\
         \n\
         # Generate secure JWT secret\n\
         JWT_SECRET={jwt_secret}\n\
         \n\
         # JWT settings\n\
         JWT_EXPIRY=3600              # 1 hour\n\
         JWT_REFRESH_EXPIRY=604800    # 7 days\n\
         JWT_ALGORITHM=HS256\n\
         JWT_ISSUER=rustymail\n\
         JWT_AUDIENCE=rustymail-api\n\
         \n\
         # Generate API key\n\
         API_KEY={api_key}\n\
         \n\
         # Configure API key\n\
         API_KEY_HEADER=X-API-Key\n\
         API_KEY_REQUIRED=true\n\
         API_KEY_WHITELIST=/health,/metrics\n",
        cert = cert.display(),
        key = key.display(),
    );
    let env_file = d.join("env");
    std::fs::write(&env_file, env).expect("env file");

    let mut child = Command::new(env!("CARGO_BIN_EXE_rustymail-dataplane"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--env-file")
        .arg(&env_file)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("data plane starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(api).is_err() {
        if started.elapsed() > Duration::from_secs(20) || child.try_wait().ok().flatten().is_some()
        {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the data plane did not serve:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let url = format!("https://rustymail.local:{}/api/v1/status", api.port());
    let with_key = format!("X-API-Key: {api_key}");
    let results = [
        curl(d, api, &[&url]),
        curl(d, api, &["-H", &with_key, &url]),
        curl(d, api, &["--tlsv1.3", "-H", &with_key, &url]),
        curl(
            d,
            api,
            &[
                "--tls-max",
                "1.2",
                "--ciphers",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "-H",
                &with_key,
                &url,
            ],
        ),
    ];
    let token_url = format!("https://rustymail.local:{}/api/v1/auth/token", api.port());
    let (token_status, token_body) = curl(d, api, &["-X", "POST", "-H", &with_key, &token_url]);
    let token: serde_json::Value = serde_json::from_str(&token_body).unwrap_or_default();
    let access = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let with_token = format!("Authorization: Bearer {access}");
    let by_token = curl(d, api, &["-H", &with_token, &url]);

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let out = child.wait_with_output().expect("data plane exits");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(results[0].0, "401", "no key: {}", results[0].1);
    assert_eq!(results[1].0, "200", "with the key: {}", results[1].1);
    assert_eq!(results[2].0, "200", "TLS 1.3 stays on: {}", results[2].1);
    assert_eq!(
        results[3].0, "200",
        "the guide's TLS 1.2 suite: {}",
        results[3].1
    );
    assert_eq!(token_status, "200", "{token_body}");
    assert_eq!(token["expires_in"], 3600, "JWT_EXPIRY=3600 is an hour");
    assert_eq!(token["refresh_expires_in"], 604_800);
    assert_eq!(by_token.0, "200", "with the token: {}", by_token.1);
    assert!(out.status.success(), "SIGTERM ends it cleanly:\n{logs}");
    // What was honoured differently is said, by the variable's name.
    for var in ["TLS_CIPHERS", "API_KEY_WHITELIST"] {
        assert!(
            logs.lines().any(|l| l.contains("WARN") && l.contains(var)),
            "no warning names {var}:\n{logs}"
        );
    }
    for secret in [jwt_secret.as_str(), api_key.as_str(), access.as_str()] {
        assert!(
            !secret.is_empty() && !logs.contains(secret),
            "a log line carries a secret:\n{logs}"
        );
    }
}

/// `rustymail-dataplane check-config` on `config` with `env` set (and
/// nothing else): whether it passed, and what it printed.
fn check_config(config: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rustymail-dataplane"))
        .arg("check-config")
        .arg("--config")
        .arg(config)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the data plane runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_guides_imap_password_stands_in_for_the_accounts_password_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "tls: { certDir: /var/run/rustymail/tls }\n\
         accounts:\n  - name: support\n    imap: { host: imap.example.com }\n    \
         username: support@example.com\n",
    )
    .expect("config");
    let (ok, text) = check_config(&config, &[("IMAP_PASSWORD", "guide-imap-password")]);
    assert!(ok, "IMAP_PASSWORD with no passwordFile: {text}");
    let (ok, text) = check_config(&config, &[("IMAP_PASSWORD_FILE", "/run/secrets/imap")]);
    assert!(ok, "IMAP_PASSWORD_FILE with no passwordFile: {text}");
    let (ok, text) = check_config(&config, &[]);
    assert!(!ok, "no password at all was accepted: {text}");
    assert!(
        text.contains("accounts[0].passwordFile") && text.contains("IMAP_PASSWORD"),
        "the refusal names the field and the variable: {text}"
    );
}
