//! The data plane's config file, rendered from the spec with the data plane's
//! own types, and the ConfigMap that carries it.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr};

use k8s_openapi::api::core::v1::ConfigMap;
use rustymail_config::{
    self as dp, AuditEvent, Config,
    tls::{CipherSuite, TlsVersion},
};

use super::{
    RenderError,
    meta::{Component, Owner},
    mounts,
};
use crate::crd::{AuditEventKind, ImapSecurity, RustyMailSpec, SmtpSpec};

/// How long a pod keeps accepting and serving after SIGTERM, unready, while
/// the endpoints controller, kube-proxy and ingress controllers take it out
/// of rotation; only then does it drain.
pub const SHUTDOWN_DELAY: dp::units::HumanDuration = dp::units::HumanDuration::seconds(5);

/// Parses a spec string with the data plane's parser, naming the field on failure.
fn parse<T: FromStr>(field: &str, value: &str) -> Result<T, RenderError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| RenderError::invalid(field, e.to_string()))
}

fn audit_event(kind: AuditEventKind) -> AuditEvent {
    match kind {
        AuditEventKind::Authentication => AuditEvent::Authentication,
        AuditEventKind::Authorization => AuditEvent::Authorization,
        AuditEventKind::DataAccess => AuditEvent::DataAccess,
        AuditEventKind::ConfigurationChange => AuditEvent::ConfigurationChange,
        AuditEventKind::SecurityEvent => AuditEvent::SecurityEvent,
    }
}

/// The data plane's `smtp` of account `i` (named `name`): its CA, when it
/// names one, mounted beside the IMAP CA.
fn render_smtp(i: usize, name: &str, smtp: &SmtpSpec) -> Result<dp::Smtp, RenderError> {
    let port = u16::try_from(smtp.port).map_err(|_| {
        RenderError::invalid(
            format!("spec.accounts[{i}].smtp.port"),
            "must be between 1 and 65535",
        )
    })?;
    Ok(dp::Smtp {
        host: smtp.host.clone(),
        port,
        security: match smtp.security {
            ImapSecurity::Tls => dp::SmtpSecurity::Tls,
            ImapSecurity::Starttls => dp::SmtpSecurity::Starttls,
        },
        ca_file: smtp
            .ca_secret_ref
            .as_ref()
            .map(|_| PathBuf::from(mounts::smtp_ca_dir(name)).join("ca.crt")),
        from: smtp.from.clone(),
        timeout: dp::units::HumanDuration::seconds(30),
    })
}

