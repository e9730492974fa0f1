//! The API semantics over the store: reads, and the write pipeline every
//! create, update, patch and apply goes through (identity metadata, the
//! status subresource rules, admission, managed fields, generation,
//! resourceVersion, no-op detection), behind one lock.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};

use super::admission::{self, FieldValidation};
use super::apply::{self, Operation, Scope, Writer};
use super::defaults;
use super::meta::{self, check_type, meta_str, served, set_meta};
use super::patch::{self, PatchType};
use super::registry::{Registry, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::shape::Shape;
use super::status::{ApiError, ApiResult};
use super::store::Store;

/// The main resource or its `/status` subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sub {
    /// The main resource.
    Main,
    /// The status subresource.
    Status,
}

/// Query options of a write.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// `fieldManager`, or the server's default from the user agent.
    pub manager: String,
    /// Whether `fieldManager` was given.
    pub manager_given: bool,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub validation: FieldValidation,
    /// `force` (apply only).
    pub force: bool,
}

/// The result of a write.
#[derive(Clone, Debug)]
pub struct Written {
    /// The object as stored (or as it would be, for dry runs).
    pub object: Value,
    /// HTTP code: 201 created, 200 changed, 202 deletion pending.
    pub code: u16,
    /// `Warning` headers.
    pub warnings: Vec<String>,
    /// Whether the store changed (false for no-ops and dry runs).
    pub changed: bool,
}

/// Parameters of a list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit`, 0 for none.
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
}

/// Everything behind the lock.
#[derive(Debug)]
pub struct State {
    /// The objects.
    pub store: Store,
    /// The served kinds.
    pub registry: Registry,
    next_ip: u32,
}

/// The API semantics; shared by the HTTP server, the GC and tests.
#[derive(Debug)]
pub struct Engine {
    state: Mutex<State>,
}

