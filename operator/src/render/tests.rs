//! What users and security reviewers would check in the rendered children.

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Secret};
use rand::{SeedableRng, rngs::StdRng};
use serde_json::json;

use super::*;
use crate::crd::RustyMail;

fn material(tag: &str) -> TlsMaterial {
    TlsMaterial {
        chain_pem: format!("chain {tag}"),
        key_pem: format!("key {tag}"),
        ca_pem: format!("ca {tag}"),
    }
}

fn observed(seed: u64) -> Observed {
    Observed {
        cert_manager: true,
        monitoring: true,
        acme_issuer: false,
        credentials: CredentialsInput::Generated(Credentials::generate(
            &mut StdRng::seed_from_u64(seed),
            None,
        )),
        self_signed: Some(material("one")),
    }
}

fn with_spec(patch: serde_json::Value) -> RustyMail {
    let mut value = serde_json::to_value(fixtures::minimal()).expect("serializes");
    for (k, v) in patch.as_object().into_iter().flatten() {
        value["spec"][k] = v.clone();
    }
    serde_json::from_value(value).expect("valid spec")
}

fn deployment(children: &[Child]) -> &Deployment {
    children
        .iter()
        .find_map(|c| match c {
            Child::Deployment(d) => Some(d),
            _ => None,
        })
        .expect("a Deployment is always rendered")
}

/// The child of `kind` named `name`, as the JSON the operator applies.
fn find(children: &[Child], kind: &str, name: &str) -> serde_json::Value {
    children
        .iter()
        .map(Child::to_value)
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn kinds(children: &[Child]) -> Vec<String> {
    children
        .iter()
        .map(|c| c.to_value()["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn pod_annotation(children: &[Child], key: &str) -> String {
    let template = &deployment(children).spec.template;
    template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(key))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn minimal_resource_renders_the_default_set_of_children() {
    let children = render(&fixtures::minimal(), &observed(1)).expect("renders");
    assert_eq!(
        kinds(&children),
        [
            "ServiceAccount",
            "Secret",
            "Secret",
            "ConfigMap",
            "Deployment",
            "Service",
            "NetworkPolicy",
            "PodDisruptionBudget"
        ]
    );
}

#[test]
fn pods_meet_the_restricted_pod_security_standard() {
    let children = render(&fixtures::minimal(), &observed(1)).expect("renders");
    let pod = deployment(&children)
        .spec
        .template
        .spec
        .clone()
        .expect("pod spec");
    let psc = pod.security_context.expect("pod security context");
    assert_eq!(
        (
            psc.run_as_non_root,
            psc.run_as_user,
            psc.run_as_group,
            psc.fs_group
        ),
        (Some(true), Some(1001), Some(1001), Some(1001))
    );
    assert_eq!(
        psc.seccomp_profile.map(|s| s.type_).as_deref(),
        Some("RuntimeDefault")
    );
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert!(pod.host_network.is_none() && pod.host_pid.is_none() && pod.host_ipc.is_none());
    for c in &pod.containers {
        let sc = c
            .security_context
            .clone()
            .expect("container security context");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_owned()])
        );
        let resources = c.resources.clone().expect("resources");
        assert!(resources.requests.is_some() && resources.limits.is_some());
        assert!(
            c.liveness_probe.is_some() && c.readiness_probe.is_some() && c.startup_probe.is_some()
        );
    }
    for volume in pod.volumes.iter().flatten() {
        assert!(volume.host_path.is_none(), "{} uses hostPath", volume.name);
    }
}

