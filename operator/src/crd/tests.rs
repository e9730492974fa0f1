//! The CRD's validation, exercised as the API server would run it: schema
//! first, then every CEL rule, through kube's client-side CEL validator.

use serde_json::{Value, json};

use super::{load, *};

fn valid() -> Value {
    json!({
        "apiVersion": "rustymail.io/v1alpha1",
        "kind": "RustyMail",
        "metadata": {"name": "mail", "namespace": "team-a"},
        "spec": {"accounts": [{
            "name": "support",
            "imap": {"host": "imap.example.com"},
            "credentialsSecretRef": {"name": "support-imap"}
        }]}
    })
}

/// `valid()` with `patch` merged into `spec`.
fn with_spec(patch: Value) -> Value {
    let mut doc = valid();
    json_merge(&mut doc["spec"], patch);
    doc
}

fn json_merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                json_merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

/// The problems the API server would report, one string each.
fn problems(doc: &Value) -> Vec<String> {
    match load::validate(doc) {
        Ok(()) => Vec::new(),
        Err(load::LoadError::Invalid(errors)) => errors,
        Err(other) => vec![other.to_string()],
    }
}

#[track_caller]
fn assert_rejected(patch: Value, field: &str, words: &str) {
    let found = problems(&with_spec(patch.clone()));
    assert!(
        found.iter().any(|p| p.contains(field) && p.contains(words)),
        "{patch} should be rejected at {field} with '{words}', got {found:?}"
    );
}

#[track_caller]
fn assert_accepted(patch: Value) {
    let found = problems(&with_spec(patch.clone()));
    assert!(
        found.is_empty(),
        "{patch} should be accepted, got {found:?}"
    );
}

#[test]
fn the_minimal_resource_is_accepted_and_defaulted_safely() {
    assert_eq!(problems(&valid()), Vec::<String>::new());
    let rm: RustyMail = serde_json::from_value(valid()).expect("typed");
    assert_eq!(rm.spec.replicas, 2);
    assert_eq!(rm.spec.tls.min_version, "1.2");
    assert!(rm.spec.network_policy.enabled);
    assert_eq!(rm.spec.rate_limits.per_ip, "100/minute");
    assert_eq!(rm.spec.accounts[0].imap.port, 993);
    assert!(!rm.spec.paused);
}

#[test]
fn at_most_one_certificate_source() {
    assert_accepted(json!({"tls": {"issuerRef": {"name": "le", "kind": "ClusterIssuer"}}}));
    assert_accepted(json!({"tls": {"secretName": "my-tls"}}));
    assert_rejected(
        json!({"tls": {"issuerRef": {"name": "le"}, "secretName": "my-tls"}}),
        "spec.tls",
        "at most one certificate source",
    );
}

#[test]
fn an_issuer_ref_names_cert_manager_kinds_or_an_external_group() {
    let rm: RustyMail = serde_json::from_value({
        let mut v = valid();
        v["spec"]["tls"] = json!({"issuerRef": {"name": "le"}});
        v
    })
    .expect("typed");
    let issuer = rm.spec.tls.issuer_ref.expect("issuerRef");
    assert_eq!(
        (issuer.kind.as_str(), issuer.group.as_str()),
        ("Issuer", "cert-manager.io")
    );
    assert_accepted(
        json!({"tls": {"issuerRef": {"name": "step", "kind": "StepClusterIssuer", "group": "certmanager.step.sm"}}}),
    );
    assert_accepted(
        json!({"tls": {"issuerRef": {"name": "pca", "kind": "AWSPCAClusterIssuer", "group": "awspca.cert-manager.io"}}}),
    );
    assert_rejected(
        json!({"tls": {"issuerRef": {"name": "le", "kind": "StepClusterIssuer"}}}),
        "spec.tls.issuerRef",
        "Issuer or ClusterIssuer",
    );
}

#[test]
fn rates_must_read_count_per_period() {
    assert_accepted(json!({"rateLimits": {"perIp": "5/second", "perUser": "1/day"}}));
    for bad in ["100", "100/min", "0/minute", "ten/minute", "100/minute "] {
        assert_rejected(
            json!({"rateLimits": {"perIp": bad}}),
            "spec.rateLimits.perIp",
            "rate such as 100/minute",
        );
    }
    assert_rejected(
        json!({"rateLimits": {"perApiKey": "lots"}}),
        "spec.rateLimits.perApiKey",
        "rate",
    );
}

