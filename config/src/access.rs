//! The `access` section: client addresses refused outright, whatever
//! credentials they present.
//!
//! Depends on no other module of this crate.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Who may not use the API at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Access {
    /// Client address ranges refused with 403 `client_blocked` before any
    /// authentication or rate limit, each refusal audited as a
    /// `security_event`. The client address is the one the rate limits use:
    /// the peer, or behind a proxy in `rateLimits.trustedProxies` the
    /// rightmost untrusted `X-Forwarded-For` hop. Default: none. Read at
    /// start: a change takes effect when the process restarts (the operator
    /// rolls the pods, the config checksum being in the pod template).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_cidrs: Vec<IpNet>,
}
