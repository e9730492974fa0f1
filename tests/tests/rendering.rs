//! The examples, rendered as the operator renders them, checked against
//! golden files, the Kubernetes schemas (kubernetes-validate, strict), the
//! CRD, and the data plane's own `check-config`.

use std::{path::Path, process::Command};

use rand::{SeedableRng, rngs::StdRng};
use rustymail_operator::{
    crd::{self, RustyMail, load},
    render::{self, Child, Credentials, CredentialsInput, Observed, TlsMaterial},
};
use rustymail_tests::{schema, workspace};

/// Renders `rm` with fixed credentials and certificate, so output is stable.
fn render_fixed(rm: &RustyMail) -> Vec<Child> {
    let credentials = if rm.spec.auth.existing_secret.is_some() {
        CredentialsInput::Existing(Default::default())
    } else {
        CredentialsInput::Generated(Credentials::generate(&mut StdRng::seed_from_u64(42), None))
    };
    let observed = Observed {
        cert_manager: true,
        monitoring: true,
        acme_issuer: false,
        credentials,
        self_signed: Some(TlsMaterial {
            chain_pem: "-----BEGIN CERTIFICATE-----\n(leaf)\n-----END CERTIFICATE-----\n".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----\n(key)\n-----END PRIVATE KEY-----\n".into(),
            ca_pem: "-----BEGIN CERTIFICATE-----\n(ca)\n-----END CERTIFICATE-----\n".into(),
        }),
    };
    render::render(rm, &observed).unwrap_or_else(|e| panic!("renders: {e}"))
}

fn load_example(path: &Path) -> RustyMail {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    load::from_yaml(&text, "default").unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn to_yaml(children: &[Child]) -> String {
    let docs: Vec<String> = children
        .iter()
        .map(|c| serde_saphyr::to_string(&c.to_value()).expect("serializes"))
        .collect();
    format!("---\n{}", docs.join("---\n"))
}

#[test]
fn there_are_four_examples() {
    let names: Vec<_> = workspace::examples()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        names,
        [
            "bring-your-own-secrets.yaml",
            "cert-manager.yaml",
            "minimal.yaml",
            "self-signed.yaml"
        ]
    );
}

#[test]
fn examples_render_exactly_as_their_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for example in workspace::examples() {
        let rendered = to_yaml(&render_fixed(&load_example(&example)));
        let golden = workspace::root()
            .join("tests/golden")
            .join(example.file_name().expect("file name"));
        if update {
            std::fs::write(&golden, &rendered).expect("golden file written");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (set UPDATE_GOLDEN=1 to create it)",
                golden.display()
            )
        });
        assert!(
            rendered == expected,
            "{} renders differently from {}; review the change and set UPDATE_GOLDEN=1 to accept it",
            example.display(),
            golden.display()
        );
    }
}

#[test]
fn every_rendered_object_passes_the_kubernetes_schemas_strictly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = vec![workspace::root().join("crds/rustymail.yaml")];
    for example in workspace::examples() {
        for (i, child) in render_fixed(&load_example(&example)).iter().enumerate() {
            let value = child.to_value();
            let api_version = value["apiVersion"].as_str().unwrap_or_default();
            // kubernetes-validate knows built-in kinds only; CRD-backed
            // children (cert-manager, Prometheus Operator) are checked in
            // the renderer's own tests.
            if api_version.contains("cert-manager.io")
                || api_version.contains("monitoring.coreos.com")
            {
                continue;
            }
            let stem = example.file_stem().expect("stem").to_string_lossy();
            let file = dir.path().join(format!("{stem}-{i}.yaml"));
            std::fs::write(&file, serde_saphyr::to_string(&value).expect("yaml")).expect("written");
            files.push(file);
        }
    }
    schema::assert_valid(&files);
    assert!(
        files.len() > 20,
        "too few objects validated: {}",
        files.len()
    );
}

#[test]
fn kubernetes_validate_is_strict_enough_to_catch_an_unknown_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n",
    )
    .expect("written");
    let validation = schema::validate(&[file]);
    assert!(!validation.success, "a misspelt field must be rejected");
    assert!(validation.stdout.contains("'portz' was unexpected"));
}

