//! The alerts of the PrometheusRule the operator renders, unit-tested with
//! `promtool test rules` (Debian package `prometheus`, installed by
//! `scripts/setup`): for every alert, input series that fire it, with the
//! labels Alertmanager routes on, and series that must not. The input series
//! are the ones the data plane exports (checked against its exposition) or
//! kube-state-metrics' standard ones.

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
};

use rustymail_dataplane::metrics::Metrics;
use rustymail_operator::{
    crd::load,
    render::{Owner, monitoring},
};
use serde_json::{Value, json};

const NAMESPACE: &str = "mail";
const NAME: &str = "mail";

/// The labels Prometheus adds to every series it scrapes through the
/// ServiceMonitor (target labels), on one data plane pod.
fn target_labels() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("namespace", NAMESPACE),
        ("service", NAME),
        ("pod", "mail-5d8f7c9b6-x2x7q"),
        ("instance", "10.244.1.7:9090"),
        ("job", NAME),
        ("endpoint", "metrics"),
        ("container", "dataplane"),
    ])
}

/// The labels of kube-state-metrics' series about the Deployment `mail`.
fn kube_state_labels() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("namespace", NAMESPACE),
        ("deployment", NAME),
        ("job", "kube-state-metrics"),
        ("instance", "10.244.0.5:8080"),
    ])
}

/// Series of kube-state-metrics (v2) the alerts may use.
const KUBE_STATE_METRICS: [&str; 2] = [
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
];

/// One input series: a metric, its own labels (beside the target labels)
/// and promtool's expanding notation of its samples, one a minute.
struct Series {
    metric: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    values: &'static str,
}

impl Series {
    fn data_plane(
        metric: &'static str,
        labels: &[(&'static str, &'static str)],
        values: &'static str,
    ) -> Self {
        Self {
            metric,
            labels: labels.to_vec(),
            values,
        }
    }

    fn all_labels(&self) -> BTreeMap<&'static str, &'static str> {
        let mut all = if self.metric.starts_with("kube_") {
            kube_state_labels()
        } else {
            target_labels()
        };
        all.extend(self.labels.iter().copied());
        all
    }

    fn promql(&self) -> String {
        let labels: Vec<String> = self
            .all_labels()
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{}{{{}}}", self.metric, labels.join(","))
    }
}

/// One scenario of one alert: its input, when it is evaluated, and the label
/// sets of the alerts expected to fire then (none: it must stay quiet).
struct Case {
    alert: &'static str,
    what: &'static str,
    input: Vec<Series>,
    eval_time: &'static str,
    fires_with: Vec<BTreeMap<&'static str, &'static str>>,
}

/// The labels every security alert carries, which the guide's Alertmanager
/// route (`severity: critical` and `category: security`) matches on.
fn labels(
    base: &[(&'static str, &'static str)],
    severity: &'static str,
    security: bool,
) -> BTreeMap<&'static str, &'static str> {
    let mut labels: BTreeMap<_, _> = base.iter().copied().collect();
    labels.insert("severity", severity);
    if security {
        labels.insert("category", "security");
    }
    labels
}

fn per_service() -> Vec<(&'static str, &'static str)> {
    vec![("namespace", NAMESPACE), ("service", NAME)]
}

fn per_pod(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<_> = target_labels().into_iter().collect();
    all.extend_from_slice(extra);
    all
}

const NOT_AFTER: &str = "rustymail_tls_certificate_not_after_seconds";
const RELOAD_FAILURES: &str = "rustymail_tls_certificate_reload_failures_total";
const AUTH_FAILURES: &str = "rustymail_auth_failures_total";
const RATE_LIMITED: &str = "rustymail_rate_limited_requests_total";

