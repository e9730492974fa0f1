//! Reading the certificate files from disk.
//!
//! A `certDir` is a Kubernetes Secret volume: `tls.crt` and `tls.key` are
//! symlinks through `..data`, itself a symlink to a `..<timestamp>` folder
//! that kubelet replaces atomically (write the new folder, point `..data_tmp`
//! at it, rename it over `..data`, delete the old folder). Both files are read
//! from the folder `..data` points to at one instant, so a rotation between the
//! two reads cannot pair one version's certificate with another's key.

use std::{
    io,
    path::{Path, PathBuf},
};

use super::certificate::PemPair;
use crate::config::Tls;

/// Certificate file in a `certDir`.
pub const CERT_FILE: &str = "tls.crt";
/// Key file in a `certDir`.
pub const KEY_FILE: &str = "tls.key";
/// The symlink kubelet swaps atomically.
const DATA_LINK: &str = "..data";
/// Reads retried when a folder vanished under a concurrent rotation.
const READ_ATTEMPTS: usize = 3;

/// Where the served certificate is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// A directory in the kubelet Secret-volume layout (`tls.certDir`).
    Dir {
        /// The mounted directory.
        dir: PathBuf,
        /// `tls.caFile`, if set.
        ca: Option<PathBuf>,
    },
    /// A certificate file and a key file (`tls.certFile`, `tls.keyFile`).
    Files {
        /// The PEM chain.
        cert: PathBuf,
        /// The PEM key.
        key: PathBuf,
        /// `tls.caFile`, if set.
        ca: Option<PathBuf>,
    },
}

impl CertSource {
    /// The source `tls` configures, if any.
    pub fn from_config(tls: &Tls) -> Option<Self> {
        let ca = tls.ca_file.clone();
        match (&tls.cert_dir, &tls.cert_file, &tls.key_file) {
            (Some(dir), _, _) => Some(Self::Dir {
                dir: dir.clone(),
                ca,
            }),
            (None, Some(cert), Some(key)) => Some(Self::Files {
                cert: cert.clone(),
                key: key.clone(),
                ca,
            }),
            _ => None,
        }
    }

    /// Reads the certificate, key and CA as they are now.
    pub fn read(&self) -> io::Result<PemPair> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.read_once() {
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < READ_ATTEMPTS => {}
                other => return other,
            }
        }
    }

    fn read_once(&self) -> io::Result<PemPair> {
        let (cert, key, ca) = match self {
            Self::Dir { dir, ca } => {
                let snapshot = snapshot_dir(dir);
                (snapshot.join(CERT_FILE), snapshot.join(KEY_FILE), ca)
            }
            Self::Files { cert, key, ca } => (cert.clone(), key.clone(), ca),
        };
        Ok(PemPair {
            cert: read(&cert)?,
            key: read(&key)?,
            ca: ca.as_deref().map(read).transpose()?,
        })
    }

    /// The directories whose changes may change the certificate.
    pub fn watched_dirs(&self) -> Vec<PathBuf> {
        let dirs = match self {
            Self::Dir { dir, ca } => vec![Some(dir.clone()), ca.as_deref().and_then(parent)],
            Self::Files { cert, key, ca } => {
                vec![parent(cert), parent(key), ca.as_deref().and_then(parent)]
            }
        };
        let mut out: Vec<PathBuf> = Vec::new();
        for dir in dirs.into_iter().flatten() {
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
        out
    }
}

fn parent(file: &Path) -> Option<PathBuf> {
    match file.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(PathBuf::from(".")),
        other => other.map(Path::to_owned),
    }
}

/// The folder `..data` points to now, or `dir` itself when it is a plain directory.
fn snapshot_dir(dir: &Path) -> PathBuf {
    match std::fs::read_link(dir.join(DATA_LINK)) {
        Ok(target) => dir.join(target),
        Err(_) => dir.to_owned(),
    }
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn kubelet_layout_is_read_through_one_data_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("..2024_01_01")).expect("mkdir");
        std::fs::write(d.join("..2024_01_01/tls.crt"), "cert-1").expect("write");
        std::fs::write(d.join("..2024_01_01/tls.key"), "key-1").expect("write");
        symlink("..2024_01_01", d.join("..data")).expect("link");
        symlink("..data/tls.crt", d.join("tls.crt")).expect("link");
        symlink("..data/tls.key", d.join("tls.key")).expect("link");
        let source = CertSource::Dir {
            dir: d.to_owned(),
            ca: None,
        };
        let pem = source.read().expect("reads");
        assert_eq!((pem.cert, pem.key), (b"cert-1".to_vec(), b"key-1".to_vec()));
        assert_eq!(source.watched_dirs(), [d.to_owned()]);
    }

    #[test]
    fn plain_directory_and_file_pairs_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("tls.crt"), "c").expect("write");
        std::fs::write(d.join("tls.key"), "k").expect("write");
        let plain = CertSource::Dir {
            dir: d.to_owned(),
            ca: None,
        };
        assert_eq!(plain.read().expect("reads").cert, b"c");
        let files = CertSource::Files {
            cert: d.join("tls.crt"),
            key: d.join("tls.key"),
            ca: Some(d.join("missing-ca.crt")),
        };
        let err = files.read().unwrap_err();
        assert!(err.to_string().contains("missing-ca.crt"), "{err}");
        assert_eq!(files.watched_dirs(), [d.to_owned()]);
    }
}
