//! `mail-bench`: listing 50 envelopes through the data plane's API against
//! the same listing through a direct async-imap session, on one Dovecot.
//!
//! Both sides are warm: the API is asked over one kept-alive HTTPS
//! connection with its IMAP pool logged in, the direct session is logged in
//! before timing. A direct listing is what a stateless IMAP client does for
//! a page: `EXAMINE` the folder and `FETCH` the newest 50 messages'
//! `(UID FLAGS RFC822.SIZE ENVELOPE)`. Dovecot's own caches are warmed by one
//! direct pass over every folder first.
//!
//! - cold: every API listing is the data plane's first of its folder (one
//!   folder of 50 messages per sample, a fresh data plane per pass);
//! - repeated: one folder listed again and again.
//!
//! Prints one JSON object: p50, p99 (ms) and requests/s of each side, and
//! the ratios API/direct of p50 and p99.
//!
//! `cargo run --release -p rustymail-tests --bin mail-bench [-- --folders 100 --passes 3 --repeats 1000]`

use std::{process::ExitCode, time::Instant};

use rustymail_tests::{
    bench::two_decimals as round2,
    mail::{
        Result, direct,
        dovecot::{ALICE, Dovecot, Options},
        harness::{DataPlane, Link},
        samples,
    },
};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Messages per folder, and the page listed.
const PAGE: u32 = 50;

struct Args {
    folders: usize,
    passes: usize,
    repeats: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        folders: 100,
        passes: 3,
        repeats: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: usize = it.next().ok_or(format!("{flag} needs a value"))?.parse()?;
        match flag.as_str() {
            "--folders" => a.folders = value,
            "--passes" => a.passes = value,
            "--repeats" => a.repeats = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if a.folders == 0 || a.passes == 0 || a.repeats == 0 {
        return Err("--folders, --passes and --repeats must be at least 1".into());
    }
    Ok(a)
}

/// Latencies in seconds, summarised.
fn summary(mut samples: Vec<f64>, wall: f64) -> serde_json::Value {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize] * 1000.0;
    json!({
        "samples": samples.len(),
        "p50_ms": round2(at(0.5)),
        "p99_ms": round2(at(0.99)),
        "requests_per_s": round2(samples.len() as f64 / wall),
    })
}

fn ratio(api: &serde_json::Value, direct: &serde_json::Value, key: &str) -> f64 {
    round2(api[key].as_f64().unwrap_or(0.0) / direct[key].as_f64().unwrap_or(f64::NAN))
}

fn folder(i: usize) -> String {
    format!("bench-{i:03}")
}

async fn seed(dovecot: &Dovecot, folders: usize) -> Result<()> {
    let mut c = direct::login(dovecot, ALICE.0, ALICE.1).await?;
    for f in 0..folders {
        c.session.create(folder(f)).await?;
        for m in 0..PAGE {
            let raw = samples::plain(
                &format!("sender{m}@example.com"),
                &format!("message {m} of folder {f}"),
                "A short body.",
            );
            c.session.append(folder(f), None, None, raw).await?;
        }
    }
    c.session.logout().await?;
    Ok(())
}

/// One direct listing of `name`, as a stateless client does it.
async fn direct_list(
    c: &mut rustymail_dataplane::imap::connect::Connection,
    name: &str,
) -> Result<usize> {
    use futures::TryStreamExt;
    let mailbox = c.session.examine(name).await?;
    let hi = mailbox.exists;
    let lo = hi.saturating_sub(PAGE - 1).max(1);
    let fetched: Vec<_> = c
        .session
        .fetch(format!("{lo}:{hi}"), "(UID FLAGS RFC822.SIZE ENVELOPE)")
        .await?
        .try_collect()
        .await?;
    Ok(fetched.len())
}

async fn run(a: Args) -> Result<serde_json::Value> {
    let dovecot = Dovecot::start(Options::default())?;
    seed(&dovecot, a.folders).await?;
    let mut d = direct::login(&dovecot, ALICE.0, ALICE.1).await?;
    for f in 0..a.folders {
        direct_list(&mut d, &folder(f)).await?;
    }

    // Direct, over every folder, `passes` times.
    let (mut direct_cold, started) = (Vec::new(), Instant::now());
    for _ in 0..a.passes {
        for f in 0..a.folders {
            let t = Instant::now();
            let n = direct_list(&mut d, &folder(f)).await?;
            direct_cold.push(t.elapsed().as_secs_f64());
            assert_eq!(n, PAGE as usize);
        }
    }
    let direct_cold = summary(direct_cold, started.elapsed().as_secs_f64());

    // The API, cold: a fresh data plane per pass.
    let (mut api_cold, mut wall) = (Vec::new(), 0.0);
    for _ in 0..a.passes {
        let server = DataPlane::start(&dovecot, &[("alice", ALICE.0, ALICE.1)], Link::Tls).await?;
        let mut c = server.client().await?;
        let warm = c.get("/api/v1/folders").await?;
        if warm.status != 200 {
            return Err(format!("warm-up answered {}", warm.status).into());
        }
        let started = Instant::now();
        for f in 0..a.folders {
            let t = Instant::now();
            let reply = c
                .get(&format!(
                    "/api/v1/folders/{}/emails?limit={PAGE}",
                    folder(f)
                ))
                .await?;
            api_cold.push(t.elapsed().as_secs_f64());
            if reply.status != 200
                || reply.json()["messages"].as_array().map(Vec::len) != Some(PAGE as usize)
            {
                return Err(format!("listing answered {}: {:?}", reply.status, reply.body).into());
            }
        }
        wall += started.elapsed().as_secs_f64();
        server.stop().await;
    }
    let api_cold = summary(api_cold, wall);

    // Repeated listing of one folder.
    let name = folder(0);
    let (mut direct_rep, started) = (Vec::new(), Instant::now());
    for _ in 0..a.repeats {
        let t = Instant::now();
        direct_list(&mut d, &name).await?;
        direct_rep.push(t.elapsed().as_secs_f64());
    }
    let direct_rep = summary(direct_rep, started.elapsed().as_secs_f64());
    let server = DataPlane::start(&dovecot, &[("alice", ALICE.0, ALICE.1)], Link::Tls).await?;
    let mut c = server.client().await?;
    let path = format!("/api/v1/folders/{name}/emails?limit={PAGE}");
    c.get(&path).await?;
    let (mut api_rep, started) = (Vec::new(), Instant::now());
    for _ in 0..a.repeats {
        let t = Instant::now();
        let reply = c.get(&path).await?;
        api_rep.push(t.elapsed().as_secs_f64());
        if reply.status != 200 {
            return Err(format!("listing answered {}", reply.status).into());
        }
    }
    let api_rep = summary(api_rep, started.elapsed().as_secs_f64());
    server.stop().await;

    Ok(json!({
        "benchmark": "mail-bench",
        "page": PAGE,
        "folders": a.folders,
        "cold": {
            "api": api_cold,
            "direct": direct_cold,
            "ratio_p50": ratio(&api_cold, &direct_cold, "p50_ms"),
            "ratio_p99": ratio(&api_cold, &direct_cold, "p99_ms"),
        },
        "repeated": {
            "api": api_rep,
            "direct": direct_rep,
            "ratio_p50": ratio(&api_rep, &direct_rep, "p50_ms"),
            "ratio_p99": ratio(&api_rep, &direct_rep, "p99_ms"),
        },
    }))
}

fn main() -> ExitCode {
    let result = args().and_then(|a| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run(a))
    });
    match result {
        Ok(report) => {
            println!("{report:#}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mail-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