/// Builds the data plane config for `spec`, with files at the paths the
/// Deployment mounts; the API keys are read from the credentials Secret's
/// key `api_keys_key`.
pub fn data_plane_config(spec: &RustyMailSpec, api_keys_key: &str) -> Result<Config, RenderError> {
    let mut config = Config::default();

    config.tls.cert_dir = Some(PathBuf::from(mounts::TLS_DIR));
    config.tls.min_version = TlsVersion::parse_env(&spec.tls.min_version).ok_or_else(|| {
        RenderError::invalid(
            "spec.tls.minVersion",
            format!("{:?} is not \"1.2\" or \"1.3\"", spec.tls.min_version),
        )
    })?;
    config.tls.cipher_suites = spec
        .tls
        .cipher_suites
        .iter()
        .enumerate()
        .map(|(i, name)| parse::<CipherSuite>(&format!("spec.tls.cipherSuites[{i}]"), name))
        .collect::<Result<_, _>>()?;

    let auth = &mut config.auth;
    auth.api_keys.file = Some(PathBuf::from(mounts::CREDENTIALS_DIR).join(api_keys_key));
    auth.api_keys.header = spec.auth.api_key.header.clone();
    auth.api_keys.public_paths = spec.auth.api_key.public_paths.clone();
    auth.jwt.secret_file =
        Some(PathBuf::from(mounts::CREDENTIALS_DIR).join(mounts::JWT_SECRET_KEY));
    auth.jwt.expiry = parse("spec.auth.jwt.expiry", &spec.auth.jwt.expiry)?;
    auth.jwt.refresh_expiry = parse("spec.auth.jwt.refreshExpiry", &spec.auth.jwt.refresh_expiry)?;
    auth.jwt.issuer = spec.auth.jwt.issuer.clone();
    auth.jwt.audience = spec.auth.jwt.audience.clone();

    let rl = &spec.rate_limits;
    config.rate_limits.per_ip = parse("spec.rateLimits.perIp", &rl.per_ip)?;
    config.rate_limits.per_user = parse("spec.rateLimits.perUser", &rl.per_user)?;
    config.rate_limits.per_api_key = parse("spec.rateLimits.perApiKey", &rl.per_api_key)?;
    config.rate_limits.trusted_proxies = rl
        .trusted_proxies
        .iter()
        .enumerate()
        .map(|(i, cidr)| parse(&format!("spec.rateLimits.trustedProxies[{i}]"), cidr))
        .collect::<Result<_, _>>()?;

    config.access.blocked_cidrs = spec
        .access
        .blocked_cidrs
        .iter()
        .enumerate()
        .map(|(i, cidr)| parse(&format!("spec.access.blockedCIDRs[{i}]"), cidr))
        .collect::<Result<_, _>>()?;

    config.send.allowed_recipients = spec.send.allowed_recipients.clone();
    config.send.per_api_key = parse("spec.send.perApiKey", &spec.send.per_api_key)?;
    config.send.max_recipients = u32::try_from(spec.send.max_recipients).map_err(|_| {
        RenderError::invalid("spec.send.maxRecipients", "must be between 1 and 1000")
    })?;

    config.limits.max_body_size = parse("spec.limits.maxBodySize", &spec.limits.max_body_size)?;
    config.limits.max_header_size =
        parse("spec.limits.maxHeaderSize", &spec.limits.max_header_size)?;
    config.limits.allowed_content_types = spec.limits.allowed_content_types.clone();
    config.limits.shutdown_delay = SHUTDOWN_DELAY;

    config.audit.enabled = spec.audit.enabled;
    config.audit.events = spec.audit.events.iter().copied().map(audit_event).collect();

    config.accounts = spec
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let port = u16::try_from(a.imap.port).map_err(|_| {
                RenderError::invalid(
                    format!("spec.accounts[{i}].imap.port"),
                    "must be between 1 and 65535",
                )
            })?;
            let dir = PathBuf::from(mounts::account_dir(&a.name));
            Ok(dp::Account {
                name: a.name.clone(),
                imap: dp::Imap {
                    host: a.imap.host.clone(),
                    port,
                    security: match a.imap.security {
                        ImapSecurity::Tls => dp::ImapSecurity::Tls,
                        ImapSecurity::Starttls => dp::ImapSecurity::Starttls,
                    },
                    ca_file: a
                        .imap
                        .ca_secret_ref
                        .as_ref()
                        .map(|_| PathBuf::from(mounts::imap_ca_dir(&a.name)).join("ca.crt")),
                    ..dp::Imap::default()
                },
                smtp: a
                    .smtp
                    .as_ref()
                    .map(|smtp| render_smtp(i, &a.name, smtp))
                    .transpose()?,
                username: a.username.clone(),
                username_file: a.username.is_none().then(|| dir.join("username")),
                password_file: Some(dir.join("password")),
                password: None,
            })
        })
        .collect::<Result<_, RenderError>>()?;

    config.validate().map_err(|errors| {
        let detail: Vec<String> = errors.iter().map(ToString::to_string).collect();
        RenderError::invalid(
            "spec",
            format!(
                "the data plane would reject its config: {}",
                detail.join("; ")
            ),
        )
    })?;
    Ok(config)
}

/// The data plane's `mcp` section: `/mcp` accepts the names the
/// certificate covers (the Service's, the Ingress host, `tls.dnsNames`) and
/// `spec.mcp.extraAllowedHosts`.
pub fn mcp(owner: &Owner, spec: &RustyMailSpec) -> dp::Mcp {
    let m = &spec.mcp;
    let mut allowed_hosts = super::tls::dns_names(owner, spec);
    for host in &m.extra_allowed_hosts {
        if !allowed_hosts.contains(host) {
            allowed_hosts.push(host.clone());
        }
    }
    dp::Mcp {
        enabled: m.enabled,
        allowed_hosts,
        allowed_origins: m.allowed_origins.clone(),
        resource: m.resource.clone().or_else(|| {
            spec.ingress
                .as_ref()
                .map(|i| format!("https://{}/mcp", i.host))
        }),
        authorization_servers: m.authorization_servers.clone(),
    }
}

/// The ConfigMap `<name>-config` holding `config.yaml`.
pub fn config_map(owner: &Owner, config: &Config) -> ConfigMap {
    ConfigMap {
        metadata: owner.meta(owner.child_name("-config"), Component::Api),
        data: Some(BTreeMap::from([(
            mounts::CONFIG_FILE.to_owned(),
            config.to_yaml(),
        )])),
        ..ConfigMap::default()
    }
}
