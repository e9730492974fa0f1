//! Which optional APIs the cluster serves: cert-manager and the Prometheus
//! Operator. Looked up through discovery (one `GET /apis`), cached for 30 s
//! and polled every 30 s by [`ApiPresence::poll`]; every change reaches the
//! receivers of [`ApiPresence::subscribe`]: the watches of an API's kinds
//! start when it appears (see `cache`) and every RustyMail is reconciled
//! again, so cert-manager or the Prometheus Operator installed after the
//! operator started is used within about 30 s, without a restart.

use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::{Mutex, watch};

use super::retry::retry;
use crate::kinds::{Kind, OptionalApi};

/// How long a discovery answer is trusted, and how often it is polled.
pub const TTL: Duration = Duration::from_secs(30);

/// The optional APIs present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Apis {
    /// `cert-manager.io` is served.
    pub cert_manager: bool,
    /// `monitoring.coreos.com` is served.
    pub monitoring: bool,
}

impl Apis {
    /// Whether `api` is served.
    pub fn has(self, api: OptionalApi) -> bool {
        match api {
            OptionalApi::CertManager => self.cert_manager,
            OptionalApi::Monitoring => self.monitoring,
        }
    }

    /// Whether children of `kind` can exist: built in, or their API is served.
    pub fn serves(self, kind: Kind) -> bool {
        kind.info().needs.is_none_or(|api| self.has(api))
    }
}

/// Cached discovery of optional APIs.
pub struct ApiPresence {
    client: Client,
    cached: Mutex<Option<(Instant, Apis)>>,
    served: watch::Sender<Apis>,
}

impl ApiPresence {
    /// Discovery through `client`, nothing cached yet.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cached: Mutex::new(None),
            served: watch::Sender::new(Apis::default()),
        }
    }

    /// The APIs last discovered, updated on every change.
    pub fn subscribe(&self) -> watch::Receiver<Apis> {
        self.served.subscribe()
    }

    /// Discovers the APIs every [`TTL`], forever; a failed discovery is
    /// logged and tried again at the next tick.
    pub async fn poll(&self) {
        loop {
            if let Err(e) = self.get().await {
                tracing::warn!(error = %e, "cannot discover optional APIs; trying again in 30 s");
            }
            tokio::time::sleep(TTL).await;
        }
    }

    /// The APIs present, from cache when fresh.
    pub async fn get(&self) -> Result<Apis, kube::Error> {
        let mut cached = self.cached.lock().await;
        if let Some((at, apis)) = *cached
            && at.elapsed() < TTL
        {
            return Ok(apis);
        }
        let groups = retry(|| self.client.list_api_groups()).await?;
        let has = |name: &str| groups.groups.iter().any(|g| g.name == name);
        let apis = Apis {
            cert_manager: has(OptionalApi::CertManager.group()),
            monitoring: has(OptionalApi::Monitoring.group()),
        };
        *cached = Some((Instant::now(), apis));
        self.served.send_if_modified(|old| {
            let changed = *old != apis;
            if changed {
                tracing::info!(
                    cert_manager = apis.cert_manager,
                    monitoring = apis.monitoring,
                    "optional APIs changed"
                );
            }
            *old = apis;
            changed
        });
        Ok(apis)
    }
}