#[test]
fn secrets_are_mounted_as_whole_directories() {
    let children = render(&with_spec(json!({"accounts": [{"name": "a", "imap": {"host": "h", "caSecretRef": {"name": "ca"}}, "credentialsSecretRef": {"name": "s", "usernameKey": "u", "passwordKey": "p"}}]})), &observed(1)).expect("renders");
    let pod = deployment(&children)
        .spec
        .template
        .spec
        .clone()
        .expect("pod spec");
    let mounts = pod.containers[0].volume_mounts.clone().unwrap_or_default();
    assert!(
        mounts
            .iter()
            .all(|m| m.sub_path.is_none() && m.sub_path_expr.is_none())
    );
    let paths: Vec<_> = mounts.iter().map(|m| m.mount_path.as_str()).collect();
    for dir in [
        mounts::TLS_DIR,
        mounts::CREDENTIALS_DIR,
        "/var/run/rustymail/accounts/a",
        "/var/run/rustymail/imap-ca/a",
    ] {
        assert!(paths.contains(&dir), "{dir} not mounted: {paths:?}");
    }
    let account = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "account-a")
        .and_then(|v| v.secret.clone())
        .expect("account volume");
    let items: Vec<_> = account
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.key, i.path))
        .collect();
    assert_eq!(
        items,
        [
            ("u".to_owned(), "username".to_owned()),
            ("p".to_owned(), "password".to_owned())
        ]
    );
}

#[test]
fn config_and_credentials_roll_pods_but_certificates_do_not() {
    let rm = fixtures::minimal();
    let base = render(&rm, &observed(1)).expect("renders");
    let config_sum = pod_annotation(&base, CONFIG_CHECKSUM);
    let creds_sum = pod_annotation(&base, CREDENTIALS_CHECKSUM);
    assert_eq!(config_sum.len(), 64);

    let rotated_cert = Observed {
        self_signed: Some(material("two")),
        ..observed(1)
    };
    assert_eq!(
        deployment(&render(&rm, &rotated_cert).expect("renders")),
        deployment(&base)
    );

    let new_creds = render(&rm, &observed(2)).expect("renders");
    assert_eq!(pod_annotation(&new_creds, CONFIG_CHECKSUM), config_sum);
    assert_ne!(pod_annotation(&new_creds, CREDENTIALS_CHECKSUM), creds_sum);

    let new_config = render(
        &with_spec(json!({"rateLimits": {"perIp": "5/second"}})),
        &observed(1),
    )
    .expect("renders");
    assert_ne!(pod_annotation(&new_config, CONFIG_CHECKSUM), config_sum);
    assert_eq!(pod_annotation(&new_config, CREDENTIALS_CHECKSUM), creds_sum);
}

