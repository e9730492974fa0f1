//! What the real server checks and changes on every write of a built-in or
//! custom object: names, labels, owner references, immutable fields,
//! Secret `stringData`, Service cluster IPs, and the typed (or schema) form.

use base64::Engine as _;
use serde_json::{Value, json};

use super::fields::{Path, leaves};
use super::registry::{NameRule, ResourceType};
use super::schema;
use super::shape::Shape;
use super::status::{ApiError, ApiResult, Cause};

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Dropped silently.
    Ignore,
    /// Dropped with a warning (the server default).
    Warn,
    /// Rejected with 400.
    Strict,
}

fn dns_label(s: &str, max: usize, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && (!first_alpha || b[0].is_ascii_lowercase())
}

/// Whether `s` is a DNS-1123 subdomain.
pub fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| dns_label(l, 63, false))
}

fn name_error(rule: NameRule, name: &str) -> Option<String> {
    let ok = match rule {
        NameRule::Subdomain => dns_subdomain(name),
        NameRule::Label => dns_label(name, 63, false),
        NameRule::Label1035 => dns_label(name, 63, true),
        NameRule::PathSegment => !matches!(name, "." | "..") && !name.contains(['/', '%']),
    };
    (!ok).then(|| {
        let what = match rule {
            NameRule::Subdomain => "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            NameRule::Label => "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            NameRule::Label1035 => "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            NameRule::PathSegment => "may not be '.' or '..' and may not contain '/' or '%'",
        };
        format!("Invalid value: \"{name}\": {what}")
    })
}

fn qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    name_ok && prefix.is_none_or(dns_subdomain)
}

fn label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Checks the metadata every object shares.
pub fn validate_metadata(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let meta = &obj["metadata"];
    let mut causes = Vec::new();
    let name = meta["name"].as_str().unwrap_or_default();
    if let Some(msg) = name_error(rt.name_rule, name) {
        causes.push(Cause::invalid("metadata.name", msg));
    }
    if let Some(labels) = meta["labels"].as_object() {
        for (k, v) in labels {
            if !qualified_name(k) {
                causes.push(Cause::invalid(
                    "metadata.labels",
                    format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.'"),
                ));
            }
            match v.as_str() {
                Some(s) if label_value(s) => {}
                _ => causes.push(Cause::invalid(
                    "metadata.labels",
                    format!("Invalid value: {v}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"),
                )),
            }
        }
    }
    if let Some(annotations) = meta["annotations"].as_object() {
        for (k, v) in annotations {
            if !qualified_name(k) || !v.is_string() {
                causes.push(Cause::invalid(
                    "metadata.annotations",
                    format!("Invalid value: \"{k}\": annotation keys must be qualified names and values strings"),
                ));
            }
        }
    }
    let refs = meta["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, r) in refs.iter().enumerate() {
        for field in ["apiVersion", "kind", "name", "uid"] {
            if r[field].as_str().unwrap_or_default().is_empty() {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    format!("metadata.ownerReferences[{i}].{field}"),
                    "Required value",
                ));
            }
        }
    }
    if refs.iter().filter(|r| r["controller"] == true).count() > 1 {
        causes.push(Cause::invalid(
            "metadata.ownerReferences",
            "Invalid value: only one reference can have Controller set to true",
        ));
    }
    if let Some(old) = old
        && !old["metadata"]["deletionTimestamp"].is_null()
    {
        let before = old["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let added: Vec<&Value> = meta["finalizers"]
            .as_array()
            .map(|f| f.iter().filter(|x| !before.contains(x)).collect())
            .unwrap_or_default();
        if !added.is_empty() {
            causes.push(Cause::new(
                "FieldValueForbidden",
                "metadata.finalizers",
                format!("Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"),
            ));
        }
    }
    causes
}

