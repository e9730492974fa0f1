//! schemathesis (PyPI) against the data plane's own OpenAPI document, with a
//! valid API key, in front of a real Dovecot: every documented operation,
//! with generated inputs, must answer without a 5xx and as its document
//! says.

use std::process::Command;

use rustymail_tests::mail::{
    Result,
    dovecot::{ALICE, Dovecot, Options},
    harness::{Link, MailServer},
};

const KEY: &str = "schemathesis-key-4c2e6a8b0d1f3a5c7e9b2d4f6a8c0e1b";

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = dir.path().join("api-keys");
    std::fs::write(&keys, format!("schemathesis:{KEY}\n"))?;
    let settings = format!(
        "auth: {{ apiKeys: {{ file: \"{}\" }} }}\n\
         rateLimits: {{ perIp: 999999999/second, perUser: 999999999/second, perApiKey: 999999999/second }}\n\
         audit: {{ enabled: false }}",
        keys.display()
    );
    let server = MailServer::start_with(
        Dovecot::start(Options::default())?,
        &[("alice", ALICE.0, ALICE.1)],
        Link::Tls,
        &settings,
    )
    .await?;
    let schema = format!(
        "https://127.0.0.1:{}/api/v1/openapi.json",
        server.api.port()
    );
    let header = format!("X-API-Key: {KEY}");
    let work = dir.path().to_owned();
    let hooks = rustymail_tests::workspace::root().join("tests/schemathesis");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(rustymail_tests::workspace::python_tool("schemathesis"))
            .env("SCHEMATHESIS_HOOKS", "rfc822_hooks")
            .env("PYTHONPATH", hooks)
            .args(["run", &schema, "-H", &header])
            .args(["--checks", "not_a_server_error,response_schema_conformance"])
            .args(["--tls-verify", "false", "--max-examples", "25"])
            .args(["--generation-deterministic", "--request-timeout", "10"])
            .current_dir(work)
            .output()
    })
    .await?
    .map_err(|e| format!("schemathesis is not installed (scripts/setup): {e}"))?;
    server.stop().await;
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
    Ok(())
}
