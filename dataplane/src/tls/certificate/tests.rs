use super::*;
use crate::tls::testing::{issued_by, self_signed_pair};

fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[test]
fn matching_pair_is_accepted_with_its_expiry() {
    let pair = self_signed_pair("a.example");
    let cert = parse(&pair, &provider()).expect("valid pair");
    assert!(cert.not_after > 0);
    assert_eq!(cert.fingerprint, pair.fingerprint());
}

#[test]
fn key_of_another_certificate_is_a_mismatch() {
    let mut pair = self_signed_pair("a.example");
    pair.key = self_signed_pair("b.example").key;
    let err = parse(&pair, &provider()).unwrap_err();
    assert_eq!(err.label(), "mismatch", "{err}");
}

#[test]
fn truncated_or_empty_files_are_rejected() {
    let good = self_signed_pair("a.example");
    let mut truncated = good.clone();
    truncated.cert.truncate(truncated.cert.len() / 2);
    assert!(parse(&truncated, &provider()).is_err());
    let mut empty = good.clone();
    empty.cert.clear();
    assert_eq!(parse(&empty, &provider()).unwrap_err().label(), "empty");
    let mut no_key = good;
    no_key.key = b"garbage".to_vec();
    assert_eq!(parse(&no_key, &provider()).unwrap_err().label(), "key");
}

#[test]
fn configured_ca_must_have_issued_the_chain() {
    let (pair, ca_pem) = issued_by("a.example");
    let mut with_ca = pair.clone();
    with_ca.ca = Some(ca_pem);
    parse(&with_ca, &provider()).expect("issued by the CA");
    let mut other_ca = pair;
    other_ca.ca = Some(self_signed_pair("rogue").cert);
    assert_eq!(
        parse(&other_ca, &provider()).unwrap_err().label(),
        "untrusted"
    );
}
