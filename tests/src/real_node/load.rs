//! A load client for the real-node tests: a client pod sends a steady
//! stream of HTTPS requests to a URL, one at a time, verifying the served
//! certificate against a CA (`/etc/ca/ca.crt`) and the URL's host name; the
//! test reads each request's outcome back and sums them up per phase.
//!
//! ```text
//!  test ─ kubectl exec (one per 5 s burst) ─> client pod: curl, curl, … ─> Service
//!       <─ "CURL_EXIT HTTP_STATUS SECONDS" per request
//! ```

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::Serialize;

use super::ClientPod;

/// How long one `kubectl exec` of the request loop runs.
const BURST_SECONDS: u32 = 5;

/// The request loop run in the pod: `sh -c LOOP load KEY URL SECONDS`
/// prints `CURL_EXIT HTTP_STATUS SECONDS` for each request.
const LOOP: &str = r#"end=$(( $(date +%s) + $3 ))
while [ "$(date +%s)" -lt "$end" ]; do
  out=$(curl -s -o /dev/null --cacert /etc/ca/ca.crt -H "X-API-Key: $1" \
    --connect-timeout 2 -m 5 -w '%{http_code} %{time_total}' "$2")
  echo "$? $out"
done"#;

/// One request's outcome, as the pod reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// curl's exit code (0: a response arrived over a verified connection).
    pub curl_exit: i32,
    /// The HTTP status (0 when there was none).
    pub status: u16,
    /// The request's duration, seconds.
    pub seconds: f64,
}

impl Sample {
    /// Whether the request failed: no response over a verified
    /// connection, or a status not in `accepted`.
    pub fn failed(&self, accepted: &[u16]) -> bool {
        self.curl_exit != 0 || !accepted.contains(&self.status)
    }
}

/// The samples in the loop's output; a line that is not a sample counts as
/// a failed request (the loop was cut off mid-line).
pub fn parse_samples(output: &str) -> Vec<Sample> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            let exit = fields.next().and_then(|f| f.parse().ok());
            let status = fields.next().and_then(|f| f.parse().ok());
            let seconds = fields.next().and_then(|f| f.parse().ok());
            match (exit, status, seconds) {
                (Some(curl_exit), Some(status), Some(seconds)) => Sample {
                    curl_exit,
                    status,
                    seconds,
                },
                _ => Sample {
                    curl_exit: -1,
                    status: 0,
                    seconds: 0.0,
                },
            }
        })
        .collect()
}

/// A phase's figures: requests sent, failed, and the 99th percentile of
/// their durations (nearest rank), printed as one JSON line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseReport {
    /// The phase's name.
    pub phase: String,
    /// Requests sent.
    pub sent: usize,
    /// Requests that failed ([`Sample::failed`]).
    pub failed: usize,
    /// The p99 duration, milliseconds (0 with no requests).
    pub p99_ms: f64,
    /// The failed requests by curl exit and HTTP status, for the message.
    pub failures: BTreeMap<String, usize>,
    /// Every response by HTTP status (`0`: none).
    pub statuses: BTreeMap<u16, usize>,
}

/// Sums up the samples of `phase`, where a status in `accepted` is an answer.
pub fn summarize(phase: &str, samples: &[Sample], accepted: &[u16]) -> PhaseReport {
    let mut durations: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
    durations.sort_by(f64::total_cmp);
    let p99 = match durations.len() {
        0 => 0.0,
        n => durations[(n * 99).div_ceil(100) - 1],
    };
    let mut statuses = BTreeMap::new();
    for sample in samples {
        *statuses.entry(sample.status).or_insert(0) += 1;
    }
    let mut failures = BTreeMap::new();
    for failed in samples.iter().filter(|s| s.failed(accepted)) {
        *failures
            .entry(format!("curl {} HTTP {}", failed.curl_exit, failed.status))
            .or_insert(0) += 1;
    }
    PhaseReport {
        phase: phase.to_owned(),
        sent: samples.len(),
        failed: failures.values().sum(),
        p99_ms: (p99 * 1000.0 * 10.0).round() / 10.0,
        failures,
        statuses,
    }
}

impl PhaseReport {
    /// The report as one JSON line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A running stream of requests from a client pod.
pub struct Load {
    accepted: Vec<u16>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
}

impl Load {
    /// Starts sending requests for `url` with `api_key` from `client`
    /// (started with a CA: [`ClientPod::start_with_ca`]), in bursts until
    /// stopped; a response with a status in `accepted` is an answer, any
    /// other outcome a failed request.
    pub fn start(client: &ClientPod, url: &str, api_key: &str, accepted: &[u16]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (client, url, key, flag) = (
            client.clone(),
            url.to_owned(),
            api_key.to_owned(),
            stop.clone(),
        );
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let seconds = BURST_SECONDS.to_string();
            while !flag.load(Ordering::SeqCst) {
                let out = client
                    .exec(&["sh", "-c", LOOP, "load", &key, &url, &seconds])
                    .await;
                samples.extend(parse_samples(&out.stdout));
                if out.code != 0 {
                    samples.push(Sample {
                        curl_exit: -1,
                        status: 0,
                        seconds: 0.0,
                    });
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            samples
        });
        Self {
            accepted: accepted.to_vec(),
            stop,
            task,
        }
    }

    /// Stops the stream (after its current burst) and sums up its requests
    /// as `phase`, printing the report's JSON line.
    pub async fn finish(self, phase: &str) -> PhaseReport {
        self.stop.store(true, Ordering::SeqCst);
        let samples = self
            .task
            .await
            .unwrap_or_else(|e| panic!("the load client: {e}"));
        let report = summarize(phase, &samples, &self.accepted);
        println!("{}", report.json());
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_requests_and_cut_lines_count_as_failures() {
        let samples = parse_samples("0 200 0.010\n0 503 0.020\n7 000 0.001\n0 20\n\n");
        assert_eq!(samples.len(), 4);
        let report = summarize("p", &samples, &[200]);
        assert_eq!((report.sent, report.failed), (4, 3));
        assert_eq!(report.failures.get("curl 0 HTTP 503"), Some(&1));
        assert_eq!(report.failures.get("curl 7 HTTP 0"), Some(&1));
        assert_eq!(summarize("p", &samples, &[200, 503]).failed, 2);
        assert_eq!(report.statuses.get(&200), Some(&1));
        assert_eq!(report.statuses.get(&0), Some(&2));
    }

    #[test]
    fn p99_is_the_nearest_rank() {
        let lines: String = (1..=200)
            .map(|i| format!("0 200 {}\n", i as f64 / 1000.0))
            .collect();
        let report = summarize("p", &parse_samples(&lines), &[200]);
        assert_eq!((report.sent, report.failed), (200, 0));
        assert_eq!(report.p99_ms, 198.0);
        assert_eq!(summarize("empty", &[], &[200]).p99_ms, 0.0);
    }
}