impl Engine {
    /// A cluster with namespaces `default`, `kube-system` and `kube-public`.
    pub fn new(history_limit: usize) -> Self {
        let engine = Self {
            state: Mutex::new(State {
                store: Store::new(history_limit),
                registry: Registry::builtin(),
                next_ip: 1,
            }),
        };
        let mut st = engine.lock();
        if let Some(rt) = st.registry.find("", "v1", "namespaces") {
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let obj =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                let o = WriteOptions {
                    manager: "kube-apiserver".to_string(),
                    manager_given: true,
                    dry_run: false,
                    validation: FieldValidation::Ignore,
                    force: false,
                };
                // The built-in namespaces are valid by construction.
                let _ = engine.insert_new(&mut st, &rt, obj, &o, Operation::Update);
            }
        }
        drop(st);
        engine
    }

    /// The state, for the modules of the double.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<Value> {
        let st = self.lock();
        st.store
            .get(&rt.storage_key(), ns, name)
            .map(|o| served(&o, rt))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// A list object, in one namespace or all (`None`).
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>, o: &ListOptions) -> ApiResult<Value> {
        let st = self.lock();
        let (mut rv, mut after) = (st.store.rv(), None);
        if let Some(token) = &o.continue_token {
            let (token_rv, key) = token
                .split_once('|')
                .and_then(|(r, k)| Some((r.parse::<u64>().ok()?, k.to_string())))
                .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
            if token_rv < st.store.compacted() {
                return Err(ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ));
            }
            rv = token_rv;
            after = Some(key);
        }
        let mut items = Vec::new();
        let mut next = None;
        for ((o_ns, o_name), obj) in st.store.list(&rt.storage_key(), ns) {
            let key = format!("{o_ns}/{o_name}");
            if after.as_ref().is_some_and(|a| key <= *a) {
                continue;
            }
            let view = served(&obj, rt);
            if !o.labels.matches(&view) || !o.fields.matches(&view) {
                continue;
            }
            if o.limit > 0 && items.len() == o.limit {
                next = Some(format!("{rv}|{}", items_key(&items)));
                break;
            }
            items.push(list_item(view, rt));
        }
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if let Some(c) = next {
            metadata["continue"] = json!(c);
        }
        Ok(json!({
            "apiVersion": rt.api_version(),
            "kind": format!("{}List", rt.kind),
            "metadata": metadata,
            "items": items,
        }))
    }

    /// POST: creates an object.
    pub fn create(
        &self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        o: &WriteOptions,
    ) -> ApiResult<Written> {
        check_type(rt, &obj)?;
        let mut st = self.lock();
        place(&st, rt, ns, &mut obj)?;
        if !meta_str(&obj, "resourceVersion").is_empty() {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        self.insert_new(&mut st, rt, obj, o, Operation::Update)
    }

    /// PUT: replaces an object or its status.
    pub fn update(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        sub: Sub,
        o: &WriteOptions,
    ) -> ApiResult<Written> {
        check_type(rt, &obj)?;
        check_identity(rt, ns, name, &obj)?;
        let mut st = self.lock();
        let old = st
            .store
            .get(&rt.storage_key(), ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let rv = meta_str(&obj, "resourceVersion");
        if rv.is_empty() && !rt.unconditional_update {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                name,
                vec![super::status::Cause::invalid(
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update",
                )],
            ));
        }
        preconditions(rt, &old, &obj)?;
        self.replace(&mut st, rt, &old, obj, sub, o, Operation::Update)
    }

    /// PATCH: JSON, merge, strategic merge patch, or server-side apply.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        kind: PatchType,
        body: &[u8],
        sub: Sub,
        o: &WriteOptions,
    ) -> ApiResult<Written> {
        if kind == PatchType::Apply {
            return self.apply(rt, ns, name, body, sub, o);
        }
        let mut st = self.lock();
        let old = st
            .store
            .get(&rt.storage_key(), ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let patched = patch::patch(&served(&old, rt), kind, body, rt.is_custom())?;
        check_type(rt, &patched)?;
        check_identity(rt, ns, name, &patched)?;
        preconditions(rt, &old, &patched)?;
        self.replace(&mut st, rt, &old, patched, sub, o, Operation::Update)
    }

    fn apply(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: &[u8],
        sub: Sub,
        o: &WriteOptions,
    ) -> ApiResult<Written> {
        let mut config: Value = serde_saphyr::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        meta::strip_nulls(&mut config);
        if config["apiVersion"].as_str().unwrap_or_default().is_empty()
            || config["kind"].as_str().unwrap_or_default().is_empty()
        {
            return Err(ApiError::bad_request(
                "apiVersion and kind must be set in the applied configuration",
            ));
        }
        check_type(rt, &config)?;
        check_identity(rt, ns, name, &config)?;
        if !config["metadata"]["managedFields"].is_null() {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        if !o.manager_given {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
            ));
        }
        let now = meta::now();
        let api_version = rt.api_version();
        let writer = Writer {
            manager: &o.manager,
            operation: Operation::Apply,
            subresource: if sub == Sub::Status { "status" } else { "" },
            api_version: &api_version,
            now: &now,
        };
        let scope = match (sub, rt.status_subresource) {
            (Sub::Status, _) => Scope::OnlyStatus,
            (Sub::Main, true) => Scope::NotStatus,
            (Sub::Main, false) => Scope::All,
        };
        let shape = Shape::root(rt.schema.as_deref());
        let mut st = self.lock();
        match st.store.get(&rt.storage_key(), ns, name) {
            None if sub == Sub::Status => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            None => {
                place(&st, rt, ns, &mut config)?;
                if !meta_str(&config, "resourceVersion").is_empty() {
                    return Err(ApiError::conflict(
                        &rt.group,
                        &rt.plural,
                        name,
                        ApiError::MODIFIED,
                    ));
                }
                let obj = apply::apply(None, &config, &writer, shape, scope, o.force)?;
                self.insert_new(&mut st, rt, obj, o, Operation::Apply)
            }
            Some(old) => {
                preconditions(rt, &old, &config)?;
                let obj = apply::apply(
                    Some(&served(&old, rt)),
                    &config,
                    &writer,
                    shape,
                    scope,
                    o.force,
                )?;
                self.replace(&mut st, rt, &old, obj, sub, o, Operation::Apply)
            }
        }
    }

    /// Stores a new object: server metadata, status dropped, admission, managed fields.
    pub fn insert_new(
        &self,
        st: &mut State,
        rt: &ResourceType,
        mut obj: Value,
        o: &WriteOptions,
        op: Operation,
    ) -> ApiResult<Written> {
        let ns = meta_str(&obj, "namespace").to_string();
        let name = meta_str(&obj, "name").to_string();
        if st.store.get(&rt.storage_key(), &ns, &name).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        let now = meta::now();
        set_meta(&mut obj, "uid", json!(meta::uid()));
        set_meta(&mut obj, "creationTimestamp", json!(now));
        set_meta(
            &mut obj,
            "generation",
            if rt.generation { json!(1) } else { Value::Null },
        );
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            set_meta(&mut obj, field, Value::Null);
        }
        if op == Operation::Update {
            set_meta(&mut obj, "managedFields", Value::Null);
        }
        if rt.status_subresource
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        defaults::on_create(rt, &mut obj, &mut st.next_ip);
        let warnings = admission::admit(rt, &mut obj, None, o.validation)?;
        defaults::server_status(rt, &mut obj)?;
        if op == Operation::Update {
            let api_version = rt.api_version();
            let w = Writer {
                manager: &o.manager,
                operation: op,
                subresource: "",
                api_version: &api_version,
                now: &now,
            };
            apply::track_update(None, &mut obj, &w, Shape::root(rt.schema.as_deref()));
        }
        set_meta(
            &mut obj,
            "resourceVersion",
            json!(st.store.next_rv().to_string()),
        );
        if !o.dry_run {
            self.before_store(st, rt, &obj)?;
            st.store.put(&rt.storage_key(), rt.to_storage(obj.clone()));
        }
        Ok(Written {
            object: served(&obj, rt),
            code: 201,
            warnings,
            changed: !o.dry_run,
        })
    }

    /// Replaces `old` with `new` after the server's rules.
    #[allow(clippy::too_many_arguments)]
    pub fn replace(
        &self,
        st: &mut State,
        rt: &ResourceType,
        old: &Arc<Value>,
        mut new: Value,
        sub: Sub,
        o: &WriteOptions,
        op: Operation,
    ) -> ApiResult<Written> {
        let old_v: &Value = old;
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
        ] {
            set_meta(&mut new, field, old_v["metadata"][field].clone());
        }
        if op == Operation::Update {
            let reset = new["metadata"]["managedFields"] == json!([{}]);
            let kept = if reset {
                Value::Null
            } else {
                old_v["metadata"]["managedFields"].clone()
            };
            set_meta(&mut new, "managedFields", kept);
        }
        if sub == Sub::Status {
            let mut only_status = old_v.clone();
            set_meta(
                &mut only_status,
                "managedFields",
                new["metadata"]["managedFields"].clone(),
            );
            match new.get("status") {
                Some(s) => only_status["status"] = s.clone(),
                None => {
                    if let Some(m) = only_status.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new = only_status;
        } else if rt.status_subresource
            && let Some(m) = new.as_object_mut()
        {
            match old_v.get("status") {
                Some(s) => m.insert("status".to_string(), s.clone()),
                None => m.remove("status"),
            };
        }
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        defaults::on_update(rt, &mut new, old_v);
        let warnings = admission::admit(rt, &mut new, Some(old_v), o.validation)?;
        defaults::server_status(rt, &mut new)?;
        if op == Operation::Update {
            let now = meta::now();
            let api_version = rt.api_version();
            let w = Writer {
                manager: &o.manager,
                operation: op,
                subresource: if sub == Sub::Status { "status" } else { "" },
                api_version: &api_version,
                now: &now,
            };
            apply::track_update(
                Some(&served(old_v, rt)),
                &mut new,
                &w,
                Shape::root(rt.schema.as_deref()),
            );
        }
        if rt.generation && spec_changed(old_v, &new, rt) {
            let g = old_v["metadata"]["generation"].as_i64().unwrap_or(0);
            set_meta(&mut new, "generation", json!(g + 1));
        }
        if new == served(old_v, rt) {
            return Ok(Written {
                object: new,
                code: 200,
                warnings,
                changed: false,
            });
        }
        let deleting = !old_v["metadata"]["deletionTimestamp"].is_null();
        set_meta(
            &mut new,
            "resourceVersion",
            json!(st.store.next_rv().to_string()),
        );
        if o.dry_run {
            return Ok(Written {
                object: new,
                code: 200,
                warnings,
                changed: false,
            });
        }
        if deleting && meta::finalizers(&new).is_empty() {
            self.remove_object(st, rt, new.clone());
            return Ok(Written {
                object: new,
                code: 200,
                warnings,
                changed: true,
            });
        }
        self.before_store(st, rt, &new)?;
        st.store.put(&rt.storage_key(), rt.to_storage(new.clone()));
        Ok(Written {
            object: new,
            code: 200,
            warnings,
            changed: true,
        })
    }

    /// Hooks of kinds that change what the server serves (CRDs).
    fn before_store(&self, st: &mut State, rt: &ResourceType, obj: &Value) -> ApiResult<()> {
        if rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition" {
            st.registry.register_crd(obj).map_err(|causes| {
                ApiError::invalid(&rt.group, &rt.kind, meta_str(obj, "name"), causes)
            })?;
        }
        Ok(())
    }
}

