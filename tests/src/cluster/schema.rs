//! Custom resources against their CRD's structural `openAPIV3Schema`, as the
//! real server treats them: unknown fields pruned (and reported for strict
//! field validation), `null` dropped unless `nullable`, defaults applied,
//! then types, required fields, enums, patterns, bounds and formats checked,
//! and `x-kubernetes-validations` (CEL) evaluated with kube's validator.

use kube::core::cel::{Validator, apply_defaults};
use serde_json::{Map, Value};

use super::status::Cause;

/// Prunes, defaults and validates `obj` in place. Pruned paths go to
/// `unknown`, failures to `causes`.
pub fn admit(
    schema: &Value,
    obj: &mut Value,
    old: Option<&Value>,
    unknown: &mut Vec<String>,
    causes: &mut Vec<Cause>,
) {
    let Some(map) = obj.as_object_mut() else {
        causes.push(Cause::invalid(
            "",
            "Invalid value: the object must be a JSON object",
        ));
        return;
    };
    let mut rest = Map::new();
    for (k, v) in std::mem::take(map) {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            map.insert(k, v);
        } else {
            rest.insert(k, v);
        }
    }
    let mut body = Value::Object(rest);
    let mut top = schema.clone();
    if let Some(props) = top.get_mut("properties").and_then(Value::as_object_mut) {
        props.remove("metadata");
        props.remove("apiVersion");
        props.remove("kind");
    }
    prune(&top, &mut body, "", unknown);
    body = apply_defaults(&top, &body);
    check(&top, &body, "", causes);
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    if causes.is_empty() && has_rules(schema) {
        match Validator::new().validate(schema, obj, old) {
            Ok(()) => {}
            Err(errors) => {
                for e in errors.into_vec() {
                    causes.push(Cause::invalid(
                        e.field_path.clone(),
                        format!("Invalid value: {}", e.message),
                    ));
                }
            }
        }
    }
}

fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => m.contains_key("x-kubernetes-validations") || m.values().any(has_rules),
        Value::Array(a) => a.iter().any(has_rules),
        _ => false,
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn prune(schema: &Value, v: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if schema["x-kubernetes-embedded-resource"] == true {
        return;
    }
    match v {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let child_path = join(path, &k);
                let child_schema = props.and_then(|p| p.get(&k));
                let nullable = |s: &Value| s["nullable"] == true;
                match (child_schema, additional) {
                    (Some(s), _) | (None, s @ Value::Object(_)) => {
                        if map.get(&k).is_some_and(Value::is_null) && !nullable(s) {
                            map.remove(&k);
                        } else if let Some(child) = map.get_mut(&k) {
                            prune(s, child, &child_path, unknown);
                        }
                    }
                    _ if preserve || *additional == Value::Bool(true) => {}
                    _ => {
                        map.remove(&k);
                        unknown.push(child_path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item_schema, item, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(schema: &Value, v: &Value, path: &str, causes: &mut Vec<Cause>) {
    let shown = if path.is_empty() { "<root>" } else { path };
    let invalid = |causes: &mut Vec<Cause>, what: String| {
        causes.push(Cause::invalid(path, format!("Invalid value: {v}: {what}")));
    };
    if v.is_null() {
        return;
    }
    let actual = type_name(v);
    let int_or_string = schema["x-kubernetes-int-or-string"] == true;
    if int_or_string {
        if !matches!(actual, "integer" | "string") {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!("Invalid value: {v}: {shown} in body must be of type int-or-string"),
            ));
            return;
        }
    } else if let Some(expected) = schema["type"].as_str() {
        let ok = expected == actual || (expected == "number" && actual == "integer");
        if !ok {
            causes.push(Cause::new("FieldValueTypeInvalid", path, format!("Invalid value: \"{actual}\": {shown} in body must be of type {expected}: \"{actual}\"")));
            return;
        }
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(v)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        causes.push(Cause::new(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    match v {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
                causes.push(Cause::new(
                    "FieldValueTooLong",
                    path,
                    format!("Too long: may not be more than {max} bytes"),
                ));
            }
            if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
                invalid(
                    causes,
                    format!("{shown} in body should be at least {min} chars long"),
                );
            }
            if let Some(pattern) = schema["pattern"].as_str() {
                match regex::Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => {
                        invalid(causes, format!("{shown} in body should match '{pattern}'"))
                    }
                    Ok(_) => {}
                    Err(e) => invalid(causes, format!("invalid pattern '{pattern}': {e}")),
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            let exclusive_min = schema["exclusiveMinimum"] == true;
            let exclusive_max = schema["exclusiveMaximum"] == true;
            if let Some(min) = schema["minimum"].as_f64()
                && (x < min || (exclusive_min && x == min))
            {
                let op = if exclusive_min {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                invalid(causes, format!("{shown} in body should be {op} {min}"));
            }
            if let Some(max) = schema["maximum"].as_f64()
                && (x > max || (exclusive_max && x == max))
            {
                let op = if exclusive_max {
                    "less than"
                } else {
                    "less than or equal to"
                };
                invalid(causes, format!("{shown} in body should be {op} {max}"));
            }
            if schema["format"] == "int32" && (x < f64::from(i32::MIN) || x > f64::from(i32::MAX)) {
                invalid(causes, format!("{shown} in body must be of format int32"));
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(max) = schema["maxItems"].as_u64().filter(|m| n > *m) {
                causes.push(Cause::new(
                    "FieldValueTooMany",
                    path,
                    format!("Too many: {n}: must have at most {max} items"),
                ));
            }
            if let Some(min) = schema["minItems"].as_u64().filter(|m| n < *m) {
                invalid(
                    causes,
                    format!("{shown} in body should have at least {min} items"),
                );
            }
            check_list_uniqueness(schema, items, path, causes);
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), causes);
                }
            }
        }
        Value::Object(map) => {
            for r in schema["required"].as_array().into_iter().flatten() {
                if let Some(name) = r.as_str()
                    && map.get(name).is_none_or(Value::is_null)
                {
                    causes.push(Cause::new(
                        "FieldValueRequired",
                        join(path, name),
                        "Required value",
                    ));
                }
            }
            let props = schema["properties"].as_object();
            for (k, child) in map {
                let child_schema = props
                    .and_then(|p| p.get(k))
                    .or_else(|| schema.get("additionalProperties").filter(|s| s.is_object()));
                if let Some(s) = child_schema {
                    check(s, child, &join(path, k), causes);
                }
            }
            let n = map.len() as u64;
            if let Some(max) = schema["maxProperties"].as_u64().filter(|m| n > *m) {
                causes.push(Cause::new(
                    "FieldValueTooMany",
                    path,
                    format!("Too many: {n}: must have at most {max} items"),
                ));
            }
        }
        _ => {}
    }
    for one in schema["allOf"].as_array().into_iter().flatten() {
        check(one, v, path, causes);
    }
    for (key, needed) in [("anyOf", 1usize), ("oneOf", 1)] {
        if let Some(options) = schema[key].as_array() {
            let passing = options
                .iter()
                .filter(|o| {
                    let mut c = Vec::new();
                    check(o, v, path, &mut c);
                    c.is_empty()
                })
                .count();
            let ok = if key == "oneOf" {
                passing == needed
            } else {
                passing >= needed
            };
            if !ok {
                invalid(causes, format!("{shown} in body must validate {key}"));
            }
        }
    }
    if let Some(not) = schema.get("not") {
        let mut c = Vec::new();
        check(not, v, path, &mut c);
        if c.is_empty() {
            invalid(
                causes,
                format!("{shown} in body must not validate the schema (not)"),
            );
        }
    }
}

fn check_list_uniqueness(schema: &Value, items: &[Value], path: &str, causes: &mut Vec<Cause>) {
    let keys: Vec<&str> = match schema["x-kubernetes-list-type"].as_str() {
        Some("set") => Vec::new(),
        Some("map") => schema["x-kubernetes-list-map-keys"]
            .as_array()
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
        _ => return,
    };
    let identity = |item: &Value| -> Value {
        if keys.is_empty() {
            item.clone()
        } else {
            Value::Array(keys.iter().map(|k| item[*k].clone()).collect())
        }
    };
    let mut seen: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let id = identity(item);
        if seen.contains(&id) {
            causes.push(Cause::new(
                "FieldValueDuplicate",
                format!("{path}[{i}]"),
                format!("Duplicate value: {id}"),
            ));
        }
        seen.push(id);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "pattern": "^[a-z]+$"},
                        "replicas": {"type": "integer", "minimum": 0, "default": 1},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    },
                    "x-kubernetes-validations": [{"rule": "self.replicas < 10", "message": "too many"}]
                }
            }
        })
    }

    #[test]
    fn unknown_fields_are_pruned_and_defaults_applied() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"image": "abc", "bogus": 1, "free": {"any": 1}}, "extra": true});
        let (mut unknown, mut causes) = (Vec::new(), Vec::new());
        admit(&schema(), &mut obj, None, &mut unknown, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        assert_eq!(unknown, vec!["extra".to_string(), "spec.bogus".to_string()]);
        assert_eq!(
            obj["spec"],
            json!({"image": "abc", "replicas": 1, "free": {"any": 1}})
        );
        assert_eq!(obj["metadata"]["name"], "a");
    }

    #[test]
    fn types_patterns_enums_bounds_and_cel_are_enforced() {
        let mut obj = json!({"spec": {"image": "ABC", "replicas": -1, "mode": "c"}});
        let (mut unknown, mut causes) = (Vec::new(), Vec::new());
        admit(&schema(), &mut obj, None, &mut unknown, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.image", "spec.mode", "spec.replicas"]);
        let mut obj = json!({"spec": {"image": "abc", "replicas": 12}});
        let mut causes = Vec::new();
        admit(&schema(), &mut obj, None, &mut unknown, &mut causes);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert!(causes[0].message.contains("too many"));
    }
}
