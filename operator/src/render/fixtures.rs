//! Test fixtures: RustyMail resources built like the scenario they describe.

use crate::crd::RustyMail;

/// A minimal RustyMail `mail` in namespace `team-a` with one account.
pub fn minimal() -> RustyMail {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "rustymail.io/v1alpha1",
        "kind": "RustyMail",
        "metadata": {"name": "mail", "namespace": "team-a", "uid": "0d1e2f30-1111-4222-8333-944455556666"},
        "spec": {"accounts": [{
            "name": "support",
            "imap": {"host": "imap.example.com"},
            "credentialsSecretRef": {"name": "support-imap"}
        }]}
    }))
    .unwrap_or_else(|e| panic!("fixture is valid: {e}"))
}
