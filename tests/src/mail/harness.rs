//! A data plane in front of a test Dovecot: the server runs in-process on a
//! runtime of its own (as in production), one account per Dovecot user,
//! credentials in kubelet-style Secret directories that tests can rotate.

use std::{
    net::SocketAddr,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use rustymail_dataplane::{config::Config, server::Server, shutdown::Shutdown};
use tokio::sync::oneshot;

use super::{Result, dovecot::certificate};
use super::{client::ApiClient, dovecot::Dovecot};
use crate::bench::free_addr;

/// How the data plane reaches Dovecot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// IMAPS, port 993 style.
    Tls,
    /// STARTTLS on the plain port.
    Starttls,
    /// Plaintext, `security: none`, to `addr` (e.g. a proxy in front of the
    /// plain port).
    Plain(SocketAddr),
    /// IMAPS, `security: tls`, to `addr` (e.g. a server that fails the
    /// handshake).
    TlsAt(SocketAddr),
}

/// A kubelet-style Secret directory: files behind `..data`, swapped atomically.
pub struct SecretDir {
    dir: PathBuf,
    generation: AtomicUsize,
}

impl SecretDir {
    /// Creates `dir` holding `files`.
    pub fn new(dir: PathBuf, files: &[(&str, &str)]) -> Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let secret = Self {
            dir,
            generation: AtomicUsize::new(0),
        };
        secret.publish(files)?;
        for (name, _) in files {
            symlink(format!("..data/{name}"), secret.dir.join(name))?;
        }
        Ok(secret)
    }

    /// The file `name` as the data plane reads it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces the files as kubelet does: a new folder, `..data_tmp`
    /// renamed over `..data`, the old folder removed.
    pub fn publish(&self, files: &[(&str, &str)]) -> Result<()> {
        let n = self.generation.fetch_add(1, Ordering::SeqCst);
        let folder = format!("..2026_01_01_00_00_00.{n:06}");
        let d = &self.dir;
        std::fs::create_dir(d.join(&folder))?;
        for (name, content) in files {
            std::fs::write(d.join(&folder).join(name), content)?;
        }
        let old = std::fs::read_link(d.join("..data")).ok();
        symlink(&folder, d.join("..data_tmp"))?;
        std::fs::rename(d.join("..data_tmp"), d.join("..data"))?;
        if let Some(old) = old {
            std::fs::remove_dir_all(d.join(old))?;
        }
        Ok(())
    }
}

/// One account of the data plane: its name, Dovecot user and Secret.
pub struct TestAccount {
    /// The account's name in the API.
    pub name: String,
    /// The Dovecot user.
    pub user: String,
    /// Its credentials directory (`username`, `password`).
    pub secret: SecretDir,
}

/// The settings of [`MailServer::start`] and [`DataPlane::start`]: no
/// credentials needed, budgets out of reach, so that the mail tests need
/// neither.
pub const OPEN: &str = "auth: { apiKeys: { required: false } }\n\
     rateLimits: { perIp: 999999999/second, perUser: 999999999/second, perApiKey: 999999999/second }";

/// A running data plane and the Dovecot behind it.
pub struct MailServer {
    /// The Dovecot behind it.
    pub dovecot: Dovecot,
    /// The data plane.
    pub plane: DataPlane,
}

impl MailServer {
    /// Starts a data plane with one account per `(name, user, password)`
    /// on `dovecot`, reached over `link`.
    pub async fn start(dovecot: Dovecot, users: &[(&str, &str, &str)], link: Link) -> Result<Self> {
        Self::start_with(dovecot, users, link, OPEN).await
    }

    /// As [`MailServer::start`], with `settings` (YAML lines of top-level
    /// sections other than `listen`, `tls` and `accounts`) in the config.
    pub async fn start_with(
        dovecot: Dovecot,
        users: &[(&str, &str, &str)],
        link: Link,
        settings: &str,
    ) -> Result<Self> {
        let plane = DataPlane::start_with(&dovecot, users, link, settings).await?;
        Ok(Self { dovecot, plane })
    }

    /// Stops the data plane and waits for it.
    pub async fn stop(self) {
        self.plane.stop().await;
    }
}

impl std::ops::Deref for MailServer {
    type Target = DataPlane;

    fn deref(&self) -> &DataPlane {
        &self.plane
    }
}

/// A running data plane in front of a Dovecot.
pub struct DataPlane {
    /// The HTTPS API.
    pub api: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
    /// The accounts, in config order.
    pub accounts: Vec<TestAccount>,
    api_ca: String,
    _certs: SecretDir,
    _work: tempfile::TempDir,
    shutdown: Shutdown,
    stopped: Option<oneshot::Receiver<()>>,
}

