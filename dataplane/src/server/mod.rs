//! The data plane's listeners and their lifecycle.
//!
//! ```text
//!  listen.api      ─▶ TLS (rustls, ALPN) ─▶ HTTP/1.1 | HTTP/2 ─▶ hardened stack ─▶ API routes
//!  listen.admin    ─▶ HTTP/1.1 ─▶ /healthz /readyz /metrics
//!  listen.redirect ─▶ HTTP/1.1 ─▶ 301 https://…
//! ```
//!
//! [`Server::bind`] opens every listener and loads the first certificate, so
//! a bad address or certificate fails before anything is served;
//! [`Server::run`] serves until the [`Shutdown`] fires, then drains.
//!
//! May depend on, in this crate: `access`, `audit`, `auth`, `config`, `imap`,
//! `mail`, `metrics`, `ratelimit`, `service`, `shutdown`, `tls`.

pub mod accept;
pub mod admin;
pub mod api;
pub mod error;
pub mod guard;
pub mod harden;
pub mod headers;
pub mod http;
mod leaving;
pub mod limits;
mod linger;
pub mod redirect;
mod route_metrics;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use self::{
    accept::{ApiConnections, ConnectionCap, Protocols, accept_loop},
    admin::Readiness,
    guard::Guard,
};
use crate::{
    access::Blocklist,
    audit::AuditLog,
    auth::{AuthError, Authenticator, reload::CredentialReloader},
    config::Config,
    imap::Accounts,
    metrics::Metrics,
    ratelimit::Limits,
    service::MailService,
    shutdown::{Shutdown, termination_signal},
    tls::{ServerTls, TlsError, store::CertStore},
};

/// Connections the admin listener accepts at once.
const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listen address could not be bound.
    #[error("cannot listen on {key} ({addr}): {source}")]
    Bind {
        /// The config key, e.g. `listen.api`.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The HTTP stack could not be built from the config.
    #[error("invalid config: {0}")]
    Http(String),
    /// The API keys or the JWT secret could not be loaded.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The audit log could not be opened.
    #[error("cannot open the audit log: {0}")]
    Audit(#[source] std::io::Error),
    /// An IMAP account could not be set up (its CA file).
    #[error("{0}")]
    Account(String),
}

/// The bound listeners, ready to serve.
pub struct Server {
    config: Config,
    api: TcpListener,
    admin: TcpListener,
    redirect: Option<TcpListener>,
    tls: Option<ServerTls>,
    app: Router,
    metrics: Metrics,
    ready: Readiness,
    credentials: Option<CredentialReloader>,
    accounts: Option<Accounts>,
}

/// The request budgets and the audit log of the API listener, shared by its
/// guard and the mail service.
struct Ledger {
    audit: AuditLog,
    limits: Arc<Limits>,
}

impl Ledger {
    /// Opens the audit log and sets up the budgets `config` describes.
    fn start(config: &Config, metrics: &Metrics) -> Result<Self, ServeError> {
        let audit = AuditLog::start(&config.audit, metrics.audit_events_dropped.clone())
            .map_err(ServeError::Audit)?;
        Ok(Self {
            audit,
            limits: Arc::new(Limits::from_config(&config.rate_limits)),
        })
    }
}

/// How often each account's IMAP server is checked for `/readyz`.
const ACCOUNT_CHECK_INTERVAL: Duration = Duration::from_secs(10);

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { key, addr, source })
}

impl Server {
    /// Loads the certificate and binds every listener of `config`, serving
    /// `routes` (see [`api::routes`]) on the API listener.
    pub async fn bind(config: Config, routes: Router) -> Result<Self, ServeError> {
        Self::bind_with_metrics(config, routes, Metrics::new()).await
    }

    /// The full data plane of `config`: every configured IMAP account behind
    /// the mail service and the API routes, each checked for `/readyz`.
    pub async fn bind_mail(config: Config) -> Result<Self, ServeError> {
        let metrics = Metrics::new();
        let accounts = Accounts::new(&config.accounts, &metrics).map_err(ServeError::Account)?;
        let ledger = Ledger::start(&config, &metrics)?;
        let sending = crate::service::Sending::new(&config).map_err(ServeError::Account)?;
        let mail = MailService::new(accounts.clone())
            .with_accounting(
                Arc::clone(&ledger.limits),
                ledger.audit.clone(),
                metrics.clone(),
            )
            .with_sending(sending);
        let mut routes = api::routes(api::ApiState { mail: mail.clone() });
        if config.mcp.enabled {
            let max_body = usize::try_from(config.limits.max_body_size.0).unwrap_or(usize::MAX);
            let settings = crate::mcp::Settings::from_config(&config.mcp, max_body);
            routes = routes.merge(crate::mcp::routes(mail, &settings));
        }
        let mut server = Self::bind_ledger(config, routes, metrics, ledger).await?;
        server.accounts = Some(accounts);
        Ok(server)
    }

