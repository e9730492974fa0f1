//! schemathesis (PyPI) against the data plane's own OpenAPI document, with a
//! valid API key: every documented operation, generated inputs included,
//! must answer without a 5xx and as its document says. Runs the real binary.

use std::{
    net::{SocketAddr, TcpListener},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const KEY: &str = "schemathesis-key-4c2e6a8b0d1f3a5c7e9b2d4f6a8c0e1b";

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (api, admin) = (free_addr(), free_addr());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{ api: \"{api}\", admin: \"{admin}\" }}\n\
             rateLimits: {{ perIp: 999999999/second, perUser: 999999999/second, perApiKey: 999999999/second }}\n\
             audit: {{ enabled: false }}\n\
             accounts:\n  - name: support\n    imap: {{ host: imap.invalid }}\n    \
             usernameFile: /dev/null\n    passwordFile: /dev/null\n"
        ),
    )
    .expect("config");
    let mut server = Command::new(env!("CARGO_BIN_EXE_rustymail-dataplane"))
        .args(["serve", "--self-signed", "--config"])
        .arg(&config)
        .env("API_KEY", KEY)
        .env(
            "JWT_SECRET",
            "schemathesis-jwt-secret-0a2c4e6b8d0f1a3c5e7b9d",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("data plane starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(api).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the data plane did not serve"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let schema = format!("https://127.0.0.1:{}/api/v1/openapi.json", api.port());
    let header = format!("X-API-Key: {KEY}");
    let out = Command::new("schemathesis")
        .args(["run", &schema, "-H", &header])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args([
            "--tls-verify",
            "false",
            "--max-examples",
            "25",
            "--generation-deterministic",
        ])
        .args(["--request-timeout", "10"])
        .current_dir(dir.path())
        .output();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    let _ = server.wait();
    let out = out.expect("schemathesis is installed (scripts/setup: pip install schemathesis)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // "Operations: N selected / N total": every operation was exercised.
    let counts: Vec<usize> = report
        .lines()
        .find(|l| l.trim_start().starts_with("Operations:"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        counts.len() == 2 && counts[0] == counts[1] && counts[0] >= 4,
        "not every operation was tested:\n{report}"
    );
}
