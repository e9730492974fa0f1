//! The desired state of a RustyMail deployment: the `spec` of the resource.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::{Affinity, ResourceRequirements, Toleration},
    networking::v1::NetworkPolicyEgressRule,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RustyMailStatus, rules};

/// The data plane image used when `spec.image` is not set: the release that
/// matches this operator.
pub const DEFAULT_IMAGE: &str = concat!(
    "ghcr.io/rustymail/rustymail-dataplane:v",
    env!("CARGO_PKG_VERSION")
);

/// A RustyMail deployment: an HTTPS REST API over IMAP mailboxes, with TLS,
/// authentication, rate limits and network isolation managed by the operator.
// Printer columns share types (`string`, `date`): repeated `type_` is intended.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rustymail.io",
    version = "v1alpha1",
    kind = "RustyMail",
    namespaced,
    shortname = "rmail",
    status = "RustyMailStatus",
    derive = "PartialEq",
    cel,
    doc = "A RustyMail deployment: an HTTPS REST API over IMAP mailboxes, kept hardened, TLS-terminated and network-isolated by the RustyMail operator.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Pods ready to serve"
    ),
    printcolumn(
        name = "Certificate expiry",
        type_ = "string",
        json_path = ".status.certificate.notAfter",
        description = "When the serving certificate expires (RFC 3339)"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RustyMailSpec {
    /// Number of data plane pods. Default 2; a PodDisruptionBudget is created above 1.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// Data plane container image. Default: the release matching the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy: Always, IfNotPresent or Never. Default IfNotPresent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Compute resources of the data plane container. Default: requests 100m CPU
    /// and 128Mi memory, limit 512Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the pods must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Scheduling affinity. Default: prefer spreading pods over nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Extra annotations on the pods (not on other children).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra labels on the pods. Keys under rustymail.io/ and app.kubernetes.io/ are reserved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = rules::user_pod_labels())]
    #[schemars(extend("maxProperties" = 64))]
    pub pod_labels: BTreeMap<String, String>,
    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Stop changing children: the operator only reports status while paused.
    #[serde(default)]
    pub paused: bool,
    /// IMAP accounts served; the first is the API's default (`?account=` picks another).
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]), validation = rules::unique_names())]
    pub accounts: Vec<AccountSpec>,
    /// Where the serving certificate comes from and the TLS policy.
    #[serde(default)]
    pub tls: TlsSpec,
    /// API-key and JWT authentication.
    #[serde(default)]
    pub auth: AuthSpec,
    /// Request budgets per client address, user and API key.
    #[serde(default)]
    pub rate_limits: RateLimitsSpec,
    /// Request size limits and accepted content types.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Network isolation of the pods.
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,
    /// Prometheus Operator integration.
    #[serde(default)]
    pub monitoring: MonitoringSpec,
    /// Expose the API through an Ingress; the backend is spoken to over HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// The data plane's audit log.
    #[serde(default)]
    pub audit: AuditSpec,
}

fn default_replicas() -> i32 {
    2
}

/// When the kubelet pulls the image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    /// Pull on every pod start.
    Always,
    /// Pull only when the node lacks the image.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The name Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// An IMAP mailbox served by the API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountSpec {
    /// Name of the account in the API (`?account=NAME`); a DNS label.
    #[x_kube(validation = rules::dns_label())]
    #[schemars(length(max = 63))]
    pub name: String,
    /// The IMAP server.
    pub imap: ImapSpec,
    /// The Secret holding the IMAP user name and password.
    pub credentials_secret_ref: CredentialsSecretRef,
}

/// How to reach an IMAP server. Plain IMAP is never offered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImapSpec {
    /// Host name or address of the IMAP server.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// Port. Default 993.
    #[serde(default = "default_imap_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// `tls` (implicit TLS, default) or `starttls`.
    #[serde(default)]
    pub security: ImapSecurity,
    /// A Secret key holding PEM CA certificates to trust for this server
    /// instead of the system roots (for private IMAP servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
}

fn default_imap_port() -> i32 {
    993
}

