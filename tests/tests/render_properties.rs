//! Properties over generated RustyMail specs: every spec the CRD admits
//! renders, and every child carries the owner reference and labels of the
//! design and none of the RustyMail's own labels (Argo CD would prune
//! children carrying `app.kubernetes.io/instance`). Names span the whole
//! admitted range (1 to 63 characters): every child, volume and label the
//! API server would check is valid, so no admitted spec ends in a 422.

use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use rustymail_operator::{
    crd::{RustyMail, load},
    render::{self, Credentials, CredentialsInput, Observed, TlsMaterial},
};
use serde_json::{Value, json};

/// A DNS-1123 label of 1 to 63 characters (account names, namespaces).
const DNS_LABEL: &str = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";

fn account() -> impl Strategy<Value = Value> {
    (DNS_LABEL, "[a-z]{1,10}\\.example\\.com", prop_oneof![Just(993), Just(143), 1..65535i32], prop_oneof![Just("tls"), Just("starttls")], any::<bool>(), any::<bool>())
        .prop_map(|(name, host, port, security, ca, inline_user)| {
            let mut a = json!({"name": name, "imap": {"host": host, "port": port, "security": security}, "credentialsSecretRef": {"name": format!("{name}-imap")}});
            if ca {
                a["imap"]["caSecretRef"] = json!({"name": "imap-ca"});
            }
            if inline_user {
                a["username"] = json!(format!("{name}@example.com"));
                a["credentialsSecretRef"]["passwordKey"] = json!("imap-password");
            }
            a
        })
}

fn rate() -> impl Strategy<Value = String> {
    (
        1u32..1_000_000,
        prop_oneof![Just("second"), Just("minute"), Just("hour"), Just("day")],
    )
        .prop_map(|(n, p)| format!("{n}/{p}"))
}

fn tls() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        Just(json!({"secretName": "user-tls"})),
        Just(
            json!({"issuerRef": {"name": "le", "kind": "ClusterIssuer"}, "dnsNames": ["mail.example.com"]})
        ),
        Just(
            json!({"minVersion": "1.3", "cipherSuites": ["TLS_AES_128_GCM_SHA256"], "duration": "720h", "renewBefore": "24h"})
        ),
    ]
}

prop_compose! {
    fn resource()(
        name in "[a-z]([-a-z0-9]{0,61}[a-z0-9])?",
        namespace in DNS_LABEL,
        replicas in 0..6i32,
        accounts in prop::collection::vec(account(), 1..4),
        tls in tls(),
        per_ip in rate(),
        per_user in rate(),
        np_enabled in any::<bool>(),
        monitoring in any::<bool>(),
        ingress in any::<bool>(),
        existing in any::<bool>(),
        paused in any::<bool>(),
        tier in "([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?",
    ) -> Value {
        let mut seen = std::collections::HashSet::new();
        let accounts: Vec<Value> = accounts.into_iter().filter(|a| seen.insert(a["name"].clone())).collect();
        let mut spec = json!({
            "replicas": replicas,
            "paused": paused,
            "accounts": accounts,
            "tls": tls,
            "rateLimits": {"perIp": per_ip, "perUser": per_user, "trustedProxies": ["10.0.0.0/8"]},
            "networkPolicy": {"enabled": np_enabled},
            "monitoring": {"serviceMonitor": monitoring, "prometheusRule": monitoring},
            "podLabels": {"team": "mail", "example.com/tier": tier},
        });
        if ingress {
            spec["ingress"] = json!({"host": "mail.example.com", "className": "nginx"});
        }
        if existing {
            spec["auth"] = json!({"existingSecret": "user-credentials"});
        }
        json!({
            "apiVersion": "rustymail.io/v1alpha1",
            "kind": "RustyMail",
            "metadata": {
                "name": name, "namespace": namespace, "uid": "6f1c2b1e-0000-4000-8000-000000000001",
                "labels": {"app.kubernetes.io/instance": "argo-app", "team": "mail", "env": "prod"},
            },
            "spec": spec,
        })
    }
}

/// A whole-string DNS-1123 label (pod volume names).
const DNS_LABEL_EXACT: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// A whole-string DNS-1035 label (Service names).
const DNS_1035: &str = "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";
/// A label value.
const LABEL_VALUE: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";

/// Whether the JSON string `value` matches `pattern` as a whole.
fn matches(pattern: &str, value: &Value) -> bool {
    regex::Regex::new(pattern)
        .map(|r| value.as_str().is_some_and(|s| r.is_match(s)))
        .unwrap_or(false)
}

/// A DNS-1123 subdomain: what Kubernetes accepts as most objects' names
/// (its parts between dots have no length limit of their own there).
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && matches(
            "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            &json!(name),
        )
}

