//! How the lists of an object merge: atomic, sets, or maps keyed by some of
//! their items' fields. Custom resources say it in their schema
//! (`x-kubernetes-list-type`); built-in kinds use the list keys of the real
//! API types for the common lists (containers, env, ports, volumes, ...).

use serde_json::Value;

/// How a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// A set of scalars.
    Set,
    /// A list of objects keyed by these fields.
    Map(Vec<String>),
}

static NULL: Value = Value::Null;

/// The schema context of a value while walking an object.
#[derive(Clone, Copy, Debug)]
pub enum Shape<'a> {
    /// A built-in kind (or object metadata): list keys from the known table.
    Builtin,
    /// A custom resource schema node (`Null` when the schema says nothing).
    Custom(&'a Value),
}

impl<'a> Shape<'a> {
    /// The shape of an object of a kind, given its schema, if any.
    pub fn root(schema: Option<&'a Value>) -> Self {
        schema.map_or(Shape::Builtin, Shape::Custom)
    }

    /// The shape of field `name` of an object of this shape; `top` says
    /// whether this object is the root (whose `metadata` is always built-in).
    pub fn field(self, name: &str, top: bool) -> Self {
        match self {
            Shape::Builtin => Shape::Builtin,
            Shape::Custom(_) if top && name == "metadata" => Shape::Builtin,
            Shape::Custom(s) => {
                if let Some(p) = s["properties"].get(name) {
                    Shape::Custom(p)
                } else if s["additionalProperties"].is_object() {
                    Shape::Custom(&s["additionalProperties"])
                } else {
                    Shape::Custom(&NULL)
                }
            }
        }
    }

    /// The shape of the items of a list of this shape.
    pub fn items(self) -> Self {
        match self {
            Shape::Builtin => Shape::Builtin,
            Shape::Custom(s) => Shape::Custom(s.get("items").unwrap_or(&NULL)),
        }
    }

    /// How the list in field `name` (of this shape) merges.
    pub fn list_type(self, name: &str, items: &[Value]) -> ListType {
        match self {
            Shape::Builtin => builtin_list_type(name, items),
            Shape::Custom(s) => match s["x-kubernetes-list-type"].as_str() {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map(
                    s["x-kubernetes-list-map-keys"]
                        .as_array()
                        .map(|keys| {
                            keys.iter()
                                .filter_map(|k| k.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                _ => ListType::Atomic,
            },
        }
    }
}

fn keys(names: &[&str]) -> ListType {
    ListType::Map(names.iter().map(|s| s.to_string()).collect())
}

fn builtin_list_type(name: &str, items: &[Value]) -> ListType {
    match name {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => keys(&["name"]),
        "volumeMounts" => keys(&["mountPath"]),
        "volumeDevices" => keys(&["devicePath"]),
        "conditions" => keys(&["type"]),
        "ownerReferences" => keys(&["uid"]),
        "topologySpreadConstraints" => keys(&["topologyKey", "whenUnsatisfiable"]),
        "finalizers" => ListType::Set,
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => {
            keys(&["containerPort", "protocol"])
        }
        "ports" if items.iter().any(|i| i.get("port").is_some()) => keys(&["port", "protocol"]),
        _ => ListType::Atomic,
    }
}

/// The key of a list-map item as the canonical JSON object of its key
/// fields (`protocol` defaults to `TCP`, as the server defaults it).
pub fn item_key(item: &Value, keys: &[String]) -> Value {
    let mut map = serde_json::Map::new();
    for k in keys {
        let v = match item.get(k) {
            Some(v) => v.clone(),
            None if k == "protocol" => Value::String("TCP".to_string()),
            None => continue,
        };
        map.insert(k.clone(), v);
    }
    Value::Object(map)
}