#[test]
fn existing_secret_is_mounted_never_written_and_still_rolls_pods() {
    let rm = with_spec(json!({"auth": {"existingSecret": "mine"}}));
    let data = |v: &str| {
        CredentialsInput::Existing(
            [("api-keys".to_owned(), k8s_openapi::ByteString(v.into()))].into(),
        )
    };
    let a = render(
        &rm,
        &Observed {
            credentials: data("k1"),
            ..observed(1)
        },
    )
    .expect("renders");
    let b = render(
        &rm,
        &Observed {
            credentials: data("k2"),
            ..observed(1)
        },
    )
    .expect("renders");
    let secrets: Vec<_> = a
        .iter()
        .filter_map(|c| match c {
            Child::Secret(s) => s.metadata.name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(secrets, ["mail-tls"]);
    let volumes = deployment(&a)
        .spec
        .template
        .spec
        .clone()
        .and_then(|p| p.volumes)
        .unwrap_or_default();
    let creds = volumes
        .iter()
        .find(|v| v.name == "credentials")
        .and_then(|v| v.secret.clone())
        .and_then(|s| s.secret_name);
    assert_eq!(creds.as_deref(), Some("mine"));
    assert_ne!(
        pod_annotation(&a, CREDENTIALS_CHECKSUM),
        pod_annotation(&b, CREDENTIALS_CHECKSUM)
    );
}

#[test]
fn certificate_source_follows_the_spec_and_the_cluster() {
    let issuer = with_spec(json!({"tls": {"issuerRef": {"name": "le", "kind": "ClusterIssuer"}}}));
    let with_cm = render(&issuer, &observed(1)).expect("renders");
    let cert = find(&with_cm, "Certificate", "mail-tls");
    assert_eq!(
        cert["spec"]["privateKey"],
        json!({"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"})
    );
    assert_eq!(
        cert["spec"]["secretTemplate"]["labels"][INSTANCE_LABEL],
        "mail"
    );
    let without_cm = render(
        &issuer,
        &Observed {
            cert_manager: false,
            ..observed(1)
        },
    )
    .expect("renders");
    assert!(!kinds(&without_cm).contains(&"Certificate".to_owned()));

    let user = render(
        &with_spec(json!({"tls": {"secretName": "mine"}})),
        &Observed {
            self_signed: None,
            ..observed(1)
        },
    )
    .expect("renders");
    assert_eq!(kinds(&user).iter().filter(|k| *k == "Secret").count(), 1);

    let missing = render(
        &fixtures::minimal(),
        &Observed {
            self_signed: None,
            ..observed(1)
        },
    );
    assert!(matches!(missing, Err(RenderError::MissingTlsMaterial(name)) if name == "mail-tls"));
}

#[test]
fn self_signed_secret_is_a_tls_secret_with_the_ca() {
    let children = render(&fixtures::minimal(), &observed(1)).expect("renders");
    let tls: &Secret = children
        .iter()
        .find_map(|c| match c {
            Child::Secret(s) if s.metadata.name.as_deref() == Some("mail-tls") => Some(s),
            _ => None,
        })
        .expect("tls secret");
    assert_eq!(tls.type_.as_deref(), Some("kubernetes.io/tls"));
    let keys: Vec<_> = tls.data.iter().flatten().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
}

#[test]
fn network_policy_allows_only_what_the_data_plane_needs() {
    let children = render(&fixtures::minimal(), &observed(1)).expect("renders");
    let v = find(&children, "NetworkPolicy", "mail")["spec"].clone();
    assert_eq!(v["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        v["ingress"][0]["ports"],
        json!([{"port": 9437, "protocol": "TCP"}])
    );
    assert_eq!(
        v["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"],
        json!(["ingress-nginx"])
    );
    assert_eq!(
        v["ingress"][1]["ports"],
        json!([{"port": 9090, "protocol": "TCP"}])
    );
    let dns = &v["egress"][0];
    assert_eq!(
        dns["to"][0]["podSelector"]["matchLabels"],
        json!({"k8s-app": "kube-dns"})
    );
    assert_eq!(
        dns["to"][0]["namespaceSelector"]["matchExpressions"][0]["values"],
        json!(["kube-system"])
    );
    let imap = &v["egress"][1];
    assert_eq!(imap["ports"], json!([{"port": 993, "protocol": "TCP"}]));
    let except = imap["to"][0]["ipBlock"]["except"]
        .as_array()
        .expect("private ranges excepted");
    for private in [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
    ] {
        assert!(except.contains(&json!(private)), "{private} not excepted");
    }
    assert_eq!(imap["to"][1]["ipBlock"]["cidr"], "::/0");

    let off = render(
        &with_spec(json!({"networkPolicy": {"enabled": false}})),
        &observed(1),
    )
    .expect("renders");
    assert!(!kinds(&off).contains(&"NetworkPolicy".to_owned()));
}

#[test]
fn optional_children_appear_only_when_wanted_and_possible() {
    let single = render(&with_spec(json!({"replicas": 1})), &observed(1)).expect("renders");
    assert!(!kinds(&single).contains(&"PodDisruptionBudget".to_owned()));

    let monitored = with_spec(
        json!({"monitoring": {"serviceMonitor": true, "prometheusRule": true}, "ingress": {"host": "mail.example.com"}}),
    );
    let all = kinds(&render(&monitored, &observed(1)).expect("renders"));
    for kind in ["ServiceMonitor", "PrometheusRule", "Ingress"] {
        assert!(
            all.contains(&kind.to_owned()),
            "{kind} missing from {all:?}"
        );
    }
    let no_api = kinds(
        &render(
            &monitored,
            &Observed {
                monitoring: false,
                ..observed(1)
            },
        )
        .expect("renders"),
    );
    assert!(
        !no_api.contains(&"ServiceMonitor".to_owned())
            && !no_api.contains(&"PrometheusRule".to_owned())
    );
}

#[test]
fn config_map_holds_a_config_the_data_plane_accepts() {
    let children = render(&fixtures::minimal(), &observed(1)).expect("renders");
    let cm = find(&children, "ConfigMap", "mail-config");
    let file = cm["data"][mounts::CONFIG_FILE]
        .as_str()
        .expect("config.yaml");
    let config = rustymail_config::Config::parse(file).expect("parses");
    config.validate().expect("valid for the data plane");
    assert_eq!(
        config.tls.cert_dir.as_deref(),
        Some(std::path::Path::new(mounts::TLS_DIR))
    );
    assert_eq!(
        config.accounts[0].password_file.as_deref(),
        Some(std::path::Path::new(
            "/var/run/rustymail/accounts/support/password"
        ))
    );
}

/// The data plane config the rendered ConfigMap carries.
fn rendered_config(children: &[Child]) -> rustymail_config::Config {
    let name = format!(
        "{}-config",
        deployment(children)
            .metadata
            .name
            .clone()
            .unwrap_or_default()
    );
    let cm = find(children, "ConfigMap", &name);
    let file = cm["data"][mounts::CONFIG_FILE]
        .as_str()
        .expect("config.yaml");
    let config = rustymail_config::Config::parse(file).expect("parses");
    config.validate().expect("valid for the data plane");
    config
}

/// The Deployment's pod volumes, as JSON.
fn volumes(children: &[Child]) -> Vec<serde_json::Value> {
    let d = find(
        children,
        "Deployment",
        deployment(children)
            .metadata
            .name
            .as_deref()
            .unwrap_or_default(),
    );
    d["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn existing(keys: &[&str]) -> Observed {
    Observed {
        credentials: CredentialsInput::Existing(
            keys.iter()
                .map(|k| ((*k).to_owned(), k8s_openapi::ByteString(b"value".to_vec())))
                .collect(),
        ),
        ..observed(1)
    }
}

#[test]
fn the_guides_single_api_key_is_the_file_the_data_plane_reads() {
    let rm = with_spec(json!({"auth": {"existingSecret": "rustymail-secrets"}}));
    let guide =
        render(&rm, &existing(&["api-key", "jwt-secret", "imap-password"])).expect("renders");
    assert_eq!(
        rendered_config(&guide).auth.api_keys.file.as_deref(),
        Some(std::path::Path::new(
            "/var/run/rustymail/credentials/api-key"
        ))
    );
    let both = render(&rm, &existing(&["api-key", "api-keys", "jwt-secret"])).expect("renders");
    assert_eq!(
        rendered_config(&both).auth.api_keys.file.as_deref(),
        Some(std::path::Path::new(
            "/var/run/rustymail/credentials/api-keys"
        )),
        "the list of named keys wins when both are present"
    );
}

#[test]
fn an_account_can_name_its_user_and_take_only_the_password_from_a_secret() {
    let rm = with_spec(json!({"accounts": [{
        "name": "support",
        "imap": {"host": "imap.example.com"},
        "username": "support@example.com",
        "credentialsSecretRef": {"name": "rustymail-secrets", "passwordKey": "imap-password"}
    }]}));
    let children = render(&rm, &observed(1)).expect("renders");
    let account = &rendered_config(&children).accounts[0];
    assert_eq!(account.username.as_deref(), Some("support@example.com"));
    assert_eq!(account.username_file, None);
    let volume = volumes(&children)
        .into_iter()
        .find(|v| v["name"] == "account-support")
        .expect("the account's volume");
    assert_eq!(
        volume["secret"]["items"],
        json!([{"key": "imap-password", "path": "password"}])
    );
}

#[test]
fn the_longest_account_names_get_volume_names_kubernetes_accepts() {
    let long = "a".repeat(63);
    let longer_twin = format!("{}b", "a".repeat(62));
    let account = |name: &str| json!({"name": name, "imap": {"host": "h", "caSecretRef": {"name": "ca"}}, "credentialsSecretRef": {"name": "s"}});
    let rm =
        with_spec(json!({"accounts": [account("support"), account(&long), account(&longer_twin)]}));
    let children = render(&rm, &observed(1)).expect("renders");
    let names: Vec<String> = volumes(&children)
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    for name in &names {
        assert!(
            name.len() <= 63
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name.ends_with(|c: char| c.is_ascii_alphanumeric())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name} is not a DNS label"
        );
    }
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert!(
        names.contains(&"account-support".to_owned()),
        "short names keep their name: {names:?}"
    );
}

#[test]
fn pods_keep_serving_while_leaving_the_endpoints_and_get_the_time_to_drain() {
    let children = render(&fixtures::minimal(), &observed(1)).expect("renders");
    let cm = find(&children, "ConfigMap", "mail-config");
    let file = cm["data"][mounts::CONFIG_FILE]
        .as_str()
        .expect("config.yaml");
    let limits = rustymail_config::Config::parse(file)
        .expect("parses")
        .limits;
    assert!(
        limits.shutdown_delay.0 >= std::time::Duration::from_secs(5),
        "pods stop accepting at once on SIGTERM (shutdownDelay {})",
        limits.shutdown_delay
    );
    let pod = deployment(&children)
        .spec
        .template
        .spec
        .as_ref()
        .expect("pod spec");
    let grace = pod.termination_grace_period_seconds.expect("set");
    let needed = (limits.shutdown_delay.0 + limits.shutdown_grace_period.0).as_secs();
    assert!(
        u64::try_from(grace).unwrap_or(0) > needed,
        "terminationGracePeriodSeconds {grace} does not cover the delay and the drain ({needed} s)"
    );
}

#[test]
fn an_account_that_sends_gets_its_smtp_config_ca_mount_and_egress() {
    let rm = with_spec(json!({
        "accounts": [{
            "name": "support",
            "imap": {"host": "imap.example.com"},
            "credentialsSecretRef": {"name": "support-imap"},
            "smtp": {"host": "smtp.example.com", "port": 587, "security": "starttls",
                     "caSecretRef": {"name": "smtp-ca"}, "from": "support@example.com"}
        }],
        "send": {"allowedRecipients": ["example.org"], "perApiKey": "20/hour"}
    }));
    let children = render(&rm, &observed(1)).expect("renders");
    let cm = find(&children, "ConfigMap", "mail-config");
    let file = cm["data"][mounts::CONFIG_FILE]
        .as_str()
        .expect("config.yaml");
    let config = rustymail_config::Config::parse(file).expect("parses");
    config.validate().expect("valid for the data plane");
    let smtp = config.accounts[0].smtp.as_ref().expect("smtp rendered");
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.security),
        (
            "smtp.example.com",
            587,
            rustymail_config::SmtpSecurity::Starttls
        )
    );
    assert_eq!(
        smtp.ca_file.as_deref(),
        Some(std::path::Path::new(
            "/var/run/rustymail/smtp-ca/support/ca.crt"
        ))
    );
    assert_eq!(config.send.allowed_recipients, ["example.org"]);
    assert_eq!(config.send.per_api_key.to_string(), "20/hour");

    let d = find(&children, "Deployment", "mail");
    let volumes = d["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("\"secretName\":\"smtp-ca\""), "{volumes}");
    let mounts = d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].to_string();
    assert!(
        mounts.contains("/var/run/rustymail/smtp-ca/support"),
        "{mounts}"
    );

    let np = find(&children, "NetworkPolicy", "mail")["spec"].clone();
    assert_eq!(
        np["egress"][2]["ports"],
        json!([{"port": 587, "protocol": "TCP"}])
    );
    assert_eq!(
        np["egress"][2]["to"], np["egress"][1]["to"],
        "to where IMAP may go"
    );
    let quiet = render(&fixtures::minimal(), &observed(1)).expect("renders");
    let np = find(&quiet, "NetworkPolicy", "mail")["spec"].clone();
    assert_eq!(
        np["egress"].as_array().map(Vec::len),
        Some(2),
        "no SMTP egress without smtp"
    );
}
