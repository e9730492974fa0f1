//! What the RustyMail watches tell the operator's gauges and backoffs,
//! outside any reconcile: how many RustyMails the watched namespaces hold
//! (`managed_resources`, summed over the controller's scopes), and which
//! were deleted, whose backoff is then forgotten.
//!
//! ```text
//!  watch event ─> cache ─> Census::record(scope, cache size) ─> managed_resources
//!       └ Delete(rm) ─> Backoffs::forget(rm) ─> backing_off_resources
//! ```

use std::{collections::BTreeMap, sync::Mutex};

use kube::runtime::{reflector::ObjectRef, watcher};

use super::Context;
use crate::crd::RustyMail;

/// RustyMails in each scope's cache (`None`: every namespace).
#[derive(Debug, Default)]
pub struct Census {
    per_scope: Mutex<BTreeMap<Option<String>, usize>>,
}

impl Census {
    /// Records that `scope`'s cache holds `count` RustyMails; returns the
    /// total over every scope.
    pub fn record(&self, scope: Option<&str>, count: usize) -> usize {
        // Nothing here can panic halfway through, so a poisoned lock still
        // guards consistent counts.
        let mut per_scope = self
            .per_scope
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        per_scope.insert(scope.map(str::to_owned), count);
        per_scope.values().sum()
    }
}

/// Updates the gauges and backoffs after `event` reached `scope`'s cache,
/// which now holds `cached` RustyMails.
pub fn on_event(
    ctx: &Context,
    scope: Option<&str>,
    cached: usize,
    event: &watcher::Event<RustyMail>,
) {
    if let watcher::Event::Delete(rm) = event {
        ctx.backoffs.forget(&ObjectRef::from_obj(rm));
        ctx.metrics.set_backing_off_resources(ctx.backoffs.len());
    }
    ctx.metrics
        .set_managed_resources(ctx.census.record(scope, cached));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_summed_over_scopes_and_follows_each() {
        let census = Census::default();
        assert_eq!(census.record(Some("team-a"), 2), 2);
        assert_eq!(census.record(Some("team-b"), 3), 5);
        assert_eq!(census.record(Some("team-a"), 1), 4);
        assert_eq!(census.record(Some("team-b"), 0), 1);
    }
}
