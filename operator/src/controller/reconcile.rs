//! One reconcile of one RustyMail: observe, plan, execute.
//!
//! ```text
//!  caches + recent writes + discovery ─> observe ─> plan (pure) ─> execute
//! ```

use std::{sync::Arc, time::Duration};

use kube::runtime::controller::Action;

use super::{Scope, execute::execute, observe::observe, plan::plan};
use crate::{crd::RustyMail, error::Error, metrics::ReconcileTimer};

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

/// Records how a reconcile ended. A `Degraded` spec is the user's to fix:
/// it counts as `reconciles_total{result="degraded"}`, never in
/// `reconcile_errors_total`, which is what alerts on the operator read.
pub fn record(timer: ReconcileTimer, result: &Result<Action, Error>) {
    match result {
        Ok(_) => timer.success(),
        Err(Error::Degraded { .. }) => timer.degraded(),
        Err(e) => timer.failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{self, Metrics};

    fn series(text: &str, prefix: &str) -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    #[test]
    fn a_degraded_spec_is_not_an_operator_error() {
        let mut registry = metrics::registry();
        let metrics = Metrics::register(&mut registry);
        let degraded = Err(Error::Degraded {
            reason: "SecretNotFound",
            message: "spec.accounts[0].credentialsSecretRef: Secret support-imap does not exist"
                .to_owned(),
        });
        record(metrics.reconcile(), &degraded);
        record(metrics.reconcile(), &degraded);
        let text = metrics::encode(&registry).expect("encodes");
        assert_eq!(
            series(&text, "rustymail_operator_reconcile_errors_total"),
            0,
            "{text}"
        );
        assert!(
            text.contains("rustymail_operator_reconciles_total{result=\"degraded\"} 2"),
            "{text}"
        );

        record(
            metrics.reconcile(),
            &Err(Error::NotSynced {
                kinds: "Secret".to_owned(),
            }),
        );
        let text = metrics::encode(&registry).expect("encodes");
        assert_eq!(
            series(&text, "rustymail_operator_reconcile_errors_total"),
            1,
            "an operator failure is counted: {text}"
        );
    }
}
