//! `mail-sandbox`: a local Dovecot with sample mail for trying the data
//! plane (what `scripts/dovecot` runs). Rootless, loopback only, temporary.
//!
//! Writes a data-plane config for it and prints its path on the first line
//! of standard output, then serves until SIGINT or SIGTERM.

use std::{io::Write, process::ExitCode};

use rustymail_tests::mail::{
    Result, direct,
    dovecot::{ALICE, Dovecot, Options},
    samples,
};

async fn run() -> Result<()> {
    let dovecot = Dovecot::start(Options::default())?;
    let mut c = direct::login(&dovecot, ALICE.0, ALICE.1).await?;
    for (folder, raw) in [
        (
            "INBOX",
            samples::plain("carol@example.com", "Welcome to RustyMail", "Hello!"),
        ),
        (
            "INBOX",
            samples::plain("dave@example.com", "Lunch on Friday?", "Noon?"),
        ),
        ("INBOX", samples::multipart()),
    ] {
        c.session.append(folder, None, None, raw).await?;
    }
    for (name, wire) in [
        ("Archive/2024", "Archive/2024"),
        ("Entwürfe", "Entw&APw-rfe"),
    ] {
        c.session.create(wire).await?;
        let raw = samples::plain("me@example.com", &format!("A message in {name}"), "x");
        c.session.append(wire, None, None, raw).await?;
    }
    c.session.logout().await?;

    let work = tempfile::Builder::new()
        .prefix("rustymail-sandbox")
        .tempdir()?;
    let w = work.path();
    std::fs::write(w.join("username"), ALICE.0)?;
    std::fs::write(w.join("password"), ALICE.1)?;
    let config = w.join("dataplane.yaml");
    std::fs::write(
        &config,
        format!(
            "# The data plane in front of the sandbox's Dovecot (mail-sandbox).\n\
             listen: {{ api: 127.0.0.1:9437, admin: 127.0.0.1:9090 }}\n\
             accounts:\n  - name: demo\n    imap: {{ host: 127.0.0.1, port: {}, security: tls, caFile: {} }}\n    \
             usernameFile: {}\n    passwordFile: {}\n",
            dovecot.imaps.port(),
            dovecot.ca_file().display(),
            w.join("username").display(),
            w.join("password").display(),
        ),
    )?;
    println!("{}", config.display());
    std::io::stdout().flush()?;
    eprintln!(
        "mail-sandbox: Dovecot on 127.0.0.1:{} (IMAPS) and :{} (STARTTLS), user {} password {}",
        dovecot.imaps.port(),
        dovecot.imap.port(),
        ALICE.0,
        ALICE.1
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(dovecot);
    Ok(())
}

fn main() -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|rt| rt.block_on(run()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mail-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}
