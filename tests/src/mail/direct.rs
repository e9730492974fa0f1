//! Direct IMAP sessions to the test Dovecot, beside the data plane: another
//! mail client changing the mailbox, and the benchmark's baseline.

use rustymail_dataplane::{
    config::{Imap, ImapSecurity},
    imap::connect::{Connection, Target},
};

use super::Result;
use super::dovecot::Dovecot;

/// A logged-in IMAPS session to `dovecot` as `user`.
pub async fn login(dovecot: &Dovecot, user: &str, password: &str) -> Result<Connection> {
    let imap = Imap {
        host: "127.0.0.1".to_owned(),
        port: dovecot.imaps.port(),
        security: ImapSecurity::Tls,
        ca_file: Some(dovecot.ca_file()),
        ..Imap::default()
    };
    let target = Target::new("direct", &imap)?;
    Ok(target.connect(user, password).await?)
}

/// Appends `raw` to `folder` (modified UTF-7 name) as `user`.
pub async fn append(
    dovecot: &Dovecot,
    user: &str,
    password: &str,
    folder: &str,
    raw: &[u8],
) -> Result<()> {
    let mut c = login(dovecot, user, password).await?;
    c.session.append(folder, None, None, raw).await?;
    c.session.logout().await?;
    Ok(())
}