fn cases() -> Vec<Case> {
    vec![
        // promtool's clock starts at the Unix epoch: time() is 1200 at 20m.
        Case {
            alert: "RustyMailCertificateExpiringSoon",
            what: "a certificate expiring in 3 days",
            input: vec![Series::data_plane(NOT_AFTER, &[], "259200x30")],
            eval_time: "20m",
            fires_with: vec![labels(&per_service(), "warning", true)],
        },
        Case {
            alert: "RustyMailCertificateExpiringSoon",
            what: "a certificate valid for 30 more days",
            input: vec![Series::data_plane(NOT_AFTER, &[], "2592000x30")],
            eval_time: "20m",
            fires_with: vec![],
        },
        Case {
            alert: "RustyMailCertificateExpiringSoon",
            what: "no certificate loaded yet (the gauge at 0)",
            input: vec![Series::data_plane(NOT_AFTER, &[], "0x30")],
            eval_time: "20m",
            fires_with: vec![],
        },
        Case {
            alert: "RustyMailCertificateReloadFailing",
            what: "the first rejected rotation of a pod exporting its failures at 0",
            input: vec![Series::data_plane(
                RELOAD_FAILURES,
                &[("reason", "mismatch")],
                "0x10 1x20",
            )],
            eval_time: "12m",
            fires_with: vec![labels(&per_pod(&[("reason", "mismatch")]), "warning", true)],
        },
        Case {
            alert: "RustyMailCertificateReloadFailing",
            what: "a failure series that first appears at 1",
            input: vec![Series::data_plane(
                RELOAD_FAILURES,
                &[("reason", "chain")],
                "_x10 1x20",
            )],
            eval_time: "12m",
            fires_with: vec![labels(&per_pod(&[("reason", "chain")]), "warning", true)],
        },
        Case {
            alert: "RustyMailCertificateReloadFailing",
            what: "no failure",
            input: vec![Series::data_plane(
                RELOAD_FAILURES,
                &[("reason", "mismatch")],
                "0x30",
            )],
            eval_time: "20m",
            fires_with: vec![],
        },
        Case {
            alert: "RustyMailCertificateReloadFailing",
            what: "a failure more than 15 minutes ago",
            input: vec![Series::data_plane(
                RELOAD_FAILURES,
                &[("reason", "mismatch")],
                "0x2 1x40",
            )],
            eval_time: "30m",
            fires_with: vec![],
        },
        Case {
            alert: "RustyMailAuthFailureSpike",
            what: "two wrong API keys a second for 20 minutes",
            input: vec![Series::data_plane(
                AUTH_FAILURES,
                &[("reason", "invalid_key")],
                "0+120x30",
            )],
            eval_time: "20m",
            fires_with: vec![labels(&per_service(), "critical", true)],
        },
        Case {
            alert: "RustyMailAuthFailureSpike",
            what: "bad tokens and wrong keys that add up to two a second",
            input: vec![
                Series::data_plane(AUTH_FAILURES, &[("reason", "invalid_key")], "0+60x30"),
                Series::data_plane(AUTH_FAILURES, &[("reason", "token_signature")], "0+60x30"),
            ],
            eval_time: "20m",
            fires_with: vec![labels(&per_service(), "critical", true)],
        },
        Case {
            alert: "RustyMailAuthFailureSpike",
            what: "requests without credentials (no guess), two a second",
            input: vec![Series::data_plane(
                AUTH_FAILURES,
                &[("reason", "missing")],
                "0+120x30",
            )],
            eval_time: "20m",
            fires_with: vec![],
        },
        Case {
            alert: "RustyMailAuthFailureSpike",
            what: "one wrong API key every two seconds",
            input: vec![Series::data_plane(
                AUTH_FAILURES,
                &[("reason", "invalid_key")],
                "0+30x30",
            )],
            eval_time: "20m",
            fires_with: vec![],
        },
        Case {
            alert: "RustyMailRateLimitSpike",
            what: "ten requests a second over the per-IP budget",
            input: vec![Series::data_plane(
                RATE_LIMITED,
                &[("scope", "ip")],
                "0+600x30",
            )],
            eval_time: "20m",
            fires_with: vec![labels(&per_service(), "info", true)],
        },
        Case {
            alert: "RustyMailRateLimitSpike",
            what: "one rate-limited request a second",
            input: vec![Series::data_plane(
                RATE_LIMITED,
                &[("scope", "api_key")],
                "0+60x30",
            )],
            eval_time: "20m",
            fires_with: vec![],
        },
        Case {
            alert: "RustyMailPodsNotReady",
            what: "one of two replicas unavailable for 20 minutes",
            input: vec![
                Series::data_plane("kube_deployment_status_replicas_available", &[], "1x30"),
                Series::data_plane("kube_deployment_spec_replicas", &[], "2x30"),
            ],
            eval_time: "20m",
            fires_with: vec![labels(
                &kube_state_labels().into_iter().collect::<Vec<_>>(),
                "critical",
                false,
            )],
        },
        Case {
            alert: "RustyMailPodsNotReady",
            what: "every replica available",
            input: vec![
                Series::data_plane("kube_deployment_status_replicas_available", &[], "2x30"),
                Series::data_plane("kube_deployment_spec_replicas", &[], "2x30"),
            ],
            eval_time: "20m",
            fires_with: vec![],
        },
    ]
}

/// The PrometheusRule's `spec` (a Prometheus rule file), rendered by the
/// operator for RustyMail `mail/mail`.
fn rendered_rule_file() -> Value {
    let rm = load::from_yaml(
        &format!(
            "apiVersion: rustymail.io/v1alpha1\nkind: RustyMail\nmetadata: {{name: {NAME}}}\n\
             spec:\n  accounts:\n    - name: support\n      imap: {{host: imap.example.com}}\n      \
             credentialsSecretRef: {{name: support-imap}}\n  monitoring: {{prometheusRule: true}}\n"
        ),
        NAMESPACE,
    )
    .expect("the RustyMail loads");
    let owner = Owner::of(&rm).expect("owner");
    let rule = monitoring::prometheus_rule(&owner, &rm.spec, true)
        .expect("a PrometheusRule when asked for and the API exists");
    rule.data["spec"].clone()
}

