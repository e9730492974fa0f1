//! What the benchmarks share: how a figure is rounded for a report, the
//! memory of a process as `/proc` reports it, a free loopback address (the
//! mail fixtures take theirs here too), and a data plane served by the
//! benchmark's own executable in a child process, so that its memory and
//! CPU are measured apart from the load generator's.
//!
//! Depends on no other module of this crate.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
};

use rustymail_dataplane::{
    config::{self, env::ProcessEnv},
    logging,
    server::serve_until_terminated,
};

/// The hidden first argument that makes a benchmark executable serve a data
/// plane (see [`serve_child`]) instead of measuring.
pub const SERVE_ARG: &str = "--serve-dataplane";

/// Serves the data plane config at `path` until SIGTERM, set up as
/// `rustymail-dataplane serve` sets itself up (the same library, one worker
/// thread per core, JSON logs at `info`): what a benchmark executable does
/// when started with [`SERVE_ARG`].
pub fn serve_child(path: Option<&str>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let path = path.ok_or("--serve-dataplane needs a config path")?;
    let config = config::read(Path::new(path), &ProcessEnv)?;
    config.check()?;
    let runtime = tokio::runtime::Runtime::new()?;
    logging::init();
    runtime.block_on(serve_until_terminated(config))?;
    Ok(())
}

/// A free loopback address.
pub fn free_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A data plane served by this executable re-run with [`SERVE_ARG`];
/// stopped with SIGTERM, and waited for, on drop.
pub struct DataPlaneChild {
    child: Child,
}

impl DataPlaneChild {
    /// Starts serving the config file `config`, standard output to `log`.
    pub fn spawn(config: &Path, log: &Path) -> std::io::Result<Self> {
        let child = Command::new(std::env::current_exe()?)
            .arg(SERVE_ARG)
            .arg(config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log)?)
            .spawn()?;
        Ok(Self { child })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for DataPlaneChild {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// `x` rounded to two decimals, as the reports print figures.
pub fn two_decimals(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes; `None`
/// when the process or the line is gone.
pub fn status_bytes(pid: u32, line: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(':'))?;
    let kib = value
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size_and_a_peak_at_least_as_large() {
        let pid = std::process::id();
        let rss = status_bytes(pid, "VmRSS").expect("VmRSS");
        let peak = status_bytes(pid, "VmHWM").expect("VmHWM");
        assert!(rss > 0 && peak >= rss, "rss {rss}, peak {peak}");
        assert_eq!(status_bytes(pid, "NoSuchLine"), None);
    }

    #[test]
    fn figures_keep_two_decimals() {
        assert_eq!(two_decimals(1.23456), 1.23);
        assert_eq!(two_decimals(-0.126), -0.13);
    }
}
