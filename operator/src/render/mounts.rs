//! Where the data plane container finds its files. The config file the
//! operator renders and the volumes of the Deployment both use these paths.

/// Directory of the ConfigMap holding `config.yaml`.
pub const CONFIG_DIR: &str = "/etc/rustymail/config";
/// The config file's key in the ConfigMap.
pub const CONFIG_FILE: &str = "config.yaml";
/// Directory of the TLS Secret (`tls.crt`, `tls.key`), watched for rotation.
pub const TLS_DIR: &str = "/var/run/rustymail/tls";
/// Directory of the credentials Secret.
pub const CREDENTIALS_DIR: &str = "/var/run/rustymail/credentials";
/// Key (and file name) of the API keys in the credentials Secret.
pub const API_KEYS_KEY: &str = "api-keys";
/// Key (and file name) of the single API key in the security guide's own
/// Secret, read when the user's Secret has no `api-keys`.
pub const API_KEY_KEY: &str = "api-key";
/// Key (and file name) of the JWT secret in the credentials Secret.
pub const JWT_SECRET_KEY: &str = "jwt-secret";
/// Parent directory of each account's credentials.
const ACCOUNTS_DIR: &str = "/var/run/rustymail/accounts";
/// Parent directory of each account's IMAP CA bundle.
const IMAP_CA_DIR: &str = "/var/run/rustymail/imap-ca";
const SMTP_CA_DIR: &str = "/var/run/rustymail/smtp-ca";
/// Writable scratch space (the root filesystem is read-only).
pub const TMP_DIR: &str = "/tmp";

/// The full path of the config file.
pub fn config_path() -> String {
    format!("{CONFIG_DIR}/{CONFIG_FILE}")
}

/// Directory where `account`'s `username` and `password` files are mounted.
pub fn account_dir(account: &str) -> String {
    format!("{ACCOUNTS_DIR}/{account}")
}

/// Directory where `account`'s IMAP CA bundle (`ca.crt`) is mounted.
pub fn imap_ca_dir(account: &str) -> String {
    format!("{IMAP_CA_DIR}/{account}")
}

/// Directory where `account`'s SMTP CA bundle (`ca.crt`) is mounted.
pub fn smtp_ca_dir(account: &str) -> String {
    format!("{SMTP_CA_DIR}/{account}")
}
