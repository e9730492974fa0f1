//! Running `wrk` and reading its report.

use std::{process::Command, time::Duration};

use super::{CONNECTIONS, Result};

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Completed requests per second.
    pub requests_per_s: f64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Socket errors and non-2xx responses.
    pub errors: u64,
}

/// Drives `url` for `duration` over [`CONNECTIONS`] connections, two
/// threads, and reads the latency distribution (`--latency`). With `close`,
/// every request asks for `Connection: close`, so each one costs a new TCP
/// connection and a TLS handshake, which wrk resumes from the session of the
/// slot's previous connection whenever the server allows it. Every request
/// carries `headers` (`Name: value`) too.
pub fn run(url: &str, duration: Duration, close: bool, headers: &[&str]) -> Result<Report> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{CONNECTIONS}")])
        .arg(format!("-d{}s", duration.as_secs()))
        .arg("--latency");
    if close {
        cmd.args(["-H", "Connection: close"]);
    }
    for header in headers {
        cmd.args(["-H", header]);
    }
    let out = cmd
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse(&text).ok_or_else(|| format!("cannot read wrk's report:\n{text}").into())
}

/// Milliseconds from wrk's `850.00us`, `3.27ms`, `1.02s`.
fn millis(value: &str) -> Option<f64> {
    for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("m", 60_000.0), ("s", 1000.0)] {
        if let Some(n) = value.strip_suffix(unit) {
            return n.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    None
}

/// Reads requests/s, p99 and errors from wrk's `--latency` output.
pub fn parse(text: &str) -> Option<Report> {
    let mut report = Report {
        requests_per_s: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        errors: 0,
    };
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => report.requests_per_s = n.parse().ok()?,
            ["50%", v] => report.p50_ms = millis(v)?,
            ["99%", v] => report.p99_ms = millis(v)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => report.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                report.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    (report.requests_per_s.is_finite() && report.p99_ms.is_finite()).then_some(report)
}
