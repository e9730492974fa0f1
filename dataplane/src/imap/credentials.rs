//! An account's IMAP username and password, read from their files (or the
//! password from `IMAP_PASSWORD`), and re-read when the files change: the
//! directories are watched, kubelet's `..data` swap included, and every
//! change bumps a generation that retires connections logged in before it.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{
    config::{Account, Secret},
    watch,
};

/// A username and password, as read at one instant.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The IMAP user name.
    pub username: String,
    /// The password.
    pub password: Secret,
}

/// Where an account's credentials come from.
pub struct Credentials {
    account: String,
    username: Option<Username>,
    password: Password,
    generation: Arc<AtomicU64>,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Where the password comes from.
enum Password {
    /// Given at start (`IMAP_PASSWORD`).
    Given(Secret),
    /// Read from a file.
    File(PathBuf),
    /// Neither: the config check refuses this, so only a caller that
    /// skipped it meets it, as a clear error at login.
    Missing,
}

/// Where the user name comes from.
enum Username {
    /// Written in the config.
    Given(String),
    /// Read from a file.
    File(PathBuf),
}

/// The trimmed content of `path` (a trailing newline is not part of a secret).
fn read_trimmed(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl Credentials {
    /// The credentials of `account`, watched from now on.
    pub fn new(account: &Account) -> Self {
        let generation = Arc::new(AtomicU64::new(0));
        let mut files: Vec<PathBuf> = account.username_file.iter().cloned().collect();
        let password = match (&account.password, &account.password_file) {
            (Some(given), _) => Password::Given(given.clone()),
            (None, Some(file)) => Password::File(file.clone()),
            (None, None) => Password::Missing,
        };
        if let Password::File(file) = &password {
            files.push(file.clone());
        }
        let dirs = watch::parent_dirs(files.iter().map(PathBuf::as_path));
        let bump = Arc::clone(&generation);
        let watcher = watch::watch_dirs(&dirs, "IMAP credential files", move || {
            bump.fetch_add(1, Ordering::SeqCst);
        });
        Self {
            account: account.name.clone(),
            username: match (&account.username, &account.username_file) {
                (Some(name), _) => Some(Username::Given(name.clone())),
                (None, Some(file)) => Some(Username::File(file.clone())),
                (None, None) => None,
            },
            password,
            generation,
            _watcher: watcher,
        }
    }

    /// Reads the credentials as they are now.
    pub fn read(&self) -> Result<Login, super::ImapError> {
        let error = |reason| super::ImapError::Credentials {
            account: self.account.clone(),
            reason,
        };
        let username = match &self.username {
            Some(Username::Given(name)) => name.clone(),
            Some(Username::File(file)) => read_trimmed(file).map_err(error)?,
            None => {
                return Err(error(
                    "no username nor usernameFile is configured".to_owned(),
                ));
            }
        };
        let password = match &self.password {
            Password::Given(p) => p.clone(),
            Password::File(file) => Secret(read_trimmed(file).map_err(error)?),
            Password::Missing => {
                return Err(error(
                    "no passwordFile nor IMAP_PASSWORD is configured".to_owned(),
                ));
            }
        };
        Ok(Login { username, password })
    }

    /// Bumped on every change of the files; a connection logged in under an
    /// older generation is not reused.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Marks the credentials as changed (what a file event does).
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::config::Imap;

    fn account(dir: &Path) -> Account {
        Account {
            name: "test".into(),
            imap: Imap::default(),
            smtp: None,
            username: None,
            username_file: Some(dir.join("username")),
            password_file: Some(dir.join("password")),
            password: None,
        }
    }

    #[test]
    fn a_rewritten_password_file_is_read_and_bumps_the_generation() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("username"), "alice\n").expect("write");
        std::fs::write(dir.path().join("password"), "one\n").expect("write");
        let c = Credentials::new(&account(dir.path()));
        let first = c.read().expect("reads");
        assert_eq!(
            (first.username.as_str(), first.password.0.as_str()),
            ("alice", "one")
        );
        let before = c.generation();
        std::fs::write(dir.path().join("password.new"), "two").expect("write");
        std::fs::rename(dir.path().join("password.new"), dir.path().join("password"))
            .expect("rename");
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.generation() == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(c.generation() > before, "the change was noticed");
        assert_eq!(c.read().expect("reads").password.0, "two");
    }

    #[test]
    fn a_missing_file_is_named_without_any_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("username"), "alice").expect("write");
        let c = Credentials::new(&account(dir.path()));
        let err = c.read().err().expect("fails").to_string();
        assert!(
            err.contains("password") && err.contains("\"test\""),
            "{err}"
        );
    }

    #[test]
    fn a_user_name_written_in_the_config_needs_only_the_password_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("password"), "imap-password\n").expect("write");
        let c = Credentials::new(&Account {
            username: Some("support@example.com".into()),
            username_file: None,
            ..account(dir.path())
        });
        let login = c.read().expect("reads");
        assert_eq!(
            (login.username.as_str(), login.password.0.as_str()),
            ("support@example.com", "imap-password")
        );
    }
}
