//! The election loop: one task per process that keeps trying to hold the
//! Lease and publishes whether it does.
//!
//! ```text
//!            ┌── read Lease ──► decide ──► create / replace (resourceVersion) ──┐
//!   every    │                    │                      │ ok → leading         │
//!   retry ───┤                    └─ held by another     │ 409 → following      │
//!   period   │                       → following         │ error → retry; past  │
//!            └───────────────────────────────────────────┘ renew deadline → stop leading
//! ```
//!
//! While leading, the loop renews every `retry_period`, reusing the Lease it
//! wrote (one request per renewal). A follower reads every `retry_period`, and
//! wakes exactly when the holder's term ends, so a dead leader is replaced
//! within `lease_duration` of its last renewal.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use tokio::{
    sync::{oneshot, watch},
    task::JoinHandle,
    time::Instant,
};

use super::{
    config::{LeaseConfig, LeaseConfigError},
    decision::{self, Decision},
    store::{LeaseStore, StoreError},
};

/// Runs leader election for one candidate.
pub struct LeaderElector<S> {
    store: S,
    config: LeaseConfig,
}

/// Leader election ended badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The Lease could not be released on shutdown; a successor has to wait
    /// for it to expire.
    #[error("could not release the Lease on shutdown; another replica takes over once it expires")]
    Release(#[source] StoreError),
    /// The election task panicked or was cancelled.
    #[error("the leader election task failed")]
    Task(#[source] tokio::task::JoinError),
}

impl<S: LeaseStore> LeaderElector<S> {
    /// An elector for `config`'s identity on `store`'s Lease.
    pub fn new(store: S, config: LeaseConfig) -> Result<Self, LeaseConfigError> {
        config.validate()?;
        Ok(Self { store, config })
    }

    /// Starts the election task. It runs until [`Leadership::shutdown`], or
    /// until the [`Leadership`] is dropped, which abandons the Lease without
    /// releasing it, as if the process had died.
    pub fn spawn(self) -> Leadership {
        let (tx, leading) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(self.run(Publisher(tx), stopped));
        Leadership {
            leading,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn run(
        self,
        publisher: Publisher,
        mut stopped: oneshot::Receiver<()>,
    ) -> Result<(), LeaseError> {
        let mut state = LoopState::default();
        let mut wait = Duration::ZERO;
        loop {
            let deadline = state
                .renewed_at
                .map(|renewed| renewed + self.config.renew_deadline);
            let event = {
                let round = async {
                    tokio::time::sleep(wait).await;
                    self.step(&mut state.written).await
                };
                tokio::select! {
                    biased;
                    _ = &mut stopped => Event::Stop,
                    () = sleep_until(deadline) => Event::Deadline,
                    outcome = round => Event::Round(outcome),
                }
            };
            wait = match event {
                Event::Stop => break,
                Event::Deadline => {
                    tracing::error!(
                        identity = %self.config.identity,
                        deadline = ?self.config.renew_deadline,
                        "could not renew the Lease in time: stopping leading"
                    );
                    state.step_down(&publisher);
                    Duration::ZERO
                }
                Event::Round(outcome) => self.handle(outcome, &mut state, &publisher),
            };
        }
        publisher.set(false);
        self.release().await.map_err(LeaseError::Release)
    }

    /// One read-decide-write round.
    async fn step(&self, written: &mut Option<Lease>) -> Result<Outcome, StoreError> {
        let sent = Instant::now();
        let now = Timestamp::now();
        let lease = match written.take() {
            Some(lease) => Some(lease),
            None => self.store.get().await?,
        };
        let identity = &self.config.identity;
        let seconds = self.config.lease_duration_seconds();
        let result = match decision::decide(lease.as_ref(), identity, now) {
            Decision::Follow { holder, expires_at } => {
                let remaining = expires_at.duration_since(now);
                let until_expiry = Duration::try_from(remaining).unwrap_or(Duration::ZERO);
                return Ok(Outcome::Follow {
                    holder,
                    until_expiry,
                });
            }
            Decision::Create => {
                let lease = decision::new_lease(self.store.name(), identity, now, seconds);
                self.store.create(lease).await
            }
            Decision::Acquire | Decision::Renew => {
                let mut lease = lease.unwrap_or_default();
                lease.spec = Some(decision::claimed(
                    lease.spec.as_ref(),
                    identity,
                    now,
                    seconds,
                ));
                self.store.replace(lease).await
            }
        };
        match result {
            Ok(lease) => {
                *written = Some(lease);
                Ok(Outcome::Lead { sent })
            }
            Err(error) if error.is_conflict() => Ok(Outcome::Lost),
            Err(error) => Err(error),
        }
    }

    /// Applies a round's outcome; returns how long to wait for the next one.
    fn handle(
        &self,
        outcome: Result<Outcome, StoreError>,
        state: &mut LoopState,
        publisher: &Publisher,
    ) -> Duration {
        let identity = &self.config.identity;
        match outcome {
            Ok(Outcome::Lead { sent }) => {
                if !publisher.get() {
                    tracing::info!(%identity, "acquired the Lease: leading");
                }
                state.renewed_at = Some(sent);
                publisher.set(true);
                self.config.retry_period
            }
            Ok(Outcome::Follow {
                holder,
                until_expiry,
            }) => {
                if publisher.get() {
                    tracing::warn!(%identity, %holder, "the Lease was taken over: following");
                } else if state.last_holder.as_deref() != Some(holder.as_str()) {
                    tracing::info!(%identity, %holder, "following the Lease holder");
                }
                state.last_holder = Some(holder);
                state.step_down(publisher);
                // Wake when the term ends, so a dead leader is replaced at once.
                until_expiry.min(self.config.retry_period)
            }
            Ok(Outcome::Lost) => {
                tracing::info!(%identity, "another candidate wrote the Lease first");
                state.step_down(publisher);
                // Read the winner's Lease right away.
                Duration::ZERO
            }
            Err(error) => {
                tracing::warn!(%identity, error = %error_chain(&error), "Lease request failed");
                state.written = None;
                self.config.retry_period
            }
        }
    }

    /// Gives the Lease up if we hold it, so that a successor takes over at once.
    async fn release(&self) -> Result<(), StoreError> {
        let Some(mut lease) = self.store.get().await? else {
            return Ok(());
        };
        let ours = lease.spec.as_ref().and_then(decision::holder) == Some(&self.config.identity);
        if !ours {
            return Ok(());
        }
        let spec = lease.spec.take().unwrap_or_default();
        lease.spec = Some(decision::released(&spec, Timestamp::now()));
        self.store.replace(lease).await?;
        tracing::info!(identity = %self.config.identity, "released the Lease");
        Ok(())
    }
}

/// What woke the loop.
enum Event {
    /// Shutdown was asked for.
    Stop,
    /// The renew deadline passed without a successful renewal.
    Deadline,
    /// A round finished.
    Round(Result<Outcome, StoreError>),
}

/// What one round found.
enum Outcome {
    /// We hold the Lease, renewed by the request sent at `sent`.
    Lead { sent: Instant },
    /// Another candidate holds it for `until_expiry` more.
    Follow {
        holder: String,
        until_expiry: Duration,
    },
    /// Another candidate wrote first (409).
    Lost,
}

#[derive(Default)]
struct LoopState {
    /// The Lease as we last wrote it, reused for the next renewal.
    written: Option<Lease>,
    /// When the last successful renewal was sent, while leading.
    renewed_at: Option<Instant>,
    /// The holder last followed, to log changes only.
    last_holder: Option<String>,
}

impl LoopState {
    fn step_down(&mut self, publisher: &Publisher) {
        self.written = None;
        self.renewed_at = None;
        publisher.set(false);
    }
}

/// Publishes leadership; publishes `false` when dropped, so that a task that
/// panics or is aborted never leaves `true` behind.
struct Publisher(watch::Sender<bool>);

impl Publisher {
    fn set(&self, leading: bool) {
        self.0.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
    }

    fn get(&self) -> bool {
        *self.0.borrow()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.set(false);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A running election: whether this process leads, and how to stop.
///
/// Gate every write on [`Leadership::is_leader`] (or a receiver from
/// [`Leadership::subscribe`]). A receiver whose sender is gone reads `false`.
pub struct Leadership {
    leading: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), LeaseError>>>,
}

impl Leadership {
    /// A receiver of leadership changes: `true` while this process leads.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Whether this process leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Stops leading (publishing `false` first, so writes stop), then
    /// releases the Lease so that another replica takes over at once.
    pub async fn shutdown(mut self) -> Result<(), LeaseError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(LeaseError::Task)?,
            None => Ok(()),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
#[path = "elector_tests.rs"]
mod tests;
