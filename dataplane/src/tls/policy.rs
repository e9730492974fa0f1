//! The TLS policy of the API listener, from config to a rustls `ServerConfig`.
//!
//! TLS 1.2 and 1.3 only (1.3 only with `minVersion: "1.3"`), forward-secret
//! AEAD suites only, the server's order of preference, session resumption by
//! tickets and by a session cache, ALPN `h2` then `http/1.1`. Renegotiation
//! does not exist in rustls, so it cannot be turned on.

use std::sync::Arc;

use rustls::{
    ServerConfig, SupportedCipherSuite, SupportedProtocolVersion,
    crypto::{CryptoProvider, aws_lc_rs},
    server::{ResolvesServerCert, ServerSessionMemoryCache},
    version::{TLS12, TLS13},
};

use crate::config::{
    Tls,
    tls::{CipherSuite, SUPPORTED_CIPHER_SUITES, TlsVersion},
};

/// Sessions remembered for TLS 1.2 session-ID resumption.
const SESSION_CACHE_SIZE: usize = 4096;

/// ALPN protocols offered, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The rustls implementation of each IANA-named suite the config admits.
const RUSTLS_SUITES: [(&str, SupportedCipherSuite); 9] = {
    use aws_lc_rs::cipher_suite as cs;
    [
        ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
        ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

/// The rustls suite implementing the IANA-named `suite`.
pub fn rustls_suite(suite: &CipherSuite) -> Option<SupportedCipherSuite> {
    RUSTLS_SUITES
        .iter()
        .find(|(name, _)| *name == suite.name)
        .map(|(_, s)| *s)
}

/// The suites `tls` enables, in the server's order of preference.
pub fn cipher_suites(tls: &Tls) -> Vec<SupportedCipherSuite> {
    let listed = if tls.cipher_suites.is_empty() {
        SUPPORTED_CIPHER_SUITES
    } else {
        &tls.cipher_suites[..]
    };
    listed
        .iter()
        .filter(|s| s.version >= tls.min_version)
        .filter_map(rustls_suite)
        .collect()
}

/// The protocol versions `min` enables.
pub fn protocol_versions(min: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    static BOTH: [&SupportedProtocolVersion; 2] = [&TLS13, &TLS12];
    static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&TLS13];
    match min {
        TlsVersion::Tls12 => &BOTH,
        TlsVersion::Tls13 => &TLS13_ONLY,
    }
}

/// The aws-lc-rs provider restricted to the suites `tls` enables.
pub fn crypto_provider(tls: &Tls) -> CryptoProvider {
    CryptoProvider {
        cipher_suites: cipher_suites(tls),
        ..aws_lc_rs::default_provider()
    }
}

/// Builds the one `ServerConfig` the API listener uses for its whole life;
/// certificates change underneath it through `resolver`.
pub fn server_config(
    tls: &Tls,
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(crypto_provider(tls)))
        .with_protocol_versions(protocol_versions(tls.min_version))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.ignore_client_order = true;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    config.ticketer = aws_lc_rs::Ticketer::new()?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(suites: &[SupportedCipherSuite]) -> Vec<String> {
        suites.iter().map(|s| format!("{:?}", s.suite())).collect()
    }

    #[test]
    fn every_supported_name_maps_to_the_same_rustls_suite() {
        for suite in SUPPORTED_CIPHER_SUITES {
            let rustls = rustls_suite(suite).expect("every admitted suite is implemented");
            let rustls_name = format!("{:?}", rustls.suite());
            assert_eq!(rustls_name.replace("TLS13_", "TLS_"), suite.name);
        }
    }

    #[test]
    fn default_policy_offers_only_forward_secret_aead_suites() {
        let suites = names(&cipher_suites(&Tls::default()));
        assert_eq!(suites.len(), SUPPORTED_CIPHER_SUITES.len());
        for name in &suites {
            let aead = name.contains("GCM") || name.contains("CHACHA20_POLY1305");
            let forward_secret = name.starts_with("TLS13_") || name.contains("ECDHE");
            assert!(aead && forward_secret, "{name}");
        }
    }

    #[test]
    fn tls13_minimum_drops_tls12_suites_and_version() {
        let tls = Tls {
            min_version: TlsVersion::Tls13,
            ..Tls::default()
        };
        assert!(
            names(&cipher_suites(&tls))
                .iter()
                .all(|n| n.starts_with("TLS13_"))
        );
        assert_eq!(protocol_versions(TlsVersion::Tls13), &[&TLS13]);
    }

    #[test]
    fn configured_order_is_the_servers_preference() {
        let tls = Tls {
            cipher_suites: ["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]
                .iter()
                .map(|n| n.parse().expect("known suite"))
                .collect(),
            ..Tls::default()
        };
        assert_eq!(
            names(&cipher_suites(&tls)),
            ["TLS13_CHACHA20_POLY1305_SHA256", "TLS13_AES_128_GCM_SHA256"]
        );
    }
}
