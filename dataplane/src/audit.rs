//! The audit log: one JSON line per security-relevant event, for the
//! categories `audit.events` enables, on standard output (beside the JSON
//! logs, each marked `"log":"audit"`) or appended to `audit.file`.
//!
//! ```json
//! {"timestamp":"2026-01-01T12:00:00.123Z","log":"audit","category":"authentication",
//!  "user":"ci","client_ip":"10.0.0.7","user_agent":"curl/8.5.0",
//!  "action":"token_issued","resource":"/api/v1/auth/token","result":"success"}
//! ```
//!
//! Lines are written by a thread of their own, so a request never waits for
//! the disk; if it falls behind by [`QUEUE`] lines, further lines are
//! dropped and counted in `rustymail_audit_events_dropped_total`. No event
//! carries a secret, a token, a password or a message body: callers pass
//! names, paths and outcomes only.
//!
//! May depend on, in this crate: `config`.

use std::{
    io::{self, Write},
    net::IpAddr,
    sync::{
        Arc,
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
};

use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

use crate::config::{Audit, AuditEvent};

/// Lines waiting to be written at most.
pub const QUEUE: usize = 8192;

/// One event.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Its category.
    pub category: AuditEvent,
    /// Who acted, if known.
    pub user: Option<&'a str>,
    /// From where.
    pub client_ip: Option<IpAddr>,
    /// The client's `User-Agent`, if it sent one.
    pub user_agent: Option<&'a str>,
    /// What was done, e.g. `GET` or `token_issued`.
    pub action: &'a str,
    /// What it was done to: a request path (without its query) or a config key.
    pub resource: &'a str,
    /// How it ended, e.g. `success`, `denied:invalid_key`, `200`.
    pub result: &'a str,
}

#[derive(Serialize)]
struct Line<'a> {
    timestamp: String,
    log: &'static str,
    category: &'static str,
    user: Option<&'a str>,
    client_ip: Option<IpAddr>,
    user_agent: Option<&'a str>,
    action: &'a str,
    resource: &'a str,
    result: &'a str,
}

/// The longest `User-Agent` written; longer ones are cut.
const MAX_USER_AGENT: usize = 256;

struct Inner {
    categories: [bool; 5],
    queue: SyncSender<Vec<u8>>,
    dropped: Counter,
}

/// Where audit events go. Cloning is cheap and shares the writer.
#[derive(Clone, Default)]
pub struct AuditLog(Option<Arc<Inner>>);

fn index(category: AuditEvent) -> usize {
    match category {
        AuditEvent::Authentication => 0,
        AuditEvent::Authorization => 1,
        AuditEvent::DataAccess => 2,
        AuditEvent::ConfigurationChange => 3,
        AuditEvent::SecurityEvent => 4,
    }
}

impl AuditLog {
    /// A log that records nothing.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// Starts the writer `audit` configures; `dropped` counts lines lost to
    /// a full queue.
    pub fn start(audit: &Audit, dropped: Counter) -> io::Result<Self> {
        if !audit.enabled || audit.events.is_empty() {
            return Ok(Self::disabled());
        }
        let mut categories = [false; 5];
        for event in &audit.events {
            categories[index(*event)] = true;
        }
        let out: Box<dyn Write + Send> = match &audit.file {
            Some(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("audit.file {}: {e}", path.display()))
                    })?,
            ),
            None => Box::new(io::stdout()),
        };
        let (queue, lines) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || write_lines(&lines, out))?;
        Ok(Self(Some(Arc::new(Inner {
            categories,
            queue,
            dropped,
        }))))
    }

    /// Whether events of `category` are written.
    pub fn enabled(&self, category: AuditEvent) -> bool {
        self.0
            .as_ref()
            .is_some_and(|i| i.categories[index(category)])
    }

    /// Writes `event` if its category is enabled.
    pub fn record(&self, event: &Event<'_>) {
        let Some(inner) = &self.0 else { return };
        if !inner.categories[index(event.category)] {
            return;
        }
        let line = Line {
            timestamp: jiff::Timestamp::now().to_string(),
            log: "audit",
            category: event.category.as_str(),
            user: event.user,
            client_ip: event.client_ip,
            user_agent: event.user_agent.map(|ua| cut(ua, MAX_USER_AGENT)),
            action: event.action,
            resource: event.resource,
            result: event.result,
        };
        let Ok(mut bytes) = serde_json::to_vec(&line) else {
            return;
        };
        bytes.push(b'\n');
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            inner.queue.try_send(bytes)
        {
            inner.dropped.inc();
        }
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn write_lines(lines: &Receiver<Vec<u8>>, mut out: Box<dyn Write + Send>) {
    while let Ok(line) = lines.recv() {
        if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn read_lines(path: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= n {
                return text
                    .lines()
                    .map(|l| serde_json::from_str(l).expect("JSON line"))
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{n} audit lines not written to {}", path.display());
    }

    #[test]
    fn enabled_categories_are_written_as_json_lines_with_every_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("audit.log");
        let config = Audit {
            enabled: true,
            events: vec![AuditEvent::Authentication, AuditEvent::SecurityEvent],
            file: Some(file.clone()),
        };
        let log = AuditLog::start(&config, Counter::default()).expect("starts");
        assert!(!log.enabled(AuditEvent::DataAccess));
        let event = Event {
            category: AuditEvent::DataAccess,
            user: Some("ci"),
            client_ip: Some("10.0.0.7".parse().expect("ip")),
            user_agent: Some("curl/8.5.0"),
            action: "GET",
            resource: "/api/v1/folders",
            result: "200",
        };
        log.record(&event);
        log.record(&Event {
            category: AuditEvent::Authentication,
            action: "authenticate",
            result: "denied:invalid_key",
            ..event
        });
        let lines = read_lines(&file, 1);
        assert_eq!(lines.len(), 1, "data access is not enabled: {lines:?}");
        let line = &lines[0];
        assert_eq!(line["log"], "audit");
        assert_eq!(line["category"], "authentication");
        assert_eq!(line["user"], "ci");
        assert_eq!(line["client_ip"], "10.0.0.7");
        assert_eq!(line["user_agent"], "curl/8.5.0");
        assert_eq!(line["action"], "authenticate");
        assert_eq!(line["resource"], "/api/v1/folders");
        assert_eq!(line["result"], "denied:invalid_key");
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        let parsed: jiff::Timestamp = timestamp.parse().expect("ISO 8601 / RFC 3339");
        assert!(timestamp.ends_with('Z'), "{timestamp}");
        assert!((jiff::Timestamp::now() - parsed).get_seconds().abs() < 60);
    }

    #[test]
    fn a_disabled_log_records_nothing() {
        let config = Audit {
            enabled: false,
            ..Audit::default()
        };
        let log = AuditLog::start(&config, Counter::default()).expect("starts");
        assert!(!AuditEvent::ALL.iter().any(|c| log.enabled(*c)));
    }

    #[test]
    fn long_user_agents_are_cut_at_a_character() {
        let ua = "é".repeat(200);
        assert!(cut(&ua, MAX_USER_AGENT).len() <= MAX_USER_AGENT);
        assert!(cut(&ua, MAX_USER_AGENT).chars().all(|c| c == 'é'));
    }
}