fn rules_by_alert(file: &Value) -> BTreeMap<String, Value> {
    file["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| {
            (
                r["alert"].as_str().expect("alert name").to_owned(),
                r.clone(),
            )
        })
        .collect()
}

/// promtool's unit-test file for `cases` against `rules.json`.
fn promtool_tests(cases: &[Case], rules: &BTreeMap<String, Value>) -> Value {
    let tests: Vec<Value> = cases
        .iter()
        .map(|case| {
            let annotations = rules[case.alert]["annotations"].clone();
            let exp_alerts: Vec<Value> = case
                .fires_with
                .iter()
                .map(|labels| json!({"exp_labels": labels, "exp_annotations": annotations}))
                .collect();
            json!({
                "name": format!("{}: {}", case.alert, case.what),
                "interval": "1m",
                "input_series": case.input.iter().map(|s| json!({"series": s.promql(), "values": s.values})).collect::<Vec<_>>(),
                "alert_rule_test": [{
                    "eval_time": case.eval_time,
                    "alertname": case.alert,
                    "exp_alerts": exp_alerts,
                }],
            })
        })
        .collect();
    json!({
        "rule_files": ["rules.json"],
        "evaluation_interval": "1m",
        "tests": tests,
    })
}

#[test]
fn every_alert_has_a_case_that_fires_it_and_one_that_does_not() {
    let rules = rules_by_alert(&rendered_rule_file());
    let cases = cases();
    let firing: BTreeSet<&str> = cases
        .iter()
        .filter(|c| !c.fires_with.is_empty())
        .map(|c| c.alert)
        .collect();
    let quiet: BTreeSet<&str> = cases
        .iter()
        .filter(|c| c.fires_with.is_empty())
        .map(|c| c.alert)
        .collect();
    let alerts: BTreeSet<&str> = rules.keys().map(String::as_str).collect();
    assert_eq!(
        firing, alerts,
        "alerts without a firing case (or cases of unknown alerts)"
    );
    assert_eq!(
        quiet, alerts,
        "alerts without a quiet case (or cases of unknown alerts)"
    );
}

#[test]
fn every_input_series_is_one_the_data_plane_or_kube_state_metrics_exports() {
    // A fresh data plane, before any request: its failure counters already
    // exist at 0, so the series below are exported from the start.
    let exported = Metrics::new().encode();
    for case in cases() {
        for series in &case.input {
            if series.metric.starts_with("kube_") {
                assert!(
                    KUBE_STATE_METRICS.contains(&series.metric),
                    "{} is not a kube-state-metrics series",
                    series.metric
                );
                continue;
            }
            let own: Vec<String> = series
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            let line = if own.is_empty() {
                format!("{} ", series.metric)
            } else {
                format!("{}{{{}}} ", series.metric, own.join(","))
            };
            assert!(
                exported.lines().any(|l| l.starts_with(&line)),
                "{}: the data plane does not export {line:?}:\n{exported}",
                case.what
            );
        }
    }
}

#[test]
fn every_metric_an_alert_reads_is_exported_by_the_data_plane_or_kube_state_metrics() {
    let exported = Metrics::new().encode();
    let names = regex::Regex::new(r"\b(?:rustymail|kube)_[a-z_]+\b").expect("regex");
    let mut checked = 0;
    for (alert, rule) in rules_by_alert(&rendered_rule_file()) {
        let expr = rule["expr"].as_str().expect("expr");
        for name in names.find_iter(expr).map(|m| m.as_str()) {
            let known = if name.starts_with("kube_") {
                KUBE_STATE_METRICS.contains(&name)
            } else {
                exported.lines().any(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with([' ', '{']))
                })
            };
            assert!(
                known,
                "{alert} reads {name}, which nothing exports:\n{exported}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "only {checked} metric references found");
}

#[test]
fn promtool_passes_every_alert_case() {
    let file = rendered_rule_file();
    let rules = rules_by_alert(&file);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.json"), file.to_string()).expect("rules written");
    let tests = promtool_tests(&cases(), &rules);
    std::fs::write(dir.path().join("tests.json"), tests.to_string()).expect("tests written");
    let output = Command::new("promtool")
        .args(["test", "rules", "tests.json"])
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install it with scripts/setup (Debian package prometheus)"
            )
        });
    assert!(
        output.status.success(),
        "promtool test rules failed:\n{}{}\nrules:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        serde_json::to_string_pretty(&file).unwrap_or_default()
    );
}
