//! The figures of a run and the JSON report: every round, the median of each
//! figure over the rounds, the data plane / nginx ratios of the medians, and
//! the targets judged on the medians.

use rustymail_tests::bench::two_decimals;
use serde_json::{Value, json};

use super::{
    CONNECTIONS, FIRST_WARM_UP, IDLE_CONNECTIONS, Options, QUIET_LOAD, SLICE_WARM_UP, WARM_UP,
    system::Usage, wrk,
};

/// One load run of one server.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// What the load generator saw.
    pub report: wrk::Report,
    /// Where the CPU went meanwhile.
    pub usage: Usage,
    /// Of the data plane's handshakes, the share that resumed a session.
    pub resumed_fraction: Option<f64>,
}

impl Measurement {
    /// A measurement of `report` under `usage`.
    pub fn new(report: wrk::Report, usage: Usage) -> Self {
        Self {
            report,
            usage,
            resumed_fraction: None,
        }
    }

    /// The two halves of an A-B-B-A measurement as one: rates and medians
    /// averaged, the worse p99, errors and CPU time added up.
    pub fn combine(a: Self, b: Self) -> Self {
        Self {
            report: wrk::Report {
                requests_per_s: (a.report.requests_per_s + b.report.requests_per_s) / 2.0,
                p50_ms: (a.report.p50_ms + b.report.p50_ms) / 2.0,
                p99_ms: a.report.p99_ms.max(b.report.p99_ms),
                errors: a.report.errors + b.report.errors,
            },
            usage: Usage {
                server_cpu_s: a.usage.server_cpu_s + b.usage.server_cpu_s,
                foreign_cpu_percent: (a.usage.foreign_cpu_percent + b.usage.foreign_cpu_percent)
                    / 2.0,
                elapsed: a.usage.elapsed + b.usage.elapsed,
            },
            resumed_fraction: match (a.resumed_fraction, b.resumed_fraction) {
                (Some(x), Some(y)) => Some((x + y) / 2.0),
                (x, y) => x.or(y),
            },
        }
    }

    /// Server CPU microseconds per completed request.
    fn cpu_us_per_request(&self) -> f64 {
        let done = self.report.requests_per_s * self.usage.elapsed.as_secs_f64();
        if done > 0.0 {
            self.usage.server_cpu_s * 1e6 / done
        } else {
            f64::NAN
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "per_s": two_decimals(self.report.requests_per_s),
            "p50_ms": two_decimals(self.report.p50_ms),
            "p99_ms": two_decimals(self.report.p99_ms),
            "errors": self.report.errors,
            "server_cpu_us_per_request": two_decimals(self.cpu_us_per_request()),
            "foreign_cpu_percent": two_decimals(self.usage.foreign_cpu_percent),
        });
        if let Some(f) = self.resumed_fraction {
            v["resumed_fraction"] = json!(two_decimals(f));
        }
        v
    }
}

/// Everything measured of one server in one round.
#[derive(Debug, Clone, Copy)]
pub struct ServerFigures {
    /// Keep-alive requests (wrk).
    pub keep_alive: Measurement,
    /// New connections with wrk, which resumes sessions.
    pub resumed: Measurement,
    /// New connections with full handshakes.
    pub full: Measurement,
    /// Resident memory per idle TLS connection, bytes.
    pub idle_bytes: f64,
    /// Whether the server resumed a session offered to it.
    pub resumes_sessions: bool,
}

impl ServerFigures {
    fn json(&self) -> Value {
        json!({
            "keepalive": self.keep_alive.json(),
            "new_connection_resumed": self.resumed.json(),
            "new_connection_full_handshake": self.full.json(),
            "idle_tls_connection_bytes": self.idle_bytes.round(),
            "resumes_sessions": self.resumes_sessions,
        })
    }
}

/// Both servers' figures in one round.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// Whether the data plane was measured first.
    pub dataplane_first: bool,
    /// Load average when the round began.
    pub load_average_before: [f64; 3],
    /// The data plane's figures.
    pub dataplane: ServerFigures,
    /// nginx's figures.
    pub nginx: ServerFigures,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        two_decimals(a / b)
    } else {
        f64::NAN
    }
}

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// Medians over the rounds of one server's headline figures.
struct Medians {
    keepalive_per_s: f64,
    keepalive_p99_ms: f64,
    resumed_per_s: f64,
    full_per_s: f64,
    idle_bytes: f64,
}