impl DataPlane {
    /// Starts a data plane with one account per `(name, user, password)`
    /// on `dovecot`, reached over `link`.
    pub async fn start(
        dovecot: &Dovecot,
        users: &[(&str, &str, &str)],
        link: Link,
    ) -> Result<Self> {
        Self::start_with(dovecot, users, link, OPEN).await
    }

    /// As [`DataPlane::start`], with `settings` (YAML lines of top-level
    /// sections other than `listen`, `tls` and `accounts`) in the config.
    pub async fn start_with(
        dovecot: &Dovecot,
        users: &[(&str, &str, &str)],
        link: Link,
        settings: &str,
    ) -> Result<Self> {
        Self::start_accounts(dovecot, users, link, settings, &|_| String::new()).await
    }

    /// As [`DataPlane::start_with`], with `extra(name)` (YAML keys indented
    /// by four spaces, e.g. `    smtp: {…}\n`) added to each account.
    pub async fn start_accounts(
        dovecot: &Dovecot,
        users: &[(&str, &str, &str)],
        link: Link,
        settings: &str,
        extra: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<Self> {
        let work = tempfile::Builder::new()
            .prefix("rustymail-mail")
            .tempdir()?;
        let (api_ca, leaf, key) = certificate()?;
        let certs = SecretDir::new(
            work.path().join("tls"),
            &[("tls.crt", &leaf), ("tls.key", &key)],
        )?;
        let mut accounts = Vec::new();
        let mut yaml = format!(
            "listen: {{ api: \"{}\", admin: \"{}\" }}\ntls: {{ certDir: \"{}\" }}\n{settings}\naccounts:\n",
            free_addr()?,
            free_addr()?,
            certs.dir.display()
        );
        for (name, user, password) in users {
            let secret = SecretDir::new(
                work.path().join(format!("secret-{name}")),
                &[("username", user), ("password", password)],
            )?;
            let (port, security) = match link {
                Link::Tls => (dovecot.imaps.port(), "tls"),
                Link::Starttls => (dovecot.imap.port(), "starttls"),
                Link::Plain(addr) => (addr.port(), "none"),
                Link::TlsAt(addr) => (addr.port(), "tls"),
            };
            yaml.push_str(&format!(
                "  - name: {name}\n    imap: {{ host: 127.0.0.1, port: {port}, security: {security}, caFile: \"{}\", commandTimeout: 5s, connectTimeout: 3s }}\n    usernameFile: \"{}\"\n    passwordFile: \"{}\"\n",
                dovecot.ca_file().display(),
                secret.file("username").display(),
                secret.file("password").display(),
            ));
            yaml.push_str(&extra(name));
            accounts.push(TestAccount {
                name: (*name).to_owned(),
                user: (*user).to_owned(),
                secret,
            });
        }
        let config = Config::parse(&yaml)?;
        config.check()?;
        let (api, admin, shutdown, stopped) = run(config).await?;
        Ok(Self {
            api,
            admin,
            accounts,
            api_ca,
            _certs: certs,
            _work: work,
            shutdown,
            stopped: Some(stopped),
        })
    }

    /// A new kept-alive HTTPS connection to the API.
    pub async fn client(&self) -> Result<ApiClient> {
        ApiClient::connect(self.api, &self.api_ca).await
    }

    /// The CA the API's certificate chains to.
    pub fn api_ca(&self) -> &str {
        &self.api_ca
    }

    /// The account named `name`.
    pub fn account(&self, name: &str) -> &TestAccount {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no test account {name}"))
    }

    /// Stops the data plane and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.await;
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Runs the full data plane of `config` on a runtime of its own.
async fn run(config: Config) -> Result<(SocketAddr, SocketAddr, Shutdown, oneshot::Receiver<()>)> {
    let shutdown = Shutdown::new();
    let (bound, addresses) = oneshot::channel();
    let (stopped_tx, stopped) = oneshot::channel();
    let run = shutdown.clone();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = bound.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            match Server::bind_mail(config).await {
                Ok(server) => {
                    let _ = bound.send(Ok((server.api_addr(), server.admin_addr())));
                    server.run(run).await;
                }
                Err(e) => {
                    let _ = bound.send(Err(e.to_string()));
                }
            }
        });
        let _ = stopped_tx.send(());
    });
    let (api, admin) = addresses.await??;
    Ok((api, admin, shutdown, stopped))
}

/// The path of `folder`'s route, `rest` appended, `?account=` if given.
pub fn folder_path(folder: &str, rest: &str, account: Option<&str>) -> String {
    let mut path = format!("/api/v1/folders/{}{rest}", super::client::segment(folder));
    if let Some(a) = account {
        path.push_str(if path.contains('?') { "&" } else { "?" });
        path.push_str(&format!("account={a}"));
    }
    path
}

/// Reads a whole file (for tests that check written secrets).
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
