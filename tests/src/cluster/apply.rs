//! Server-side apply and `metadata.managedFields`.
//!
//! Every write records which manager owns which fields. An `Apply` merges the
//! applied configuration into the live object, removes the fields its manager
//! applied last time and no longer applies (unless another manager owns
//! them), and fails with a conflict when it would change a field another
//! manager owns, unless forced. Any other write (`Update`: create, PUT,
//! patch) takes the fields it changes away from their other owners.

use serde_json::{Map, Value, json};

use super::fields::{FieldSet, Path, compare, field_set, remove_path};
use super::shape::{ListType, Shape, item_key};
use super::status::{ApiError, Cause};

/// `Apply` or `Update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who writes: the manager name, operation, subresource and time.
#[derive(Clone, Debug)]
pub struct Writer<'a> {
    /// `fieldManager`.
    pub manager: &'a str,
    /// Apply or Update.
    pub operation: Operation,
    /// `""` for the main resource, `"status"` for the status subresource.
    pub subresource: &'a str,
    /// The apiVersion written.
    pub api_version: &'a str,
    /// RFC 3339 time of the write.
    pub now: &'a str,
}

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    subresource: String,
    api_version: String,
    time: String,
    fields: FieldSet,
}

impl Entry {
    fn is(&self, w: &Writer<'_>) -> bool {
        self.manager == w.manager
            && self.operation == w.operation.as_str()
            && self.subresource == w.subresource
    }
}

fn read(obj: &Value) -> Vec<Entry> {
    let s = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| Entry {
                    manager: s(e, "manager"),
                    operation: s(e, "operation"),
                    subresource: s(e, "subresource"),
                    api_version: s(e, "apiVersion"),
                    time: s(e, "time"),
                    fields: FieldSet::from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": e.fields.to_fields_v1(),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_string(), Value::Array(list));
        }
    }
}

fn mine<'e>(entries: &'e mut Vec<Entry>, w: &Writer<'_>) -> &'e mut Entry {
    let index = match entries.iter().position(|e| e.is(w)) {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: w.manager.to_string(),
                operation: w.operation.as_str().to_string(),
                subresource: w.subresource.to_string(),
                api_version: w.api_version.to_string(),
                time: w.now.to_string(),
                fields: FieldSet::default(),
            });
            entries.len() - 1
        }
    };
    &mut entries[index]
}

/// Records an `Update` from `old` (none for a create) to `new`: the writer
/// owns what it changed, and the other managers lose it.
pub fn track_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>, shape: Shape<'_>) {
    let empty = json!({});
    let old = old.unwrap_or(&empty);
    let cmp = compare(old, new, shape);
    let changed = cmp.modified.union(&cmp.added);
    let mut entries = read(old);
    for e in entries.iter_mut().filter(|e| !e.is(w)) {
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
    }
    if !changed.is_empty() || !cmp.removed.is_empty() {
        let me = mine(&mut entries, w);
        me.fields = me.fields.difference(&cmp.removed).union(&changed);
        me.time = w.now.to_string();
        me.api_version = w.api_version.to_string();
    }
    write(new, entries);
}

/// Which part of the object an apply may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole object.
    All,
    /// All but `.status` (main resource of a kind with a status subresource).
    NotStatus,
    /// Only `.status` (the status subresource).
    OnlyStatus,
}