#[test]
fn cidrs_must_be_cidrs() {
    assert_accepted(json!({"rateLimits": {"trustedProxies": ["10.0.0.0/8", "2001:db8::/32"]}}));
    assert_rejected(
        json!({"rateLimits": {"trustedProxies": ["10.0.0.0/33"]}}),
        "spec.rateLimits.trustedProxies",
        "CIDR",
    );
    assert_rejected(
        json!({"networkPolicy": {"imapEgressCIDRs": ["imap.example.com"]}}),
        "spec.networkPolicy.imapEgressCIDRs",
        "CIDR",
    );
}

#[test]
fn durations_are_go_durations_and_renewal_precedes_expiry() {
    assert_accepted(json!({"tls": {"duration": "720h", "renewBefore": "240h"}}));
    assert_rejected(
        json!({"tls": {"duration": "90d"}}),
        "spec.tls.duration",
        "duration",
    );
    assert_rejected(
        json!({"tls": {"duration": "24h", "renewBefore": "48h"}}),
        "spec.tls",
        "renewBefore must be shorter",
    );
    assert_rejected(
        json!({"auth": {"jwt": {"expiry": "2h", "refreshExpiry": "1h"}}}),
        "spec.auth.jwt",
        "refreshExpiry must not be shorter",
    );
}

#[test]
fn tls_version_and_ciphers_are_from_the_supported_lists() {
    assert_accepted(
        json!({"tls": {"minVersion": "1.3", "cipherSuites": ["TLS_AES_256_GCM_SHA384"]}}),
    );
    for bad in ["1.1", "1.0", "TLS1.3"] {
        assert_rejected(
            json!({"tls": {"minVersion": bad}}),
            "spec.tls.minVersion",
            "is not one of [\"1.2\",\"1.3\"",
        );
    }
    assert_rejected(
        json!({"tls": {"cipherSuites": ["TLS_RSA_WITH_AES_128_CBC_SHA"]}}),
        "spec.tls.cipherSuites",
        "unsupported cipher suite",
    );
}

#[test]
fn account_names_are_unique_dns_labels() {
    let account = |name: &str| json!({"name": name, "imap": {"host": "h"}, "credentialsSecretRef": {"name": "s"}});
    assert_rejected(
        json!({"accounts": [account("Support_1")]}),
        "spec.accounts[0].name",
        "DNS label",
    );
    assert_rejected(
        json!({"accounts": [account("a"), account("a")]}),
        "spec.accounts",
        "unique",
    );
    assert_rejected(json!({"accounts": []}), "spec.accounts", "at least 1");
}

#[test]
fn reserved_pod_labels_and_malformed_paths_are_refused() {
    assert_accepted(json!({"podLabels": {"team": "mail"}}));
    assert_rejected(
        json!({"podLabels": {"rustymail.io/instance": "other"}}),
        "spec.podLabels",
        "reserved",
    );
    assert_rejected(
        json!({"podLabels": {"app.kubernetes.io/instance": "argo"}}),
        "spec.podLabels",
        "reserved",
    );
    assert_rejected(
        json!({"auth": {"apiKey": {"publicPaths": ["api/v1/openapi.json"]}}}),
        "spec.auth.apiKey.publicPaths",
        "start with /",
    );
    assert_rejected(
        json!({"auth": {"apiKey": {"header": "X API Key"}}}),
        "spec.auth.apiKey.header",
        "header name",
    );
    assert_rejected(
        json!({"limits": {"maxBodySize": "10MB"}}),
        "spec.limits.maxBodySize",
        "size such as 10Mi",
    );
    assert_rejected(
        json!({"limits": {"allowedContentTypes": ["json"]}}),
        "spec.limits.allowedContentTypes",
        "media type",
    );
}

#[test]
fn secret_and_host_names_are_dns_names() {
    assert_accepted(
        json!({"tls": {"secretName": "mail-api.tls"}, "ingress": {"host": "mail.example.com"}}),
    );
    assert_rejected(
        json!({"tls": {"secretName": "Mail_TLS"}}),
        "spec.tls.secretName",
        "DNS name",
    );
    assert_rejected(
        json!({"ingress": {"host": "https://mail.example.com"}}),
        "spec.ingress.host",
        "DNS name",
    );
}

