//! A minimal OpenAPI v3 surface: the index of group versions and, for
//! each, the PATCH operations with their query parameters. kubectl reads it
//! to learn that the server validates fields itself (`fieldValidation`), and
//! then leaves validation to the server instead of downloading full schemas.

use serde_json::{Map, Value, json};

use super::registry::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the group versions served.
pub fn index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in reg.group_versions() {
        for v in versions {
            let p = gv_path(&group, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/{api/v1 | apis/group/version}`: the operations of a group version.
pub fn group_version(reg: &Registry, path: &str) -> Option<Value> {
    let mut paths = Map::new();
    let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]
        .iter()
        .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
        .collect();
    for t in reg.all() {
        if gv_path(&t.group, &t.version) != path {
            continue;
        }
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let base = if t.namespaced {
            format!("/{path}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("/{path}/{}", t.plural)
        };
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", t.kind),
                "parameters": params,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        paths.insert(base.clone(), json!({"post": op("post")}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"put": op("put"), "patch": op("patch")}),
        );
    }
    (!paths.is_empty()).then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths,
        })
    })
}
