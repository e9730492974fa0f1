//! A namespace of its own for each test, deleted (with everything in it,
//! by the real namespace controller) when the test ends.

use std::sync::atomic::{AtomicU32, Ordering};

use rand::Rng;

use super::{ControlPlane, kubectl_admin};

/// A namespace created for one test; deleted when dropped.
pub struct TestNamespace {
    /// Its name: the test's prefix and a random suffix.
    pub name: String,
}

impl TestNamespace {
    /// Creates `<prefix>-<random>` (prefix cut to fit a DNS label).
    pub async fn create(prefix: &str) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        let name = format!(
            "{}-{}{:04x}",
            prefix.trim_matches('-'),
            COUNT.fetch_add(1, Ordering::Relaxed),
            rand::rng().random::<u16>()
        );
        kubectl_admin(&["create", "namespace", &name], None).await;
        Self { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Deletion finishes in the background (the namespace controller
        // removes what is inside); the test does not wait for it.
        let plane = ControlPlane::get();
        let _ = std::process::Command::new(plane.tool("kubectl"))
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .env("KUBECONFIG", &plane.kubeconfig)
            .output();
    }
}
