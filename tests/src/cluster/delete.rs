//! Deletion: preconditions, finalizers and `deletionTimestamp`, propagation
//! policies (whose work the garbage collector does), namespaces that empty
//! themselves first, and CRDs that take their custom resources with them.

use serde_json::{Value, json};

use super::engine::{Engine, ListOptions, State, Written};
use super::meta::{self, meta_str, served, set_meta};
use super::registry::ResourceType;
use super::status::{ApiError, ApiResult};

/// How dependents are treated when their owner is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted afterwards by the garbage collector (default).
    #[default]
    Background,
    /// Dependents are deleted first; the owner waits with finalizer `foregroundDeletion`.
    Foreground,
    /// Dependents lose their owner reference (finalizer `orphan`).
    Orphan,
}

/// `DeleteOptions` of a delete request.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `propagationPolicy`.
    pub propagation: Propagation,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body (possibly empty) and query parameters.
    pub fn parse(body: &[u8], propagation: Option<&str>, dry_run: bool) -> ApiResult<Self> {
        let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        let policy = v["propagationPolicy"].as_str().or(propagation);
        let orphan = v["orphanDependents"] == true;
        let propagation = match (policy, orphan) {
            (Some("Foreground"), _) => Propagation::Foreground,
            (Some("Orphan"), _) | (None, true) => Propagation::Orphan,
            (Some("Background"), _) | (None, false) => Propagation::Background,
            (Some(other), _) => {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy: Unsupported value: \"{other}\""
                )));
            }
        };
        let s = |k: &str| v["preconditions"][k].as_str().map(str::to_string);
        let dry = v["dryRun"].as_array().is_some_and(|d| !d.is_empty());
        Ok(Self {
            propagation,
            uid: s("uid"),
            resource_version: s("resourceVersion"),
            dry_run: dry_run || dry,
        })
    }
}

impl Engine {
    /// DELETE of one object.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        o: &DeleteOptions,
    ) -> ApiResult<Written> {
        let mut st = self.lock();
        let old = st
            .store
            .get(&rt.storage_key(), ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let fail = |why: String| Err(ApiError::conflict(&rt.group, &rt.plural, name, &why));
        if let Some(uid) = &o.uid
            && uid != meta_str(&old, "uid")
        {
            return fail(format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&old, "uid")
            ));
        }
        if let Some(rv) = &o.resource_version
            && rv != meta_str(&old, "resourceVersion")
        {
            return fail(format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta_str(&old, "resourceVersion")
            ));
        }
        self.delete_locked(&mut st, rt, &old, o)
    }

    /// Deletes (or marks for deletion) an object already looked up.
    pub fn delete_locked(
        &self,
        st: &mut State,
        rt: &ResourceType,
        old: &Value,
        o: &DeleteOptions,
    ) -> ApiResult<Written> {
        let mut finalizers = meta::finalizers(old);
        let extra = match o.propagation {
            Propagation::Background => None,
            Propagation::Foreground => Some("foregroundDeletion"),
            Propagation::Orphan => Some("orphan"),
        };
        let namespace = rt.group.is_empty() && rt.kind == "Namespace";
        if finalizers.is_empty() && extra.is_none() && !namespace {
            let mut last = served(old, rt);
            set_meta(
                &mut last,
                "resourceVersion",
                json!(st.store.next_rv().to_string()),
            );
            if !o.dry_run {
                self.remove_object(st, rt, last.clone());
            }
            return Ok(Written {
                object: deleted_answer(rt, &last),
                code: 200,
                warnings: Vec::new(),
                changed: !o.dry_run,
            });
        }
        let mut new = served(old, rt);
        if let Some(f) = extra
            && !finalizers.iter().any(|x| x == f)
        {
            finalizers.push(f.to_string());
            meta::set_finalizers(&mut new, &finalizers);
        }
        if new["metadata"]["deletionTimestamp"].is_null() {
            set_meta(&mut new, "deletionTimestamp", json!(meta::now()));
            set_meta(&mut new, "deletionGracePeriodSeconds", json!(0));
            if let Some(g) = new["metadata"]["generation"].as_i64() {
                set_meta(&mut new, "generation", json!(g + 1));
            }
        }
        if namespace {
            new["status"] = json!({"phase": "Terminating"});
        }
        if new == served(old, rt) {
            return Ok(Written {
                object: new,
                code: 202,
                warnings: Vec::new(),
                changed: false,
            });
        }
        set_meta(
            &mut new,
            "resourceVersion",
            json!(st.store.next_rv().to_string()),
        );
        if !o.dry_run {
            st.store.put(&rt.storage_key(), rt.to_storage(new.clone()));
        }
        Ok(Written {
            object: new,
            code: 202,
            warnings: Vec::new(),
            changed: !o.dry_run,
        })
    }

    /// DELETE of a collection: deletes every matching object; answers the list.
    pub fn delete_collection(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        l: &ListOptions,
        o: &DeleteOptions,
    ) -> ApiResult<Value> {
        let list = self.list(
            rt,
            ns,
            &ListOptions {
                limit: 0,
                continue_token: None,
                ..l.clone()
            },
        )?;
        let mut st = self.lock();
        let mut items = Vec::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let (o_ns, o_name) = (meta_str(item, "namespace"), meta_str(item, "name"));
            if let Some(old) = st.store.get(&rt.storage_key(), o_ns, o_name) {
                let written = self.delete_locked(&mut st, rt, &old, o)?.object;
                items.push(if written["kind"] == "Status" {
                    item.clone()
                } else {
                    written
                });
            }
        }
        let mut out = list;
        out["items"] = json!(items);
        Ok(out)
    }

    /// Removes an object from the store for good; `last` is its final state.
    pub fn remove_object(&self, st: &mut State, rt: &ResourceType, last: Value) {
        let (ns, name) = (
            meta_str(&last, "namespace").to_string(),
            meta_str(&last, "name").to_string(),
        );
        let crd = rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition";
        let defined = (
            last["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            last["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        st.store
            .remove(&rt.storage_key(), &ns, &name, rt.to_storage(last));
        if crd {
            let key = format!("{}/{}", defined.0, defined.1);
            for ((o_ns, o_name), obj) in st.store.list(&key, None) {
                let mut gone = (*obj).clone();
                set_meta(
                    &mut gone,
                    "resourceVersion",
                    json!(st.store.next_rv().to_string()),
                );
                st.store.remove(&key, &o_ns, &o_name, gone);
            }
            st.registry.unregister(&defined.0, &defined.1);
        }
    }
}

/// What DELETE answers when the object is gone: the object for custom
/// resources, a `Success` status for built-in kinds.
fn deleted_answer(rt: &ResourceType, last: &Value) -> Value {
    if rt.is_custom() {
        return last.clone();
    }
    let mut details =
        json!({"name": meta_str(last, "name"), "kind": rt.plural, "uid": meta_str(last, "uid")});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