/// Server-side apply of `config` onto `live` (none when creating). Returns
/// the new object with its managed fields, or a 409 listing the conflicts.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    w: &Writer<'_>,
    shape: Shape<'_>,
    scope: Scope,
    force: bool,
) -> Result<Value, ApiError> {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        match scope {
            Scope::All => {}
            Scope::NotStatus => {
                map.remove("status");
            }
            Scope::OnlyStatus => map
                .retain(|k, _| matches!(k.as_str(), "status" | "apiVersion" | "kind" | "metadata")),
        }
    }
    let mut applied = field_set(&config, shape);
    if scope == Scope::OnlyStatus {
        applied = applied.filter_top("status", true);
    }
    let empty = json!({});
    let live = live.unwrap_or(&empty);
    let mut merged = merge(live, &config, shape, "", true);
    let mut entries = read(live);
    let last = entries
        .iter()
        .find(|e| e.is(w))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others = entries
        .iter()
        .filter(|e| !e.is(w))
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));
    let mut dropped = last.difference(&applied).paths();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        if !others.touches(&p) && !is_key_field(&p) {
            remove_path(&mut merged, &p);
        }
    }
    let cmp = compare(live, &merged, shape);
    let changed = cmp.modified.union(&cmp.added);
    let conflicts: Vec<(String, String, FieldSet)> = entries
        .iter()
        .filter(|e| !e.is(w))
        .map(|e| {
            (
                e.manager.clone(),
                e.api_version.clone(),
                e.fields.intersection(&changed),
            )
        })
        .filter(|(_, _, set)| !set.is_empty())
        .collect();
    if !force && !conflicts.is_empty() {
        return Err(conflict_error(&conflicts));
    }
    for e in entries.iter_mut().filter(|e| !e.is(w)) {
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
    }
    let me = mine(&mut entries, w);
    if me.fields != applied || !changed.is_empty() || !cmp.removed.is_empty() {
        me.time = w.now.to_string();
    }
    me.fields = applied;
    me.api_version = w.api_version.to_string();
    write(&mut merged, entries);
    Ok(merged)
}

/// A key field of a list-map item is never removed on its own: the item
/// goes as a whole or stays with its key.
fn is_key_field(p: &Path) -> bool {
    let [.., item, field] = p.as_slice() else {
        return false;
    };
    let (Some(key), Some(field)) = (item.strip_prefix("k:"), field.strip_prefix("f:")) else {
        return false;
    };
    serde_json::from_str::<Map<String, Value>>(key).is_ok_and(|k| k.contains_key(field))
}

fn conflict_error(conflicts: &[(String, String, FieldSet)]) -> ApiError {
    let mut causes = Vec::new();
    for (manager, api_version, set) in conflicts {
        for p in set.paths() {
            causes.push(Cause::new(
                "FieldManagerConflict",
                display_path(&p),
                format!("conflict with \"{manager}\" using {api_version}"),
            ));
        }
    }
    let lines: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.message, c.field))
        .collect();
    let n = causes.len();
    let mut err = ApiError::new(
        409,
        "Conflict",
        format!(
            "Apply failed with {n} conflict{}: {}",
            if n == 1 { "" } else { "s" },
            lines.join("\n")
        ),
    );
    err.details = Some(json!({
        "causes": causes
            .iter()
            .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
            .collect::<Vec<_>>()
    }));
    err
}

/// `.spec.containers[name="app"].image` for a field path.
pub fn display_path(p: &Path) -> String {
    let mut out = String::new();
    for e in p {
        if let Some(f) = e.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

/// Merges an applied configuration into a live object: maps field by
/// field, list-maps item by key, sets by value, everything else replaced.
pub fn merge(live: &Value, config: &Value, shape: Shape<'_>, name: &str, top: bool) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = merge(
                    l.get(k).unwrap_or(&Value::Null),
                    cv,
                    shape.field(k, top),
                    k,
                    false,
                );
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match shape.list_type(name, c) {
            ListType::Atomic => config.clone(),
            ListType::Set => {
                let mut out = l.clone();
                for item in c {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            }
            ListType::Map(keys) => {
                let mut out = l.clone();
                for item in c {
                    let key = item_key(item, &keys);
                    match out.iter().position(|i| item_key(i, &keys) == key) {
                        Some(i) => out[i] = merge(&out[i], item, shape.items(), "", false),
                        None => out.push(item.clone()),
                    }
                }
                Value::Array(out)
            }
        },
        _ => config.clone(),
    }
}