/// Whether anything but metadata (and status, when it has its own
/// subresource) changed: the rule for bumping `metadata.generation`.
fn spec_changed(old: &Value, new: &Value, rt: &ResourceType) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("apiVersion");
            m.remove("kind");
            if rt.status_subresource {
                m.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

fn items_key(items: &[Value]) -> String {
    items
        .last()
        .map(|o| format!("{}/{}", meta_str(o, "namespace"), meta_str(o, "name")))
        .unwrap_or_default()
}

/// List items of built-in kinds carry no `apiVersion`/`kind`, as in a real
/// server; custom resources do.
fn list_item(mut out: Value, rt: &ResourceType) -> Value {
    if !rt.is_custom()
        && let Some(m) = out.as_object_mut()
    {
        m.remove("apiVersion");
        m.remove("kind");
    }
    out
}

/// The namespace and name of a new object: the URL's namespace must match
/// and exist, a name (or `generateName`) must be given.
fn place(st: &State, rt: &ResourceType, ns: &str, obj: &mut Value) -> ApiResult<()> {
    let body_ns = meta_str(obj, "namespace").to_string();
    if rt.namespaced {
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        set_meta(obj, "namespace", json!(ns));
        let namespace = st
            .store
            .get("/namespaces", "", ns)
            .ok_or_else(|| ApiError::not_found("", "namespaces", ns))?;
        if !namespace["metadata"]["deletionTimestamp"].is_null() {
            return Err(ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                super::status::qualified(&rt.group, &rt.plural),
                meta_str(obj, "name")
            )));
        }
    } else {
        set_meta(obj, "namespace", Value::Null);
    }
    if meta_str(obj, "name").is_empty() {
        let prefix = meta_str(obj, "generateName").to_string();
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                "",
                vec![super::status::Cause::new(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            ));
        }
        set_meta(obj, "name", json!(meta::generated_name(&prefix)));
    }
    Ok(())
}

/// The body's name and namespace must match the URL.
fn check_identity(rt: &ResourceType, ns: &str, name: &str, obj: &Value) -> ApiResult<()> {
    let body_name = meta_str(obj, "name");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_ns = meta_str(obj, "namespace");
    if rt.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

/// `metadata.resourceVersion` and `metadata.uid` in a body are preconditions.
fn preconditions(rt: &ResourceType, old: &Value, obj: &Value) -> ApiResult<()> {
    let name = meta_str(old, "name");
    let rv = meta_str(obj, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            name,
            ApiError::MODIFIED,
        ));
    }
    let uid = meta_str(obj, "uid");
    if !uid.is_empty() && uid != meta_str(old, "uid") {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(old, "uid")
            ),
        ));
    }
    Ok(())
}