    /// As [`Server::bind`], recording into `metrics`.
    pub async fn bind_with_metrics(
        config: Config,
        routes: Router,
        metrics: Metrics,
    ) -> Result<Self, ServeError> {
        let ledger = Ledger::start(&config, &metrics)?;
        Self::bind_ledger(config, routes, metrics, ledger).await
    }

    async fn bind_ledger(
        config: Config,
        routes: Router,
        metrics: Metrics,
        Ledger { audit, limits }: Ledger,
    ) -> Result<Self, ServeError> {
        let tls = ServerTls::from_config(&config.tls, &metrics)?;
        let authenticator = Arc::new(Authenticator::from_config(&config.auth)?);
        warn_about_open_access(&config, &authenticator);
        if !config.access.blocked_cidrs.is_empty() {
            tracing::info!(
                ranges = config.access.blocked_cidrs.len(),
                "access.blockedCidrs: clients in these ranges are refused with 403"
            );
        }
        let credentials = CredentialReloader::new(
            &config.auth,
            Arc::clone(&authenticator),
            metrics.clone(),
            audit.clone(),
        );
        let mut guard = Guard::new(authenticator, limits, audit, metrics.clone())
            .with_blocklist(Blocklist::from_config(&config.access));
        if config.mcp.enabled {
            guard = guard.with_resource_server(crate::auth::resource::ResourceServer::from_config(
                &config.mcp,
            ));
        }
        let guard = Arc::new(guard);
        let app = http::app(routes, &config, metrics.clone(), guard).map_err(ServeError::Http)?;
        let api = bind("listen.api", config.listen.api).await?;
        let admin = bind("listen.admin", config.listen.admin).await?;
        let redirect = match config.listen.redirect {
            Some(addr) => Some(bind("listen.redirect", addr).await?),
            None => None,
        };
        Ok(Self {
            config,
            api,
            admin,
            redirect,
            tls,
            app,
            metrics,
            ready: Readiness::default(),
            credentials,
            accounts: None,
        })
    }

    /// The address the API listener is bound to.
    pub fn api_addr(&self) -> SocketAddr {
        local_addr(&self.api)
    }

    /// The address the admin listener is bound to.
    pub fn admin_addr(&self) -> SocketAddr {
        local_addr(&self.admin)
    }

