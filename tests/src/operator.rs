//! Running the real `rustymail-operator` binary against the local control
//! plane.
//!
//! May depend on, in this crate: `control_plane`, `poll`, `workspace`.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{control_plane::ControlPlane, poll::eventually, workspace};

/// A running operator process; killed when dropped.
pub struct Operator {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// The `--leader-identity` it runs with.
    pub identity: String,
}

impl Operator {
    /// Starts the operator with `kubeconfig`, leader identity `identity`, a
    /// short Lease in `lease_namespace` (so takeovers happen in seconds) and
    /// `extra` arguments.
    pub fn start(kubeconfig: &Path, identity: &str, lease_namespace: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(workspace::binary("rustymail-operator"))
            .arg("run")
            .args(["--admin-addr", "127.0.0.1:0", "--leader-identity", identity])
            .args([
                "--lease-namespace",
                lease_namespace,
                "--lease-duration",
                "3s",
                "--lease-renew-deadline",
                "2s",
                "--lease-retry-period",
                "500ms",
            ])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the operator: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                }
            });
        }
        Self {
            child,
            log,
            identity: identity.to_owned(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Lines logged so far containing `needle`.
    pub fn lines_with(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until a line containing `needle` is logged.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let found = eventually(timeout, || async { self.lines_with(needle) > 0 }).await;
        assert!(
            found,
            "operator {} never logged {needle:?}; log:\n{}\n{}",
            self.identity,
            self.log().join("\n"),
            ControlPlane::get().logs()
        );
    }

    /// The admin listener's address, from the start line of the log.
    pub fn admin_addr(&self) -> Option<String> {
        self.log()
            .iter()
            .filter(|l| l.contains("operator starting"))
            .find_map(|l| {
                let line: serde_json::Value = serde_json::from_str(l).ok()?;
                Some(line["admin"].as_str()?.to_owned())
            })
    }

    /// The text of the operator's `/metrics` (empty when it cannot be read).
    pub async fn metrics(&self) -> String {
        let Some(admin) = self.admin_addr() else {
            return String::new();
        };
        let out = tokio::process::Command::new("curl")
            .args(["-s", &format!("http://{admin}/metrics")])
            .output()
            .await;
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The sum of the samples of the series whose line starts with
    /// `series` (a name, or a name and labels), now.
    pub async fn metric(&self, series: &str) -> f64 {
        sum_of(&self.metrics().await, series)
    }

    /// Kills the process at once, as a crashed pod (no Lease release).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap_or_else(|e| panic!("wait: {e}"))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The sum of the samples in the exposition `text` of the series whose
/// line starts with `series`.
pub fn sum_of(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with([' ', '{']) || series.ends_with('}'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
