//! The data plane Deployment, hardened to the restricted Pod Security Standard.
//!
//! Secrets are mounted as whole directories (never `subPath`, which kubelet
//! never updates), so rotated certificates and credentials reach running
//! pods. The pod template carries checksums of the config and the
//! credentials, so changing either rolls the pods; the certificate is left
//! out because the data plane reloads it in place.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort,
            EmptyDirVolumeSource, EnvVar, HTTPGetAction, KeyToPath, PodAffinityTerm,
            PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
            ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Volume,
            VolumeMount, WeightedPodAffinityTerm,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};

use super::{
    meta::{Component, Owner, label_name},
    mounts,
    service::{API_PORT, METRICS_PORT},
};
use crate::crd::{DEFAULT_IMAGE, RustyMailSpec};

/// Annotation on the pod template: digest of the config file.
pub const CONFIG_CHECKSUM: &str = "rustymail.io/config-checksum";
/// Annotation on the pod template: digest of the credentials.
pub const CREDENTIALS_CHECKSUM: &str = "rustymail.io/credentials-checksum";
/// The unprivileged user and group the data plane runs as.
const RUN_AS: i64 = 1001;
/// Name of the data plane container.
pub const CONTAINER: &str = "dataplane";

/// What the Deployment needs besides the spec.
pub struct DeploymentInputs<'a> {
    /// The TLS Secret to mount.
    pub tls_secret: &'a str,
    /// The credentials Secret to mount (generated or the user's).
    pub credentials_secret: &'a str,
    /// Digest of the config file.
    pub config_checksum: String,
    /// Digest of the credentials.
    pub credentials_checksum: String,
    /// The data plane's limits, whose shutdown delay and grace period the
    /// pod's termination grace period covers.
    pub limits: &'a rustymail_config::Limits,
}

/// Seconds between SIGTERM and SIGKILL beyond the data plane's own shutdown
/// delay and drain: time for the process to exit.
const EXIT_MARGIN_SECONDS: u64 = 5;

/// The pod's `terminationGracePeriodSeconds`: the shutdown delay, the
/// drain, and a margin, so kubelet never kills a pod that is still draining.
fn termination_grace_period(limits: &rustymail_config::Limits) -> i64 {
    let total = limits.shutdown_delay.0 + limits.shutdown_grace_period.0;
    let seconds = total.as_secs() + u64::from(total.subsec_nanos() > 0) + EXIT_MARGIN_SECONDS;
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

fn secret_volume(name: &str, secret: &str, items: Option<Vec<KeyToPath>>) -> Volume {
    Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            items,
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn mount(name: &str, path: String) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path,
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

fn key(key: &str, path: &str) -> KeyToPath {
    KeyToPath {
        key: key.to_owned(),
        path: path.to_owned(),
        ..KeyToPath::default()
    }
}

/// Volumes and their mounts: config, TLS, credentials, each account's
/// credentials and CA, and a writable `/tmp`.
fn volumes(
    owner: &Owner,
    spec: &RustyMailSpec,
    inputs: &DeploymentInputs<'_>,
) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = vec![
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: owner.child_name("-config"),
                default_mode: Some(0o440),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        secret_volume("tls", inputs.tls_secret, None),
        secret_volume("credentials", inputs.credentials_secret, None),
        Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("64Mi".to_owned())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
    ];
    let mut mounts = vec![
        mount("config", mounts::CONFIG_DIR.to_owned()),
        mount("tls", mounts::TLS_DIR.to_owned()),
        mount("credentials", mounts::CREDENTIALS_DIR.to_owned()),
        // Writable is the default, and the API server stores it by leaving
        // `readOnly` out: an explicit `false` would never compare equal.
        VolumeMount {
            read_only: None,
            ..mount("tmp", mounts::TMP_DIR.to_owned())
        },
    ];
    for account in &spec.accounts {
        let creds = &account.credentials_secret_ref;
        let volume = label_name("account", &account.name);
        let mut items = vec![key(&creds.password_key, "password")];
        if account.username.is_none() {
            items.insert(0, key(&creds.username_key, "username"));
        }
        volumes.push(secret_volume(&volume, &creds.name, Some(items)));
        mounts.push(mount(&volume, mounts::account_dir(&account.name)));
        if let Some(ca) = &account.imap.ca_secret_ref {
            let volume = label_name("imap-ca", &account.name);
            volumes.push(secret_volume(
                &volume,
                &ca.name,
                Some(vec![key(&ca.key, "ca.crt")]),
            ));
            mounts.push(mount(&volume, mounts::imap_ca_dir(&account.name)));
        }
        if let Some(ca) = account.smtp.as_ref().and_then(|s| s.ca_secret_ref.as_ref()) {
            let volume = label_name("smtp-ca", &account.name);
            volumes.push(secret_volume(
                &volume,
                &ca.name,
                Some(vec![key(&ca.key, "ca.crt")]),
            ));
            mounts.push(mount(&volume, mounts::smtp_ca_dir(&account.name)));
        }
    }
    (volumes, mounts)
}

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("metrics".to_owned()),
            scheme: Some("HTTP".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn default_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_owned());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), q("100m")),
            ("memory".to_owned(), q("128Mi")),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".to_owned(), q("1")),
            ("memory".to_owned(), q("512Mi")),
        ])),
        ..ResourceRequirements::default()
    }
}

