//! The sections of the data plane's config file. Every field has a safe default,
//! so an empty section means "the secure behaviour".
//!
//! May depend on, in this crate: `tls`, `units`.

use std::{net::SocketAddr, path::PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{
    tls::{CipherSuite, TlsVersion},
    units::{ByteSize, HumanDuration, Rate},
};

/// Addresses the data plane listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Listen {
    /// The HTTPS REST API (HTTP/1.1 and HTTP/2 by ALPN). Default `0.0.0.0:9437`.
    pub api: SocketAddr,
    /// Plain-HTTP health and metrics: `/healthz`, `/readyz`, `/metrics`. Default `0.0.0.0:9090`.
    pub admin: SocketAddr,
    /// Optional plain-HTTP listener answering every request with a 301 to the
    /// https URL. Default: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<SocketAddr>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            api: SocketAddr::from(([0, 0, 0, 0], 9437)),
            admin: SocketAddr::from(([0, 0, 0, 0], 9090)),
            redirect: None,
        }
    }
}

/// Where the server certificate comes from and what TLS the API speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Tls {
    /// A directory in the kubelet Secret-volume layout holding `tls.crt` and
    /// `tls.key`; watched, and reloaded when it changes. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_dir: Option<PathBuf>,
    /// A PEM certificate chain file, instead of `certDir` (`TLS_CERT_PATH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The PEM private key matching `certFile` (`TLS_KEY_PATH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// A PEM bundle of the CA that must have issued the served certificate.
    /// When set, a chain that does not verify against it is rejected at
    /// start and on reload. Default: none (no issuer check). (The guide's
    /// `TLS_CA_PATH` is not this: it is the CA bundle IMAP servers are
    /// verified against, see [`Imap::ca_file`].)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Serve an ephemeral self-signed certificate generated at start instead
    /// of a configured one. Never read from the file: only
    /// `serve --self-signed` sets it, for local runs.
    #[serde(skip)]
    pub self_signed: bool,
    /// Lowest protocol version accepted, `1.2` or `1.3`. Default `1.2`.
    pub min_version: TlsVersion,
    /// IANA names of the suites to offer. Default (empty): every supported
    /// forward-secret AEAD suite. Narrowing the list can lock out older clients.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<CipherSuite>,
    /// Refuse to serve the API without TLS. Default `true`; turning it off is
    /// only for local debugging behind a trusted proxy.
    pub require_https: bool,
    /// How often the certificate is re-checked even when no change was
    /// noticed (a fallback for missed file events). Default `30s`.
    pub reload_interval: HumanDuration,
}

impl Tls {
    /// Switches to an ephemeral self-signed certificate, dropping any
    /// configured certificate source (what `serve --self-signed` does).
    pub fn use_self_signed(&mut self) {
        self.self_signed = true;
        self.cert_dir = None;
        self.cert_file = None;
        self.key_file = None;
        self.ca_file = None;
    }
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            cert_dir: None,
            cert_file: None,
            key_file: None,
            ca_file: None,
            self_signed: false,
            min_version: TlsVersion::Tls12,
            cipher_suites: Vec::new(),
            require_https: true,
            reload_interval: HumanDuration::seconds(30),
        }
    }
}

/// How clients prove who they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Auth {
    /// API keys, sent in a header.
    pub api_keys: ApiKeys,
    /// JSON Web Tokens, issued by `POST /api/v1/auth/token`.
    pub jwt: Jwt,
}

/// API-key authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ApiKeys {
    /// File of keys, one a line, `name:key` or a bare key (named `default`);
    /// `#` starts a comment. Re-read when it changes. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The request header carrying the key. Default `X-API-Key`.
    pub header: String,
    /// Reject requests without a valid key or token. Default `true`.
    pub required: bool,
    /// Paths served without authentication, e.g. `/api/v1/openapi.json`.
    /// Default: none. Every path listed here is open to the internet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public_paths: Vec<String>,
    /// A single key given by `API_KEY`, named `default`, used instead of
    /// `file`. Never read from nor written to the config file.
    #[serde(skip)]
    pub key: Option<Secret>,
}