/// Normalizes and validates the body of an object: the typed roundtrip of a
/// built-in kind or the structural schema of a custom one, then the checks
/// of the kind. Returns the warnings to send.
pub fn admit(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
) -> ApiResult<Vec<String>> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut unknown: Vec<String> = Vec::new();
    if let Some(roundtrip) = rt.roundtrip {
        let typed = roundtrip(obj).map_err(|e| {
            ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                rt.kind, rt.version, rt.kind
            ))
        })?;
        unknown = dropped_paths(obj, &typed);
        *obj = typed;
    } else if let Some(schema) = &rt.schema {
        let mut causes = Vec::new();
        schema::admit(schema, obj, old, &mut unknown, &mut causes);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
        }
    }
    if !unknown.is_empty() && validation == FieldValidation::Strict {
        let list: Vec<String> = unknown
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            ".{}: strict decoding error: {}",
            rt.kind,
            list.join(", ")
        )));
    }
    let mut causes = validate_metadata(rt, obj, old);
    causes.extend(kind_checks(rt, obj, old));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
    }
    Ok(match validation {
        FieldValidation::Warn => unknown
            .into_iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect(),
        _ => Vec::new(),
    })
}

/// The paths present in `before` but dropped by the typed roundtrip.
fn dropped_paths(before: &Value, after: &Value) -> Vec<String> {
    let (a, b) = (
        leaves(before, Shape::Builtin),
        leaves(after, Shape::Builtin),
    );
    let show = |p: &Path| {
        p.iter()
            .filter_map(|e| e.strip_prefix("f:"))
            .collect::<Vec<_>>()
            .join(".")
    };
    let mut out: Vec<String> = a
        .iter()
        .filter(|(p, v)| !v.is_null() && !b.contains_key(*p) && !is_prefix_of_any(p, &b))
        .map(|(p, _)| show(p))
        .collect();
    out.dedup();
    out
}

fn is_prefix_of_any(p: &Path, set: &std::collections::BTreeMap<Path, Value>) -> bool {
    set.keys().any(|k| k.starts_with(p) || p.starts_with(k))
}

/// Per-kind rules of the real server: immutable fields and the like.
fn kind_checks(rt: &ResourceType, obj: &mut Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let immutable = |causes: &mut Vec<Cause>, path: &str, a: &Value, b: &Value| {
        if a != b {
            causes.push(Cause::invalid(path, "Invalid value: field is immutable"));
        }
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => {
            let selector = &obj["spec"]["selector"];
            if selector.is_null() {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "spec.selector",
                    "Required value",
                ));
            } else if let Some(labels) = selector["matchLabels"].as_object() {
                let tpl = &obj["spec"]["template"]["metadata"]["labels"];
                if labels.iter().any(|(k, v)| tpl.get(k) != Some(v)) {
                    causes.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        "Invalid value: `selector` does not match template `labels`",
                    ));
                }
            }
            if obj["spec"]["template"]["spec"]["containers"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "spec.template.spec.containers",
                    "Required value",
                ));
            }
            if let Some(old) = old {
                immutable(
                    &mut causes,
                    "spec.selector",
                    &old["spec"]["selector"],
                    selector,
                );
            }
        }
        ("", "Secret" | "ConfigMap") => {
            if rt.kind == "Secret" {
                secret_string_data(obj);
            }
            if let Some(old) = old
                && old["immutable"] == true
            {
                for field in ["data", "stringData", "binaryData", "immutable"] {
                    if old[field] != obj[field] {
                        causes.push(Cause::new(
                            "FieldValueForbidden",
                            field,
                            "Forbidden: field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
        }
        ("", "Service") => {
            if let Some(old) = old {
                let ip = &old["spec"]["clusterIP"];
                if obj["spec"]["clusterIP"].is_null() || obj["spec"]["clusterIP"] == "" {
                    obj["spec"]["clusterIP"] = ip.clone();
                    obj["spec"]["clusterIPs"] = old["spec"]["clusterIPs"].clone();
                }
                immutable(&mut causes, "spec.clusterIP", ip, &obj["spec"]["clusterIP"]);
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(old) = old {
                immutable(
                    &mut causes,
                    "spec.scope",
                    &old["spec"]["scope"],
                    &obj["spec"]["scope"],
                );
            }
        }
        _ => {}
    }
    causes
}

/// The server writes `stringData` into `data` (base64) and drops it.
fn secret_string_data(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if data.is_null() {
        *data = json!({});
    }
    for (k, v) in string_data {
        let s = v.as_str().unwrap_or_default();
        data[k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
    }
}
