//! The benchmark's CA and server certificate (ECDSA P-256, like the
//! operator's and cert-manager's), in a kubelet-style Secret directory.

use std::{
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use super::Result;

/// A CA and the directory holding the leaf it issued last.
pub struct CertDir {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
    generation: AtomicUsize,
}

impl CertDir {
    /// A new CA and a first leaf under `work/tls`.
    pub fn new(work: &Path) -> Result<Self> {
        let mut params = CertificateParams::new(Vec::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tls-bench CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let dir = work.join("tls");
        std::fs::create_dir(&dir)?;
        let certs = Self {
            dir,
            ca,
            generation: AtomicUsize::new(0),
        };
        certs.rotate()?;
        symlink("..data/tls.crt", certs.dir.join("tls.crt"))?;
        symlink("..data/tls.key", certs.dir.join("tls.key"))?;
        Ok(certs)
    }

    /// The Secret directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// Issues a new leaf and publishes it as kubelet does (new folder,
    /// `..data_tmp` renamed over `..data`, old folder removed). Returns the
    /// leaf's DER.
    pub fn rotate(&self) -> Result<Vec<u8>> {
        let key = KeyPair::generate()?;
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let leaf = CertificateParams::new(names)?.signed_by(&key, &self.ca)?;
        let n = self.generation.fetch_add(1, Ordering::SeqCst);
        let folder = format!("..2026_01_01_00_00_00.{n:06}");
        let d = &self.dir;
        std::fs::create_dir(d.join(&folder))?;
        std::fs::write(d.join(&folder).join("tls.crt"), leaf.pem())?;
        std::fs::write(d.join(&folder).join("tls.key"), key.serialize_pem())?;
        let old = std::fs::read_link(d.join("..data")).ok();
        symlink(&folder, d.join("..data_tmp"))?;
        std::fs::rename(d.join("..data_tmp"), d.join("..data"))?;
        if let Some(old) = old {
            std::fs::remove_dir_all(d.join(old))?;
        }
        Ok(leaf.der().to_vec())
    }
}
