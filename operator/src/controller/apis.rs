//! Which optional APIs the cluster serves: cert-manager and the Prometheus
//! Operator. Looked up through discovery and cached for 30 s. The watches of
//! their kinds are set up when the operator starts: an API installed later is
//! rendered for within 30 s (a Certificate is applied and
//! `CertManagerNotInstalled` clears), but until the operator restarts its
//! children are not watched: they are applied on every reconcile instead of
//! compared, and never pruned.

use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::Mutex;

use super::retry::retry;
use crate::kinds::{Kind, OptionalApi};

/// How long a discovery answer is trusted.
const TTL: Duration = Duration::from_secs(30);

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
}

impl ApiPresence {
    /// Discovery through `client`, nothing cached yet.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cached: Mutex::new(None),
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
        Ok(apis)
    }
}
