//! `mcp-bench`: the MCP `list_messages` tool call against the REST listing
//! of the same page (`GET /api/v1/folders/INBOX/emails?limit=50`), on one
//! data plane in front of one Dovecot, in one run.
//!
//! Each side has its own kept-alive HTTPS connection; the MCP side speaks
//! 2026-07-28 as an SDK does (one POST per call, the protocol version, the
//! method and the tool name in headers, `_meta` in the body, a JSON
//! answer). The two sides take turns, one request each, after a warm-up
//! that fills the data plane's IMAP pool and listing cache for both. The
//! data plane runs as in the mail tests (no credentials asked, rate limits
//! out of reach), its audit log on (written to a file).
//!
//! Prints one JSON object: p50, p99 (ms) and requests/s of each side, and
//! the ratios MCP/REST of p50 and p99 (target: at most 1.2).
//!
//! `cargo run --release -p rustymail-tests --bin mcp-bench [-- --requests 2000]`

use std::{process::ExitCode, time::Instant};

use http::Method;
use rustymail_tests::{
    bench::two_decimals as round2,
    mail::{
        Result,
        client::ApiClient,
        direct,
        dovecot::{ALICE, Dovecot, Options},
        harness::{DataPlane, Link, OPEN},
        samples,
    },
};
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The page listed.
const PAGE: u32 = 50;

fn requests() -> Result<usize> {
    let mut it = std::env::args().skip(1);
    let mut n = 2000;
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--requests" => n = it.next().ok_or("--requests needs a value")?.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if n == 0 {
        return Err("--requests must be at least 1".into());
    }
    Ok(n)
}

/// Latencies in seconds, summarised.
fn summary(mut samples: Vec<f64>, wall: f64) -> Value {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize] * 1000.0;
    json!({
        "samples": samples.len(),
        "p50_ms": round2(at(0.5)),
        "p99_ms": round2(at(0.99)),
        "requests_per_s": round2(samples.len() as f64 / wall),
    })
}

fn ratio(a: &Value, b: &Value, key: &str) -> f64 {
    round2(a[key].as_f64().unwrap_or(0.0) / b[key].as_f64().unwrap_or(f64::NAN))
}

async fn rest_list(c: &mut ApiClient) -> Result<()> {
    let reply = c
        .get(&format!("/api/v1/folders/INBOX/emails?limit={PAGE}"))
        .await?;
    if reply.status != 200
        || reply.json()["messages"].as_array().map(Vec::len) != Some(PAGE as usize)
    {
        return Err(format!("REST listing answered {}: {:?}", reply.status, reply.body).into());
    }
    Ok(())
}

/// The body of a 2026-07-28 `tools/call` of `list_messages`.
fn mcp_request(id: usize) -> Vec<u8> {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": {
            "name": "list_messages",
            "arguments": {"name": "INBOX", "limit": PAGE},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "mcp-bench", "version": "1"},
            },
        },
    })
    .to_string()
    .into_bytes()
}

async fn mcp_list(c: &mut ApiClient, id: usize) -> Result<()> {
    let headers = [
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "list_messages"),
    ];
    let reply = c
        .send_with(
            Method::POST,
            "/mcp",
            &headers,
            Some(("application/json", mcp_request(id))),
        )
        .await?;
    let body = reply.json();
    let listed = body["result"]["structuredContent"]["messages"]
        .as_array()
        .map(Vec::len);
    if reply.status != 200 || listed != Some(PAGE as usize) {
        return Err(format!("MCP call answered {}: {:?}", reply.status, reply.body).into());
    }
    Ok(())
}

async fn run() -> Result<Value> {
    let n = requests()?;
    let dovecot = Dovecot::start(Options::default())?;
    let mut c = direct::login(&dovecot, ALICE.0, ALICE.1).await?;
    for m in 0..PAGE {
        let raw = samples::plain(
            &format!("sender{m}@example.com"),
            &format!("message {m}"),
            "A short body.",
        );
        c.session.append("INBOX", None, None, raw).await?;
    }
    c.session.logout().await?;
    let plane =
        DataPlane::start_with(&dovecot, &[("alice", ALICE.0, ALICE.1)], Link::Tls, OPEN).await?;
    let mut rest = plane.client().await?;
    let mut mcp = plane.client().await?;
    for i in 0..20 {
        rest_list(&mut rest).await?;
        mcp_list(&mut mcp, i).await?;
    }
    let (mut rest_t, mut mcp_t) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let t = Instant::now();
        rest_list(&mut rest).await?;
        rest_t.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        mcp_list(&mut mcp, i).await?;
        mcp_t.push(t.elapsed().as_secs_f64());
    }
    let (rest_wall, mcp_wall) = (rest_t.iter().sum(), mcp_t.iter().sum());
    let rest_s = summary(rest_t, rest_wall);
    let mcp_s = summary(mcp_t, mcp_wall);
    plane.stop().await;
    Ok(json!({
        "benchmark": "mcp list_messages vs REST listing of the same page",
        "page": PAGE,
        "rest": rest_s,
        "mcp": mcp_s,
        "ratio_p50": ratio(&mcp_s, &rest_s, "p50_ms"),
        "ratio_p99": ratio(&mcp_s, &rest_s, "p99_ms"),
        "target_ratio_p50": 1.2,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mcp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