/// How the IMAP connection is secured.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImapSecurity {
    /// Implicit TLS from the first byte (port 993).
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS before login (port 143).
    Starttls,
}

/// One key of a Secret in the RustyMail's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret. Default `ca.crt`.
    #[serde(default = "default_ca_key")]
    pub key: String,
}

fn default_ca_key() -> String {
    "ca.crt".to_owned()
}

/// The Secret with an account's IMAP credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Name of the Secret, in the RustyMail's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key holding the user name. Default `username`.
    #[serde(default = "default_username_key")]
    pub username_key: String,
    /// Key holding the password. Default `password`.
    #[serde(default = "default_password_key")]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".to_owned()
}

fn default_password_key() -> String {
    "password".to_owned()
}

/// Certificate source and TLS policy. Set `issuerRef` (cert-manager issues
/// and renews), or `secretName` (you manage a kubernetes.io/tls Secret), or
/// neither (the operator issues a self-signed CA and leaf and renews them).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!(has(self.issuerRef) && has(self.secretName))").message("set at most one certificate source: tls.issuerRef or tls.secretName"))]
#[x_kube(validation = kube::core::Rule::new("duration(self.renewBefore) < duration(self.duration)").message("tls.renewBefore must be shorter than tls.duration"))]
pub struct TlsSpec {
    /// A cert-manager Issuer or ClusterIssuer that issues the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,
    /// A kubernetes.io/tls Secret you manage, with `tls.crt` and `tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(max = 253))]
    pub secret_name: Option<String>,
    /// Extra DNS names of the certificate. The Service's names are always included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 253)))]
    pub dns_names: Vec<String>,
    /// Certificate lifetime (issued certificates only). Default `2160h` (90 days).
    #[serde(default = "default_duration")]
    #[x_kube(validation = rules::duration())]
    #[schemars(length(max = 32))]
    pub duration: String,
    /// Renew this long before expiry. Default `720h` (30 days).
    #[serde(default = "default_renew_before")]
    #[x_kube(validation = rules::duration())]
    #[schemars(length(max = 32))]
    pub renew_before: String,
    /// Lowest TLS version accepted: "1.2" (default) or "1.3".
    #[serde(default = "default_min_version")]
    #[x_kube(validation = rules::tls_version())]
    #[schemars(length(max = 8))]
    pub min_version: String,
    /// IANA names of the cipher suites to offer. Default: every supported
    /// forward-secret AEAD suite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = rules::cipher_suites())]
    #[schemars(length(max = 16), inner(length(max = 64)))]
    pub cipher_suites: Vec<String>,
}

impl Default for TlsSpec {
    fn default() -> Self {
        Self {
            issuer_ref: None,
            secret_name: None,
            dns_names: Vec::new(),
            duration: default_duration(),
            renew_before: default_renew_before(),
            min_version: default_min_version(),
            cipher_suites: Vec::new(),
        }
    }
}

fn default_duration() -> String {
    "2160h".to_owned()
}

fn default_renew_before() -> String {
    "720h".to_owned()
}

fn default_min_version() -> String {
    "1.2".to_owned()
}

/// A reference to a cert-manager issuer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    /// Name of the issuer.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// `Issuer` (namespaced, the default) or `ClusterIssuer`.
    #[serde(default)]
    pub kind: IssuerKind,
}

/// Which kind of cert-manager issuer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum IssuerKind {
    /// An Issuer in the RustyMail's namespace.
    #[default]
    Issuer,
    /// A cluster-wide ClusterIssuer.
    ClusterIssuer,
}

impl IssuerKind {
    /// The kind's name in cert-manager's API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuer => "Issuer",
            Self::ClusterIssuer => "ClusterIssuer",
        }
    }
}

/// Authentication of API clients.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// API keys sent in a header.
    #[serde(default)]
    pub api_key: ApiKeySpec,
    /// JSON Web Tokens issued by `POST /api/v1/auth/token`.
    #[serde(default)]
    pub jwt: JwtSpec,
    /// Use this Secret (keys `api-keys`: one `name:key` a line, and
    /// `jwt-secret`) instead of generated credentials. The operator never writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_secret: Option<String>,
}

