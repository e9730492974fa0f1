//! JSON patch, JSON merge patch and (an approximation of) strategic merge
//! patch.

use serde_json::{Map, Value};

use super::shape::{ListType, Shape, item_key};
use super::status::{ApiError, ApiResult};

/// The patch types of the `Content-Type` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type`, if it is one.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies a JSON, merge or strategic merge patch to an object.
pub fn patch(obj: &Value, kind: PatchType, body: &[u8], custom: bool) -> ApiResult<Value> {
    let mut out = obj.clone();
    match kind {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut out, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchType::Merge => {
            let p = parse(body)?;
            json_patch::merge(&mut out, &p);
        }
        PatchType::Strategic => {
            if custom {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json: strategic merge patch is not supported for custom resources",
                ));
            }
            let p = parse(body)?;
            out = strategic(&out, &p);
        }
        PatchType::Apply => {
            return Err(ApiError::internal("apply is not a patch"));
        }
    }
    Ok(out)
}

fn parse(body: &[u8]) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("patch body must be a JSON object"));
    }
    Ok(v)
}

/// Strategic merge: merge-patch semantics, but list-maps (containers, env,
/// ports, volumes, conditions, ...) merge item by key, `$patch: delete`
/// removes an item, `$patch: replace` replaces, and
/// `$deleteFromPrimitiveList/<field>` removes values from a scalar list.
fn strategic(target: &Value, patch: &Value) -> Value {
    let (Some(t), Some(p)) = (target.as_object(), patch.as_object()) else {
        return strip_directives(patch);
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        return strip_directives(patch);
    }
    let mut out = t.clone();
    for (k, pv) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (out.get_mut(field), pv.as_array()) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), pv) {
            (Some(Value::Array(tl)), Value::Array(pl)) => merge_list(tl, pl, k),
            (Some(tv @ Value::Object(_)), Value::Object(_)) => strategic(tv, pv),
            _ => strip_directives(pv),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

fn merge_list(target: &[Value], patch: &[Value], name: &str) -> Value {
    match Shape::Builtin.list_type(name, patch) {
        ListType::Map(keys) => {
            let mut out: Vec<Value> = target.to_vec();
            for item in patch {
                let key = item_key(item, &keys);
                let pos = out.iter().position(|i| item_key(i, &keys) == key);
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => out[i] = strategic(&out[i], item),
                    (None, false) => out.push(strip_directives(item)),
                }
            }
            Value::Array(out)
        }
        ListType::Set => {
            let mut out: Vec<Value> = target.to_vec();
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        ListType::Atomic => Value::Array(patch.iter().map(strip_directives).collect()),
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}
