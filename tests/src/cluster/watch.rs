//! Watches: a stream of `{"type", "object"}` JSON lines from a
//! resourceVersion, with the real server's rules: no version (or `0`)
//! starts with the current objects as `ADDED`; `sendInitialEvents` ends them
//! with a bookmark annotated `k8s.io/initial-events-end`; a compacted version
//! gets an `ERROR` event with a 410 status; objects that stop (start)
//! matching the selectors are sent as `DELETED` (`ADDED`); bookmarks are
//! sent periodically when asked for; the stream ends after `timeoutSeconds`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::engine::Engine;
use super::faults::{Faults, WatchFaults};
use super::meta::{meta_str, served};
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::server::locked;
use super::status::{ApiError, ApiResult, Cause};
use super::store::{Change, EventType};

/// The query of a watch request.
#[derive(Clone, Debug, Default)]
pub struct WatchParams {
    /// Namespace of the URL, `None` for all.
    pub namespace: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub version_match: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

/// Limits the double puts on every watch.
#[derive(Clone, Copy, Debug)]
pub struct WatchLimits {
    /// How often bookmarks are sent.
    pub bookmark_interval: Duration,
    /// The longest a watch runs without `timeoutSeconds`.
    pub max_timeout: Duration,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

struct Watcher {
    rt: Arc<ResourceType>,
    p: WatchParams,
    tx: mpsc::Sender<Bytes>,
}

impl Watcher {
    fn matches(&self, stored: &Value) -> bool {
        let converted;
        let obj = if self.rt.conversion.is_some() {
            converted = served(stored, &self.rt);
            &converted
        } else {
            stored
        };
        self.p
            .namespace
            .as_ref()
            .is_none_or(|ns| meta_str(obj, "namespace") == ns)
            && self.p.labels.matches(obj)
            && self.p.fields.matches(obj)
    }

    /// The event a change becomes for this watch, if any.
    fn event(&self, c: &Change) -> Option<Bytes> {
        let now = self.matches(&c.object);
        let before = c.previous.as_ref().is_some_and(|p| self.matches(p));
        let kind = match (c.kind, before, now) {
            (EventType::Added, _, true) => "ADDED",
            (EventType::Deleted, true, _) => "DELETED",
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, false, true) => "ADDED",
            (EventType::Modified, true, false) => "DELETED",
            _ => return None,
        };
        Some(line(kind, &served(&c.object, &self.rt)))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &json!({"apiVersion": self.rt.api_version(), "kind": self.rt.kind, "metadata": metadata}),
        )
    }

    async fn send(&self, b: Bytes) -> bool {
        self.tx.send(b).await.is_ok()
    }
}

/// Ends watches as the faults in force say (read at every event, so a fault
/// set while a watch runs applies to it); `kill` ends every watch at once.
#[derive(Clone, Debug)]
pub struct Dropper {
    /// The faults in force.
    pub faults: Arc<Mutex<Faults>>,
    /// Changes when every watch must end.
    pub kill: tokio::sync::watch::Receiver<u64>,
}

impl Dropper {
    fn current(&self) -> WatchFaults {
        locked(&self.faults).watch
    }
}

/// Starts a watch; the stream's lines arrive on the returned receiver,
/// which closes when the watch ends.
pub fn start(
    engine: Arc<Engine>,
    rt: Arc<ResourceType>,
    p: WatchParams,
    limits: WatchLimits,
    dropper: Dropper,
) -> ApiResult<mpsc::Receiver<Bytes>> {
    if p.send_initial_events && p.version_match.as_deref() != Some("NotOlderThan") {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            vec![Cause::new(
                "FieldValueForbidden",
                "resourceVersionMatch",
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )],
        ));
    }
    let since = match p.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: \"{v}\"")))?,
        ),
    };
    let initial = p.send_initial_events || since.is_none();
    let (tx, rx) = mpsc::channel(256);
    let (start_rv, snapshot, notify) = {
        let st = engine.lock();
        let snapshot: Vec<Arc<Value>> = if initial {
            st.store
                .list(&rt.storage_key(), p.namespace.as_deref())
                .into_iter()
                .map(|(_, o)| o)
                .collect()
        } else {
            Vec::new()
        };
        (
            since.filter(|_| !initial).unwrap_or(st.store.rv()),
            snapshot,
            st.store.subscribe(),
        )
    };
    let w = Watcher { rt, p, tx };
    tokio::spawn(async move {
        run(engine, w, start_rv, snapshot, notify, limits, dropper).await;
    });
    Ok(rx)
}

async fn run(
    engine: Arc<Engine>,
    w: Watcher,
    mut last: u64,
    snapshot: Vec<Arc<Value>>,
    mut notify: tokio::sync::watch::Receiver<u64>,
    limits: WatchLimits,
    mut dropper: Dropper,
) {
    let started = Instant::now();
    let timeout = started
        + w.p
            .timeout
            .unwrap_or(limits.max_timeout)
            .min(limits.max_timeout);
    let deadline = |d: &Dropper| match d.current().drop_after {
        Some(after) => timeout.min(started + after),
        None => timeout,
    };
    let mut sent = 0u64;
    let over = |sent: u64, d: &Dropper| d.current().drop_after_events.is_some_and(|n| sent >= n);
    for obj in &snapshot {
        if w.matches(obj) {
            if !w.send(line("ADDED", &served(obj, &w.rt))).await {
                return;
            }
            sent += 1;
            if over(sent, &dropper) {
                return;
            }
        }
    }
    if w.p.send_initial_events && !w.send(w.bookmark(last, true)).await {
        return;
    }
    let mut ticker =
        tokio::time::interval_at(started + limits.bookmark_interval, limits.bookmark_interval);
    loop {
        let batch = {
            let st = engine.lock();
            st.store
                .changes_since(&w.rt.storage_key(), last)
                .map(|b| (b, st.store.rv()))
        };
        let Some((changes, head)) = batch else {
            let compacted = engine.lock().store.compacted();
            let status = ApiError::gone(format!("too old resource version: {last} ({compacted})"))
                .to_status();
            let _ = w.send(line("ERROR", &status)).await;
            return;
        };
        for c in &changes {
            if let Some(event) = w.event(c) {
                if !w.send(event).await {
                    return;
                }
                sent += 1;
                if over(sent, &dropper) {
                    return;
                }
            }
        }
        last = head;
        tokio::select! {
            changed = notify.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = ticker.tick(), if w.p.bookmarks => {
                if !w.send(w.bookmark(last, false)).await {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline(&dropper)) => return,
            _ = dropper.kill.changed() => return,
            _ = w.tx.closed() => return,
        }
    }
}
