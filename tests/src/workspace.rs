//! Paths of the repository and of the binaries cargo built for it, so tests
//! can run the real `rustymail-operator` and `rustymail-dataplane`.
//!
//! Depends on no other module of this crate.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

/// The repository root (the workspace directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The newest modification time of any file under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            if path.is_dir() {
                newest(&path)
            } else {
                e.metadata().ok()?.modified().ok()
            }
        })
        .max()
}

/// A binary of the workspace, built in the same profile as the running test.
/// `scripts/test` builds every binary before testing; a missing binary, or one
/// older than its sources, fails the test rather than testing stale code.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> or target/<profile>/<bin> -> target/<profile>
    let mut profile_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if profile_dir.ends_with("deps") {
        profile_dir.pop();
    }
    let path = profile_dir.join(name);
    let built = std::fs::metadata(&path).and_then(|m| m.modified());
    let built_from: &[&str] = match name {
        "rustymail-dataplane" => &["dataplane/src", "config/src"],
        _ => &["operator/src", "config/src"],
    };
    let sources = built_from
        .iter()
        .filter_map(|d| newest(&root().join(d)))
        .max();
    match (built, sources) {
        (Err(_), _) => panic!(
            "{} is not built; run `cargo build --workspace --bins` first (scripts/test does)",
            path.display()
        ),
        (Ok(built), Some(sources)) if built < sources => panic!(
            "{} is older than its sources; run `cargo build --workspace --bins` first (scripts/test does)",
            path.display()
        ),
        _ => path,
    }
}

/// The per-machine cache `scripts/setup` fills: `$RUSTYMAIL_CACHE`, else
/// `~/.cache/rustymail`.
pub fn cache() -> PathBuf {
    std::env::var_os("RUSTYMAIL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/rustymail")))
        .unwrap_or_default()
}

/// The command `name` of a Python tool `scripts/setup` installs, each in a
/// virtual environment of its own: its link in `<cache>/bin`, else `name`
/// as `PATH` finds it.
pub fn python_tool(name: &str) -> PathBuf {
    let linked = cache().join("bin").join(name);
    if linked.is_file() {
        linked
    } else {
        PathBuf::from(name)
    }
}

/// Every example RustyMail file, sorted by name.
pub fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    files
}