/// Prefer one pod per node, so a node failure takes out one replica.
fn default_affinity(owner: &Owner) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(owner.selector()),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".to_owned(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn container(spec: &RustyMailSpec, mounts: Vec<VolumeMount>) -> Container {
    let port = |name: &str, port: i32| ContainerPort {
        name: Some(name.to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    };
    Container {
        name: CONTAINER.to_owned(),
        image: Some(
            spec.image
                .clone()
                .unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
        ),
        image_pull_policy: Some(
            spec.image_pull_policy
                .map_or("IfNotPresent", |p| p.as_str())
                .to_owned(),
        ),
        args: Some(vec![
            "serve".to_owned(),
            "--config".to_owned(),
            mounts::config_path(),
        ]),
        env: Some(vec![EnvVar {
            name: "RUST_LOG".to_owned(),
            value: Some("info".to_owned()),
            ..EnvVar::default()
        }]),
        ports: Some(vec![port("https", API_PORT), port("metrics", METRICS_PORT)]),
        resources: Some(super::quantity::canonical_resources(
            spec.resources.clone().unwrap_or_else(default_resources),
        )),
        liveness_probe: Some(probe("/healthz", 10, 3)),
        readiness_probe: Some(probe("/readyz", 5, 2)),
        startup_probe: Some(probe("/healthz", 2, 30)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    }
}

/// The Deployment `<name>`.
pub fn deployment(
    owner: &Owner,
    spec: &RustyMailSpec,
    inputs: &DeploymentInputs<'_>,
) -> Deployment {
    let (volumes, mounts) = volumes(owner, spec, inputs);
    let mut labels = spec.pod_labels.clone();
    labels.extend(owner.labels(Component::Api));
    let mut annotations = spec.pod_annotations.clone();
    annotations.insert(CONFIG_CHECKSUM.to_owned(), inputs.config_checksum.clone());
    annotations.insert(
        CREDENTIALS_CHECKSUM.to_owned(),
        inputs.credentials_checksum.clone(),
    );

    Deployment {
        metadata: owner.meta(owner.name.clone(), Component::Api),
        spec: DeploymentSpec {
            replicas: Some(spec.replicas),
            revision_history_limit: Some(5),
            selector: LabelSelector {
                match_labels: Some(owner.selector()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(owner.name.clone()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS),
                        run_as_group: Some(RUN_AS),
                        fs_group: Some(RUN_AS),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container(spec, mounts)],
                    volumes: Some(volumes),
                    node_selector: (!spec.node_selector.is_empty())
                        .then(|| spec.node_selector.clone()),
                    tolerations: (!spec.tolerations.is_empty()).then(|| spec.tolerations.clone()),
                    affinity: Some(
                        spec.affinity
                            .clone()
                            .unwrap_or_else(|| default_affinity(owner)),
                    ),
                    priority_class_name: spec.priority_class_name.clone(),
                    termination_grace_period_seconds: Some(termination_grace_period(inputs.limits)),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}
