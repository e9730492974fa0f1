//! Field sets: which fields of an object a manager owns, in the `FieldsV1`
//! encoding of `metadata.managedFields` (`f:name`, `k:{"name":"app"}`,
//! `v:"value"`, and `.` for a node that is itself a member).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::shape::{ListType, Shape, item_key};

/// A path of `FieldsV1` elements, e.g. `["f:spec", "f:replicas"]`.
pub type Path = Vec<String>;

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((head, rest)) => self.children.entry(head.clone()).or_default().insert(rest),
        }
    }

    /// Whether the path itself is in the set.
    pub fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((head, rest)) => self.children.get(head).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether the path or any path below it is in the set.
    pub fn touches(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => !self.is_empty(),
            Some((head, rest)) => self.children.get(head).is_some_and(|c| c.touches(rest)),
        }
    }

    /// Every path in the set.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for p in other.paths() {
            out.insert(&p);
        }
        out
    }

    /// Paths of `self` not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.paths() {
            if !other.contains(&p) {
                out.insert(&p);
            }
        }
        out
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.paths() {
            if other.contains(&p) {
                out.insert(&p);
            }
        }
        out
    }

    /// The paths whose first element is (`keep`) or is not (`!keep`) `f:<top>`.
    pub fn filter_top(&self, top: &str, keep: bool) -> FieldSet {
        let key = format!("f:{top}");
        let mut out = self.clone();
        out.member = self.member && !keep;
        out.children.retain(|k, _| (*k == key) == keep);
        out
    }

    /// The `FieldsV1` JSON of the set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_string(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if !c.is_empty() {
                map.insert(k.clone(), c.to_fields_v1());
            }
        }
        Value::Object(map)
    }

    /// Reads a `FieldsV1` JSON object.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut out = FieldSet::default();
        if let Some(map) = v.as_object() {
            if map.is_empty() {
                out.member = true;
            }
            for (k, c) in map {
                if k == "." {
                    out.member = true;
                } else {
                    out.children.insert(k.clone(), FieldSet::from_fields_v1(c));
                }
            }
        }
        out
    }
}

/// Metadata fields a manager can own; the rest is server-set or identity.
const OWNED_METADATA: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

/// Every leaf path of an object with its value (`Null` for list-map items,
/// whose own membership carries no value), skipping `apiVersion`, `kind` and
/// server-managed metadata.
pub fn leaves(obj: &Value, shape: Shape<'_>) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for field in OWNED_METADATA {
                    if let Some(v) = v.get(field) {
                        let mut path = vec!["f:metadata".to_string(), format!("f:{field}")];
                        walk(v, field, Shape::Builtin, &mut path, &mut out);
                    }
                }
            }
            _ => walk(
                v,
                k,
                shape.field(k, true),
                &mut vec![format!("f:{k}")],
                &mut out,
            ),
        }
    }
    out
}

fn walk(v: &Value, name: &str, shape: Shape<'_>, path: &mut Path, out: &mut BTreeMap<Path, Value>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, c) in map {
                path.push(format!("f:{k}"));
                walk(c, k, shape.field(k, false), path, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match shape.list_type(name, items) {
            ListType::Atomic => {
                out.insert(path.clone(), v.clone());
            }
            ListType::Set => {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone(), Value::Null);
                    path.pop();
                }
            }
            ListType::Map(keys) => {
                let item_shape = shape.items();
                for item in items {
                    path.push(format!("k:{}", item_key(item, &keys)));
                    out.insert(path.clone(), Value::Null);
                    if let Some(fields) = item.as_object() {
                        for (k, c) in fields {
                            path.push(format!("f:{k}"));
                            walk(c, k, item_shape.field(k, false), path, out);
                            path.pop();
                        }
                    }
                    path.pop();
                }
            }
        },
        _ => {
            out.insert(path.clone(), v.clone());
        }
    }
}

/// The set of an object's leaf paths.
pub fn field_set(obj: &Value, shape: Shape<'_>) -> FieldSet {
    let mut set = FieldSet::default();
    for p in leaves(obj, shape).keys() {
        set.insert(p);
    }
    set
}

/// What changed between two versions of an object.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Paths only in the new object.
    pub added: FieldSet,
    /// Paths in both with different values.
    pub modified: FieldSet,
    /// Paths only in the old object.
    pub removed: FieldSet,
}

/// Compares two versions of an object path by path.
pub fn compare(old: &Value, new: &Value, shape: Shape<'_>) -> Comparison {
    let (a, b) = (leaves(old, shape), leaves(new, shape));
    let mut out = Comparison::default();
    for (p, v) in &b {
        match a.get(p) {
            None => out.added.insert(p),
            Some(old_v) if old_v != v => out.modified.insert(p),
            Some(_) => {}
        }
    }
    for p in a.keys() {
        if !b.contains_key(p) {
            out.removed.insert(p);
        }
    }
    out
}

/// Removes the value at a path; maps and lists it leaves empty below the top
/// level are removed too.
pub fn remove_path(obj: &mut Value, path: &[String]) {
    remove_at(obj, path, 0);
}

fn remove_at(v: &mut Value, path: &[String], depth: usize) -> bool {
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let removed_child_emptied = |c: &Value| match c {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if let Some(field) = head.strip_prefix("f:") {
        let Some(map) = v.as_object_mut() else {
            return false;
        };
        if rest.is_empty() {
            return map.remove(field).is_some();
        }
        let Some(child) = map.get_mut(field) else {
            return false;
        };
        let changed = remove_at(child, rest, depth + 1);
        if changed && depth > 0 && removed_child_emptied(child) {
            map.remove(field);
        }
        return changed;
    }
    let Some(items) = v.as_array_mut() else {
        return false;
    };
    let index = if let Some(key) = head.strip_prefix("k:") {
        let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
            return false;
        };
        let names: Vec<String> = key.keys().cloned().collect();
        items
            .iter()
            .position(|i| item_key(i, &names) == Value::Object(key.clone()))
    } else if let Some(value) = head.strip_prefix("v:") {
        serde_json::from_str::<Value>(value)
            .ok()
            .and_then(|value| items.iter().position(|i| *i == value))
    } else {
        None
    };
    let Some(index) = index else {
        return false;
    };
    if rest.is_empty() {
        items.remove(index);
        return true;
    }
    remove_at(&mut items[index], rest, depth + 1)
}
