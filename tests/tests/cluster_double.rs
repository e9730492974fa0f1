//! The cluster test double, proved with the real kube-rs client: CRUD and
//! its errors, server-side apply with two managers, patches, status
//! subresource and generation, finalizers, garbage collection, selectors,
//! custom resource validation, RBAC and injected faults.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::{Client, Error};
use rustymail_tests::cluster::{ClusterDouble, FaultRule, Options, Policy, Trigger, User};
use rustymail_tests::operator::eventually;
use serde_json::{Value, json};

/// A namespaced CRD with a status subresource, a keyed list, an enum, a
/// required field and a CEL rule.
const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.test.io}
spec:
  group: test.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            x-kubernetes-validations:
            - rule: "self.size <= self.max"
              message: size must not exceed max
            properties:
              size: {type: integer, minimum: 0}
              max: {type: integer, default: 10}
              color: {type: string, enum: [red, blue]}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
          status:
            type: object
            properties:
              phase: {type: string}
"#;

async fn start() -> (ClusterDouble, Client) {
    let double = ClusterDouble::start(Options::default()).await.unwrap();
    let client = double.client().await.unwrap();
    (double, client)
}

fn code(e: Error) -> (u16, String) {
    match e {
        Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

fn cm(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap()
}

fn widgets(double: &ClusterDouble, client: &Client) -> Api<DynamicObject> {
    double.create_from_yaml(WIDGET_CRD).unwrap();
    let gvk = GroupVersionKind::gvk("test.io", "v1", "Widget");
    Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk))
}

fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "test.io/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})).unwrap()
}

/// How long garbage collection may take to show.
const GC_WAIT: Duration = Duration::from_secs(5);

/// Whether `name` is gone from `api` within [`GC_WAIT`].
async fn disappears<K>(api: &Api<K>, name: &str) -> bool
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(GC_WAIT, async || api.get_opt(name).await.unwrap().is_none()).await
}

