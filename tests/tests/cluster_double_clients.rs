//! The cluster test double with long-running clients: kube-runtime's
//! watcher (events, dropped watches, 410 Gone, bookmarks) and the real
//! `kubectl` through the kubeconfig the double writes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use rustymail_tests::cluster::{ClusterDouble, FaultRule, Options, WatchFaults};
use serde_json::{Value, json};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "t"}}})).unwrap()
}

/// Collects names from a watcher until `want` have been seen, for at most 10 s.
async fn seen_names<S>(stream: &mut S, want: &[&str]) -> Vec<String>
where
    S: futures::Stream<Item = Result<ConfigMap, watcher::Error>> + Unpin,
{
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !want.iter().all(|w| seen.iter().any(|s| s == w)) {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(obj))) => seen.extend(obj.metadata.name),
            Ok(Some(Err(_))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    seen
}

#[tokio::test]
async fn watcher_sees_changes_and_recovers_after_drops_and_gone() {
    let double = ClusterDouble::start(Options::default()).await.unwrap();
    let client = double.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("before"))
        .await
        .unwrap();
    let mut stream = watcher(cms.clone(), watcher::Config::default().labels("app=t"))
        .default_backoff()
        .applied_objects()
        .boxed();
    assert_eq!(seen_names(&mut stream, &["before"]).await, vec!["before"]);

    cms.create(&PostParams::default(), &cm("live"))
        .await
        .unwrap();
    assert!(
        seen_names(&mut stream, &["live"])
            .await
            .contains(&"live".to_string())
    );

    double.set_watch_faults(WatchFaults {
        drop_after: None,
        drop_after_events: Some(1),
    });
    for name in ["d1", "d2", "d3"] {
        cms.create(&PostParams::default(), &cm(name)).await.unwrap();
    }
    let seen = seen_names(&mut stream, &["d1", "d2", "d3"]).await;
    assert!(
        ["d1", "d2", "d3"]
            .iter()
            .all(|n| seen.iter().any(|s| s == n)),
        "{seen:?}"
    );
    double.set_watch_faults(WatchFaults::default());

    let lists_before = double.stats().count("list", "configmaps");
    double.add_fault(FaultRule::delay(Duration::from_millis(500)).verbs(&["watch"]));
    double.set_watch_faults(WatchFaults {
        drop_after: None,
        drop_after_events: Some(1),
    });
    cms.create(&PostParams::default(), &cm("last-seen"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    cms.create(&PostParams::default(), &cm("missed"))
        .await
        .unwrap();
    double.compact();
    double.clear_faults();
    let seen = seen_names(&mut stream, &["missed"]).await;
    assert!(seen.iter().any(|s| s == "missed"), "{seen:?}");
    assert!(
        double.stats().count("list", "configmaps") > lists_before,
        "a 410 makes the watcher list again"
    );
    let watches = double.stats().count("watch", "configmaps");
    assert!(watches >= 4, "every dropped watch was resumed: {watches}");
}

#[tokio::test]
async fn raw_watches_follow_resource_versions_bookmarks_and_gone() {
    let double = ClusterDouble::start(Options {
        bookmark_interval: Duration::from_millis(100),
        ..Options::default()
    })
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(double.client().await.unwrap());
    let a = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let rv = a.metadata.resource_version.unwrap();
    cms.create(&PostParams::default(), &cm("b")).await.unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();

    let wp = WatchParams::default().timeout(5);
    let mut events = cms.watch(&wp, &rv).await.unwrap().boxed();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match events.try_next().await.unwrap() {
            Some(WatchEvent::Added(o)) => kinds.push(format!("ADDED {}", o.metadata.name.unwrap())),
            Some(WatchEvent::Deleted(o)) => {
                kinds.push(format!("DELETED {}", o.metadata.name.unwrap()))
            }
            Some(WatchEvent::Bookmark(_)) => kinds.push("BOOKMARK".to_string()),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert_eq!(kinds, vec!["ADDED b", "DELETED a", "BOOKMARK"]);

    double.compact();
    let mut events = cms.watch(&wp, &rv).await.unwrap().boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl is installed");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: 'nginx:1.27', ports: [{containerPort: 80}]}]
";

#[tokio::test]
async fn kubectl_applies_gets_and_deletes_through_the_written_kubeconfig() {
    let double = ClusterDouble::start(Options::default()).await.unwrap();
    let kc = double.kubeconfig_path().to_path_buf();
    let cache = tempfile::tempdir().unwrap();
    let crd = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/rustymail.yaml"),
    )
    .unwrap();
    let run = move |args: Vec<&'static str>, stdin: Option<String>| {
        let (kc, cache) = (kc.clone(), cache.path().to_path_buf());
        async move {
            tokio::task::spawn_blocking(move || kubectl(&kc, &cache, &args, stdin.as_deref()))
                .await
                .unwrap()
        }
    };

    let (ok, out) = run(
        vec!["apply", "--server-side", "-f", "-"],
        Some(DEPLOYMENT.to_string()),
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let (ok, out) = run(vec!["get", "deployment", "web", "-o", "json"], None).await;
    assert!(ok, "{out}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
        "TCP"
    );

    let (ok, out) = run(vec!["apply", "--server-side", "-f", "-"], Some(crd)).await;
    assert!(ok, "{out}");
    let example = "apiVersion: rustymail.io/v1alpha1
kind: RustyMail
metadata: {name: mail}
spec:
  accounts:
  - name: support
    imap: {host: imap.example.com}
    credentialsSecretRef: {name: support-imap}
";
    let (ok, out) = run(
        vec!["apply", "--server-side", "-f", "-"],
        Some(example.to_string()),
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["get", "rmail"], None).await;
    assert!(ok && out.contains("mail") && out.contains("READY"), "{out}");
    let (ok, out) = run(
        vec!["get", "rustymails.rustymail.io", "mail", "-o", "json"],
        None,
    )
    .await;
    assert!(ok, "{out}");
    let rm: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rm["metadata"]["generation"], 1);

    let bogus = example.replace("spec:\n", "spec:\n  bogus: true\n");
    let (ok, out) = run(vec!["apply", "--server-side", "-f", "-"], Some(bogus)).await;
    assert!(
        !ok && out.contains("unknown field"),
        "kubectl's strict validation is done by the server: {out}"
    );

    let (ok, out) = run(vec!["delete", "rmail", "mail"], None).await;
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["delete", "-f", "-"], Some(DEPLOYMENT.to_string())).await;
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["get", "deployments", "-o", "name"], None).await;
    assert!(ok && out.trim().is_empty(), "{out}");
}

#[tokio::test]
async fn streaming_list_watchers_get_initial_events_then_changes() {
    let double = ClusterDouble::start(Options::default()).await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(double.client().await.unwrap());
    cms.create(&PostParams::default(), &cm("initial"))
        .await
        .unwrap();
    let mut stream = watcher(cms.clone(), watcher::Config::default().streaming_lists())
        .default_backoff()
        .applied_objects()
        .boxed();
    assert_eq!(seen_names(&mut stream, &["initial"]).await, vec!["initial"]);
    cms.create(&PostParams::default(), &cm("later"))
        .await
        .unwrap();
    assert!(
        seen_names(&mut stream, &["later"])
            .await
            .contains(&"later".to_string())
    );
    assert_eq!(
        double.stats().count("list", "configmaps"),
        0,
        "streaming lists never list"
    );
}
