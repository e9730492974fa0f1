//! The request log and counters tests read: requests per verb and resource,
//! writes, and the answers given.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

/// One handled API request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// The API verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`). Discovery requests are not recorded.
    pub verb: String,
    /// The resource, with `/subresource` if any.
    pub resource: String,
    /// Namespace, empty for cluster scope.
    pub namespace: String,
    /// Object name, empty for collections.
    pub name: String,
    /// `fieldManager`, if given.
    pub field_manager: String,
    /// The user (`admin` or `restricted`).
    pub user: String,
    /// The HTTP code answered.
    pub code: u16,
    /// Whether the request changed the store (a no-op apply does not).
    pub mutated: bool,
}

impl RequestRecord {
    /// Whether the verb writes (create, update, patch, delete, deletecollection).
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }
}

/// Counters since the start (or the last reset) and the latest requests.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Requests by `verb resource`.
    pub by_verb_resource: BTreeMap<String, u64>,
    /// All API requests.
    pub requests: u64,
    /// Write requests.
    pub writes: u64,
    /// Writes that changed the store.
    pub mutations: u64,
    /// The latest requests, oldest first (bounded).
    #[serde(skip)]
    pub log: VecDeque<RequestRecord>,
}

/// How many requests the log keeps.
const LOG_LIMIT: usize = 10_000;

impl Stats {
    /// Counts one request.
    pub fn record(&mut self, r: RequestRecord) {
        self.requests += 1;
        if r.is_write() {
            self.writes += 1;
        }
        if r.mutated {
            self.mutations += 1;
        }
        *self
            .by_verb_resource
            .entry(format!("{} {}", r.verb, r.resource))
            .or_default() += 1;
        self.log.push_back(r);
        if self.log.len() > LOG_LIMIT {
            self.log.pop_front();
        }
    }

    /// Requests with this verb on this resource (`deployments`, `rustymails/status`).
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.by_verb_resource
            .get(&format!("{verb} {resource}"))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of any verb per resource (subresources counted with their resource).
    pub fn per_resource(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (key, n) in &self.by_verb_resource {
            if let Some((_, resource)) = key.split_once(' ') {
                let base = resource.split('/').next().unwrap_or(resource);
                *out.entry(base.to_string()).or_default() += n;
            }
        }
        out
    }
}
