//! Shutdown: one trigger, any number of waiters.
//!
//! `main` triggers it on SIGTERM or Ctrl-C; tests trigger it directly. When it
//! fires, readiness turns false at once; the listeners keep accepting and
//! serving for `limits.shutdownDelay` (while the pod leaves the Service's
//! endpoints), then stop accepting, and in-flight requests get
//! `limits.shutdownGracePeriod` to finish.
//!
//! Depends on no other module of this crate.

use std::sync::Arc;

use tokio::sync::watch;

/// A shutdown switch, shared by cloning.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    /// A switch not yet triggered.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Starts the shutdown; later calls do nothing.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the shutdown has started.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once the shutdown has started.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// Completes on SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
pub async fn termination_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_see_a_trigger_made_before_or_after_they_wait() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        s.trigger();
        waiter.await.expect("waiter finishes");
        s.wait().await;
        assert!(s.is_triggered());
    }
}