#[test]
fn committed_crd_matches_the_code() {
    let committed = std::fs::read_to_string(workspace::root().join("crds/rustymail.yaml"))
        .expect("crds/rustymail.yaml exists");
    assert!(
        committed == crd::crd_yaml(),
        "crds/rustymail.yaml is stale: run `cargo run -p rustymail-operator -- crd > crds/rustymail.yaml`"
    );
    let printed = Command::new(workspace::binary("rustymail-operator"))
        .arg("crd")
        .output()
        .expect("operator runs");
    assert_eq!(String::from_utf8_lossy(&printed.stdout), committed);
}

#[test]
fn rendered_config_passes_the_data_plane_check_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    for example in workspace::examples() {
        let children = render_fixed(&load_example(&example));
        let config = children
            .iter()
            .find_map(|c| match c {
                Child::ConfigMap(cm) => {
                    cm.data.as_ref().and_then(|d| d.get("config.yaml")).cloned()
                }
                _ => None,
            })
            .expect("a ConfigMap with config.yaml");
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, config).expect("written");
        let out = Command::new(workspace::binary("rustymail-dataplane"))
            .args(["check-config", "--config"])
            .arg(&file)
            .output()
            .expect("data plane runs");
        assert!(
            out.status.success(),
            "{}: {}",
            example.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn render_command_prints_every_child_and_names_bad_fields() {
    let operator = workspace::binary("rustymail-operator");
    let example = workspace::root().join("examples/cert-manager.yaml");
    let out = Command::new(&operator)
        .args(["render", "--cert-manager", "--monitoring", "-f"])
        .arg(&example)
        .output()
        .expect("operator runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "ServiceAccount",
        "Secret",
        "Certificate",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Ingress",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(
            text.contains(&format!("\nkind: {kind}\n")),
            "{kind} missing"
        );
    }

    let without = Command::new(&operator)
        .args(["render", "-f"])
        .arg(&example)
        .output()
        .expect("operator runs");
    assert!(without.status.success());
    assert!(!String::from_utf8_lossy(&without.stdout).contains("kind: Certificate"));
    assert!(String::from_utf8_lossy(&without.stderr).contains("--cert-manager"));

    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("rateLimits:\n    perIp: lots\n", "spec.rateLimits.perIp"),
        (
            "rateLimits:\n    perIP: 1/second\n",
            "spec.rateLimits.perIP: unknown field",
        ),
        ("tls: {minVersion: '1.1'}\n", "spec.tls.minVersion"),
    ];
    let base = "apiVersion: rustymail.io/v1alpha1\nkind: RustyMail\nmetadata: {name: m}\nspec:\n  accounts: [{name: a, imap: {host: h}, credentialsSecretRef: {name: s}}]\n  ";
    for (extra, field) in cases {
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, format!("{base}{extra}")).expect("written");
        let out = Command::new(&operator)
            .args(["render", "-f"])
            .arg(&file)
            .output()
            .expect("operator runs");
        assert!(!out.status.success(), "{extra} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(field),
            "{extra}: message should name {field}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing is printed on failure");
    }
    std::fs::write(
        dir.path().join("none.yaml"),
        "apiVersion: rustymail.io/v1alpha1\nkind: RustyMail\nmetadata: {name: m}\nspec: {}\n",
    )
    .expect("written");
    let out = Command::new(&operator)
        .args(["render", "-f"])
        .arg(dir.path().join("none.yaml"))
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.accounts: required field is missing")
    );
}

#[test]
fn every_alert_uses_a_metric_the_data_plane_exports() {
    let example = workspace::root().join("examples/cert-manager.yaml");
    let rule = render_fixed(&load_example(&example))
        .iter()
        .map(Child::to_value)
        .find(|v| v["kind"] == "PrometheusRule")
        .expect("the example asks for a PrometheusRule");
    // A fresh data plane, before any request or failure: the series the
    // alerts use are exported from the start.
    let exported = rustymail_dataplane::metrics::Metrics::new().encode();
    let names = regex::Regex::new(r"rustymail_[a-z_]+").expect("regex");
    let mut checked = 0;
    for alert in rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
    {
        let expr = alert["expr"].as_str().expect("expr");
        for name in names.find_iter(expr).map(|m| m.as_str()) {
            let family = name.strip_suffix("_total").unwrap_or(name);
            assert!(
                exported.contains(&format!("# TYPE {family} ")),
                "alert {} uses {name}, which the data plane does not export:\n{exported}",
                alert["alert"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} metric references checked");
}
