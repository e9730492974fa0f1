//! The REST document and the MCP tool list cannot drift: every mail
//! operation of the OpenAPI document is a tool of the same name (or is
//! named here as offered one way only), and a route and its tool take the
//! same fields with the same JSON types.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::mcp::tools::{self, TOOLS};

/// Mail operations REST offers and MCP does not: a raw RFC 822 upload
/// (MCP files a composed draft with `append_draft` instead).
const REST_ONLY: [&str; 1] = ["append_message"];

/// Tools with no REST route: the caller's accounts, and a composed draft.
const MCP_ONLY: [&str; 2] = ["list_accounts", "append_draft"];

/// Parameters a tool adds to its operation's fields, to shape an answer
/// for an agent's context (bodies in windows, attachment content on ask).
const SHAPING: [(&str, &[&str]); 2] = [
    ("get_message", &["maxBodyChars", "bodyOffset"]),
    ("get_attachment", &["includeContent", "maxBytes"]),
];

/// Parameters a route takes from HTTP itself, which its tool has no place
/// for (the tool takes no idempotency key; docs/sending.md says so).
const TRANSPORT: [(&str, &[&str]); 1] = [("send_message", &["Idempotency-Key"])];

/// Fields named differently on each side because a route's path already
/// has the name: (operation, the body's field as `body.<name>`, the
/// tool's field).
const RENAMED: [(&str, &str, &str); 1] = [("rename_folder", "body.name", "new_name")];

/// The document's tags of mail operations.
const MAIL_TAGS: [&str; 4] = ["folders", "emails", "attachments", "send"];

/// `schema` resolved through `$ref` (`#/components/schemas/…` or
/// `#/$defs/…`) in `root`.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
        return schema;
    };
    let pointer = reference.trim_start_matches('#');
    root.pointer(pointer)
        .map_or(schema, |target| resolve(root, target))
}

/// The JSON type a schema admits, `null` aside: `integer`, `string`,
/// `boolean`, `array`, `object`.
fn json_type(root: &Value, schema: &Value) -> String {
    let schema = resolve(root, schema);
    match schema.get("type") {
        Some(Value::String(t)) => return t.clone(),
        Some(Value::Array(types)) => {
            if let Some(t) = types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
            {
                return t.to_owned();
            }
        }
        _ => {}
    }
    if schema.get("enum").is_some() || schema.get("const").is_some() {
        return "string".to_owned();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(variants) = schema.get(key).and_then(Value::as_array) {
            let types: Vec<String> = variants
                .iter()
                .map(|v| json_type(root, v))
                .filter(|t| t != "null")
                .collect();
            if let Some(t) = types.first() {
                return t.clone();
            }
        }
    }
    format!("unknown: {schema}")
}

/// The fields of an object schema, each with its JSON type.
fn fields(root: &Value, schema: &Value) -> BTreeMap<String, String> {
    resolve(root, schema)
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| (name.clone(), json_type(root, s)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every mail operation of the document: its id and the fields it takes
/// (path and query parameters, and the JSON body's properties; a body
/// field named as a parameter is `body.<name>`).
fn rest_operations(doc: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    let paths = doc["paths"].as_object().expect("paths");
    for item in paths.values() {
        for operation in item.as_object().expect("path item").values() {
            let mail = operation["tags"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|t| MAIL_TAGS.contains(&t.as_str().unwrap_or("")))
            });
            if !mail {
                continue;
            }
            let id = operation["operationId"].as_str().expect("operationId");
            let mut taken = BTreeMap::new();
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().expect("parameter name");
                taken.insert(name.to_owned(), json_type(doc, &parameter["schema"]));
            }
            if let Some(body) = operation.pointer("/requestBody/content/application~1json/schema") {
                for (name, json) in fields(doc, body) {
                    let key = if taken.contains_key(&name) {
                        format!("body.{name}")
                    } else {
                        name
                    };
                    taken.insert(key, json);
                }
            }
            found.insert(id.to_owned(), taken);
        }
    }
    found
}

/// Takes out of `fields` the parameters `table` lists for operation `id`,
/// each of which must be there.
fn remove_extra(fields: &mut BTreeMap<String, String>, table: &[(&str, &[&str])], id: &str) {
    let extra = table
        .iter()
        .find(|(t, _)| *t == id)
        .map_or(&[][..], |(_, p)| p);
    for parameter in extra {
        assert!(fields.remove(*parameter).is_some(), "{id}: {parameter}");
    }
}

fn document() -> Value {
    serde_json::to_value(super::openapi()).expect("the document serialises")
}

#[test]
fn every_mail_operation_is_a_tool_taking_the_same_fields() {
    let doc = document();
    let rest = rest_operations(&doc);
    assert!(rest.len() >= 15, "{:?}", rest.keys());
    for (id, rest_fields) in &rest {
        let Some(spec) = tools::spec(id) else {
            assert!(
                REST_ONLY.contains(&id.as_str()),
                "{id}: a mail route with no tool"
            );
            continue;
        };
        let tool = tools::described(spec.wire).expect("listed");
        let schema = Value::Object((*tool.input_schema).clone());
        let mut tool_fields = fields(&schema, &schema);
        remove_extra(&mut tool_fields, &SHAPING, id);
        let mut rest_fields = rest_fields.clone();
        remove_extra(&mut rest_fields, &TRANSPORT, id);
        for (_, body, field) in RENAMED.iter().filter(|(op, ..)| op == id) {
            let json = rest_fields.remove(*body).expect("the renamed body field");
            rest_fields.insert((*field).to_owned(), json);
        }
        assert_eq!(
            tool_fields, rest_fields,
            "{id}: the tool and the route differ"
        );
    }
}

#[test]
fn every_tool_but_the_mcp_only_ones_is_a_rest_operation_marked_so() {
    let doc = document();
    let rest = rest_operations(&doc);
    let mut marked = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            if let Some(tool) = operation.get("x-mcp-tool").and_then(Value::as_str) {
                assert_eq!(Some(tool), operation["operationId"].as_str());
                marked.push(tool.to_owned());
            }
        }
    }
    for spec in &TOOLS {
        if MCP_ONLY.contains(&spec.wire) {
            assert!(!rest.contains_key(spec.wire), "{}", spec.wire);
        } else {
            assert!(
                rest.contains_key(spec.wire),
                "{}: a tool with no route",
                spec.wire
            );
            assert!(marked.iter().any(|m| m == spec.wire), "{}", spec.wire);
        }
    }
    assert_eq!(marked.len(), TOOLS.len() - MCP_ONLY.len());
}

#[test]
fn a_renamed_field_is_caught() {
    let doc = document();
    let mut rest = rest_operations(&doc);
    let list = rest.get_mut("list_messages").expect("list_messages");
    assert_eq!(list.get("limit").map(String::as_str), Some("integer"));
    list.insert("pageSize".to_owned(), list["limit"].clone());
    list.remove("limit");
    let tool = tools::described("list_messages").expect("listed");
    let schema = Value::Object((*tool.input_schema).clone());
    assert_ne!(&fields(&schema, &schema), &rest["list_messages"]);
}
