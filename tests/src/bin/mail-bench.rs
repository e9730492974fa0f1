//! `mail-bench`: listing 50 envelopes through the data plane's API against
//! the same listing through a direct async-imap session, on one Dovecot.
//!
//! Both sides are warm: the API is asked over one kept-alive HTTPS
//! connection with its IMAP pool logged in, the direct session is logged in
//! before timing. A direct listing is what a stateless IMAP client does for
//! a page: `EXAMINE` the folder and `FETCH` the newest 50 messages'
//! `(UID FLAGS RFC822.SIZE ENVELOPE)`, the same commands the data plane
//! sends for a folder it has not listed before. Dovecot's own caches are
//! warmed by one direct pass over every folder first.
//!
//! - cold: every API listing is the data plane's first of its folder (one
//!   folder of 50 messages per sample, a fresh data plane per pass);
//! - repeated: one folder listed again and again.
//!
//! The two sides take turns, one listing each, so that both see the same
//! machine. The data plane runs as in the mail tests (no credentials asked,
//! rate limits out of reach), its audit log on (written to a file, so that
//! standard output carries only the report).
//!
//! Prints one JSON object: p50, p99 (ms) and requests/s of each side (one
//! request at a time: samples over the time spent in that side's requests),
//! and the ratios API/direct of p50 and p99.
//!
//! `cargo run --release -p rustymail-tests --bin mail-bench [-- --folders 100 --passes 3 --repeats 1000]`

use std::{process::ExitCode, time::Instant};

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

/// One API listing of `name`, checked.
async fn api_list(c: &mut ApiClient, name: &str) -> Result<()> {
    let reply = c
        .get(&format!("/api/v1/folders/{name}/emails?limit={PAGE}"))
        .await?;
    if reply.status != 200
        || reply.json()["messages"].as_array().map(Vec::len) != Some(PAGE as usize)
    {
        return Err(format!("listing answered {}: {:?}", reply.status, reply.body).into());
    }
    Ok(())
}

/// The latencies of each side and the time spent in each.
#[derive(Default)]
struct Timings {
    api: Vec<f64>,
    direct: Vec<f64>,
    api_wall: f64,
    direct_wall: f64,
}

impl Timings {
    fn api(&mut self, t: Instant) {
        let s = t.elapsed().as_secs_f64();
        self.api.push(s);
        self.api_wall += s;
    }

    fn direct(&mut self, t: Instant) {
        let s = t.elapsed().as_secs_f64();
        self.direct.push(s);
        self.direct_wall += s;
    }

    fn report(self) -> serde_json::Value {
        let api = summary(self.api, self.api_wall);
        let direct = summary(self.direct, self.direct_wall);
        json!({
            "ratio_p50": ratio(&api, &direct, "p50_ms"),
            "ratio_p99": ratio(&api, &direct, "p99_ms"),
            "api": api,
            "direct": direct,
        })
    }
}

/// A data plane in front of `dovecot` as in production, its audit log in `dir`.
async fn data_plane(dovecot: &Dovecot, dir: &std::path::Path) -> Result<DataPlane> {
    let settings = format!(
        "{OPEN}\naudit: {{ file: \"{}\" }}",
        dir.join("audit.log").display()
    );
    DataPlane::start_with(
        dovecot,
        &[("alice", ALICE.0, ALICE.1)],
        Link::Tls,
        &settings,
    )
    .await
}

async fn run(a: Args) -> Result<serde_json::Value> {
    let dovecot = Dovecot::start(Options::default())?;
    let work = tempfile::tempdir()?;
    seed(&dovecot, a.folders).await?;
    let mut d = direct::login(&dovecot, ALICE.0, ALICE.1).await?;
    for f in 0..a.folders {
        direct_list(&mut d, &folder(f)).await?;
    }

    // Cold: a fresh data plane per pass, each folder listed once by each side.
    let mut cold = Timings::default();
    for _ in 0..a.passes {
        let server = data_plane(&dovecot, work.path()).await?;
        let mut c = server.client().await?;
        let warm = c.get("/api/v1/folders").await?;
        if warm.status != 200 {
            return Err(format!("warm-up answered {}", warm.status).into());
        }
        for f in 0..a.folders {
            let t = Instant::now();
            let n = direct_list(&mut d, &folder(f)).await?;
            cold.direct(t);
            if n != PAGE as usize {
                return Err(format!("the direct listing found {n} messages").into());
            }
            let t = Instant::now();
            api_list(&mut c, &folder(f)).await?;
            cold.api(t);
        }
        server.stop().await;
    }

    // Repeated listing of one folder.
    let name = folder(0);
    let server = data_plane(&dovecot, work.path()).await?;
    let mut c = server.client().await?;
    api_list(&mut c, &name).await?;
    let mut repeated = Timings::default();
    for _ in 0..a.repeats {
        let t = Instant::now();
        direct_list(&mut d, &name).await?;
        repeated.direct(t);
        let t = Instant::now();
        api_list(&mut c, &name).await?;
        repeated.api(t);
    }
    server.stop().await;

    Ok(json!({
        "benchmark": "mail-bench",
        "page": PAGE,
        "folders": a.folders,
        "cold": cold.report(),
        "repeated": repeated.report(),
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