fn observed(rm: &RustyMail, cert_manager: bool, monitoring: bool) -> Observed {
    Observed {
        cert_manager,
        monitoring,
        acme_issuer: false,
        credentials: if rm.spec.auth.existing_secret.is_some() {
            // The security guide's Secret: a single `api-key`.
            CredentialsInput::Existing(
                ["api-key", "jwt-secret", "imap-password"]
                    .into_iter()
                    .map(|k| (k.to_owned(), k8s_openapi::ByteString(b"v".to_vec())))
                    .collect(),
            )
        } else {
            CredentialsInput::Generated(Credentials::generate(&mut StdRng::seed_from_u64(1), None))
        },
        self_signed: Some(TlsMaterial {
            chain_pem: "c".into(),
            key_pem: "k".into(),
            ca_pem: "a".into(),
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_admitted_spec_renders_children_that_are_owned_and_labelled(
        doc in resource(), cert_manager in any::<bool>(), monitoring in any::<bool>()
    ) {
        let text = serde_json::to_string(&doc).expect("json");
        let rm = load::from_yaml(&text, "default").map_err(|e| TestCaseError::fail(format!("generated spec rejected: {e}")))?;
        let children = render::render(&rm, &observed(&rm, cert_manager, monitoring))
            .map_err(|e| TestCaseError::fail(format!("admitted spec failed to render: {e}")))?;
        let name = doc["metadata"]["name"].as_str().expect("name");
        let namespace = doc["metadata"]["namespace"].as_str().expect("namespace");
        prop_assert!(children.len() >= 4, "at least ServiceAccount, ConfigMap, Deployment and Service");
        for child in &children {
            let v = child.to_value();
            let meta = &v["metadata"];
            let what = format!("{} {}", v["kind"], meta["name"]);
            prop_assert_eq!(meta["namespace"].as_str(), Some(namespace), "{}", what);
            let owners = meta["ownerReferences"].as_array().cloned().unwrap_or_default();
            prop_assert_eq!(owners.len(), 1, "{}", what);
            prop_assert_eq!(&owners[0], &json!({
                "apiVersion": "rustymail.io/v1alpha1", "kind": "RustyMail", "name": name,
                "uid": "6f1c2b1e-0000-4000-8000-000000000001", "controller": true, "blockOwnerDeletion": true,
            }), "{}", what);
            let labels = meta["labels"].as_object().cloned().unwrap_or_default();
            prop_assert_eq!(labels.get("rustymail.io/instance"), Some(&json!(name)), "{}", what);
            prop_assert_eq!(labels.get("app.kubernetes.io/name"), Some(&json!("rustymail")), "{}", what);
            prop_assert_eq!(labels.get("app.kubernetes.io/managed-by"), Some(&json!("rustymail-operator")), "{}", what);
            prop_assert!(labels.contains_key("app.kubernetes.io/component"), "{}", what);
            for foreign in ["app.kubernetes.io/instance", "team", "env"] {
                prop_assert!(!labels.contains_key(foreign), "{} carries the RustyMail's label {}", what, foreign);
            }
            prop_assert!(is_dns_subdomain(meta["name"].as_str().unwrap_or_default()), "{} name", what);
            if v["kind"] == "Service" {
                prop_assert!(matches(DNS_1035, &meta["name"]), "{} is not a DNS-1035 label", what);
            }
            for (key, value) in &labels {
                prop_assert!(matches(LABEL_VALUE, value), "{} label {}={}", what, key, value);
            }
            if v["kind"] == "Deployment" {
                let pod = &v["spec"]["template"]["spec"];
                let volumes: Vec<&Value> = pod["volumes"].as_array().into_iter().flatten().map(|v| &v["name"]).collect();
                for volume in &volumes {
                    prop_assert!(matches(DNS_LABEL_EXACT, volume), "volume {} is not a DNS label", volume);
                }
                let unique: std::collections::HashSet<_> = volumes.iter().collect();
                prop_assert_eq!(unique.len(), volumes.len(), "volume names repeat: {:?}", volumes);
                for mount in pod["containers"][0]["volumeMounts"].as_array().into_iter().flatten() {
                    prop_assert!(volumes.contains(&&mount["name"]), "mount of a missing volume {}", mount["name"]);
                }
                for value in v["spec"]["template"]["metadata"]["labels"].as_object().into_iter().flatten().map(|(_, v)| v) {
                    prop_assert!(matches(LABEL_VALUE, value), "pod label value {}", value);
                }
                let pod_labels = v["spec"]["template"]["metadata"]["labels"].as_object().cloned().unwrap_or_default();
                prop_assert!(!pod_labels.contains_key("app.kubernetes.io/instance"));
                prop_assert_eq!(pod_labels.get("team"), Some(&json!("mail")), "podLabels reach the pods");
                prop_assert_eq!(pod_labels.get("example.com/tier"), doc["spec"]["podLabels"].get("example.com/tier"));
                prop_assert_eq!(&v["spec"]["selector"]["matchLabels"], &json!({"rustymail.io/instance": name}));
            }
        }
    }

    #[test]
    fn names_the_service_cannot_carry_are_refused_before_any_rendering(
        name in prop_oneof![
            "[a-z]{1,20}\\.[a-z]{1,20}",
            "[0-9][a-z0-9]{0,30}",
            "[a-z][a-z0-9]{63,100}",
        ]
    ) {
        let doc = json!({
            "apiVersion": "rustymail.io/v1alpha1", "kind": "RustyMail",
            "metadata": {"name": name, "namespace": "team-a"},
            "spec": {"accounts": [{"name": "a", "imap": {"host": "h"}, "credentialsSecretRef": {"name": "s"}}]},
        });
        let text = serde_json::to_string(&doc).expect("json");
        let err = load::from_yaml(&text, "default").map(|_| ()).expect_err("refused");
        prop_assert!(err.to_string().contains("metadata.name must be a DNS-1035 label"), "{}", err);
    }
}
