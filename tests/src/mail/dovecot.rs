//! A real Dovecot on loopback, rootless, for tests, benchmarks and
//! `scripts/dovecot`: an IMAPS listener with a certificate from its own test
//! CA, a STARTTLS listener, a temporary Maildir per user, and optionally the
//! MOVE, CONDSTORE and QRESYNC capabilities hidden (or QRESYNC alone).
//!
//! Run as root (CI, containers), Dovecot runs as `nobody` through `setpriv`,
//! with its directory handed to that user.

use std::{
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use super::{Result, daemon};
use crate::bench::free_addr;

/// The capabilities announced by [`Options::without_move_and_condstore`]:
/// Dovecot 2.3's own list without MOVE, CONDSTORE and QRESYNC.
const BASIC_CAPABILITIES: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT \
     SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL \
     CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH ESORT \
     SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY SPECIAL-USE LITERAL+";

/// The capabilities announced by [`Options::without_qresync`]: MOVE and
/// CONDSTORE but not QRESYNC.
const CONDSTORE_CAPABILITIES: &str = "MOVE CONDSTORE";

/// The user every test account starts with.
pub const ALICE: (&str, &str) = ("alice", "alice-secret");
/// A second user, for two-account tests.
pub const BOB: (&str, &str) = ("bob", "bob-secret");

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Announce MOVE, CONDSTORE and QRESYNC (Dovecot's default).
    pub extensions: bool,
    /// Announce QRESYNC too (with `extensions`).
    pub qresync: bool,
    /// Users and passwords.
    pub users: Vec<(String, String)>,
    /// Accept mail as a mail server's delivery agent: an LMTP listener, an
    /// auth listener for the SMTP server's SASL, and a `Sent` folder with
    /// the `\Sent` special-use attribute (see [`super::postfix`]).
    pub delivery: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            extensions: true,
            qresync: true,
            users: [ALICE, BOB]
                .iter()
                .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
                .collect(),
            delivery: false,
        }
    }
}

impl Options {
    /// A server that announces neither MOVE nor CONDSTORE nor QRESYNC.
    pub fn without_move_and_condstore() -> Self {
        Self {
            extensions: false,
            ..Self::default()
        }
    }

    /// A server that also takes mail over LMTP, with SASL for an SMTP
    /// server and a `\Sent` folder.
    pub fn with_delivery() -> Self {
        Self {
            delivery: true,
            ..Self::default()
        }
    }

    /// A server that announces MOVE and CONDSTORE but not QRESYNC.
    pub fn without_qresync() -> Self {
        Self {
            qresync: false,
            ..Self::default()
        }
    }
}

