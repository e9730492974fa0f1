//! One reconcile of one RustyMail: observe, plan, execute.
//!
//! ```text
//!  caches + recent writes + discovery ─> observe ─> plan (pure) ─> execute
//! ```

use std::sync::Arc;

use kube::runtime::controller::Action;

use super::{Scope, execute::execute, observe::observe, plan::plan};
use crate::{crd::RustyMail, error::Error};

/// Reconciles `rm`; only called while this replica leads.
pub async fn reconcile(rm: Arc<RustyMail>, scope: &Scope) -> Result<Action, Error> {
    scope.caches.synced().await;
    let observation = observe(&scope.ctx, &scope.caches, rm).await?;
    let plan = plan(&observation, &mut rand::rng())?;
    execute(&scope.ctx, &observation, plan).await
}
