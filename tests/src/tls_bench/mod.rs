//! The pieces of `tls-bench`: certificates, the two servers, the load
//! generators, idle-connection memory, rotation timing, CPU accounting and
//! the report.
//!
//! One run measures both servers in several rounds. Each round starts both
//! afresh and warms them up, then runs each load on both in A-B-B-A order
//! (which server is A alternates between rounds), so that the machine's
//! drifting speed weighs on both alike; the report gives every round and the
//! median of each figure, with the noise (load average, CPU used by other
//! processes) next to the figures it may have disturbed.
//!
//! Depends on no other module of this crate.

pub mod certs;
pub mod dataplane;
pub mod handshake;
pub mod idle;
pub mod nginx;
pub mod report;
pub mod rotation;
pub mod system;
pub mod wrk;

use std::{net::SocketAddr, time::Duration};

use self::{
    report::{Measurement, Round, ServerFigures},
    system::Sampler,
};

/// Errors of the benchmark: reported and fatal.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The body both servers answer `GET /api/v1/status` with.
pub const BODY: &str = r#"{"service":"rustymail","version":"0.1.0"}"#;
/// Connections for the keep-alive and handshake runs.
pub const CONNECTIONS: u32 = 50;
/// Idle connections opened for the memory measurement.
pub const IDLE_CONNECTIONS: usize = 1000;
/// Keep-alive load before each server's measurements, not counted.
pub const WARM_UP: Duration = Duration::from_secs(3);
/// The same in the first round, long enough for a machine that was idle or
/// busy with something else to settle (both servers ran slower in a first
/// round after a short warm-up, whichever went first).
pub const FIRST_WARM_UP: Duration = Duration::from_secs(10);

pub use rustymail_tests::bench::free_addr;

/// What a run was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Length of each load run.
    pub duration: Duration,
    /// Rounds of measurements of both servers.
    pub rounds: usize,
    /// Longest wait for a quiet machine before starting.
    pub wait_quiet: Duration,
}

/// Below this 1-minute load average the machine counts as quiet.
pub const QUIET_LOAD: f64 = 1.5;

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        duration: Duration::from_secs(10),
        rounds: 3,
        wait_quiet: Duration::ZERO,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--duration" => {
                let seconds: u64 = value.parse()?;
                if seconds < 2 {
                    // Each load runs as two halves, and wrk counts whole seconds.
                    return Err("--duration must be at least 2 seconds".into());
                }
                options.duration = Duration::from_secs(seconds);
            }
            "--rounds" => options.rounds = value.parse::<usize>()?.max(1),
            "--wait-quiet" => options.wait_quiet = Duration::from_secs(value.parse()?),
            _ => {
                return Err(
                    "usage: tls-bench [--duration SECONDS] [--rounds N] [--wait-quiet SECONDS]"
                        .into(),
                );
            }
        }
    }
    Ok(options)
}

/// Waits, at most `limit`, until the 1-minute load average is below
/// [`QUIET_LOAD`]; returns whether it is.
fn wait_for_quiet(limit: Duration) -> bool {
    let started = std::time::Instant::now();
    loop {
        let [one, ..] = system::load_average();
        if one < QUIET_LOAD {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        eprintln!("tls-bench: load average {one:.2}, waiting for a quiet machine");
        std::thread::sleep(Duration::from_secs(10));
    }
}

/// A server under test, as the measurements see it.
struct Target<'a> {
    name: &'static str,
    url: String,
    api: SocketAddr,
    pids: &'a dyn Fn() -> Vec<u32>,
    dataplane: Option<&'a dataplane::Process>,
}

/// Runs `load` while counting the server's and everyone else's CPU time.
fn sampled<T>(target: &Target<'_>, load: impl FnOnce() -> Result<T>) -> Result<(T, system::Usage)> {
    let sampler = Sampler::start((target.pids)());
    let out = load()?;
    Ok((out, sampler.finish()))
}

/// The loads each server is measured under.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// wrk over kept-alive connections.
    KeepAlive,
    /// wrk with `Connection: close`: new connections, sessions resumed.
    Resumed,
    /// New connections with full handshakes.
    Full,
}

/// Unmeasured load at the start of every slice, so that neither server is
/// measured cold after the other one had the machine.
pub const SLICE_WARM_UP: Duration = Duration::from_secs(1);

/// One run of `load` against `target` for `duration`, after
/// [`SLICE_WARM_UP`] of the same load.
async fn slice(
    target: &Target<'_>,
    ca: &str,
    load: Load,
    duration: Duration,
) -> Result<Measurement> {
    eprintln!("tls-bench: {}: {load:?} for {duration:?}", target.name);
    match load {
        Load::KeepAlive | Load::Resumed => {
            wrk::run(
                &target.url,
                SLICE_WARM_UP,
                matches!(load, Load::Resumed),
                &[],
            )?;
        }
        Load::Full => {
            handshake::full(ca, target.api, SLICE_WARM_UP).await?;
        }
    }
    Ok(match load {
        Load::KeepAlive => {
            let (report, usage) = sampled(target, || wrk::run(&target.url, duration, false, &[]))?;
            Measurement::new(report, usage)
        }
        Load::Resumed => {
            let before = match target.dataplane {
                Some(dp) => Some(dp.handshakes().await?),
                None => None,
            };
            let (report, usage) = sampled(target, || wrk::run(&target.url, duration, true, &[]))?;
            let mut resumed = Measurement::new(report, usage);
            if let (Some(dp), Some((full0, resumed0))) = (target.dataplane, before) {
                let (full1, resumed1) = dp.handshakes().await?;
                let (full, again) = (full1 - full0, resumed1 - resumed0);
                resumed.resumed_fraction = Some(again as f64 / (full + again).max(1) as f64);
            }
            resumed
        }
        Load::Full => {
            let sampler = Sampler::start((target.pids)());
            let report = handshake::full(ca, target.api, duration).await?;
            Measurement::new(report, sampler.finish())
        }
    })
}