/// API-key authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySpec {
    /// Header carrying the key. Default `X-API-Key`.
    #[serde(default = "default_api_key_header")]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[A-Za-z0-9-]+$')").message("must be an HTTP header name (letters, digits, '-')"))]
    #[schemars(length(min = 1, max = 128))]
    pub header: String,
    /// Paths served without authentication (each starting with `/`). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = kube::core::Rule::new("self.all(p, p.startsWith('/'))").message("every public path must start with /"))]
    #[schemars(length(max = 32), inner(length(max = 256)))]
    pub public_paths: Vec<String>,
}

impl Default for ApiKeySpec {
    fn default() -> Self {
        Self {
            header: default_api_key_header(),
            public_paths: Vec::new(),
        }
    }
}

fn default_api_key_header() -> String {
    "X-API-Key".to_owned()
}

/// JWT settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("duration(self.expiry) <= duration(self.refreshExpiry)").message("auth.jwt.refreshExpiry must not be shorter than auth.jwt.expiry"))]
pub struct JwtSpec {
    /// Access-token lifetime. Default `1h`.
    #[serde(default = "default_jwt_expiry")]
    #[x_kube(validation = rules::duration())]
    #[schemars(length(max = 32))]
    pub expiry: String,
    /// Refresh-token lifetime. Default `168h`.
    #[serde(default = "default_jwt_refresh_expiry")]
    #[x_kube(validation = rules::duration())]
    #[schemars(length(max = 32))]
    pub refresh_expiry: String,
    /// `iss` claim. Default `rustymail`.
    #[serde(default = "default_jwt_issuer")]
    #[schemars(length(min = 1))]
    pub issuer: String,
    /// `aud` claim. Default `rustymail-api`.
    #[serde(default = "default_jwt_audience")]
    #[schemars(length(min = 1))]
    pub audience: String,
}

impl Default for JwtSpec {
    fn default() -> Self {
        Self {
            expiry: default_jwt_expiry(),
            refresh_expiry: default_jwt_refresh_expiry(),
            issuer: default_jwt_issuer(),
            audience: default_jwt_audience(),
        }
    }
}

fn default_jwt_expiry() -> String {
    "1h".to_owned()
}

fn default_jwt_refresh_expiry() -> String {
    "168h".to_owned()
}

fn default_jwt_issuer() -> String {
    "rustymail".to_owned()
}

fn default_jwt_audience() -> String {
    "rustymail-api".to_owned()
}

/// Request budgets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitsSpec {
    /// Per client address. Default `100/minute`.
    #[serde(default = "default_per_ip")]
    #[x_kube(validation = rules::rate())]
    #[schemars(length(max = 32))]
    pub per_ip: String,
    /// Per authenticated user. Default `1000/hour`.
    #[serde(default = "default_per_user")]
    #[x_kube(validation = rules::rate())]
    #[schemars(length(max = 32))]
    pub per_user: String,
    /// Per API key. Default `10000/hour`.
    #[serde(default = "default_per_api_key")]
    #[x_kube(validation = rules::rate())]
    #[schemars(length(max = 32))]
    pub per_api_key: String,
    /// CIDRs of proxies whose X-Forwarded-For is trusted (e.g. the ingress
    /// controller's pods). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = rules::cidrs())]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    pub trusted_proxies: Vec<String>,
}