impl Default for ApiKeys {
    fn default() -> Self {
        Self {
            file: None,
            header: "X-API-Key".to_owned(),
            required: true,
            public_paths: Vec::new(),
            key: None,
        }
    }
}

/// The only JWT signing algorithm offered: HMAC with SHA-256.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with the shared secret from `secretFile`.
    #[default]
    HS256,
}

/// JWT issuance and verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Jwt {
    /// File holding the HMAC secret; re-read when it changes. Default: none
    /// (tokens disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// The secret given by `JWT_SECRET`, used instead of `secretFile`.
    /// Never read from nor written to the config file.
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// Lifetime of an access token. Default `1h`.
    pub expiry: HumanDuration,
    /// Lifetime of a refresh token. Default `168h` (a week).
    pub refresh_expiry: HumanDuration,
    /// Signing algorithm. Default `HS256`, the only one.
    pub algorithm: JwtAlgorithm,
    /// The `iss` claim issued and required. Default `rustymail`.
    pub issuer: String,
    /// The `aud` claim issued and required. Default `rustymail-api`.
    pub audience: String,
}

impl Default for Jwt {
    fn default() -> Self {
        Self {
            secret_file: None,
            secret: None,
            expiry: HumanDuration::hours(1),
            refresh_expiry: HumanDuration::hours(168),
            algorithm: JwtAlgorithm::HS256,
            issuer: "rustymail".to_owned(),
            audience: "rustymail-api".to_owned(),
        }
    }
}

/// Request budgets, enforced per client address, user and API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RateLimits {
    /// Per client IP address. Default `100/minute`.
    pub per_ip: Rate,
    /// Per authenticated user (JWT subject). Default `1000/hour`.
    pub per_user: Rate,
    /// Per API key. Default `10000/hour`.
    pub per_api_key: Rate,
    /// Proxies whose `X-Forwarded-For` is believed when finding the client
    /// address. Default: none (the peer address is the client).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<IpNet>,
    /// Failed authentications per client IP address; past it, the address
    /// gets 429 until its budget refills. Default `10/minute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_failures_per_ip: Option<Rate>,
}

impl RateLimits {
    /// The default of `authFailuresPerIp`.
    pub const DEFAULT_AUTH_FAILURES_PER_IP: Rate = Rate::new(10, super::units::Period::Minute);

    /// `authFailuresPerIp`, or its default.
    pub fn auth_failures(&self) -> Rate {
        self.auth_failures_per_ip
            .unwrap_or(Self::DEFAULT_AUTH_FAILURES_PER_IP)
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        use super::units::Period;
        Self {
            per_ip: Rate::new(100, Period::Minute),
            per_user: Rate::new(1000, Period::Hour),
            per_api_key: Rate::new(10_000, Period::Hour),
            trusted_proxies: Vec::new(),
            auth_failures_per_ip: None,
        }
    }
}

/// Bounds on what a client may send, against abuse and slow-client attacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body; larger gets 413. Default `10Mi`.
    pub max_body_size: ByteSize,
    /// Largest request head; larger gets 431. Default `8Ki`.
    pub max_header_size: ByteSize,
    /// Media types accepted in request bodies; others get 415. Default the
    /// guide's `application/json` and `application/x-www-form-urlencoded`
    /// (the token refresh takes a form), and `message/rfc822` (raw messages).
    pub allowed_content_types: Vec<String>,
    /// Time a client has to complete the TLS handshake and send the request
    /// head; an HTTP/1.1 connection kept alive but idle for that long is
    /// closed too. Default `10s`.
    pub header_read_timeout: HumanDuration,
    /// Time a client has to send the request body. Default `30s`.
    pub body_read_timeout: HumanDuration,
    /// Open connections at most, across both HTTP versions. Default `10000`.
    /// Connections beyond it are closed as soon as they are accepted.
    pub max_connections: u32,
    /// On SIGTERM, how long the listeners keep accepting and serving, with
    /// `/readyz` already answering 503, before the drain starts: the time
    /// Kubernetes takes to take the pod out of the Service's endpoints and
    /// every load balancer to notice. Default `0s` (drain at once, for a
    /// data plane with no load balancer in front); the operator renders
    /// `5s`. Longer delays hold a rolling update back by as much per pod.
    pub shutdown_delay: HumanDuration,
    /// On SIGTERM, after `shutdownDelay`, how long in-flight requests may
    /// take to finish before their connections are cut. Default `25s`.
    pub shutdown_grace_period: HumanDuration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_size: ByteSize::mib(10),
            max_header_size: ByteSize::kib(8),
            allowed_content_types: vec![
                "application/json".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
                "message/rfc822".to_owned(),
            ],
            header_read_timeout: HumanDuration::seconds(10),
            body_read_timeout: HumanDuration::seconds(30),
            max_connections: 10_000,
            shutdown_delay: HumanDuration::seconds(0),
            shutdown_grace_period: HumanDuration::seconds(25),
        }
    }
}

