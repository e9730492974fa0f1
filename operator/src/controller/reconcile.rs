//! One reconcile of one RustyMail: observe, plan, execute.
//!
//! ```text
//!  caches + recent writes + discovery ─> observe ─> plan (pure) ─> execute
//! ```

use std::{sync::Arc, time::Duration};

use kube::runtime::controller::Action;

use super::{Scope, execute::execute, observe::observe, plan::plan};
use crate::{crd::RustyMail, error::Error};

/// How long a reconcile waits for the watch caches to list their objects.
const CACHE_PATIENCE: Duration = Duration::from_secs(10);

/// Reconciles `rm`; only called while this replica leads.
pub async fn reconcile(rm: Arc<RustyMail>, scope: &Scope) -> Result<Action, Error> {
    let unsynced = scope.caches.unsynced(CACHE_PATIENCE).await;
    if !unsynced.is_empty() {
        return Err(Error::NotSynced {
            kinds: unsynced.join(", "),
        });
    }
    let observation = observe(&scope.ctx, &scope.caches, rm)?;
    let plan = plan(&observation, &mut rand::rng())?;
    execute(&scope.ctx, &observation, plan).await
}