impl Default for RateLimitsSpec {
    fn default() -> Self {
        Self {
            per_ip: default_per_ip(),
            per_user: default_per_user(),
            per_api_key: default_per_api_key(),
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_per_ip() -> String {
    "100/minute".to_owned()
}

fn default_per_user() -> String {
    "1000/hour".to_owned()
}

fn default_per_api_key() -> String {
    "10000/hour".to_owned()
}

/// Request limits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSpec {
    /// Largest request body. Default `10Mi`.
    #[serde(default = "default_max_body_size")]
    #[x_kube(validation = rules::size())]
    #[schemars(length(max = 32))]
    pub max_body_size: String,
    /// Largest request head. Default `8Ki`.
    #[serde(default = "default_max_header_size")]
    #[x_kube(validation = rules::size())]
    #[schemars(length(max = 32))]
    pub max_header_size: String,
    /// Media types accepted in request bodies. Default `application/json`, `message/rfc822`.
    #[serde(default = "default_content_types")]
    #[x_kube(validation = kube::core::Rule::new("self.all(t, t.matches('^[a-z0-9.+-]+/[a-z0-9.+-]+$'))").message("every entry must be a media type such as application/json"))]
    #[schemars(length(max = 32), inner(length(max = 128)))]
    pub allowed_content_types: Vec<String>,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        Self {
            max_body_size: default_max_body_size(),
            max_header_size: default_max_header_size(),
            allowed_content_types: default_content_types(),
        }
    }
}

fn default_max_body_size() -> String {
    "10Mi".to_owned()
}

fn default_max_header_size() -> String {
    "8Ki".to_owned()
}

fn default_content_types() -> Vec<String> {
    vec!["application/json".to_owned(), "message/rfc822".to_owned()]
}

/// Network isolation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create the NetworkPolicy. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Namespaces allowed to reach the API port 9437. Default `ingress-nginx`.
    #[serde(default = "default_ingress_namespaces")]
    #[schemars(length(max = 32), inner(length(max = 63)))]
    pub ingress_namespaces: Vec<String>,
    /// Namespaces allowed to scrape the metrics port 9090. Default `monitoring`.
    #[serde(default = "default_monitoring_namespaces")]
    #[schemars(length(max = 32), inner(length(max = 63)))]
    pub monitoring_namespaces: Vec<String>,
    /// Where IMAP traffic may go. Default: the public internet, private and
    /// link-local ranges excepted. Set this for an IMAP server inside the cluster.
    #[serde(
        default,
        rename = "imapEgressCIDRs",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[x_kube(validation = rules::cidrs())]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    pub imap_egress_cidrs: Vec<String>,
    /// Further egress rules, e.g. to Redis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_egress: Vec<NetworkPolicyEgressRule>,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            ingress_namespaces: default_ingress_namespaces(),
            monitoring_namespaces: default_monitoring_namespaces(),
            imap_egress_cidrs: Vec::new(),
            extra_egress: Vec::new(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_ingress_namespaces() -> Vec<String> {
    vec!["ingress-nginx".to_owned()]
}

fn default_monitoring_namespaces() -> Vec<String> {
    vec!["monitoring".to_owned()]
}

/// Prometheus Operator objects, created only when the monitoring.coreos.com API exists.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Create a ServiceMonitor for the metrics port. Default false.
    #[serde(default)]
    pub service_monitor: bool,
    /// Create a PrometheusRule with RustyMail's alerts. Default false.
    #[serde(default)]
    pub prometheus_rule: bool,
}

/// An Ingress in front of the API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name clients use.
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(max = 253))]
    pub host: String,
    /// IngressClass name. Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Annotations of the Ingress, e.g. cert-manager.io/cluster-issuer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Secret for the Ingress's own TLS. Default `<name>-ingress-tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
}

/// The audit log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSpec {
    /// Write audit events. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Events to record. Default: all.
    #[serde(default = "default_audit_events")]
    pub events: Vec<AuditEventKind>,
}

impl Default for AuditSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            events: default_audit_events(),
        }
    }
}

/// Kinds of audit event.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditEventKind {
    /// Logins and token issuance.
    Authentication,
    /// Refused requests.
    Authorization,
    /// Mailbox reads and changes.
    DataAccess,
    /// Certificate and credential reloads.
    ConfigurationChange,
    /// Rate-limit hits and malformed requests.
    SecurityEvent,
}

fn default_audit_events() -> Vec<AuditEventKind> {
    use AuditEventKind::*;
    vec![
        Authentication,
        Authorization,
        DataAccess,
        ConfigurationChange,
        SecurityEvent,
    ]
}