/// A running Dovecot; stopped when dropped.
pub struct Dovecot {
    root: tempfile::TempDir,
    /// The IMAPS (implicit TLS) listener.
    pub imaps: SocketAddr,
    /// The IMAP listener, for STARTTLS (and plaintext on loopback).
    pub imap: SocketAddr,
    /// The LMTP listener (with [`Options::delivery`]).
    pub lmtp: SocketAddr,
    /// The auth listener an SMTP server's SASL uses (with [`Options::delivery`]).
    pub auth: SocketAddr,
    ca_pem: String,
    options: Options,
    child: Option<Child>,
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The user and group Dovecot runs as.
fn run_as() -> (String, String) {
    if is_root() {
        return ("nobody".to_owned(), "nogroup".to_owned());
    }
    let id = |flag: &str| {
        Command::new("id")
            .arg(flag)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    (id("-un"), id("-gn"))
}

fn numeric_id(flag: &str, name: &str) -> Result<String> {
    let out = Command::new("id").arg(flag).arg(name).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

impl Dovecot {
    /// Starts Dovecot with `options` and waits until both listeners answer.
    pub fn start(options: Options) -> Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("rustymail-dovecot")
            .tempdir()?;
        let (ca_pem, cert, key) = certificate()?;
        let mut dovecot = Self {
            imaps: free_addr()?,
            imap: free_addr()?,
            lmtp: free_addr()?,
            auth: free_addr()?,
            root,
            ca_pem,
            options,
            child: None,
        };
        let r = dovecot.root.path();
        for dir in ["run", "state", "home"] {
            std::fs::create_dir(r.join(dir))?;
        }
        std::fs::write(r.join("cert.pem"), cert)?;
        std::fs::write(r.join("key.pem"), key)?;
        std::fs::write(r.join("ca.pem"), &dovecot.ca_pem)?;
        dovecot.write_passwd()?;
        std::fs::write(r.join("dovecot.conf"), dovecot.config()?)?;
        dovecot.start_again()?;
        Ok(dovecot)
    }

    /// The test CA's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Dovecot's certificate and key, PEM (for another server of the test
    /// to present, issued by the same CA).
    pub fn leaf(&self) -> Result<(String, String)> {
        let r = self.root.path();
        Ok((
            std::fs::read_to_string(r.join("cert.pem"))?,
            std::fs::read_to_string(r.join("key.pem"))?,
        ))
    }

    /// A file holding the test CA's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.root.path().join("ca.pem")
    }

    /// Dovecot's log file.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Changes `user`'s password; Dovecot re-reads the file on its next login.
    pub fn set_password(&mut self, user: &str, password: &str) -> Result<()> {
        for (u, p) in &mut self.options.users {
            if u == user {
                *p = password.to_owned();
            }
        }
        self.write_passwd()
    }

    fn write_passwd(&self) -> Result<()> {
        let mut text = String::new();
        for (user, password) in &self.options.users {
            text.push_str(&format!("{user}:{{PLAIN}}{password}::::::\n"));
        }
        // Written beside and renamed, so that Dovecot never reads half a file.
        let r = self.root.path();
        std::fs::write(r.join("passwd.tmp"), text)?;
        std::fs::rename(r.join("passwd.tmp"), r.join("passwd"))?;
        self.hand_over()
    }

    fn config(&self) -> Result<String> {
        let r = self.root.path().display();
        let (user, group) = run_as();
        let uid = numeric_id("-u", &user)?;
        let gid = numeric_id("-g", &user)?;
        let capability = match (self.options.extensions, self.options.qresync) {
            (true, true) => String::new(),
            (true, false) => {
                format!("imap_capability = {BASIC_CAPABILITIES} {CONDSTORE_CAPABILITIES}\n")
            }
            (false, _) => format!("imap_capability = {BASIC_CAPABILITIES}\n"),
        };
        let delivery = if self.options.delivery {
            format!(
                r#"service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
protocol lmtp {{
  auth_username_format = %Ln
}}
"#,
                lmtp = self.lmtp.port(),
                auth = self.auth.port(),
            )
        } else {
            String::new()
        };
        let (protocols, sent) = if self.options.delivery {
            (
                "imap lmtp",
                "  mailbox Sent {\n    special_use = \\Sent\n    auto = subscribe\n  }\n",
            )
        } else {
            ("imap", "")
        };
        Ok(format!(
            r#"base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
protocols = {protocols}
listen = 127.0.0.1
default_internal_user = {user}
default_login_user = {user}
default_internal_group = {group}
ssl = yes
ssl_cert = <{r}/cert.pem
ssl_key = <{r}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_fsync = never
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
namespace inbox {{
  inbox = yes
  separator = /
{sent}}}
{capability}{delivery}passdb {{
  driver = passwd-file
  args = {r}/passwd
}}
userdb {{
  driver = passwd-file
  args = {r}/passwd
  default_fields = uid={uid} gid={gid} home={r}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"#,
            imap = self.imap.port(),
            imaps = self.imaps.port(),
        ))
    }

    /// Gives the directory to the user Dovecot runs as (when root).
    fn hand_over(&self) -> Result<()> {
        if !is_root() {
            return Ok(());
        }
        let (user, group) = run_as();
        let r = self.root.path();
        std::fs::set_permissions(r, std::fs::Permissions::from_mode(0o755))?;
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:{group}"))
            .arg(r)
            .status()?;
        if !status.success() {
            return Err(format!("chown of {} failed", r.display()).into());
        }
        Ok(())
    }

    /// Starts Dovecot again after [`Dovecot::stop`], on the same ports and
    /// with the same mail.
    pub fn start_again(&mut self) -> Result<()> {
        self.hand_over()?;
        let conf = self.root.path().join("dovecot.conf");
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
                "dovecot",
            ]);
            c
        } else {
            Command::new("dovecot")
        };
        cmd.arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = self.child.insert(cmd.spawn().map_err(|e| {
            format!("cannot run dovecot ({e}); install it with scripts/setup (dovecot-imapd)")
        })?);
        daemon::wait_listening(
            "dovecot",
            child,
            &[self.imaps, self.imap],
            &self.root.path().join("dovecot.log"),
        )
    }

    /// Stops Dovecot (SIGTERM to the master, which ends every session) and
    /// waits until its ports are closed.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // Dovecot's processes (imap sessions included) outlive a master
        // stopped this way for a while: they are ended with it.
        let children = Command::new("pgrep")
            .arg("-P")
            .arg(child.id().to_string())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        daemon::terminate(&mut child)?;
        if !children.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(&children)
                .stderr(Stdio::null())
                .status();
        }
        daemon::wait_closed(&[self.imaps]);
        Ok(())
    }

    /// The temporary root directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A new test CA (a name of its own, so that a client trusting two of them
/// tells them apart) and a leaf for `localhost` and `127.0.0.1` it issued: (CA PEM,
/// leaf PEM, key PEM).
pub fn certificate() -> Result<(String, String, String)> {
    certificate_for(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
}

/// A new test CA and a leaf for `names` it issued: (CA PEM, leaf PEM, key PEM).
pub fn certificate_for(names: Vec<String>) -> Result<(String, String, String)> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("RustyMail test CA {}", rand::random::<u64>()),
    );
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(names)?.signed_by(&key, &ca)?;
    Ok((ca.pem(), leaf.pem(), key.serialize_pem()))
}
