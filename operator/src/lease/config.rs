//! Leader election settings: which Lease, who we are, and its timings.

use std::time::Duration;

use clap::Args;

/// Timings and identity of a leader election candidate.
///
/// The timings follow client-go's leader election (the same defaults): the
/// leader renews every `retry_period`; if it has not managed to renew for
/// `renew_deadline` it stops leading; other candidates take the Lease over
/// once `lease_duration` has passed since its last renewal. The gap between
/// `renew_deadline` and `lease_duration` absorbs clock skew between nodes:
/// keep it at a few seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Name of the Lease object.
    pub name: String,
    /// Namespace of the Lease object (the operator's own namespace).
    pub namespace: String,
    /// This candidate's identity, unique among candidates (the pod name).
    pub identity: String,
    /// How long a Lease stays held after its last renewal. Default 15 s;
    /// whole seconds (the API's unit), rounded up.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    /// Default 10 s; must be shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often the leader renews and followers check the Lease. Default
    /// 2 s; must be shorter than `renew_deadline`.
    pub retry_period: Duration,
}

/// Default `lease_duration`.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Default `renew_deadline`.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Default `retry_period`.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);
/// Default Lease name.
pub const DEFAULT_LEASE_NAME: &str = "rustymail-operator";

impl LeaseConfig {
    /// A configuration with the default timings.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// Checks the timings are ordered `retry_period < renew_deadline <
    /// lease_duration` and the names are set.
    pub fn validate(&self) -> Result<(), LeaseConfigError> {
        if self.identity.is_empty() {
            return Err(LeaseConfigError::EmptyIdentity);
        }
        if self.name.is_empty() || self.namespace.is_empty() {
            return Err(LeaseConfigError::EmptyName);
        }
        if self.retry_period.is_zero()
            || self.retry_period >= self.renew_deadline
            || self.renew_deadline >= self.lease_duration_rounded()
        {
            return Err(LeaseConfigError::Timings {
                retry_period: self.retry_period,
                renew_deadline: self.renew_deadline,
                lease_duration: self.lease_duration,
            });
        }
        Ok(())
    }

    /// `lease_duration` in whole seconds as the Lease stores it: rounded up,
    /// at least 1.
    pub fn lease_duration_seconds(&self) -> i32 {
        let whole = self.lease_duration.as_secs();
        let rounded = whole + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(rounded.max(1)).unwrap_or(i32::MAX)
    }

    fn lease_duration_rounded(&self) -> Duration {
        Duration::from_secs(u64::from(self.lease_duration_seconds().unsigned_abs()))
    }
}

/// Leader election settings that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseConfigError {
    /// The timings are out of order.
    #[error(
        "leader election timings must satisfy 0 < retry period ({retry_period:?}) < renew \
         deadline ({renew_deadline:?}) < lease duration ({lease_duration:?}, whole seconds)"
    )]
    Timings {
        /// The configured retry period.
        retry_period: Duration,
        /// The configured renew deadline.
        renew_deadline: Duration,
        /// The configured lease duration.
        lease_duration: Duration,
    },
    /// No identity.
    #[error("the leader election identity is empty: set --leader-identity or POD_NAME")]
    EmptyIdentity,
    /// No Lease name or namespace.
    #[error("the Lease name and namespace must not be empty")]
    EmptyName,
}

/// Command-line arguments for leader election; flatten into the `run` command.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct LeaseArgs {
    /// Name of the Lease the replicas compete for. Default `rustymail-operator`.
    #[arg(long = "lease-name", env = "LEASE_NAME", default_value = DEFAULT_LEASE_NAME)]
    pub name: String,
    /// Namespace of the Lease. Default: the client's namespace (in a pod,
    /// its own namespace), or `POD_NAMESPACE`.
    #[arg(long = "lease-namespace", env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// This replica's identity. Default: `POD_NAME`, else a random name.
    #[arg(long = "leader-identity", env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long the Lease stays held after its last renewal (`15s`).
    #[arg(long = "lease-duration", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps leading without renewing (`10s`).
    #[arg(long = "lease-renew-deadline", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// How often the Lease is renewed or checked (`2s`).
    #[arg(long = "lease-retry-period", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,
}