/// `load` on `a` and `b` in A-B-B-A order, half of `duration` a slice, so
/// that a drift of the machine's speed during the round weighs on both alike.
async fn abba(
    a: &Target<'_>,
    b: &Target<'_>,
    ca: &str,
    load: Load,
    duration: Duration,
) -> Result<(Measurement, Measurement)> {
    let half = duration / 2;
    let a1 = slice(a, ca, load, half).await?;
    let b1 = slice(b, ca, load, half).await?;
    let b2 = slice(b, ca, load, half).await?;
    let a2 = slice(a, ca, load, half).await?;
    Ok((Measurement::combine(a1, a2), Measurement::combine(b1, b2)))
}

/// One round: both servers started afresh (so that memory freed by an
/// earlier round cannot hide the cost of new connections), warmed up, each
/// load measured on both in A-B-B-A order, then idle memory, and stopped.
async fn round(
    work: &std::path::Path,
    certs: &certs::CertDir,
    options: &Options,
    dataplane_first: bool,
    warm_up: Duration,
) -> Result<Round> {
    let load_average_before = system::load_average();
    let ca = certs.ca_pem();
    let dp = dataplane::Process::start(work, certs)?;
    let ng = nginx::Process::start(work, certs)?;
    dp.wait_ready().await?;
    ng.wait_ready().await?;
    let dp_pid = dp.pid();
    let dp_pids = move || vec![dp_pid];
    let ng_pids = || ng.pids();
    let dp_target = Target {
        name: "dataplane",
        url: dp.url(),
        api: dp.api,
        pids: &dp_pids,
        dataplane: Some(&dp),
    };
    let ng_target = Target {
        name: "nginx",
        url: ng.url(),
        api: ng.api,
        pids: &ng_pids,
        dataplane: None,
    };
    let (a, b) = if dataplane_first {
        (&dp_target, &ng_target)
    } else {
        (&ng_target, &dp_target)
    };
    for target in [a, b] {
        eprintln!("tls-bench: {}: warm-up", target.name);
        wrk::run(&target.url, warm_up, false, &[])?;
    }
    let mut figures = Vec::with_capacity(2);
    let (ka_a, ka_b) = abba(a, b, &ca, Load::KeepAlive, options.duration).await?;
    let (res_a, res_b) = abba(a, b, &ca, Load::Resumed, options.duration).await?;
    let (full_a, full_b) = abba(a, b, &ca, Load::Full, options.duration).await?;
    for (target, keep_alive, resumed, full) in [(a, ka_a, res_a, full_a), (b, ka_b, res_b, full_b)]
    {
        eprintln!("tls-bench: {}: idle connections", target.name);
        let idle_bytes =
            idle::bytes_per_connection(target.pids, &ca, target.api, IDLE_CONNECTIONS).await?;
        figures.push(ServerFigures {
            keep_alive,
            resumed,
            full,
            idle_bytes,
            resumes_sessions: handshake::resumes(&ca, target.api).await?,
        });
    }
    let (fa, fb) = (figures[0], figures[1]);
    let (dataplane, nginx) = if dataplane_first { (fa, fb) } else { (fb, fa) };
    Ok(Round {
        dataplane_first,
        load_average_before,
        dataplane,
        nginx,
    })
}

/// Runs the whole benchmark and prints its JSON on standard output.
pub fn run(args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    let quiet_at_start = wait_for_quiet(options.wait_quiet);
    let load_at_start = system::load_average();
    let work = tempfile::tempdir()?;
    let certs = certs::CertDir::new(work.path())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (rounds, rotation) = runtime.block_on(async {
        let mut rounds = Vec::with_capacity(options.rounds);
        for n in 0..options.rounds {
            eprintln!("tls-bench: round {}/{}", n + 1, options.rounds);
            let warm_up = if n == 0 { FIRST_WARM_UP } else { WARM_UP };
            rounds.push(round(work.path(), &certs, &options, n % 2 == 0, warm_up).await?);
        }
        eprintln!("tls-bench: dataplane: certificate rotation");
        let dp = dataplane::Process::start(work.path(), &certs)?;
        dp.wait_ready().await?;
        let rotation = rotation::pickup_times(&certs, dp.api, 5).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((rounds, rotation))
    })?;
    let report = report::json(
        &options,
        quiet_at_start,
        load_at_start,
        &rounds,
        &rotation,
        nginx::version(),
    );
    println!("{report}");
    Ok(())
}