/// Security headers sent on every HTTPS response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Headers {
    /// `Strict-Transport-Security`. Default `max-age=63072000; includeSubDomains; preload`.
    pub strict_transport_security: String,
    /// `Content-Security-Policy`. Default `default-src 'none'; frame-ancestors 'none'`.
    pub content_security_policy: String,
    /// `X-Frame-Options`. Default `DENY`.
    pub frame_options: String,
    /// `Referrer-Policy`. Default `no-referrer`.
    pub referrer_policy: String,
}

impl Headers {
    /// The default `Strict-Transport-Security`: two years, subdomains
    /// included, eligible for browsers' preload lists.
    pub const DEFAULT_STRICT_TRANSPORT_SECURITY: &str =
        "max-age=63072000; includeSubDomains; preload";
    /// The default `Content-Security-Policy`: an API loads nothing and is
    /// framed by nobody.
    pub const DEFAULT_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
    /// The default `X-Frame-Options`.
    pub const DEFAULT_FRAME_OPTIONS: &str = "DENY";
    /// The default `Referrer-Policy`.
    pub const DEFAULT_REFERRER_POLICY: &str = "no-referrer";
}

impl Default for Headers {
    fn default() -> Self {
        Self {
            strict_transport_security: Self::DEFAULT_STRICT_TRANSPORT_SECURITY.to_owned(),
            content_security_policy: Self::DEFAULT_CONTENT_SECURITY_POLICY.to_owned(),
            frame_options: Self::DEFAULT_FRAME_OPTIONS.to_owned(),
            referrer_policy: Self::DEFAULT_REFERRER_POLICY.to_owned(),
        }
    }
}

/// Kinds of event the audit log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// Logins, token issuance and refresh, failed credentials.
    Authentication,
    /// Requests refused for lack of permission.
    Authorization,
    /// Reads and changes of mailboxes and messages.
    DataAccess,
    /// Certificate and credential reloads.
    ConfigurationChange,
    /// Rate-limit hits, malformed or oversized requests.
    SecurityEvent,
}

impl AuditEvent {
    /// Every event kind.
    pub const ALL: [AuditEvent; 5] = [
        AuditEvent::Authentication,
        AuditEvent::Authorization,
        AuditEvent::DataAccess,
        AuditEvent::ConfigurationChange,
        AuditEvent::SecurityEvent,
    ];

    /// The name written in config files and audit lines, e.g. `data_access`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Authentication => "authentication",
            AuditEvent::Authorization => "authorization",
            AuditEvent::DataAccess => "data_access",
            AuditEvent::ConfigurationChange => "configuration_change",
            AuditEvent::SecurityEvent => "security_event",
        }
    }
}

/// The audit log: one JSON line per event on standard output, or in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Audit {
    /// Write audit events. Default `true`.
    pub enabled: bool,
    /// Which events to write. Default: all of them.
    pub events: Vec<AuditEvent>,
    /// A file the events are appended to instead of standard output.
    /// Default: none (standard output, beside the JSON logs, each audit line
    /// marked `"log":"audit"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            enabled: true,
            events: AuditEvent::ALL.to_vec(),
            file: None,
        }
    }
}

