//! Server-side printing for `kubectl get` (`Accept: ...;as=Table`): a name
//! column, a custom resource's printer columns, and an age column.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::registry::ResourceType;

/// The value at a printer-column JSONPath: `.a.b`, `.a[0]`, and
/// `.a[?(@.type=="Ready")].status`.
pub fn json_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (field, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur
                    .as_array()?
                    .iter()
                    .find(|i| i[field.trim()].as_str() == Some(want))?;
            } else {
                cur = cur.get(inner.parse::<usize>().ok()?)?;
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

fn age(ts: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(ts, &Rfc3339) else {
        return "<unknown>".to_string();
    };
    let secs = (OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn cell(v: Option<&Value>, type_: &str) -> Value {
    match v {
        None | Some(Value::Null) => json!("<none>"),
        Some(Value::String(s)) if type_ == "date" => json!(age(s)),
        Some(Value::String(s)) => json!(s),
        Some(other) => other.clone(),
    }
}

/// A `Table` of one object or of a list.
pub fn to_table(rt: &ResourceType, v: &Value) -> Value {
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}),
    ];
    for c in &rt.printer_columns {
        columns.push(json!({"name": c.name, "type": c.type_, "format": "", "description": c.name, "priority": 0}));
    }
    let with_age = rt.printer_columns.is_empty();
    if with_age {
        columns.push(json!({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}));
    }
    let objects: Vec<&Value> = match v["items"].as_array() {
        Some(items) => items.iter().collect(),
        None => vec![v],
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            for c in &rt.printer_columns {
                cells.push(cell(json_path(o, &c.json_path), &c.type_));
            }
            if with_age {
                cells.push(json!(age(o["metadata"]["creationTimestamp"].as_str().unwrap_or_default())));
            }
            json!({
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
            })
        })
        .collect();
    let rv = v["metadata"]["resourceVersion"].clone();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_column_paths_with_filters_resolve() {
        let v = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}], "n": [4, 5]}});
        assert_eq!(
            json_path(&v, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(json_path(&v, ".status.n[1]"), Some(&json!(5)));
        assert_eq!(json_path(&v, ".status.missing"), None);
    }
}
