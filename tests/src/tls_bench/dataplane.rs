//! The data plane under test: this same executable, re-run with
//! [`SERVE_ARG`](rustymail_tests::bench::SERVE_ARG), serving exactly what
//! `rustymail-dataplane serve` serves in its own process, so its memory is
//! measured apart from the load generator's.

use std::{net::SocketAddr, path::Path, time::Duration};

use rustymail_tests::bench::DataPlaneChild;

use super::{Result, certs::CertDir, free_addr};

/// A running data plane; stopped on drop.
pub struct Process {
    child: DataPlaneChild,
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
        let child = DataPlaneChild::spawn(&config, &work.join("dataplane.log"))?;
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
        self.child.pid()
    }

    /// The URL wrk requests.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1/status", self.api.port())
    }
}