    /// The address the redirect listener is bound to, if there is one.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().map(local_addr)
    }

    /// The served certificate, unless the API speaks plain HTTP.
    pub fn cert_store(&self) -> Option<Arc<CertStore>> {
        self.tls.as_ref().map(|t| Arc::clone(&t.store))
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Serves until `shutdown` fires, then turns unready, keeps accepting
    /// and serving for `limits.shutdownDelay`, stops accepting, lets
    /// in-flight requests finish within `limits.shutdownGracePeriod`, and
    /// returns.
    pub async fn run(self, shutdown: Shutdown) {
        let Self {
            config,
            api,
            admin,
            redirect,
            tls,
            app,
            metrics,
            ready,
            credentials,
            accounts,
        } = self;
        let limits = &config.limits;
        let grace = limits.shutdown_grace_period.0;
        let max_connections = usize::try_from(limits.max_connections).unwrap_or(usize::MAX);
        // Fires once the shutdown delay is over: what the listeners and the
        // background tasks stop on.
        let drain = Shutdown::new();

        let (acceptor, reloader) = match tls {
            Some(t) => (Some(TlsAcceptor::from(t.config)), t.reloader),
            None => {
                tracing::warn!(
                    "requireHttps is off and no certificate is configured: serving the API over plain HTTP"
                );
                (None, None)
            }
        };
        if let Some(reloader) = reloader {
            tokio::spawn(reloader.run(config.tls.reload_interval.0, drain.clone()));
        }
        if let Some(credentials) = credentials {
            tokio::spawn(credentials.run(drain.clone()));
        }

        let admin_shutdown = Shutdown::new();
        let admin_task = tokio::spawn(accept_loop(
            "admin",
            admin,
            ConnectionCap::unexported(ADMIN_MAX_CONNECTIONS),
            admin_shutdown.clone(),
            grace,
            {
                let protocols = Protocols::new(limits);
                let app = admin::router(metrics.clone(), ready.clone());
                move |tcp, peer, watcher| {
                    let http = protocols.connection(tcp, peer, false, app.clone(), watcher);
                    accept::finish(http, peer)
                }
            },
        ));

        let redirect_task = redirect.map(|listener| {
            let https_port = local_addr(&api).port();
            let protocols = Protocols::new(limits);
            let app = redirect::router(https_port);
            tokio::spawn(accept_loop(
                "redirect",
                listener,
                ConnectionCap::unexported(max_connections),
                drain.clone(),
                grace,
                move |tcp, peer, watcher| {
                    let http = protocols.connection(tcp, peer, false, app.clone(), watcher);
                    accept::finish(http, peer)
                },
            ))
        });

        let connections = Arc::new(ApiConnections {
            tls: acceptor,
            handshake_timeout: limits.header_read_timeout.0,
            protocols: Protocols::new(limits),
            app: leaving::close_connections_on_shutdown(app, shutdown.clone()),
            metrics: metrics.clone(),
        });
        let cap = ConnectionCap {
            permits: Arc::new(tokio::sync::Semaphore::new(max_connections)),
            open: metrics.open_connections.clone(),
            rejected: metrics.rejected_connections.clone(),
        };
        let api_task = tokio::spawn(accept_loop(
            "api",
            api,
            cap,
            drain.clone(),
            grace,
            move |tcp, peer, watcher| Arc::clone(&connections).serve(tcp, peer, watcher),
        ));

        if let Some(accounts) = accounts {
            check_accounts(&accounts, &ready, &metrics).await;
            tokio::spawn(watch_accounts(
                accounts,
                ready.clone(),
                metrics.clone(),
                drain.clone(),
            ));
        }
        ready.set(true);
        tracing::info!(api = %config.listen.api, admin = %config.listen.admin, redirect = ?config.listen.redirect, "serving");
        shutdown.wait().await;
        ready.set(false);
        if !limits.shutdown_delay.0.is_zero() {
            tracing::info!(delay = %limits.shutdown_delay, "not ready; still serving until the delay is over");
            tokio::time::sleep(limits.shutdown_delay.0).await;
        }
        tracing::info!(grace_period = %limits.shutdown_grace_period, "shutting down");
        drain.trigger();
        let _ = api_task.await;
        if let Some(task) = redirect_task {
            let _ = task.await;
        }
        admin_shutdown.trigger();
        let _ = admin_task.await;
        tracing::info!("stopped");
    }
}

/// What `rustymail-dataplane serve` runs: binds the listeners of `config`
/// with the API routes and serves until SIGTERM or SIGINT, then drains.
pub async fn serve_until_terminated(config: Config) -> Result<(), ServeError> {
    let server = Server::bind_mail(config).await?;
    let shutdown = Shutdown::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if let Err(e) = termination_signal().await {
                tracing::error!(error = %e, "cannot listen for signals; shutting down");
            }
            shutdown.trigger();
        }
    });
    server.run(shutdown).await;
    Ok(())
}

/// Logs, at start, the settings that leave the API open to more callers
/// than the keys' holders.
fn warn_about_open_access(config: &Config, auth: &Authenticator) {
    let keys = &config.auth.api_keys;
    if !keys.required {
        tracing::warn!(
            "auth.apiKeys.required (API_KEY_REQUIRED) is false: requests without credentials are served"
        );
    } else if auth.keys().is_empty() {
        tracing::warn!(
            "no API key is configured (auth.apiKeys.file, API_KEY or API_KEY_FILE): every request outside auth.apiKeys.publicPaths is refused"
        );
    }
    for path in &keys.public_paths {
        tracing::info!(path = %path, "public path: served without authentication");
    }
}

/// Checks every account once, recording reachability for `/readyz` and
/// `rustymail_imap_up`, and closes connections idle for too long.
async fn check_accounts(accounts: &Accounts, ready: &Readiness, metrics: &Metrics) {
    for account in accounts.all() {
        let up = match account.check().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(account = account.name(), error = %e, "IMAP account not reachable");
                false
            }
        };
        ready.set_account(account.name(), up);
        metrics
            .imap_up
            .get_or_create(&crate::metrics::AccountLabels {
                account: account.name().to_owned(),
            })
            .set(i64::from(up));
        account.close_idle().await;
    }
}

/// Checks every account every [`ACCOUNT_CHECK_INTERVAL`] until `shutdown`.
async fn watch_accounts(
    accounts: Accounts,
    ready: Readiness,
    metrics: Metrics,
    shutdown: Shutdown,
) {
    let mut ticker = tokio::time::interval(ACCOUNT_CHECK_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => check_accounts(&accounts, &ready, &metrics).await,
            () = shutdown.wait() => return,
        }
    }
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    // A bound listener always has a local address; fall back to unspecified.
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}
