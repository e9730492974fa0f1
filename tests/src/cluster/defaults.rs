//! Fields the real server fills in: the common defaults of the built-in
//! kinds (so a client that compares its desired object with the live one
//! sees the same differences it would see in a cluster), cluster IPs, and
//! the status the server itself keeps for namespaces and CRDs.

use serde_json::{Map, Value, json};

use super::registry::{ResourceType, crd_types};
use super::status::{ApiError, ApiResult, Cause};

fn default(obj: &mut Value, field: &str, value: Value) {
    if let Some(m) = obj.as_object_mut()
        && m.get(field).is_none_or(Value::is_null)
    {
        m.insert(field.to_string(), value);
    }
}

fn each(list: &mut Value, f: impl Fn(&mut Value)) {
    if let Some(items) = list.as_array_mut() {
        items.iter_mut().for_each(f);
    }
}

fn ports_protocol(ports: &mut Value) {
    each(ports, |p| default(p, "protocol", json!("TCP")));
}

fn probe(p: &mut Value) {
    if !p.is_object() {
        return;
    }
    for (field, value) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        default(p, field, json!(value));
    }
    if p["httpGet"].is_object() {
        default(&mut p["httpGet"], "scheme", json!("HTTP"));
        default(&mut p["httpGet"], "path", json!("/"));
    }
}

fn container(c: &mut Value) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    let image = c["image"].as_str().unwrap_or_default();
    let tag = image.rsplit('/').next().unwrap_or_default();
    let latest = !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest"));
    default(
        c,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    ports_protocol(&mut c["ports"]);
    for p in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(x) = c.get_mut(p) {
            probe(x);
        }
    }
}

/// Pod spec defaults.
fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        each(&mut spec[list], container);
    }
}

/// Defaults applied when an object is created.
pub fn on_create(rt: &ResourceType, obj: &mut Value, next_ip: &mut u32) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Service") => {
            let spec = &mut obj["spec"];
            default(spec, "type", json!("ClusterIP"));
            if spec["type"] != "ExternalName"
                && spec["clusterIP"].as_str().unwrap_or_default().is_empty()
            {
                *next_ip += 1;
                let ip = format!("10.96.{}.{}", (*next_ip >> 8) & 0xff, *next_ip & 0xff);
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
        }
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].clone();
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        _ => {}
    }
    defaults(rt, obj);
}

/// Defaults applied on every update (identical to create, minus allocation).
pub fn on_update(rt: &ResourceType, obj: &mut Value, old: &Value) {
    if rt.group.is_empty() && rt.kind == "Namespace" {
        obj["spec"] = old["spec"].clone();
        let name = obj["metadata"]["name"].clone();
        if !obj["metadata"]["labels"].is_object() {
            obj["metadata"]["labels"] = json!({});
        }
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    }
    defaults(rt, obj);
}

fn defaults(rt: &ResourceType, obj: &mut Value) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => {
            let spec = &mut obj["spec"];
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            default(spec, "strategy", json!({"type": "RollingUpdate"}));
            if spec["strategy"]["type"] == "RollingUpdate" {
                default(&mut spec["strategy"], "rollingUpdate", json!({}));
                default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxSurge",
                    json!("25%"),
                );
            }
            pod_spec(&mut spec["template"]["spec"]);
        }
        ("", "Pod") => pod_spec(&mut obj["spec"]),
        ("", "Service") => {
            let spec = &mut obj["spec"];
            default(spec, "type", json!("ClusterIP"));
            default(spec, "sessionAffinity", json!("None"));
            if spec["type"] != "ExternalName" {
                default(spec, "ipFamilies", json!(["IPv4"]));
                default(spec, "ipFamilyPolicy", json!("SingleStack"));
                default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            each(&mut spec["ports"], |p| {
                default(p, "protocol", json!("TCP"));
                let port = p["port"].clone();
                default(p, "targetPort", port);
            });
        }
        ("", "Secret") => default(obj, "type", json!("Opaque")),
        ("networking.k8s.io", "NetworkPolicy") => {
            let spec = &mut obj["spec"];
            if spec.is_object() {
                let mut types = vec![json!("Ingress")];
                if spec["egress"].is_array() {
                    types.push(json!("Egress"));
                }
                default(spec, "policyTypes", Value::Array(types));
                for dir in ["ingress", "egress"] {
                    each(&mut spec[dir], |rule| ports_protocol(&mut rule["ports"]));
                }
            }
        }
        ("networking.k8s.io", "Ingress") => {
            each(&mut obj["spec"]["rules"], |r| {
                each(&mut r["http"]["paths"], |p| {
                    default(p, "pathType", json!("ImplementationSpecific"))
                });
            });
        }
        _ => {}
    }
}

/// The status the server keeps itself: `Active` namespaces, and the
/// accepted names and `Established` condition of CRDs.
pub fn server_status(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            let phase = if obj["metadata"]["deletionTimestamp"].is_null() {
                "Active"
            } else {
                "Terminating"
            };
            obj["status"] = json!({"phase": phase});
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let types = crd_types(obj)
                .map_err(|causes| ApiError::invalid(&rt.group, &rt.kind, &name, causes))?;
            let Some(first) = types.first() else {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    &name,
                    vec![Cause::invalid(
                        "spec.versions",
                        "Invalid value: must have at least one served version",
                    )],
                ));
            };
            let storage: Vec<String> = first.storage_version.iter().cloned().collect();
            let mut names: Map<String, Value> = obj["spec"]["names"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            names
                .entry("singular")
                .or_insert_with(|| json!(first.singular));
            names
                .entry("listKind")
                .or_insert_with(|| json!(format!("{}List", first.kind)));
            let t = obj["metadata"]["creationTimestamp"].clone();
            let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": t, "reason": reason, "message": message});
            obj["status"] = json!({
                "acceptedNames": names,
                "conditions": [
                    condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                    condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
                "storedVersions": storage,
            });
        }
        _ => {}
    }
    Ok(())
}
