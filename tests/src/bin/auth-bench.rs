//! `auth-bench`: what authentication costs the data plane, on this machine.
//!
//! Two data planes run on loopback, started from this same executable as
//! `rustymail-dataplane serve` starts (same library, runtime, allocator):
//! one serves `GET /api/v1/status` as a public path, the other requires
//! credentials for it. wrk drives the same route, kept alive over 50
//! connections, three ways: without credentials on the first, with an API
//! key (`X-API-Key`) and with a JWT access token (`Authorization: Bearer`)
//! on the second. Every round runs the three in turn, the order reversed
//! in every other round, so that a drift of the machine's speed weighs on
//! all alike. Rate limits run on both servers, with budgets out of reach.
//! The report, one JSON object on standard output, gives every slice, the
//! mean requests/s and p99 of each way, and their ratios to the
//! unauthenticated figures.
//!
//! `cargo run --release -p rustymail-tests --bin auth-bench [-- --duration 10 --rounds 2]`
//! (needs `wrk`).

#[path = "../tls_bench/wrk.rs"]
mod wrk;

use std::{net::SocketAddr, path::Path, process::ExitCode, time::Duration};

use rustymail_dataplane::{
    auth::jwt::{JwtKeys, unix_now},
    config::Jwt,
};
use rustymail_tests::bench::{DataPlaneChild, SERVE_ARG, free_addr, serve_child, two_decimals};
use serde_json::json;

/// The allocator of `rustymail-dataplane` (see its `main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Errors of the benchmark: reported and fatal.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Connections wrk keeps open.
const CONNECTIONS: u32 = 50;

/// Unmeasured load before each slice.
const SLICE_WARM_UP: Duration = Duration::from_secs(1);

/// The API key of the benchmark.
const KEY: &str = "auth-bench-key-3b9f1c7e5a2d4f6b8c0e1a3d5f7b9c2e4a6d8f0b";

