//! nginx, the reference: Debian's package, started on loopback with a
//! temporary config that mirrors the data plane: one worker process per core
//! (the data plane runs one tokio worker per core), same certificate, same
//! TLS policy (TLS 1.2 and 1.3, the same forward-secret AEAD suites in the
//! same server-preferred order, the same key-exchange groups, session cache
//! and tickets, ALPN h2 and http/1.1), same body and security headers, and
//! the data plane's default limits and timeouts. nginx adds `Server: nginx`
//! and `Connection: keep-alive`, 39 bytes the data plane does not send.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{BODY, Result, certs::CertDir, free_addr, system};

/// A running nginx; stopped on drop.
pub struct Process {
    child: Child,
    /// The HTTPS address.
    pub api: SocketAddr,
}

const TLS12_CIPHERS: &str = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-RSA-CHACHA20-POLY1305";
const TLS13_SUITES: &str =
    "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

/// The data plane's key-exchange groups that OpenSSL 3.0 also implements,
/// in the data plane's order.
const GROUPS: &str = "X25519:prime256v1:secp384r1";

fn config(prefix: &Path, api: SocketAddr, certs: &CertDir) -> String {
    let p = prefix.display();
    let tls = certs.dir().display();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        r#"daemon off;
master_process on;
worker_processes {workers};
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server_tokens off;
    keepalive_timeout 10s;
    keepalive_requests 100000000;
    client_header_timeout 10s;
    client_body_timeout 30s;
    client_max_body_size 10m;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {TLS12_CIPHERS};
    ssl_conf_command Ciphersuites {TLS13_SUITES};
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve {GROUPS};
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    server {{
        listen {api} ssl http2;
        ssl_certificate {tls}/tls.crt;
        ssl_certificate_key {tls}/tls.key;
        location = /api/v1/status {{
            default_type application/json;
            add_header Strict-Transport-Security "max-age=63072000; includeSubDomains; preload" always;
            add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;
            add_header X-Frame-Options DENY always;
            add_header Referrer-Policy no-referrer always;
            add_header X-Content-Type-Options nosniff always;
            add_header Cache-Control no-store always;
            return 200 '{BODY}';
        }}
    }}
}}
"#
    )
}

impl Process {
    /// Starts nginx serving `certs` on a free loopback port.
    pub fn start(work: &Path, certs: &CertDir) -> Result<Self> {
        let prefix = work.join("nginx");
        std::fs::create_dir_all(&prefix)?;
        let api = free_addr()?;
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, config(&prefix, api, certs))?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start nginx (apt-get install nginx): {e}"))?;
        Ok(Self { child, api })
    }

    /// Waits until nginx accepts connections.
    pub async fn wait_ready(&self) -> Result<()> {
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(self.api).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err("nginx did not start listening".into())
    }

    /// The master's and the workers' process ids.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = vec![master];
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return pids;
        };
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if system::parent_pid(pid) == Some(master) {
                pids.push(pid);
            }
        }
        pids
    }

    /// The URL wrk requests.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1/status", self.api.port())
    }
}

/// `nginx -V`'s first two lines: its version and its OpenSSL.
pub fn version() -> String {
    Command::new("nginx")
        .arg("-V")
        .output()
        .map(|out| {
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            text.lines().take(2).collect::<Vec<_>>().join("; ")
        })
        .unwrap_or_default()
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