impl LeaseArgs {
    /// The validated configuration; `default_namespace` applies when no
    /// namespace was given (pass `client.default_namespace()`).
    pub fn config(&self, default_namespace: &str) -> Result<LeaseConfig, LeaseConfigError> {
        let identity = self
            .identity
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(random_identity);
        let config = LeaseConfig {
            name: self.name.clone(),
            namespace: self
                .namespace
                .clone()
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| default_namespace.to_owned()),
            identity,
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        };
        config.validate()?;
        Ok(config)
    }
}

/// A unique identity for a process that was not given one.
pub fn random_identity() -> String {
    format!("rustymail-operator-{:016x}", rand::random::<u64>())
}

/// Parses `15s`, `1m 30s`, `500ms` or ISO 8601 (`PT15S`) into a duration.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration like 15s or 500ms: {e}"))?;
    Duration::try_from(signed).map_err(|_| format!("{text:?} is negative"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        lease: LeaseArgs,
    }

    fn config() -> LeaseConfig {
        LeaseConfig::new("ops", "lease", "me")
    }

    #[test]
    fn defaults_are_client_go_timings_and_valid() {
        let config = config();
        assert_eq!(config.lease_duration, Duration::from_secs(15));
        assert_eq!(config.lease_duration_seconds(), 15);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn timings_out_of_order_are_refused() {
        let mut bad = config();
        bad.renew_deadline = bad.lease_duration;
        assert!(matches!(
            bad.validate(),
            Err(LeaseConfigError::Timings { .. })
        ));
        let mut bad = config();
        bad.retry_period = bad.renew_deadline;
        assert!(matches!(
            bad.validate(),
            Err(LeaseConfigError::Timings { .. })
        ));
        let mut bad = config();
        bad.retry_period = Duration::ZERO;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn lease_seconds_round_up() {
        let mut config = config();
        config.lease_duration = Duration::from_millis(1500);
        assert_eq!(config.lease_duration_seconds(), 2);
        config.lease_duration = Duration::from_millis(10);
        assert_eq!(config.lease_duration_seconds(), 1);
    }

    #[test]
    fn empty_identity_or_name_is_refused() {
        let mut bad = config();
        bad.identity.clear();
        assert_eq!(bad.validate(), Err(LeaseConfigError::EmptyIdentity));
        let mut bad = config();
        bad.namespace.clear();
        assert_eq!(bad.validate(), Err(LeaseConfigError::EmptyName));
    }

    #[test]
    fn flags_parse_human_durations() -> Result<(), Box<dyn std::error::Error>> {
        let cli = Cli::try_parse_from([
            "op",
            "--lease-namespace",
            "ops",
            "--leader-identity",
            "pod-a",
            "--lease-duration",
            "4s",
            "--lease-renew-deadline",
            "3s",
            "--lease-retry-period",
            "500ms",
        ])?;
        let config = cli.lease.config("default")?;
        assert_eq!(config.namespace, "ops");
        assert_eq!(config.identity, "pod-a");
        assert_eq!(config.name, DEFAULT_LEASE_NAME);
        assert_eq!(config.retry_period, Duration::from_millis(500));
        Ok(())
    }

    #[test]
    fn bad_durations_are_explained() {
        let err = Cli::try_parse_from(["op", "--lease-duration", "soon"]).err();
        assert!(err.is_some_and(|e| e.to_string().contains("not a duration")));
    }

    #[test]
    fn unnamed_replicas_get_distinct_identities_and_the_client_namespace()
    -> Result<(), Box<dyn std::error::Error>> {
        if std::env::var_os("POD_NAME").is_some() || std::env::var_os("POD_NAMESPACE").is_some() {
            return Ok(());
        }
        let cli = Cli::try_parse_from(["op"])?;
        let a = cli.lease.config("fallback")?;
        let b = cli.lease.config("fallback")?;
        assert_eq!(a.namespace, "fallback");
        assert_ne!(a.identity, b.identity);
        Ok(())
    }
}