/// How the connection to the IMAP server is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapSecurity {
    /// Implicit TLS from the first byte (port 993). The default.
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS before login (port 143).
    Starttls,
    /// No TLS at all: the password crosses the network in the clear. Only
    /// ever used when written explicitly, for a server on the same host.
    None,
}

/// The IMAP server behind an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Imap {
    /// Host name or address of the IMAP server; the name its certificate
    /// must carry.
    pub host: String,
    /// Port. Default `993`.
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// `tls` (default), `starttls`, or `none` (plaintext, only when written
    /// explicitly).
    #[serde(default)]
    pub security: ImapSecurity,
    /// PEM bundle of CAs to trust for this server instead of the system
    /// roots (`TLS_CA_PATH` sets it for accounts that name none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Connections to this server at most, kept open between requests.
    /// Default `8`: keep it below the server's per-user limit (Dovecot's
    /// `mail_max_userip_connections` is 10 by default), leaving room for the
    /// user's own mail clients.
    #[serde(
        default = "default_max_connections",
        skip_serializing_if = "is_default_max_connections"
    )]
    pub max_connections: u32,
    /// Time to connect, finish TLS and log in. Default `10s`.
    #[serde(
        default = "default_connect_timeout",
        skip_serializing_if = "is_default_connect_timeout"
    )]
    pub connect_timeout: HumanDuration,
    /// Time the IMAP commands of one API request may take together (a
    /// listing's EXAMINE and FETCH, a move's steps), and the longest wait
    /// for a free pooled connection. Default `30s`.
    #[serde(
        default = "default_command_timeout",
        skip_serializing_if = "is_default_command_timeout"
    )]
    pub command_timeout: HumanDuration,
    /// An unused connection is closed after this long. Default `5m`.
    #[serde(
        default = "default_idle_timeout",
        skip_serializing_if = "is_default_idle_timeout"
    )]
    pub idle_timeout: HumanDuration,
}

impl Default for Imap {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: default_imap_port(),
            security: ImapSecurity::Tls,
            ca_file: None,
            max_connections: default_max_connections(),
            connect_timeout: default_connect_timeout(),
            command_timeout: default_command_timeout(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

fn default_imap_port() -> u16 {
    993
}

fn default_max_connections() -> u32 {
    8
}

fn is_default_max_connections(v: &u32) -> bool {
    *v == default_max_connections()
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration::seconds(10)
}

fn is_default_connect_timeout(v: &HumanDuration) -> bool {
    *v == default_connect_timeout()
}

fn default_command_timeout() -> HumanDuration {
    HumanDuration::seconds(30)
}

fn is_default_command_timeout(v: &HumanDuration) -> bool {
    *v == default_command_timeout()
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration::seconds(300)
}

fn is_default_idle_timeout(v: &HumanDuration) -> bool {
    *v == default_idle_timeout()
}

/// A mailbox the API serves, chosen by `?account=NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Account {
    /// The account's name in the API. Lowercase letters, digits and `-`.
    pub name: String,
    /// The IMAP server.
    pub imap: Imap,
    /// The SMTP submission server mail is sent through; without it the
    /// account cannot send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<crate::Smtp>,
    /// The IMAP user name itself, for a user name that is not kept secret
    /// (e.g. a Secret holds only the password). Set this or `usernameFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// File holding the IMAP user name; re-read when it changes. Set this or
    /// `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<PathBuf>,
    /// File holding the IMAP password; re-read when it changes
    /// (`IMAP_PASSWORD_FILE` replaces it in a single-account setup). Set
    /// this, or `IMAP_PASSWORD` / `IMAP_PASSWORD_FILE` for the only account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The password itself, from `IMAP_PASSWORD` (single-account setups);
    /// never read from nor written to the file.
    #[serde(skip)]
    pub password: Option<Secret>,
}

/// A secret value, kept out of `Debug` output and logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}
