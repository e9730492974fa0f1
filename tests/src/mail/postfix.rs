//! A real Postfix on loopback for the send tests: SMTP submission with
//! implicit TLS and with STARTTLS, SASL through the test Dovecot's auth
//! listener, and delivery into that Dovecot over LMTP for the domain
//! `localhost` (so `bob@localhost` lands in Dovecot user `bob`'s INBOX).
//! Any other domain is refused at RCPT (`554 5.7.1 Relay access denied`),
//! a real SMTP refusal for the tests to see.
//!
//! Postfix's master must start as root (it hands its queue to the
//! `postfix` user); everything lives in a temporary directory (`main.cf`,
//! `master.cf`, queue, log) and nothing of the system's Postfix is used.

use std::{
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use super::{Result, daemon, dovecot::Dovecot};
use crate::bench::free_addr;

/// Where Debian installs Postfix's daemons.
const DAEMONS: &str = "/usr/lib/postfix/sbin";

/// The queue's directories, made before the master starts.
const QUEUE_DIRS: [&str; 13] = [
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private",
    "public", "saved", "trace", "maildrop",
];

/// A running Postfix; stopped when dropped.
pub struct Postfix {
    root: tempfile::TempDir,
    /// Submission with implicit TLS (as port 465).
    pub submissions: SocketAddr,
    /// Submission with STARTTLS (as port 587).
    pub submission: SocketAddr,
    child: Option<Child>,
}

impl Postfix {
    /// Starts Postfix in front of `dovecot` (started with
    /// [`super::dovecot::Options::with_delivery`]), with a certificate from
    /// Dovecot's test CA, and waits until both listeners answer.
    pub fn start(dovecot: &Dovecot) -> Result<Self> {
        if !Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
        {
            return Err("the Postfix fixture needs root (Postfix's master starts as root)".into());
        }
        if !PathBuf::from(DAEMONS).join("master").exists() {
            return Err("Postfix is not installed: scripts/setup installs it (postfix)".into());
        }
        let root = tempfile::Builder::new()
            .prefix("rustymail-postfix")
            .tempdir()?;
        let mut postfix = Self {
            root,
            submissions: free_addr()?,
            submission: free_addr()?,
            child: None,
        };
        let r = postfix.root.path().to_owned();
        std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o755))?;
        for dir in QUEUE_DIRS {
            let path = r.join("queue").join(dir);
            std::fs::create_dir_all(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
            chown("postfix", &path)?;
        }
        std::fs::create_dir_all(r.join("queue/pid"))?;
        std::fs::create_dir_all(r.join("data"))?;
        chown("postfix", &r.join("data"))?;
        let (cert, key) = dovecot.leaf()?;
        std::fs::write(r.join("cert.pem"), cert)?;
        std::fs::write(r.join("key.pem"), key)?;
        std::fs::write(r.join("main.cf"), postfix.main_cf(dovecot))?;
        std::fs::write(r.join("master.cf"), postfix.master_cf())?;
        postfix.start_again()?;
        Ok(postfix)
    }

    fn main_cf(&self, dovecot: &Dovecot) -> String {
        let r = self.root.path().display();
        format!(
            "compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
mail_owner = postfix
myhostname = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file_prefixes = {r}
maillog_file = {r}/postfix.log
virtual_mailbox_domains = localhost
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_reject_unlisted_recipient = no
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth}
smtpd_tls_cert_file = {r}/cert.pem
smtpd_tls_key_file = {r}/key.pem
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = reject_unauth_destination
alias_maps =
alias_database =
append_dot_mydomain = no
smtputf8_enable = no
biff = no
",
            lmtp = dovecot.lmtp.port(),
            auth = dovecot.auth.port(),
        )
    }

    fn master_cf(&self) -> String {
        let tls = "-o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes";
        let mut text = format!(
            "127.0.0.1:{} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes {tls}\n\
             127.0.0.1:{} inet n - n - - smtpd {tls}\n",
            self.submissions.port(),
            self.submission.port(),
        );
        for line in [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ] {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Postfix's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("postfix.log")).unwrap_or_default()
    }

    /// Starts Postfix again after [`Postfix::stop`], on the same ports.
    pub fn start_again(&mut self) -> Result<()> {
        let dir = self.root.path();
        let child = self.child.insert(
            Command::new(PathBuf::from(DAEMONS).join("master"))
                .arg("-d")
                .arg("-c")
                .arg(dir)
                .env("MAIL_CONFIG", dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        daemon::wait_listening(
            "postfix",
            child,
            &[self.submissions, self.submission],
            &self.root.path().join("postfix.log"),
        )
    }

    /// Stops Postfix (SIGTERM to the master, which ends its daemons) and
    /// waits until its ports are closed.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        daemon::terminate(&mut child)?;
        daemon::wait_closed(&[self.submissions, self.submission]);
        Ok(())
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn chown(user: &str, path: &std::path::Path) -> Result<()> {
    let status = Command::new("chown").arg(user).arg(path).status()?;
    if !status.success() {
        return Err(format!("chown {user} {} failed", path.display()).into());
    }
    Ok(())
}
