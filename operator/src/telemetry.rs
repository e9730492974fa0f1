//! Structured logs: one JSON object a line on stdout, filtered by `RUST_LOG`
//! (default `info`).
//!
//! Events are flattened (`{"timestamp", "level", "target", "fields"…}`) and
//! carry the current span, so a reconcile's `object` field tags every line it
//! logs.
//!
//! Depends on no other module of this crate.

use tracing::Subscriber;
use tracing_subscriber::{
    EnvFilter, Registry, filter::LevelFilter, fmt::MakeWriter, layer::SubscriberExt,
    util::SubscriberInitExt,
};

/// The environment variable holding the log filter directives.
pub const FILTER_ENV: &str = "RUST_LOG";

/// Logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// `RUST_LOG` is not a valid filter.
    #[error(
        "invalid {FILTER_ENV} {directives:?}: expected directives such as \
         `info` or `info,rustymail_operator=debug,kube=warn`"
    )]
    InvalidFilter {
        /// The rejected directives.
        directives: String,
        /// The parser's complaint.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// `RUST_LOG` is not valid Unicode.
    #[error("{FILTER_ENV} is not valid Unicode")]
    NotUnicode,
    /// A global subscriber was already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[source] tracing_subscriber::util::TryInitError),
}

/// Builds the log filter from `directives` (the value of `RUST_LOG`); blank or
/// absent means `info`.
pub fn filter(directives: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let builder = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into());
    match directives.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(builder.parse_lossy("")),
        Some(directives) => {
            builder
                .parse(directives)
                .map_err(|source| TelemetryError::InvalidFilter {
                    directives: directives.to_owned(),
                    source,
                })
        }
    }
}

/// A subscriber writing JSON lines to `writer`, filtered by `filter`.
pub fn subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer);
    Registry::default().with(filter).with(json)
}

/// Installs JSON logging to stdout, filtered by `RUST_LOG`, as the global
/// subscriber. Call once, first thing in `main`.
pub fn init() -> Result<(), TelemetryError> {
    let directives = match std::env::var(FILTER_ENV) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Err(TelemetryError::NotUnicode),
    };
    subscriber(filter(directives.as_deref())?, std::io::stdout)
        .try_init()
        .map_err(TelemetryError::AlreadyInstalled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    /// Collects everything written, for inspection.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut bytes = self.0.lock().map_err(|_| io::Error::other("poisoned"))?;
            bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        }
    }

    fn capture(directives: Option<&str>, log: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let filter = filter(directives).unwrap_or_else(|e| panic!("{e}"));
        tracing::subscriber::with_default(subscriber(filter, buffer.clone()), log);
        buffer.lines()
    }

    #[test]
    fn events_are_json_lines_with_flattened_fields_and_span() {
        let lines = capture(None, || {
            let span = tracing::info_span!("reconcile", object = "ns/mail");
            let _entered = span.enter();
            tracing::info!(replicas = 2, "applied");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "applied");
        assert_eq!(line["replicas"], 2);
        assert_eq!(line["span"]["object"], "ns/mail");
        assert!(line["timestamp"].is_string());
    }

    #[test]
    fn default_level_is_info() {
        let lines = capture(Some("  "), || {
            tracing::debug!("hidden");
            tracing::info!("shown");
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "shown");
    }

    #[test]
    fn directives_select_targets_and_levels() {
        let lines = capture(Some("warn,chatty=debug"), || {
            tracing::info!("hidden");
            tracing::debug!(target: "chatty", "shown");
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["target"], "chatty");
    }

    #[test]
    fn invalid_directives_are_reported_not_ignored() {
        let err = filter(Some("info,kube=loud")).err();
        assert!(
            matches!(err, Some(TelemetryError::InvalidFilter { ref directives, .. }) if directives == "info,kube=loud"),
            "{err:?}"
        );
    }
}
