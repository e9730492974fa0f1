//! The controllers of the real control plane that a client sees through the
//! API: the garbage collector (dependents whose owners are gone are
//! deleted; `foregroundDeletion` and `orphan` finalizers are honoured) and
//! the namespace controller (a terminating namespace is emptied, then
//! removed). Run as a background task after every change.

use std::sync::Arc;

use serde_json::{Value, json};

use super::admission::FieldValidation;
use super::apply::Operation;
use super::delete::{DeleteOptions, Propagation};
use super::engine::{Engine, State, Sub, WriteOptions};
use super::meta::{self, meta_str, served};
use super::registry::ResourceType;

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";

fn rt_of(st: &State, key: &str) -> Option<Arc<ResourceType>> {
    st.registry
        .all()
        .iter()
        .find(|t| {
            t.storage_key() == key && t.storage_version.as_ref().is_none_or(|v| *v == t.version)
        })
        .cloned()
}

fn deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

fn controller_options() -> WriteOptions {
    WriteOptions {
        manager: "kube-controller-manager".to_string(),
        manager_given: true,
        dry_run: false,
        validation: FieldValidation::Ignore,
        force: false,
    }
}

impl Engine {
    /// One pass of the garbage collector and the namespace controller.
    /// Returns whether anything changed (another pass may then be needed).
    pub fn collect_garbage(&self) -> bool {
        let mut st = self.lock();
        let before = st.store.rv();
        let all = st.store.all();
        for (key, obj) in &all {
            self.collect_dependent(&mut st, key, obj);
        }
        for (key, obj) in &all {
            if deleting(obj) {
                self.finish_owner(&mut st, key, obj);
            }
        }
        for (_, ns) in st.store.list("/namespaces", None) {
            if deleting(&ns) {
                self.empty_namespace(&mut st, meta_str(&ns, "name"));
            }
        }
        st.store.rv() != before
    }

    fn collect_dependent(&self, st: &mut State, key: &str, obj: &Arc<Value>) {
        let refs = obj["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if refs.is_empty() {
            return;
        }
        let (mut solid, mut kept, mut gone, mut foreground) = (0, Vec::new(), false, false);
        for r in &refs {
            let owner = r["uid"]
                .as_str()
                .and_then(|uid| st.store.by_uid(uid))
                .and_then(|(k, (ns, name))| st.store.get(&k, &ns, &name));
            match owner {
                None => gone = true,
                Some(o) if deleting(&o) && meta::finalizers(&o).iter().any(|f| f == ORPHAN) => {}
                Some(o) if deleting(&o) && meta::finalizers(&o).iter().any(|f| f == FOREGROUND) => {
                    foreground = true;
                    kept.push(r.clone());
                }
                Some(_) => {
                    solid += 1;
                    kept.push(r.clone());
                }
            }
        }
        let Some(rt) = rt_of(st, key) else {
            return;
        };
        if solid == 0 && (gone || foreground) {
            if !deleting(obj) || foreground {
                let propagation = if foreground {
                    Propagation::Foreground
                } else {
                    Propagation::Background
                };
                let o = DeleteOptions {
                    propagation,
                    ..DeleteOptions::default()
                };
                // Failures are retried on the next pass, like the real collector.
                let _ = self.delete_locked(st, &rt, obj, &o);
            }
        } else if kept.len() != refs.len() {
            let mut new = served(obj, &rt);
            meta::set_meta(
                &mut new,
                "ownerReferences",
                if kept.is_empty() {
                    Value::Null
                } else {
                    json!(kept)
                },
            );
            let _ = self.replace(
                st,
                &rt,
                obj,
                new,
                Sub::Main,
                &controller_options(),
                Operation::Update,
            );
        }
    }

    /// Removes `foregroundDeletion` and `orphan` once no dependent points at the owner.
    fn finish_owner(&self, st: &mut State, key: &str, obj: &Arc<Value>) {
        let finalizers = meta::finalizers(obj);
        if !finalizers.iter().any(|f| f == FOREGROUND || f == ORPHAN) {
            return;
        }
        let uid = meta_str(obj, "uid");
        let has_dependents = st.store.all().iter().any(|(_, d)| {
            d["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        });
        if has_dependents {
            return;
        }
        let Some(rt) = rt_of(st, key) else {
            return;
        };
        let rest: Vec<String> = finalizers
            .into_iter()
            .filter(|f| f != FOREGROUND && f != ORPHAN)
            .collect();
        let mut new = served(obj, &rt);
        meta::set_finalizers(&mut new, &rest);
        let _ = self.replace(
            st,
            &rt,
            obj,
            new,
            Sub::Main,
            &controller_options(),
            Operation::Update,
        );
    }

    fn empty_namespace(&self, st: &mut State, ns: &str) {
        let content: Vec<(String, Arc<Value>)> = st
            .store
            .all()
            .into_iter()
            .filter(|(_, o)| meta_str(o, "namespace") == ns)
            .collect();
        for (key, obj) in &content {
            if let Some(rt) = rt_of(st, key)
                && !deleting(obj)
            {
                let _ = self.delete_locked(st, &rt, obj, &DeleteOptions::default());
            }
        }
        if content.is_empty()
            && let (Some(rt), Some(namespace)) = (
                rt_of(st, "/namespaces"),
                st.store.get("/namespaces", "", ns),
            )
        {
            let mut last = served(&namespace, &rt);
            meta::set_meta(
                &mut last,
                "resourceVersion",
                json!(st.store.next_rv().to_string()),
            );
            self.remove_object(st, &rt, last);
        }
    }
}
