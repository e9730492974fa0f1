//! A bounded pool of logged-in connections for one account.
//!
//! At most `imap.maxConnections` connections exist at once (kept below the
//! server's per-user limit). A connection goes back to the pool after a
//! request unless the request broke it; one taken from the pool after more
//! than [`CHECK_AFTER`] unused is checked with NOOP first, one unused for
//! `imap.idleTimeout` or logged in with credentials that have since changed
//! is closed instead of used.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{
    ImapError, Result,
    connect::{Connection, Target},
    credentials::Credentials,
};

/// A pooled connection unused for longer than this is checked with NOOP
/// before it is used: one used that recently is known to work, and a
/// connection that broke since fails its command, which a read retries on a
/// fresh connection.
pub const CHECK_AFTER: Duration = Duration::from_secs(2);

struct Idle {
    connection: Connection,
    since: Instant,
    generation: u64,
}

/// One account's connections.
pub struct Pool {
    target: Target,
    credentials: Credentials,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    max: u32,
    idle_timeout: Duration,
    open: Gauge,
}

/// A connection taken from the pool; returned to it when dropped, unless
/// [`Lease::discard`]ed.
pub struct Lease<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
    generation: u64,
    /// Whether the connection came from the pool rather than a fresh login.
    pub reused: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lease<'_> {
    /// The connection.
    pub fn connection(&mut self) -> &mut Connection {
        // Present from creation until drop or discard, which consumes the lease.
        self.connection
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }

    /// Closes the connection instead of returning it (after an error that
    /// may have left it in an unknown state).
    pub fn discard(mut self) {
        if self.connection.take().is_some() {
            self.pool.open.dec();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(Idle {
                connection,
                since: Instant::now(),
                generation: self.generation,
            });
        }
    }
}

impl Pool {
    /// A pool of at most `max` connections to `target`, logging in with
    /// `credentials`, counting open connections in `open`.
    pub fn new(
        target: Target,
        credentials: Credentials,
        max: u32,
        idle_timeout: Duration,
        open: Gauge,
    ) -> Self {
        Self {
            target,
            credentials,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max.max(1) as usize)),
            max: max.max(1),
            idle_timeout,
            open,
        }
    }

    /// The connection target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The account's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A connection: a pooled one that still works, or a new one.
    pub async fn get(&self) -> Result<Lease<'_>> {
        let permit = tokio::time::timeout(
            self.target.command_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| ImapError::Busy {
            account: self.target.account.clone(),
            max: self.max,
        })?
        .map_err(|_| ImapError::Busy {
            account: self.target.account.clone(),
            max: self.max,
        })?;
        let generation = self.credentials.generation();
        while let Some(idle) = self.pop() {
            if idle.generation != generation || idle.since.elapsed() > self.idle_timeout {
                self.close(idle.connection).await;
                continue;
            }
            let mut connection = idle.connection;
            if idle.since.elapsed() > CHECK_AFTER {
                let noop =
                    tokio::time::timeout(self.target.command_timeout, connection.session.noop())
                        .await;
                if !matches!(noop, Ok(Ok(()))) {
                    self.open.dec();
                    continue;
                }
            }
            return Ok(Lease {
                pool: self,
                connection: Some(connection),
                generation,
                reused: true,
                _permit: permit,
            });
        }
        let login = self.credentials.read()?;
        let connection = self
            .target
            .connect(&login.username, &login.password.0)
            .await?;
        self.open.inc();
        Ok(Lease {
            pool: self,
            connection: Some(connection),
            generation,
            reused: false,
            _permit: permit,
        })
    }

    fn pop(&self) -> Option<Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    async fn close(&self, mut connection: Connection) {
        self.open.dec();
        let _ = tokio::time::timeout(Duration::from_secs(1), connection.session.logout()).await;
    }

    /// Closes every pooled connection unused for longer than the idle timeout.
    pub async fn close_idle(&self) {
        let expired: Vec<Idle> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let (old, keep) = idle
                .drain(..)
                .partition(|i| i.since.elapsed() > self.idle_timeout);
            *idle = keep;
            old
        };
        for idle in expired {
            self.close(idle.connection).await;
        }
    }
}
