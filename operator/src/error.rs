//! The controller's error type: every way a reconcile can fail, each with a
//! short label for the `reconcile_errors_total` metric.
//!
//! May depend on, in this crate: `metrics`, `render`.

use crate::{metrics::MetricLabel, render::RenderError};

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed; it is retried with backoff.
    #[error("{action}: {source}")]
    Kube {
        /// What the operator was doing, e.g. `applying Deployment team-a/mail`.
        action: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A watch has not listed its objects yet, so the reconcile cannot see
    /// the children; most often the operator may not list or watch them.
    #[error(
        "the watches of {kinds} have not listed their objects yet; check that the operator may list and watch them (rustymail-operator rbac)"
    )]
    NotSynced {
        /// The kinds not listed yet, comma-separated.
        kinds: String,
    },
    /// The RustyMail cannot be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The spec passes the schema but cannot work (a missing Secret, an
    /// unknown Issuer, a name taken by someone else's object). Reported as
    /// the `Degraded` condition; nothing is changed until it is fixed.
    #[error("{message}")]
    Degraded {
        /// PascalCase reason for the condition, e.g. `SecretNotFound`.
        reason: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

impl Error {
    /// Wraps a client error with what the operator was doing.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Kube {
            action,
            source: Box::new(source),
        }
    }
}

impl MetricLabel for Error {
    fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube_api",
            Self::NotSynced { .. } => "cache_sync",
            Self::Render(_) => "render",
            Self::Degraded { .. } => "degraded",
        }
    }
}
