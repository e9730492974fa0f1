//! Watching files that are replaced in place: kubelet swaps a Secret
//! volume's `..data` symlink in the files' directory, editors rename over
//! the old file. So the *directories* are watched ([`watch_dirs`]), and a
//! caller that must not miss a change also re-checks on a timer
//! ([`on_change`]), since file events can be lost.
//!
//! May depend on, in this crate: `shutdown`.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::shutdown::Shutdown;

/// Pause after a file event before checking, so that a writer's several
/// steps (two files, or kubelet's swap) are seen once, complete.
const SETTLE: Duration = Duration::from_millis(50);

/// The directories holding `files`, each once; `.` for a bare file name.
pub fn parent_dirs<'a>(files: impl IntoIterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for file in files {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Calls `changed` on every event in `dirs` other than a read. `what` names
/// the files in the warnings logged when they cannot be watched. The watch
/// lasts as long as the returned watcher; `None` when none could be set up.
pub fn watch_dirs(
    dirs: &[PathBuf],
    what: &str,
    changed: impl Fn() + Send + 'static,
) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        // Our own reads show up as access events; they change nothing.
        if event.is_ok_and(|e| !matches!(e.kind, EventKind::Access(_))) {
            changed();
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch {what}; relying on periodic checks");
            return None;
        }
    };
    for dir in dirs {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the directory of {what}; relying on periodic checks");
        }
    }
    Some(watcher)
}

/// Runs `check` after every change in `dirs` (once it has settled) and
/// every `interval`, until `shutdown`.
pub async fn on_change(
    dirs: &[PathBuf],
    what: &str,
    interval: Duration,
    shutdown: Shutdown,
    mut check: impl FnMut(),
) {
    let wake = Arc::new(Notify::new());
    let notify = Arc::clone(&wake);
    // Dropping the watcher stops it, so it lives as long as this loop.
    let _watcher = watch_dirs(dirs, what, move || notify.notify_one());
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = wake.notified() => tokio::time::sleep(SETTLE).await,
            _ = ticker.tick() => {}
            () = shutdown.wait() => return,
        }
        check();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_one_directory_are_watched_through_it_once() {
        let dirs = parent_dirs([
            Path::new("/etc/keys/api-keys"),
            Path::new("/etc/keys/jwt-secret"),
            Path::new("password"),
        ]);
        assert_eq!(dirs, [PathBuf::from("/etc/keys"), PathBuf::from(".")]);
    }
}