/// The JWT secret of the benchmark.
const SECRET: &str = "auth-bench-secret-8f0c5a3d9e1b47c2a6f4d8e0b3c7a1f5";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some(SERVE_ARG) {
        serve_child(args.get(2).map(String::as_str))
    } else {
        run(&args[1..])
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A data plane in a child process; stopped on drop.
struct Process {
    _child: DataPlaneChild,
    api: SocketAddr,
}

impl Process {
    /// Starts a data plane with `auth` (a YAML flow mapping) in `work`.
    fn start(work: &Path, name: &str, auth: &str) -> Result<Self> {
        let (api, admin) = (free_addr()?, free_addr()?);
        let config = work.join(format!("{name}.yaml"));
        std::fs::write(
            &config,
            format!(
                "listen: {{api: '{api}', admin: '{admin}'}}\n\
                 tls: {{certFile: '{w}/tls.crt', keyFile: '{w}/tls.key'}}\n\
                 auth: {auth}\n\
                 rateLimits: {{perIp: 999999999/second, perUser: 999999999/second, perApiKey: 999999999/second}}\n\
                 accounts:\n  - name: bench\n    imap: {{host: imap.invalid}}\n    \
                 usernameFile: /dev/null\n    passwordFile: /dev/null\n",
                w = work.display()
            ),
        )?;
        let child = DataPlaneChild::spawn(&config, &work.join(format!("{name}.log")))?;
        Ok(Self { _child: child, api })
    }

    /// Waits until the API listener accepts connections (`/readyz` also
    /// waits for the IMAP account, which the benchmark does not need).
    fn wait_ready(&self) -> Result<()> {
        for _ in 0..400 {
            if std::net::TcpStream::connect(self.api).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err("a data plane did not start serving".into())
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1/status", self.api.port())
    }
}

/// One way of calling the route.
struct Way {
    name: &'static str,
    url: String,
    header: Option<String>,
}

impl Way {
    fn run(&self, duration: Duration) -> Result<wrk::Report> {
        let headers: Vec<&str> = self.header.as_deref().into_iter().collect();
        let report = wrk::run(&self.url, duration, false, &headers)?;
        if report.errors > 0 {
            return Err(format!(
                "{}: {} failed or non-2xx responses",
                self.name, report.errors
            )
            .into());
        }
        Ok(report)
    }
}

fn options(args: &[String]) -> Result<(Duration, usize)> {
    let (mut duration, mut rounds) = (Duration::from_secs(10), 2);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--duration" => duration = Duration::from_secs(value.parse::<u64>()?.max(1)),
            "--rounds" => rounds = value.parse::<usize>()?.max(1),
            _ => return Err("usage: auth-bench [--duration SECONDS] [--rounds N]".into()),
        }
    }
    Ok((duration, rounds))
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Writes a self-signed certificate for 127.0.0.1, the key file and the
/// JWT secret into `work`.
fn write_credentials(work: &Path) -> Result<()> {
    let key = rcgen::KeyPair::generate()?;
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert = rcgen::CertificateParams::new(names)?.self_signed(&key)?;
    std::fs::write(work.join("tls.crt"), cert.pem())?;
    std::fs::write(work.join("tls.key"), key.serialize_pem())?;
    std::fs::write(work.join("api-keys"), format!("bench:{KEY}\n"))?;
    std::fs::write(work.join("jwt-secret"), SECRET)?;
    Ok(())
}

fn run(args: &[String]) -> Result<()> {
    let (duration, rounds) = options(args)?;
    let work = tempfile::tempdir()?;
    let w = work.path();
    write_credentials(w)?;
    let open = Process::start(w, "open", "{apiKeys: {publicPaths: ['/api/v1/status']}}")?;
    let secured = Process::start(
        w,
        "secured",
        &format!(
            "{{apiKeys: {{file: '{k}'}}, jwt: {{secretFile: '{s}'}}}}",
            k = w.join("api-keys").display(),
            s = w.join("jwt-secret").display()
        ),
    )?;
    open.wait_ready()?;
    secured.wait_ready()?;
    let token = JwtKeys::new(SECRET.as_bytes(), &Jwt::default())
        .map_err(|e| e.to_string())?
        .issue(
            "bench",
            rustymail_dataplane::auth::scope::Scopes::ALL,
            unix_now(),
        )
        .access_token;
    let ways = [
        Way {
            name: "unauthenticated",
            url: open.url(),
            header: None,
        },
        Way {
            name: "api_key",
            url: secured.url(),
            header: Some(format!("X-API-Key: {KEY}")),
        },
        Way {
            name: "jwt",
            url: secured.url(),
            header: Some(format!("Authorization: Bearer {token}")),
        },
    ];
    let load_at_start = load_average();
    for way in &ways {
        eprintln!("auth-bench: {}: warm-up", way.name);
        way.run(Duration::from_secs(3))?;
    }
    let mut slices = Vec::new();
    let mut sums = [(0.0, 0.0); 3];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1, 2]
        } else {
            vec![2, 1, 0]
        };
        for i in order {
            let way = &ways[i];
            eprintln!(
                "auth-bench: round {}/{rounds}: {} for {duration:?}",
                round + 1,
                way.name
            );
            way.run(SLICE_WARM_UP)?;
            let report = way.run(duration)?;
            sums[i].0 += report.requests_per_s;
            sums[i].1 += report.p99_ms;
            slices.push(json!({
                "round": round + 1,
                "way": way.name,
                "requests_per_s": two_decimals(report.requests_per_s),
                "p50_ms": two_decimals(report.p50_ms),
                "p99_ms": two_decimals(report.p99_ms),
                "errors": report.errors,
            }));
        }
    }
    let n = rounds as f64;
    let mean = |i: usize| (sums[i].0 / n, sums[i].1 / n);
    let (base_rps, base_p99) = mean(0);
    let figures = |i: usize| {
        let (rps, p99) = mean(i);
        json!({
            "requests_per_s": two_decimals(rps),
            "p99_ms": two_decimals(p99),
            "throughput_ratio": (rps / base_rps * 1000.0).round() / 1000.0,
            "p99_ratio": (p99 / base_p99 * 1000.0).round() / 1000.0,
        })
    };
    let report = json!({
        "benchmark": "auth-bench",
        "route": "GET /api/v1/status",
        "connections": CONNECTIONS,
        "duration_s": duration.as_secs(),
        "rounds": rounds,
        "load_average_at_start": two_decimals(load_at_start),
        "load_average_at_end": two_decimals(load_average()),
        "unauthenticated": figures(0),
        "api_key": figures(1),
        "jwt": figures(2),
        "slices": slices,
    });
    println!("{report}");
    Ok(())
}
