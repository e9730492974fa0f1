//! Checks a resource against the CRD's OpenAPI schema the way the API server
//! does before CEL runs: unknown fields (strict field validation), types,
//! required fields, enums and size bounds. Every problem names its field.

use serde_json::{Map, Value};

/// Appends to `errors` every way `value` breaks `schema`, with paths under `path`.
pub fn check(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{path}: must not be null"));
        }
        return;
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            errors.push(format!("{path}: must be an integer or a string"));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!(
            "{path}: {value} is not one of {}",
            Value::Array(allowed.clone())
        ));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => check_object(value, schema, path, errors),
        Some("array") => check_array(value, schema, path, errors),
        Some("string") => match value.as_str() {
            Some(s) => bounds(
                s.chars().count(),
                schema,
                "Length",
                "characters",
                path,
                errors,
            ),
            None => errors.push(format!("{path}: must be a string, not {value}")),
        },
        Some("integer") => match value.as_i64() {
            Some(n) => range(n as f64, schema, path, errors),
            None => errors.push(format!("{path}: must be an integer, not {value}")),
        },
        Some("number") => match value.as_f64() {
            Some(n) => range(n, schema, path, errors),
            None => errors.push(format!("{path}: must be a number, not {value}")),
        },
        Some("boolean") if !value.is_boolean() => {
            errors.push(format!("{path}: must be true or false, not {value}"))
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn check_object(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        errors.push(format!("{path}: must be an object, not {value}"));
        return;
    };
    bounds(object.len(), schema, "Properties", "entries", path, errors);
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = required.as_str()
            && !object.contains_key(name)
        {
            errors.push(format!("{}: required field is missing", join(path, name)));
        }
    }
    for (key, child) in object {
        let child_path = join(path, key);
        match (properties.get(key), additional) {
            (Some(s), _) | (None, Some(s)) => check(child, s, &child_path, errors),
            (None, None)
                if preserve || properties.is_empty() && schema.get("properties").is_none() => {}
            (None, None) => errors.push(format!("{child_path}: unknown field")),
        }
    }
}

fn check_array(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(items) = value.as_array() else {
        errors.push(format!("{path}: must be a list, not {value}"));
        return;
    };
    bounds(items.len(), schema, "Items", "items", path, errors);
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item, item_schema, &format!("{path}[{i}]"), errors);
        }
    }
}

/// `minLength`/`maxLength`, `minItems`/`maxItems`, `minProperties`/`maxProperties`.
fn bounds(
    len: usize,
    schema: &Value,
    suffix: &str,
    unit: &str,
    path: &str,
    errors: &mut Vec<String>,
) {
    let get = |k: String| schema.get(k).and_then(Value::as_u64);
    if let Some(min) = get(format!("min{suffix}"))
        && (len as u64) < min
    {
        errors.push(format!("{path}: must have at least {min} {unit}"));
    }
    if let Some(max) = get(format!("max{suffix}"))
        && len as u64 > max
    {
        errors.push(format!("{path}: must have at most {max} {unit}"));
    }
}

fn range(n: f64, schema: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && n < min
    {
        errors.push(format!("{path}: must be at least {min}"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && n > max
    {
        errors.push(format!("{path}: must be at most {max}"));
    }
}