#[tokio::test]
async fn crud_answers_like_the_api_server_with_status_errors() {
    let (_double, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let created = cms
        .create(&PostParams::default(), &cm("a", json!({"k": "v"})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, None, "ConfigMaps carry no generation");
    let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();

    assert_eq!(
        code(
            cms.create(&PostParams::default(), &cm("a", json!({})))
                .await
                .unwrap_err()
        ),
        (409, "AlreadyExists".into())
    );
    assert_eq!(
        code(cms.get("missing").await.unwrap_err()),
        (404, "NotFound".into())
    );
    assert_eq!(
        code(
            cms.create(&PostParams::default(), &cm("Bad_Name", json!({})))
                .await
                .unwrap_err()
        )
        .0,
        422
    );
    let in_nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    assert_eq!(
        code(
            in_nowhere
                .create(&PostParams::default(), &cm("a", json!({})))
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    let mut with_rv = cm("b", json!({}));
    with_rv.metadata.resource_version = Some("5".into());
    assert_eq!(
        code(
            cms.create(&PostParams::default(), &with_rv)
                .await
                .unwrap_err()
        )
        .0,
        500
    );

    let mut changed = created.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let replaced = cms
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    assert_eq!(
        code(
            cms.replace("a", &PostParams::default(), &changed)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );

    let mut generated = cm("", json!({}));
    generated.metadata.generate_name = Some("gen-".into());
    let g = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(g.metadata.name.unwrap().starts_with("gen-"));

    cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(cms.get("a").await.unwrap_err()).0, 404);
    let ns: Api<Namespace> = Api::all(client);
    assert!(ns.get("kube-system").await.is_ok());
}

#[tokio::test]
async fn server_side_apply_tracks_managers_removes_dropped_fields_and_reports_conflicts() {
    let (_double, client) = start().await;
    let deployments: Api<Deployment> = Api::default_namespaced(client);
    let config = |labels: Value, replicas: Option<i32>| {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
            }
        });
        if let Some(r) = replicas {
            d["spec"]["replicas"] = json!(r);
        }
        d
    };
    let a = PatchParams::apply("manager-a");
    deployments
        .patch(
            "web",
            &a,
            &Patch::Apply(config(json!({"x": "1", "y": "2"}), Some(2))),
        )
        .await
        .unwrap();
    let d = deployments
        .patch("web", &a, &Patch::Apply(config(json!({"x": "1"}), Some(2))))
        .await
        .unwrap();
    let labels = d.metadata.labels.clone().unwrap();
    assert!(
        labels.contains_key("x") && !labels.contains_key("y"),
        "a dropped field is removed: {labels:?}"
    );
    let managed = d.metadata.managed_fields.clone().unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    let b = PatchParams::apply("manager-b");
    let replicas_only = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let (status, reason) = code(
        deployments
            .patch("web", &b, &Patch::Apply(replicas_only.clone()))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, reason.as_str()), (409, "Conflict"));
    let d = deployments
        .patch("web", &b.clone().force(), &Patch::Apply(replicas_only))
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(5));

    let d = deployments
        .patch("web", &a, &Patch::Apply(config(json!({"x": "1"}), None)))
        .await
        .unwrap();
    assert_eq!(
        d.spec.replicas,
        Some(5),
        "a field another manager owns stays"
    );
    let unchanged = deployments
        .patch("web", &a, &Patch::Apply(config(json!({"x": "1"}), None)))
        .await
        .unwrap();
    assert_eq!(
        unchanged.metadata.resource_version, d.metadata.resource_version,
        "a no-op apply writes nothing"
    );

    let merge = PatchParams::default();
    let d = deployments
        .patch(
            "web",
            &merge,
            &Patch::Merge(json!({"metadata": {"labels": {"z": "3"}}})),
        )
        .await
        .unwrap();
    let managers: Vec<_> = d
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.operation.unwrap()))
        .collect();
    assert!(
        managers.iter().any(|(_, op)| op == "Update"),
        "{managers:?}"
    );

    let strategic = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1"}]}}}});
    let d = deployments
        .patch("web", &merge, &Patch::Strategic(strategic))
        .await
        .unwrap();
    let names: Vec<String> = d
        .spec
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names,
        vec!["app", "sidecar"],
        "strategic merge keys containers by name"
    );
    let selector_change = json!({"spec": {"selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"app": "other"}}}}});
    assert_eq!(
        code(
            deployments
                .patch("web", &merge, &Patch::Merge(selector_change))
                .await
                .unwrap_err()
        )
        .0,
        422
    );
}

#[tokio::test]
async fn status_subresource_and_generation_follow_the_real_rules() {
    let (double, client) = start().await;
    let api = widgets(&double, &client);
    let w = api
        .create(&PostParams::default(), &widget("w", json!({"size": 1})))
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    assert_eq!(w.data["spec"]["max"], 10, "schema defaults are applied");

    let w = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Main"}})),
        )
        .await
        .unwrap();
    assert!(
        w.data["status"].is_null(),
        "status written through the main resource is ignored"
    );
    let w = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"size": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(w.data["status"]["phase"], "Ready");
    assert_eq!(
        w.data["spec"]["size"], 1,
        "spec written through /status is ignored"
    );
    assert_eq!(w.metadata.generation, Some(1));
    let w = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        w.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );
    let w = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(2));
    let status_apply = json!({"apiVersion": "test.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": "Applied"}});
    let w = api
        .patch_status(
            "w",
            &PatchParams::apply("ctl").force(),
            &Patch::Apply(status_apply),
        )
        .await
        .unwrap();
    assert_eq!(w.data["status"]["phase"], "Applied");
    let status_manager = w
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("ctl"))
        .unwrap();
    assert_eq!(status_manager.subresource.as_deref(), Some("status"));
}