#[test]
fn schema_rejects_unknown_fields_wrong_types_and_bounds_by_path() {
    assert_rejected(
        json!({"rateLimits": {"perIP": "1/second"}}),
        "spec.rateLimits.perIP",
        "unknown field",
    );
    assert_rejected(
        json!({"replicas": "three"}),
        "spec.replicas",
        "must be an integer",
    );
    assert_rejected(json!({"replicas": 1000}), "spec.replicas", "at most 100");
    assert_rejected(
        json!({"imagePullPolicy": "Sometimes"}),
        "spec.imagePullPolicy",
        "is not one of",
    );
    let mut doc = valid();
    doc["spec"]["accounts"][0]["imap"]["port"] = json!(70000);
    assert!(
        problems(&doc)
            .iter()
            .any(|p| p.contains("spec.accounts[0].imap.port") && p.contains("at most 65535"))
    );
}

#[test]
fn crd_carries_status_subresource_short_name_and_printer_columns() {
    let crd = RustyMail::crd();
    assert_eq!(crd.spec.names.short_names, Some(vec!["rmail".to_owned()]));
    let version = &crd.spec.versions[0];
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let columns: Vec<_> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Ready", "Replicas", "Certificate expiry", "Age"]);
    let schema = load::schema();
    let conditions = &schema["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
}

#[test]
fn every_field_is_documented_for_kubectl_explain() {
    fn walk(schema: &Value, path: &str, missing: &mut Vec<String>) {
        for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
            let here = format!("{path}.{name}");
            if prop
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                missing.push(here.clone());
            }
            if !here.contains("resources")
                && !here.contains("affinity")
                && !here.contains("tolerations")
                && !here.contains("extraEgress")
            {
                walk(prop, &here, missing);
                walk(&prop["items"], &here, missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(&load::schema()["properties"]["spec"], "spec", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}

#[test]
fn loading_yaml_names_the_bad_field_and_defaults_the_namespace() {
    let rm = load::from_yaml(
        "apiVersion: rustymail.io/v1alpha1\nkind: RustyMail\nmetadata: {name: m}\nspec:\n  accounts: [{name: a, imap: {host: h}, credentialsSecretRef: {name: s}}]\n",
        "prod",
    )
    .expect("loads");
    assert_eq!(rm.metadata.namespace.as_deref(), Some("prod"));
    let err = load::from_yaml("apiVersion: v1\nkind: ConfigMap\n", "x").unwrap_err();
    assert!(err.to_string().contains("kind RustyMail"), "{err}");
    let err = load::from_yaml(
        "apiVersion: rustymail.io/v1alpha1\nkind: RustyMail\nmetadata: {name: m}\nspec: {}\n",
        "x",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("spec.accounts: required field is missing"),
        "{err}"
    );
}

#[test]
fn incident_levers_are_checked_at_admission() {
    assert_accepted(json!({"access": {
        "isolate": true,
        "blockedCIDRs": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"],
    }}));
    assert_rejected(
        json!({"access": {"blockedCIDRs": ["203.0.113.9"]}}),
        "spec.access.blockedCIDRs",
        "CIDR",
    );
    assert_rejected(
        json!({"access": {"isolate": "yes"}}),
        "spec.access.isolate",
        "must be true or false",
    );
    let rm: RustyMail = serde_json::from_value(valid()).expect("typed");
    assert!(!rm.spec.access.isolate && rm.spec.access.blocked_cidrs.is_empty());
}

#[test]
fn api_clients_name_a_namespace_or_pods_and_same_namespace_is_the_default() {
    let rm: RustyMail = serde_json::from_value(valid()).expect("typed");
    assert!(rm.spec.network_policy.allow_same_namespace);
    assert_accepted(
        json!({"networkPolicy": {"allowSameNamespace": false, "clients": [
            {"namespace": "team-b"},
            {"namespace": "team-c", "podSelector": {"matchLabels": {"app": "worker"}}},
            {"podSelector": {"matchLabels": {"app": "web"}}},
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}, "podSelector": {}},
        ]}}),
    );
    assert_rejected(
        json!({"networkPolicy": {"clients": [{}]}}),
        "spec.networkPolicy.clients[0]",
        "name a namespace, a namespaceSelector or a podSelector",
    );
    assert_rejected(
        json!({"networkPolicy": {"clients": [{"namespace": "a", "namespaceSelector": {}}]}}),
        "spec.networkPolicy.clients[0]",
        "not both",
    );
    assert_rejected(
        json!({"networkPolicy": {"clients": [{"namespace": "Team_B"}]}}),
        "spec.networkPolicy.clients[0].namespace",
        "DNS label",
    );
}

/// `valid()` renamed to `name`.
fn named(name: &str) -> Value {
    let mut doc = valid();
    doc["metadata"]["name"] = json!(name);
    doc
}

#[test]
fn names_the_service_cannot_carry_are_refused_at_admission() {
    for bad in [
        "mail.v2".to_owned(),
        "1mail".to_owned(),
        "mail-".to_owned(),
        "m".repeat(64),
    ] {
        let found = problems(&named(&bad));
        assert!(
            found
                .iter()
                .any(|p| p.contains("metadata.name") && p.contains("DNS-1035 label")),
            "{bad} should be refused naming metadata.name, got {found:?}"
        );
    }
    for good in ["m".to_owned(), "mail-2".to_owned(), "m".repeat(63)] {
        assert_eq!(problems(&named(&good)), Vec::<String>::new(), "{good}");
    }
}

#[test]
fn secret_references_must_be_names_and_keys_kubernetes_accepts() {
    let account = |r: Value| json!({"accounts": [{"name": "a", "imap": {"host": "h"}, "credentialsSecretRef": r}]});
    assert_rejected(
        account(json!({"name": "Support_IMAP"})),
        "spec.accounts[0].credentialsSecretRef.name",
        "DNS name",
    );
    assert_rejected(
        account(json!({"name": "s", "passwordKey": "imap password"})),
        "spec.accounts[0].credentialsSecretRef.passwordKey",
        "Secret key",
    );
    assert_rejected(
        json!({"auth": {"existingSecret": "Rusty_Secrets"}}),
        "spec.auth.existingSecret",
        "DNS name",
    );
    assert_accepted(account(
        json!({"name": "rustymail-secrets", "passwordKey": "imap-password"}),
    ));
}

#[test]
fn numbers_written_unquoted_are_accepted_where_people_write_numbers() {
    assert_accepted(json!({
        "tls": {"minVersion": 1.3, "duration": 7_776_000, "renewBefore": 2_592_000},
        "limits": {"maxBodySize": 10_485_760, "maxHeaderSize": 8192},
        "auth": {"jwt": {"expiry": 3600, "refreshExpiry": 604_800}},
    }));
    let rm: RustyMail = serde_json::from_value(with_spec(json!({
        "tls": {"minVersion": 1.3},
        "limits": {"maxBodySize": 10_485_760},
        "auth": {"jwt": {"expiry": 3600}},
    })))
    .expect("typed");
    assert_eq!(rm.spec.tls.min_version, "1.3");
    assert_eq!(rm.spec.limits.max_body_size, "10485760");
    assert_eq!(rm.spec.auth.jwt.expiry, "3600s");
}

#[test]
fn numbers_out_of_range_are_still_refused() {
    assert_rejected(
        json!({"tls": {"minVersion": 1.1}}),
        "spec.tls.minVersion",
        "is not one of",
    );
    assert_rejected(
        json!({"limits": {"maxBodySize": -1}}),
        "spec.limits.maxBodySize",
        "size such as 10Mi",
    );
    assert_rejected(
        json!({"limits": {"maxBodySize": 1.5}}),
        "spec.limits.maxBodySize",
        "integer or a string",
    );
    assert_rejected(
        json!({"auth": {"jwt": {"expiry": 7200, "refreshExpiry": "1h"}}}),
        "spec.auth.jwt",
        "refreshExpiry must not be shorter",
    );
    assert_rejected(
        json!({"tls": {"duration": 86_400, "renewBefore": "48h"}}),
        "spec.tls",
        "renewBefore must be shorter",
    );
}

#[test]
fn pod_labels_annotations_and_node_selectors_kubernetes_would_refuse_are_refused() {
    assert_accepted(json!({
        "podLabels": {"team": "mail", "example.com/tier": "back_end.1"},
        "podAnnotations": {"example.com/owner": "any text at all"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "priorityClassName": "high-priority",
    }));
    assert_rejected(
        json!({"podLabels": {"team": "mail team"}}),
        "spec.podLabels",
        "label value",
    );
    assert_rejected(
        json!({"podLabels": {"team": "m".repeat(64)}}),
        "spec.podLabels.team",
        "at most 63",
    );
    assert_rejected(
        json!({"podLabels": {"bad key": "x"}}),
        "spec.podLabels",
        "label key",
    );
    assert_rejected(
        json!({"podAnnotations": {"-bad": "x"}}),
        "spec.podAnnotations",
        "annotation key",
    );
    assert_rejected(
        json!({"nodeSelector": {"disk": "fast ssd"}}),
        "spec.nodeSelector",
        "label value",
    );
    assert_rejected(
        json!({"priorityClassName": "High_Priority"}),
        "spec.priorityClassName",
        "DNS name",
    );
}
