//! The attacks the verifier must refuse, each forged by hand.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::*;
use crate::auth::scope::Scopes;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

fn keys() -> JwtKeys {
    JwtKeys::new(SECRET, &Jwt::default()).expect("keys")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<_>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// A token with `header` and `claims`, HMAC-signed with `key` whatever the
/// header says.
fn forge(header: &str, claims: &Claims, key: &[u8]) -> String {
    let claims = serde_json::to_string(claims).expect("claims");
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(key, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

fn claims(token_use: TokenUse) -> Claims {
    let now = unix_now();
    Claims {
        sub: "ci".into(),
        iss: "rustymail".into(),
        aud: "rustymail-api".into(),
        iat: now,
        nbf: now,
        exp: now + 600,
        token_use,
        scope: None,
    }
}

const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[test]
fn a_token_forged_by_hand_with_the_secret_verifies() {
    let token = forge(HS256, &claims(TokenUse::Access), SECRET);
    assert_eq!(
        keys().verify(&token, TokenUse::Access),
        Ok(claims(TokenUse::Access))
    );
}

#[test]
fn issued_pairs_verify_for_their_own_use_only() {
    let pair = keys().issue("ci", Scopes::ALL, unix_now());
    let access = keys()
        .verify(&pair.access_token, TokenUse::Access)
        .expect("access");
    assert_eq!((access.sub.as_str(), access.exp - access.iat), ("ci", 3600));
    assert_eq!(
        keys().verify(&pair.refresh_token, TokenUse::Access),
        Err(JwtRefusal::WrongUse),
        "a refresh token is never an access token"
    );
    assert_eq!(
        keys().verify(&pair.access_token, TokenUse::Refresh),
        Err(JwtRefusal::WrongUse)
    );
    let refresh = keys()
        .verify(&pair.refresh_token, TokenUse::Refresh)
        .expect("refresh");
    assert_eq!(refresh.exp - refresh.iat, 168 * 3600);
}

#[test]
fn alg_none_is_refused() {
    let c = serde_json::to_string(&claims(TokenUse::Access)).expect("claims");
    for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"None"}"#] {
        let token = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(&c)
        );
        let refused = keys().verify(&token, TokenUse::Access).unwrap_err();
        assert!(
            matches!(refused, JwtRefusal::Algorithm | JwtRefusal::Malformed),
            "{header}: {refused:?}"
        );
    }
}

#[test]
fn an_rs256_header_is_refused_even_when_hmac_signed_with_the_secret() {
    let token = forge(
        r#"{"alg":"RS256","typ":"JWT"}"#,
        &claims(TokenUse::Access),
        SECRET,
    );
    assert_eq!(
        keys().verify(&token, TokenUse::Access),
        Err(JwtRefusal::Algorithm)
    );
    let token = forge(
        r#"{"alg":"HS512","typ":"JWT"}"#,
        &claims(TokenUse::Access),
        SECRET,
    );
    assert_eq!(
        keys().verify(&token, TokenUse::Access),
        Err(JwtRefusal::Algorithm)
    );
}

#[test]
fn a_token_signed_with_another_key_is_refused() {
    let token = forge(
        HS256,
        &claims(TokenUse::Access),
        b"another-secret-of-thirty-two-bytes!!",
    );
    assert_eq!(
        keys().verify(&token, TokenUse::Access),
        Err(JwtRefusal::Signature)
    );
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let mut c = claims(TokenUse::Access);
    c.iat -= 7200;
    c.nbf -= 7200;
    c.exp = unix_now() - 60;
    assert_eq!(
        keys().verify(&forge(HS256, &c, SECRET), TokenUse::Access),
        Err(JwtRefusal::Expired)
    );
    let mut c = claims(TokenUse::Access);
    c.nbf = unix_now() + 600;
    c.exp = c.nbf + 600;
    assert_eq!(
        keys().verify(&forge(HS256, &c, SECRET), TokenUse::Access),
        Err(JwtRefusal::NotYetValid)
    );
}

#[test]
fn another_issuer_or_audience_is_refused() {
    let mut c = claims(TokenUse::Access);
    c.iss = "someone-else".into();
    assert_eq!(
        keys().verify(&forge(HS256, &c, SECRET), TokenUse::Access),
        Err(JwtRefusal::Issuer)
    );
    let mut c = claims(TokenUse::Access);
    c.aud = "another-api".into();
    assert_eq!(
        keys().verify(&forge(HS256, &c, SECRET), TokenUse::Access),
        Err(JwtRefusal::Audience)
    );
}

#[test]
fn garbage_is_malformed_and_short_secrets_are_refused() {
    for token in ["", "abc", "a.b.c", "eyJ.eyJ.x"] {
        assert_eq!(
            keys().verify(token, TokenUse::Access),
            Err(JwtRefusal::Malformed),
            "{token}"
        );
    }
    assert_eq!(
        JwtKeys::new(b"short", &Jwt::default()).err(),
        Some(SecretError::TooShort(5))
    );
}
