//! Re-reading the API key file and the JWT secret file when they change, as
//! the certificate is (see `tls::reload`): the files' directories are
//! watched (kubelet swaps a Secret volume's `..data` symlink there), and
//! re-checked every [`RECHECK`] in case an event was missed. A change is
//! taken into use only once it parses; otherwise the previous credentials
//! stay and the failure is logged and counted.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use sha2::{Digest, Sha256};

use super::{Authenticator, read_key_file, read_secret_file};
use crate::{
    audit::{AuditLog, Event},
    config::{AuditEvent, Auth},
    metrics::{API_KEYS_FILE, FileLabels, JWT_SECRET_FILE, Metrics},
    shutdown::Shutdown,
    watch,
};

/// How often the files are re-read without a change event.
pub const RECHECK: Duration = Duration::from_secs(5);

/// Keeps an [`Authenticator`] in step with its files.
pub struct CredentialReloader {
    auth: Arc<Authenticator>,
    keys_file: Option<PathBuf>,
    secret_file: Option<PathBuf>,
    keys_seen: Option<[u8; 32]>,
    secret_seen: Option<[u8; 32]>,
    metrics: Metrics,
    audit: AuditLog,
}

/// What the files hold now, as a digest (`None`: unreadable).
fn fingerprint(path: &Path) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|b| Sha256::digest(b).into())
}

impl CredentialReloader {
    /// A reloader of the files `auth` configures into `authenticator`;
    /// `None` when no file is configured.
    pub fn new(
        auth: &Auth,
        authenticator: Arc<Authenticator>,
        metrics: Metrics,
        audit: AuditLog,
    ) -> Option<Self> {
        let keys_file = auth
            .api_keys
            .file
            .clone()
            .filter(|_| auth.api_keys.key.is_none());
        let secret_file = auth
            .jwt
            .secret_file
            .clone()
            .filter(|_| auth.jwt.secret.is_none());
        if keys_file.is_none() && secret_file.is_none() {
            return None;
        }
        Some(Self {
            keys_seen: keys_file.as_deref().and_then(fingerprint),
            secret_seen: secret_file.as_deref().and_then(fingerprint),
            auth: authenticator,
            keys_file,
            secret_file,
            metrics,
            audit,
        })
    }

    /// Re-reads both files; takes changed, valid contents into use.
    pub fn check(&mut self) {
        if let Some(path) = self.keys_file.clone() {
            self.check_keys(&path);
        }
        if let Some(path) = self.secret_file.clone() {
            self.check_secret(&path);
        }
    }

    fn check_keys(&mut self, path: &Path) {
        let seen = fingerprint(path);
        if seen.is_none() || seen == self.keys_seen {
            return;
        }
        self.keys_seen = seen;
        match read_key_file(path) {
            Ok(keys) => {
                tracing::info!(file = %path.display(), keys = keys.len(), "API keys reloaded");
                self.auth.replace_keys(keys);
                self.reloaded(API_KEYS_FILE, "auth.apiKeys.file", "success");
            }
            Err(e) => {
                tracing::error!(error = %e, "API key file change rejected; the previous keys stay");
                self.rejected(API_KEYS_FILE, "auth.apiKeys.file");
            }
        }
    }

    fn check_secret(&mut self, path: &Path) {
        let seen = fingerprint(path);
        if seen.is_none() || seen == self.secret_seen {
            return;
        }
        self.secret_seen = seen;
        let replaced = read_secret_file(path).and_then(|secret| {
            self.auth
                .replace_jwt_secret(&secret)
                .map_err(|source| super::AuthError::Secret {
                    origin: format!("JWT secret file {}", path.display()),
                    source,
                })
        });
        match replaced {
            Ok(()) => {
                tracing::info!(file = %path.display(), "JWT secret reloaded; tokens signed with the previous one are refused");
                self.reloaded(JWT_SECRET_FILE, "auth.jwt.secretFile", "success");
            }
            Err(e) => {
                tracing::error!(error = %e, "JWT secret change rejected; the previous secret stays");
                self.rejected(JWT_SECRET_FILE, "auth.jwt.secretFile");
            }
        }
    }

    fn reloaded(&self, file: &'static str, resource: &str, result: &str) {
        self.metrics
            .credential_reloads
            .get_or_create(&FileLabels { file })
            .inc();
        self.audit_change(resource, result);
    }

    fn rejected(&self, file: &'static str, resource: &str) {
        self.metrics
            .credential_reload_failures
            .get_or_create(&FileLabels { file })
            .inc();
        self.audit_change(resource, "rejected");
    }

    fn audit_change(&self, resource: &str, result: &str) {
        self.audit.record(&Event {
            category: AuditEvent::ConfigurationChange,
            user: None,
            client_ip: None,
            user_agent: None,
            action: "credentials_reloaded",
            resource,
            result,
        });
    }

    /// Checks on every change in the files' directories and every
    /// [`RECHECK`], until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) {
        let files = self.keys_file.iter().chain(&self.secret_file);
        let dirs = watch::parent_dirs(files.map(PathBuf::as_path));
        watch::on_change(&dirs, "credential files", RECHECK, shutdown, || {
            self.check()
        })
        .await;
    }
}
