//! The pieces of `tls-bench`: certificates, the two servers, the load
//! generator, idle-connection memory and rotation timing.

pub mod certs;
pub mod dataplane;
pub mod idle;
pub mod nginx;
pub mod rotation;
pub mod wrk;

use std::{net::SocketAddr, time::Duration};

use serde_json::{Value, json};

/// Errors of the benchmark: reported and fatal.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The body both servers answer `GET /api/v1/status` with.
pub const BODY: &str = r#"{"service":"rustymail","version":"0.1.0"}"#;
/// Connections for the keep-alive and handshake runs.
pub const CONNECTIONS: u32 = 50;
/// Idle connections opened for the memory measurement.
pub const IDLE_CONNECTIONS: usize = 1000;

/// A free loopback port.
pub fn free_addr() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Figures of one server.
struct Figures {
    keep_alive: wrk::Report,
    handshakes: wrk::Report,
    idle_bytes: f64,
}

impl Figures {
    fn json(&self) -> Value {
        json!({
            "keepalive_requests_per_s": round(self.keep_alive.requests_per_s),
            "keepalive_p99_ms": round(self.keep_alive.p99_ms),
            "keepalive_errors": self.keep_alive.errors,
            "new_connection_handshakes_per_s": round(self.handshakes.requests_per_s),
            "new_connection_p99_ms": round(self.handshakes.p99_ms),
            "new_connection_errors": self.handshakes.errors,
            "idle_tls_connection_bytes": self.idle_bytes.round(),
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { round(a / b) } else { f64::NAN }
}

fn parse_duration(args: &[String]) -> Result<Duration> {
    match args {
        [] => Ok(Duration::from_secs(10)),
        [flag, secs] if flag == "--duration" => Ok(Duration::from_secs(secs.parse()?)),
        _ => Err("usage: tls-bench [--duration SECONDS]".into()),
    }
}

async fn measure(
    name: &str,
    url: &str,
    pids: &dyn Fn() -> Vec<u32>,
    ca_pem: &str,
    api: SocketAddr,
    duration: Duration,
) -> Result<Figures> {
    eprintln!("tls-bench: {name}: idle connections");
    let idle_bytes = idle::bytes_per_connection(pids, ca_pem, api, IDLE_CONNECTIONS).await?;
    eprintln!("tls-bench: {name}: keep-alive load");
    let keep_alive = wrk::run(url, duration, false)?;
    eprintln!("tls-bench: {name}: new-connection load");
    let handshakes = wrk::run(url, duration, true)?;
    Ok(Figures {
        keep_alive,
        handshakes,
        idle_bytes,
    })
}

/// Runs the whole benchmark and prints its JSON on standard output.
pub fn run(args: &[String]) -> Result<()> {
    let duration = parse_duration(args)?;
    let work = tempfile::tempdir()?;
    let certs = certs::CertDir::new(work.path())?;
    let dp = dataplane::Process::start(work.path(), &certs)?;
    let ng = nginx::Process::start(work.path(), &certs)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let ca = certs.ca_pem();
    let (dp_figures, ng_figures, rotation) = runtime.block_on(async {
        dp.wait_ready().await?;
        ng.wait_ready().await?;
        let dp_pid = dp.pid();
        let dp_figures = measure(
            "dataplane",
            &dp.url(),
            &|| vec![dp_pid],
            &ca,
            dp.api,
            duration,
        )
        .await?;
        let ng_figures = measure("nginx", &ng.url(), &|| ng.pids(), &ca, ng.api, duration).await?;
        eprintln!("tls-bench: dataplane: certificate rotation");
        let rotation = rotation::pickup_times(&certs, dp.api, 5).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((dp_figures, ng_figures, rotation))
    })?;
    drop(dp);
    drop(ng);

    let max_rotation_ms = rotation.iter().copied().fold(0.0, f64::max);
    let report = json!({
        "machine": { "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()) },
        "duration_s": duration.as_secs(),
        "connections": CONNECTIONS,
        "idle_connections": IDLE_CONNECTIONS,
        "dataplane": dp_figures.json(),
        "nginx": ng_figures.json(),
        "ratio_dataplane_over_nginx": {
            "keepalive_requests_per_s": ratio(dp_figures.keep_alive.requests_per_s, ng_figures.keep_alive.requests_per_s),
            "keepalive_p99_ms": ratio(dp_figures.keep_alive.p99_ms, ng_figures.keep_alive.p99_ms),
            "new_connection_handshakes_per_s": ratio(dp_figures.handshakes.requests_per_s, ng_figures.handshakes.requests_per_s),
            "idle_tls_connection_bytes": ratio(dp_figures.idle_bytes, ng_figures.idle_bytes),
        },
        "rotation_pickup_ms": rotation.iter().map(|t| round(*t)).collect::<Vec<_>>(),
        "targets": {
            "keepalive_ratio_at_least_1": dp_figures.keep_alive.requests_per_s >= ng_figures.keep_alive.requests_per_s,
            "handshake_ratio_at_least_1": dp_figures.handshakes.requests_per_s >= ng_figures.handshakes.requests_per_s,
            "p99_under_5ms": dp_figures.keep_alive.p99_ms < 5.0,
            "idle_connection_under_32KiB": dp_figures.idle_bytes < 32.0 * 1024.0,
            "rotation_under_1s": max_rotation_ms < 1000.0,
        },
    });
    println!("{report}");
    Ok(())
}
