//! The data plane under test: this same executable, re-run with
//! [`SERVE_ARG`], serving exactly what `rustymail-dataplane serve` serves (the
//! library's `Server` with the API routes, the same runtime, JSON logs at
//! `info`) in its own process, so its memory is measured apart from the load
//! generator's.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use rustymail_dataplane::{
    config::{Config, env::ProcessEnv},
    logging,
    server::serve_until_terminated,
};

use super::{Result, certs::CertDir, free_addr};

/// The hidden first argument that makes `tls-bench` serve instead of measure.
pub const SERVE_ARG: &str = "--serve-dataplane";

/// Serves the config at `path` until SIGTERM (the child process), set up as
/// `rustymail-dataplane serve` sets itself up.
pub fn serve_child(path: Option<&str>) -> Result<()> {
    let path = path.ok_or("--serve-dataplane needs a config path")?;
    let config = Config::read(Path::new(path), &ProcessEnv)?;
    config.check()?;
    // One worker thread per core, as `rustymail-dataplane serve`.
    let runtime = tokio::runtime::Runtime::new()?;
    logging::init();
    runtime.block_on(serve_until_terminated(config))?;
    Ok(())
}

/// A running data plane; stopped on drop.
pub struct Process {
    child: Child,
    /// The HTTPS API address.
    pub api: SocketAddr,
    admin: SocketAddr,
}

impl Process {
    /// Starts the data plane serving `certs` on free loopback ports.
    pub fn start(work: &Path, certs: &CertDir) -> Result<Self> {
        let (api, admin) = (free_addr()?, free_addr()?);
        let config = work.join("dataplane.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: {{api: '{api}', admin: '{admin}'}}\n\
                 tls: {{certDir: '{}'}}\n\
                 auth: {{apiKeys: {{publicPaths: ['/api/v1/status']}}}}\n\
                 rateLimits: {{perIp: 999999999/second}}\n\
                 accounts:\n  - name: bench\n    imap: {{host: imap.invalid}}\n    \
                 usernameFile: /dev/null\n    passwordFile: /dev/null\n",
                certs.dir().display()
            ),
        )?;
        let log = std::fs::File::create(work.join("dataplane.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .arg(SERVE_ARG)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .spawn()?;
        Ok(Self { child, api, admin })
    }

    /// `GET path` on the admin listener: the whole reply.
    async fn admin_get(&self, path: &str) -> Result<String> {
        Ok(rustymail_tests::admin::get(self.admin, path).await?)
    }

    /// Waits until `/healthz` answers 200: the listeners are bound and the
    /// certificate loaded. (`/readyz` also needs the IMAP account, which the
    /// benchmark's placeholder never reaches.)
    pub async fn wait_ready(&self) -> Result<()> {
        for _ in 0..400 {
            if let Ok(reply) = self.admin_get("/healthz").await
                && reply.starts_with("HTTP/1.1 200")
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err("the data plane did not become ready".into())
    }

    /// Completed handshakes so far, `(full, resumed)`, from `/metrics`.
    pub async fn handshakes(&self) -> Result<(u64, u64)> {
        let metrics = self.admin_get("/metrics").await?;
        let (mut full, mut resumed) = (0, 0);
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix("rustymail_tls_handshakes_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.split_once("} ") else {
                continue;
            };
            let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
            if labels.contains("kind=\"resumed\"") {
                resumed += n;
            } else {
                full += n;
            }
        }
        Ok((full, resumed))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL wrk requests.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1/status", self.api.port())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