impl Medians {
    fn of(rounds: &[Round], server: impl Fn(&Round) -> &ServerFigures) -> Self {
        let m = |f: &dyn Fn(&ServerFigures) -> f64| {
            median(rounds.iter().map(|r| f(server(r))).collect())
        };
        Self {
            keepalive_per_s: m(&|s| s.keep_alive.report.requests_per_s),
            keepalive_p99_ms: m(&|s| s.keep_alive.report.p99_ms),
            resumed_per_s: m(&|s| s.resumed.report.requests_per_s),
            full_per_s: m(&|s| s.full.report.requests_per_s),
            idle_bytes: m(&|s| s.idle_bytes),
        }
    }

    fn json(&self) -> Value {
        json!({
            "keepalive_requests_per_s": two_decimals(self.keepalive_per_s),
            "keepalive_p99_ms": two_decimals(self.keepalive_p99_ms),
            "new_connection_resumed_handshakes_per_s": two_decimals(self.resumed_per_s),
            "new_connection_full_handshakes_per_s": two_decimals(self.full_per_s),
            "idle_tls_connection_bytes": self.idle_bytes.round(),
        })
    }
}

const LOAD_GENERATOR: &str = "wrk -t2 --latency (keep-alive; Connection: close, \
    which resumes sessions); full handshakes: a rustls client without resumption";
const WORKERS: &str =
    "data plane: tokio, one worker thread per core; nginx: one worker process per core";
const TLS: &str = "ECDSA P-256 certificate; TLS 1.3 and 1.2; the same AEAD suites \
    in the same server order; X25519";

/// The whole report.
pub fn json(
    options: &Options,
    quiet_at_start: bool,
    load_at_start: [f64; 3],
    rounds: &[Round],
    rotation_ms: &[f64],
    nginx_version: String,
) -> Value {
    let dp = Medians::of(rounds, |r| &r.dataplane);
    let ng = Medians::of(rounds, |r| &r.nginx);
    let max_rotation_ms = rotation_ms.iter().copied().fold(0.0, f64::max);
    json!({
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "load_average_at_start": load_at_start,
            "load_average_at_end": super::system::load_average(),
            "quiet_at_start": quiet_at_start,
            "quiet_means_load_below": QUIET_LOAD,
        },
        "setup": {
            "load_generator": LOAD_GENERATOR,
            "workers": WORKERS,
            "tls": TLS,
            "nginx": nginx_version,
            "duration_s": options.duration.as_secs(),
            "warm_up_s": WARM_UP.as_secs(),
            "first_round_warm_up_s": FIRST_WARM_UP.as_secs(),
            "slice_warm_up_s": SLICE_WARM_UP.as_secs(),
            "rounds": options.rounds,
            "order": "each load A-B-B-A, half the duration a slice (p99: the worse half); the data plane is A in odd rounds",
            "connections": CONNECTIONS,
            "idle_connections": IDLE_CONNECTIONS,
        },
        "rounds": rounds.iter().map(|r| json!({
            "dataplane_first": r.dataplane_first,
            "load_average_before": r.load_average_before,
            "dataplane": r.dataplane.json(),
            "nginx": r.nginx.json(),
        })).collect::<Vec<_>>(),
        "median": { "dataplane": dp.json(), "nginx": ng.json() },
        "ratio_dataplane_over_nginx": {
            "keepalive_requests_per_s": ratio(dp.keepalive_per_s, ng.keepalive_per_s),
            "keepalive_p99_ms": ratio(dp.keepalive_p99_ms, ng.keepalive_p99_ms),
            "new_connection_resumed_handshakes_per_s": ratio(dp.resumed_per_s, ng.resumed_per_s),
            "new_connection_full_handshakes_per_s": ratio(dp.full_per_s, ng.full_per_s),
            "idle_tls_connection_bytes": ratio(dp.idle_bytes, ng.idle_bytes),
        },
        "rotation_pickup_ms": rotation_ms.iter().map(|t| two_decimals(*t)).collect::<Vec<_>>(),
        "targets": {
            "keepalive_ratio_at_least_1": dp.keepalive_per_s >= ng.keepalive_per_s,
            "resumed_handshake_ratio_at_least_1": dp.resumed_per_s >= ng.resumed_per_s,
            "full_handshake_ratio_at_least_1": dp.full_per_s >= ng.full_per_s,
            "p99_under_5ms": dp.keepalive_p99_ms < 5.0,
            "idle_connection_under_32KiB": dp.idle_bytes < 32.0 * 1024.0,
            "rotation_under_1s": max_rotation_ms < 1000.0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
