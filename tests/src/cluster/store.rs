//! Objects by resource, namespace and name; one cluster-wide, monotonically
//! increasing resourceVersion; a bounded history of changes for watches.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

/// The kind of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the history.
#[derive(Clone, Debug)]
pub struct Change {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// The storage key of the resource (`group/plural`).
    pub resource: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (before it, for deletions).
    pub object: Arc<Value>,
    /// The object before the change, for modifications.
    pub previous: Option<Arc<Value>>,
}

/// Namespace and name.
pub type ObjectKey = (String, String);

/// The object store.
#[derive(Debug)]
pub struct Store {
    objects: HashMap<String, BTreeMap<ObjectKey, Arc<Value>>>,
    uids: HashMap<String, (String, ObjectKey)>,
    rv: u64,
    history: VecDeque<Change>,
    history_limit: usize,
    compacted: u64,
    notify: watch::Sender<u64>,
}

impl Store {
    /// An empty store that keeps `history_limit` changes for watches.
    pub fn new(history_limit: usize) -> Self {
        Self {
            objects: HashMap::new(),
            uids: HashMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_limit,
            compacted: 1,
            notify: watch::channel(1).0,
        }
    }

    /// The latest resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch can start from.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Forgets the history: watches from any earlier version get 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// A receiver told of every new resourceVersion.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// The next resourceVersion, to be written into an object before `put`.
    pub fn next_rv(&self) -> u64 {
        self.rv + 1
    }

    /// One object.
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(resource)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// The objects of a resource, in one namespace or all (`None`), by key.
    pub fn list(&self, resource: &str, ns: Option<&str>) -> Vec<(ObjectKey, Arc<Value>)> {
        let Some(objects) = self.objects.get(resource) else {
            return Vec::new();
        };
        objects
            .iter()
            .filter(|((o_ns, _), _)| ns.is_none_or(|n| n == o_ns))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The resource, namespace and name of the object with a uid.
    pub fn by_uid(&self, uid: &str) -> Option<(String, ObjectKey)> {
        self.uids.get(uid).cloned()
    }

    /// Every object of every resource, with its resource key.
    pub fn all(&self) -> Vec<(String, Arc<Value>)> {
        self.objects
            .iter()
            .flat_map(|(r, objs)| objs.values().map(move |o| (r.clone(), o.clone())))
            .collect()
    }

    fn record(&mut self, change: Change) {
        self.rv = change.rv;
        self.history.push_back(change);
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.notify.send_replace(self.rv);
    }

    /// Stores an object whose `metadata.resourceVersion` is `next_rv()`.
    pub fn put(&mut self, resource: &str, obj: Value) -> Arc<Value> {
        let meta = &obj["metadata"];
        let key: ObjectKey = (
            meta["namespace"].as_str().unwrap_or_default().to_string(),
            meta["name"].as_str().unwrap_or_default().to_string(),
        );
        let uid = meta["uid"].as_str().unwrap_or_default().to_string();
        let obj = Arc::new(obj);
        let previous = self
            .objects
            .entry(resource.to_string())
            .or_default()
            .insert(key.clone(), obj.clone());
        self.uids.insert(uid, (resource.to_string(), key));
        let rv = self.next_rv();
        self.record(Change {
            rv,
            resource: resource.to_string(),
            kind: if previous.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            },
            object: obj.clone(),
            previous,
        });
        obj
    }

    /// Removes an object; `last` is its final state with `next_rv()` as resourceVersion.
    pub fn remove(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        last: Value,
    ) -> Option<Arc<Value>> {
        let removed = self
            .objects
            .get_mut(resource)?
            .remove(&(ns.to_string(), name.to_string()))?;
        if let Some(uid) = removed["metadata"]["uid"].as_str() {
            self.uids.remove(uid);
        }
        let last = Arc::new(last);
        let rv = self.next_rv();
        self.record(Change {
            rv,
            resource: resource.to_string(),
            kind: EventType::Deleted,
            object: last.clone(),
            previous: Some(removed),
        });
        Some(last)
    }

    /// The changes of a resource after `since`, or `None` when `since` is
    /// older than the history (compacted).
    pub fn changes_since(&self, resource: &str, since: u64) -> Option<Vec<Change>> {
        if since < self.compacted {
            return None;
        }
        let start = self.history.partition_point(|c| c.rv <= since);
        Some(
            self.history
                .range(start..)
                .filter(|c| c.resource == resource)
                .cloned()
                .collect(),
        )
    }
}
