//! A data plane process run in this process from what the operator renders
//! for a RustyMail: its ConfigMap's `config.yaml` and its credentials
//! Secret, the Secret in the kubelet's volume layout so a test can publish
//! new data as the kubelet does. Plain HTTP on loopback and no TLS: the
//! tests that use it are about what the rendered config makes the data
//! plane do, not about TLS.
//!
//! Uses [`crate::mail::harness`] (the Secret volume).

use std::net::SocketAddr;

use rustymail_dataplane::{
    config::Config,
    imap::Accounts,
    metrics::Metrics,
    server::{Server, api},
    service::MailService,
    shutdown::Shutdown,
};

use crate::mail::harness::SecretDir;

/// A running data plane started from a rendered config.
pub struct RenderedDataPlane {
    addr: SocketAddr,
    credentials: SecretDir,
    shutdown: Shutdown,
    running: tokio::task::JoinHandle<()>,
    _volume: tempfile::TempDir,
}

impl RenderedDataPlane {
    /// Starts a data plane from `config_yaml` as the operator rendered it,
    /// with the credentials Secret's `api-keys` and `jwt-secret` in its
    /// volume; panics (this is a test fixture) when it cannot start.
    pub async fn start(config_yaml: &str, api_keys: &str, jwt_secret: &str) -> Self {
        let volume = tempfile::tempdir().expect("tempdir");
        let credentials = SecretDir::new(
            volume.path().join("credentials"),
            &[("api-keys", api_keys), ("jwt-secret", jwt_secret)],
        )
        .expect("the credentials volume");
        let mut config = Config::parse(config_yaml).expect("the rendered config parses");
        config.listen.api = "127.0.0.1:0".parse().expect("addr");
        config.listen.admin = "127.0.0.1:0".parse().expect("addr");
        config.tls.cert_dir = None;
        config.tls.require_https = false;
        config.auth.api_keys.file = Some(credentials.file("api-keys"));
        config.auth.jwt.secret_file = Some(credentials.file("jwt-secret"));
        let accounts = Accounts::new(&config.accounts, &Metrics::new()).expect("accounts");
        let server = Server::bind(
            config,
            api::routes(api::ApiState {
                mail: MailService::new(accounts),
            }),
        )
        .await
        .expect("the data plane starts from the rendered config");
        let addr = server.api_addr();
        let shutdown = Shutdown::new();
        let running = tokio::spawn(server.run(shutdown.clone()));
        Self {
            addr,
            credentials,
            shutdown,
            running,
            _volume: volume,
        }
    }

    /// The API listener's address (plain HTTP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the kubelet does with the Secret's new data in the pod's volume.
    pub fn publish(&self, api_keys: &str, jwt_secret: &str) {
        self.credentials
            .publish(&[("api-keys", api_keys), ("jwt-secret", jwt_secret)])
            .expect("publish");
    }

    /// Stops the data plane and waits for it.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = self.running.await;
    }
}