#[tokio::test]
async fn custom_resources_are_validated_against_schema_and_cel() {
    let (double, client) = start().await;
    let api = widgets(&double, &client);
    let strict = PostParams {
        field_manager: None,
        dry_run: false,
    };
    let (status, _) = code(
        api.create(&strict, &widget("a", json!({"size": 20})))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 422, "the CEL rule rejects size > max");
    assert_eq!(
        code(
            api.create(&strict, &widget("a", json!({"size": 1, "color": "green"})))
                .await
                .unwrap_err()
        )
        .0,
        422
    );
    assert_eq!(
        code(
            api.create(&strict, &widget("a", json!({"color": "red"})))
                .await
                .unwrap_err()
        )
        .0,
        422
    );
    let w = api
        .create(&strict, &widget("a", json!({"size": 1, "unknown": true})))
        .await
        .unwrap();
    assert!(
        w.data["spec"].get("unknown").is_none(),
        "unknown fields are pruned"
    );
    let apply = json!({"apiVersion": "test.io/v1", "kind": "Widget", "metadata": {"name": "a"}, "spec": {"size": 1, "bogus": 1}});
    let p = PatchParams::apply("t").validation_strict();
    assert_eq!(
        code(api.patch("a", &p, &Patch::Apply(apply)).await.unwrap_err()).0,
        400,
        "strict field validation rejects unknown fields"
    );
    let smp = Patch::Strategic(json!({"spec": {"size": 2}}));
    assert_eq!(
        code(
            api.patch("a", &PatchParams::default(), &smp)
                .await
                .unwrap_err()
        )
        .0,
        415
    );
    let ports = |list: Value| json!({"apiVersion": "test.io/v1", "kind": "Widget", "metadata": {"name": "a"}, "spec": {"size": 1, "ports": list}});
    api.patch(
        "a",
        &PatchParams::apply("one"),
        &Patch::Apply(ports(json!([{"name": "http", "port": 80}]))),
    )
    .await
    .unwrap();
    let w = api
        .patch(
            "a",
            &PatchParams::apply("two"),
            &Patch::Apply(ports(json!([{"name": "https", "port": 443}]))),
        )
        .await
        .unwrap();
    assert_eq!(
        w.data["spec"]["ports"].as_array().unwrap().len(),
        2,
        "list-map items of two managers merge by key"
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_until_they_are_removed() {
    let (_double, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut c = cm("held", json!({}));
    c.metadata.finalizers = Some(vec!["test.io/hold".into()]);
    cms.create(&PostParams::default(), &c).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let add = Patch::Merge(json!({"metadata": {"finalizers": ["test.io/hold", "test.io/more"]}}));
    assert_eq!(
        code(
            cms.patch("held", &PatchParams::default(), &add)
                .await
                .unwrap_err()
        )
        .0,
        422,
        "no new finalizers while deleting"
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(code(cms.get("held").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn dependents_are_garbage_collected_recursively() {
    let (_double, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let owner = cms
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let owned_by = |o: &ConfigMap| json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": o.metadata.name, "uid": o.metadata.uid, "controller": true}]);
    let mut child = cm("child", json!({}));
    child.metadata.owner_references = serde_json::from_value(owned_by(&owner)).unwrap();
    let child = cms.create(&PostParams::default(), &child).await.unwrap();
    let mut grandchild = cm("grandchild", json!({}));
    grandchild.metadata.owner_references = serde_json::from_value(owned_by(&child)).unwrap();
    cms.create(&PostParams::default(), &grandchild)
        .await
        .unwrap();
    let mut orphan = cm("orphan", json!({}));
    orphan.metadata.owner_references = serde_json::from_value(owned_by(&owner)).unwrap();
    cms.create(&PostParams::default(), &orphan).await.unwrap();

    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    assert!(disappears(&cms, "grandchild").await);
    assert!(cms.get_opt("child").await.unwrap().is_none());

    let keeper = cms
        .create(&PostParams::default(), &cm("keeper", json!({})))
        .await
        .unwrap();
    let mut kept = cm("kept", json!({}));
    kept.metadata.owner_references = serde_json::from_value(owned_by(&keeper)).unwrap();
    cms.create(&PostParams::default(), &kept).await.unwrap();
    cms.delete("keeper", &DeleteParams::orphan()).await.unwrap();
    assert!(disappears(&cms, "keeper").await);
    let kept = cms.get("kept").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "orphaned dependents lose the reference"
    );
}

#[tokio::test]
async fn label_selectors_filter_lists_and_deletecollection() {
    let (_double, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        let mut c = cm(name, json!({}));
        c.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let names = async |selector: &str| -> Vec<String> {
        cms.list(&ListParams::default().labels(selector))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    };
    assert_eq!(names("tier=web").await, vec!["a", "c"]);
    assert_eq!(names("tier!=web").await, vec!["b"]);
    assert_eq!(names("tier in (db,x)").await, vec!["b"]);
    assert_eq!(names("tier notin (web)").await.len(), 1);
    assert_eq!(names("!tier").await.len(), 0);
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = cms
        .list(&ListParams::default().continue_token(page.metadata.continue_.as_deref().unwrap()))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=web"),
    )
    .await
    .unwrap();
    assert_eq!(names("").await, vec!["b"]);
}

#[tokio::test]
async fn rbac_rules_answer_403_to_anything_not_granted() {
    let policy = Policy::from_yaml(
        "kind: ClusterRole\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get, list, watch, create]\n",
    )
    .unwrap();
    let double = ClusterDouble::start(Options {
        rbac: Some(policy),
        ..Options::default()
    })
    .await
    .unwrap();
    let restricted = double.client_for(User::Restricted).await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(restricted.clone());
    cms.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    assert!(cms.list(&ListParams::default()).await.is_ok());
    let (status, reason) = code(cms.delete("a", &DeleteParams::default()).await.unwrap_err());
    assert_eq!((status, reason.as_str()), (403, "Forbidden"));
    let secrets: Api<Secret> = Api::default_namespaced(restricted);
    assert_eq!(
        code(secrets.list(&ListParams::default()).await.unwrap_err()).0,
        403
    );
    let admin: Api<ConfigMap> = Api::default_namespaced(double.client().await.unwrap());
    admin.delete("a", &DeleteParams::default()).await.unwrap();
    let denied = double.stats().log.iter().filter(|r| r.code == 403).count();
    assert_eq!(denied, 2);
}

#[tokio::test]
async fn injected_faults_hit_exactly_the_chosen_requests_and_are_counted() {
    let (double, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    double.add_fault(
        FaultRule::fail(409)
            .verbs(&["patch"])
            .resources(&["configmaps"])
            .when(Trigger::Nth(2)),
    );
    double.add_fault(
        FaultRule::fail(500)
            .verbs(&["get"])
            .when(Trigger::FirstN(1)),
    );
    let p = Patch::Merge(json!({"data": {"k": "v"}}));
    assert!(cms.patch("a", &PatchParams::default(), &p).await.is_ok());
    assert_eq!(
        code(
            cms.patch("a", &PatchParams::default(), &p)
                .await
                .unwrap_err()
        )
        .0,
        409
    );
    assert!(cms.patch("a", &PatchParams::default(), &p).await.is_ok());
    assert_eq!(code(cms.get("a").await.unwrap_err()).0, 500);
    assert!(cms.get("a").await.is_ok());
    double.clear_faults();
    double.add_fault(FaultRule::delay(Duration::from_millis(150)).verbs(&["get"]));
    let started = std::time::Instant::now();
    cms.get("a").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    let stats = double.stats();
    assert_eq!(stats.count("patch", "configmaps"), 3);
    assert_eq!(stats.count("get", "configmaps"), 3);
    assert_eq!(stats.per_resource()["configmaps"], 7);
    assert_eq!(
        stats.mutations, 2,
        "the first patch and the create change the store; repeats are no-ops"
    );
}

#[tokio::test]
async fn namespaces_empty_themselves_and_foreground_deletion_waits_for_dependents() {
    let (_double, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    let ns = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    let in_doomed: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    in_doomed
        .create(&PostParams::default(), &cm("content", json!({})))
        .await
        .unwrap();
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let (status, _) = code(
        in_doomed
            .create(&PostParams::default(), &cm("late", json!({})))
            .await
            .unwrap_err(),
    );
    assert!(
        status == 403 || status == 404,
        "no new content in a terminating namespace: {status}"
    );
    assert!(disappears(&namespaces, "doomed").await);
    assert!(in_doomed.get_opt("content").await.unwrap().is_none());

    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let owner = cms
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let mut child = cm("child", json!({}));
    child.metadata.owner_references = serde_json::from_value(json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid, "blockOwnerDeletion": true}])).unwrap();
    child.metadata.finalizers = Some(vec!["test.io/slow".into()]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    cms.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    assert!(
        eventually(GC_WAIT, async || cms
            .get("child")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some())
        .await
    );
    let waiting = cms.get("owner").await.unwrap();
    assert_eq!(
        waiting.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()]),
        "the owner waits for its dependents"
    );
    cms.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(disappears(&cms, "owner").await);
}

#[tokio::test]
async fn kube_event_recorder_creates_then_patches_a_series() {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};

    let (_double, client) = start().await;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "test".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some("x".into()),
        namespace: Some("default".into()),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "Degraded".into(),
        note: Some("something is wrong".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<K8sEvent> = Api::default_namespaced(client);
    let list = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(list[0].reason.as_deref(), Some("Degraded"));
}

#[tokio::test]
async fn discovery_serves_builtin_and_registered_kinds_both_ways() {
    use rustymail_tests::cluster::thirdparty;

    let (double, client) = start().await;
    double
        .create_from_yaml(&thirdparty::cert_manager())
        .unwrap();
    double
        .create_from_yaml(&thirdparty::prometheus_operator())
        .unwrap();
    for aggregated in [false, true] {
        let discovery = kube::Discovery::new(client.clone());
        let discovery = if aggregated {
            discovery.run_aggregated().await
        } else {
            discovery.run().await
        }
        .unwrap();
        let (cert, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(
                "cert-manager.io",
                "v1",
                "Certificate",
            ))
            .unwrap();
        assert_eq!(cert.plural, "certificates");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        assert!(
            caps.subresources
                .iter()
                .any(|(r, _)| r.plural == "certificates/status" || r.plural == "status"),
            "aggregated={aggregated}"
        );
        assert!(discovery.has_group("monitoring.coreos.com"));
        let (deploy, _) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .unwrap();
        assert_eq!(deploy.plural, "deployments");
    }
    let req = http::Request::get("/debug/cluster-double/stats")
        .body(Vec::new())
        .unwrap();
    let stats: Value = client.request(req).await.unwrap();
    assert!(
        stats["requests"].as_u64().is_some() && stats["perResource"].is_object(),
        "{stats}"
    );
}

#[tokio::test]
async fn events_of_both_apis_are_one_store() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event as NewEvent;

    let (_double, client) = start().await;
    let new_api: Api<NewEvent> = Api::default_namespaced(client.clone());
    let event: NewEvent = serde_json::from_value(json!({
        "metadata": {"name": "e1"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "rustymail.io/operator",
        "reportingInstance": "op-a",
        "action": "Reconcile",
        "reason": "Degraded",
        "type": "Warning",
        "note": "missing Secret",
        "regarding": {"apiVersion": "rustymail.io/v1alpha1", "kind": "RustyMail", "name": "mail", "namespace": "default"}
    }))
    .unwrap();
    new_api
        .create(&PostParams::default(), &event)
        .await
        .unwrap();
    let core: Api<CoreEvent> = Api::default_namespaced(client);
    let seen = core.get("e1").await.unwrap();
    assert_eq!(seen.message.as_deref(), Some("missing Secret"));
    assert_eq!(seen.involved_object.name.as_deref(), Some("mail"));
    assert_eq!(
        seen.reporting_component.as_deref(),
        Some("rustymail.io/operator")
    );
    let by_object = core
        .list(&ListParams::default().fields("involvedObject.name=mail"))
        .await
        .unwrap();
    assert_eq!(by_object.items.len(), 1);
    let back = new_api.get("e1").await.unwrap();
    assert_eq!(back.note.as_deref(), Some("missing Secret"));
}
