//! Starting and stopping the mail daemons the fixtures run (Dovecot,
//! Postfix): wait until a started master listens, and stop it with SIGTERM
//! until its ports are closed.
//!
//! Depends on no other module of this crate but the mail fixtures' `Result`.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant},
};

use super::Result;

/// Waits up to 15 s until every one of `addrs` accepts connections. Fails
/// at once, with `log` (the daemon's log file) in the message, when `child`
/// (daemon `name`'s master) exits first, and with it too at the deadline.
pub fn wait_listening(
    name: &str,
    child: &mut Child,
    addrs: &[SocketAddr],
    log: &Path,
) -> Result<()> {
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(15);
    for addr in addrs {
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{name} exited ({status}); its log:\n{}", log()).into());
            }
            if Instant::now() > deadline {
                return Err(format!("{name} did not listen on {addr}:\n{}", log()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Sends SIGTERM to `child` and waits up to 10 s for it to exit, then
/// kills it.
pub fn terminate(child: &mut Child) -> Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Waits up to 10 s until none of `addrs` accepts connections any more.
pub fn wait_closed(addrs: &[SocketAddr]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while addrs
        .iter()
        .any(|a| std::net::TcpStream::connect(a).is_ok())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
}
