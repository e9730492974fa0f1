use axum::http::HeaderValue;

use super::*;
use crate::config::Secret;

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

fn authenticator(tweak: impl FnOnce(&mut Auth)) -> Authenticator {
    let mut auth = Auth::default();
    auth.jwt.secret = Some(Secret::new(SECRET));
    tweak(&mut auth);
    let a = Authenticator::from_config(&auth).expect("loads");
    a.replace_keys(KeySet::parse("ci:key-one\nops:key-two\n").expect("keys"));
    a
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(
            HeaderName::try_from(*name).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    h
}

fn user(r: Result<Option<Identity>, Refusal>) -> Result<Option<String>, Refusal> {
    r.map(|i| i.map(|i| i.user.to_string()))
}

#[test]
fn keys_are_accepted_in_the_header_and_as_bearer() {
    let a = authenticator(|_| {});
    let got = user(a.authenticate(&headers(&[("x-api-key", "key-one")])));
    assert_eq!(got, Ok(Some("ci".into())));
    let got = user(a.authenticate(&headers(&[("authorization", "Bearer key-two")])));
    assert_eq!(got, Ok(Some("ops".into())));
    let got = user(a.authenticate(&headers(&[("authorization", "bearer  key-two ")])));
    assert_eq!(got, Ok(Some("ops".into())));
    assert_eq!(
        user(a.authenticate(&headers(&[("x-api-key", "key-three")]))),
        Err(Refusal::InvalidKey)
    );
    assert_eq!(user(a.authenticate(&headers(&[]))), Err(Refusal::Missing));
    assert_eq!(
        user(a.authenticate(&headers(&[("authorization", "Basic Y2k6a2V5")]))),
        Err(Refusal::Missing)
    );
}

#[test]
fn a_configured_header_replaces_x_api_key() {
    let a = authenticator(|auth| auth.api_keys.header = "X-Mail-Key".into());
    assert_eq!(
        user(a.authenticate(&headers(&[("x-mail-key", "key-one")]))),
        Ok(Some("ci".into()))
    );
    assert_eq!(
        user(a.authenticate(&headers(&[("x-api-key", "key-one")]))),
        Err(Refusal::Missing)
    );
}

#[test]
fn access_tokens_authenticate_and_refresh_tokens_do_not() {
    let a = authenticator(|_| {});
    let ci = a
        .authenticate(&headers(&[("x-api-key", "key-one")]))
        .expect("ok")
        .expect("identity");
    let pair = a.issue(&ci).expect("tokens enabled");
    let bearer = format!("Bearer {}", pair.access_token);
    let got = a
        .authenticate(&headers(&[("authorization", &bearer)]))
        .expect("ok")
        .expect("identity");
    assert_eq!(
        (&*got.user, got.method, got.key),
        ("ci", Method::Token, ci.key)
    );
    let bearer = format!("Bearer {}", pair.refresh_token);
    assert_eq!(
        user(a.authenticate(&headers(&[("authorization", &bearer)]))),
        Err(Refusal::Token(JwtRefusal::WrongUse))
    );
    let (again, _) = a.refresh(&pair.refresh_token).expect("refreshes");
    assert_eq!(&*again.user, "ci");
    assert_eq!(
        a.refresh(&pair.access_token).err(),
        Some(Refusal::Token(JwtRefusal::WrongUse))
    );
}

#[test]
fn removing_a_key_revokes_it_and_its_tokens() {
    let a = authenticator(|_| {});
    let ci = a
        .authenticate(&headers(&[("x-api-key", "key-one")]))
        .expect("ok")
        .expect("identity");
    let pair = a.issue(&ci).expect("tokens");
    a.replace_keys(KeySet::parse("ops:key-two\n").expect("keys"));
    assert_eq!(
        user(a.authenticate(&headers(&[("x-api-key", "key-one")]))),
        Err(Refusal::InvalidKey)
    );
    let bearer = format!("Bearer {}", pair.access_token);
    assert_eq!(
        user(a.authenticate(&headers(&[("authorization", &bearer)]))),
        Err(Refusal::RevokedSubject)
    );
}

#[test]
fn a_new_jwt_secret_invalidates_older_tokens() {
    let a = authenticator(|_| {});
    let ci = a
        .authenticate(&headers(&[("x-api-key", "key-one")]))
        .expect("ok")
        .expect("identity");
    let pair = a.issue(&ci).expect("tokens");
    a.replace_jwt_secret(b"a-completely-different-secret-of-40-bytes")
        .expect("long enough");
    let bearer = format!("Bearer {}", pair.access_token);
    assert_eq!(
        user(a.authenticate(&headers(&[("authorization", &bearer)]))),
        Err(Refusal::Token(JwtRefusal::Signature))
    );
}

#[test]
fn public_paths_and_optional_credentials() {
    let a = authenticator(|auth| {
        auth.api_keys.public_paths = vec!["/api/v1/openapi.json".into(), "/docs/*".into()];
        auth.api_keys.required = false;
    });
    assert!(a.is_public("/api/v1/openapi.json"));
    assert!(a.is_public("/docs/index.html"));
    assert!(a.is_public(REFRESH_PATH));
    assert!(!a.is_public("/api/v1/folders"));
    assert!(!a.is_public("/api/v1/openapi.json/x"));
    assert_eq!(user(a.authenticate(&headers(&[]))), Ok(None));
    assert_eq!(
        user(a.authenticate(&headers(&[("x-api-key", "wrong")]))),
        Err(Refusal::InvalidKey),
        "optional credentials are still checked when given"
    );
}

#[test]
fn a_read_only_key_and_its_tokens_stay_read_only() {
    use crate::auth::scope::{Scope, Scopes};
    let a = authenticator(|_| {});
    a.replace_keys(KeySet::parse("agent:key-ro scopes=read_mail\nci:key-one\n").expect("keys"));
    let agent = a
        .authenticate(&headers(&[("x-api-key", "key-ro")]))
        .expect("ok")
        .expect("identity");
    assert_eq!(agent.scopes, Scopes::READ_ONLY);
    let pair = a.issue(&agent).expect("tokens");
    let bearer = format!("Bearer {}", pair.access_token);
    let by_token = a
        .authenticate(&headers(&[("authorization", &bearer)]))
        .expect("ok")
        .expect("identity");
    assert!(by_token.scopes.allows(Scope::ReadMail));
    assert!(!by_token.scopes.allows(Scope::ChangeMail));
    let (refreshed, _) = a.refresh(&pair.refresh_token).expect("refreshes");
    assert_eq!(refreshed.scopes, Scopes::READ_ONLY);
    // A full key whose token was issued before the key was narrowed: the
    // key's scopes now bound the token's.
    let ci = a
        .authenticate(&headers(&[("x-api-key", "key-one")]))
        .expect("ok")
        .expect("identity");
    let pair = a.issue(&ci).expect("tokens");
    a.replace_keys(KeySet::parse("ci:key-one scopes=read_mail\n").expect("keys"));
    let bearer = format!("Bearer {}", pair.access_token);
    let narrowed = a
        .authenticate(&headers(&[("authorization", &bearer)]))
        .expect("ok")
        .expect("identity");
    assert_eq!(narrowed.scopes, Scopes::READ_ONLY);
}

#[test]
fn a_key_without_scopes_and_its_tokens_carry_every_scope_but_send() {
    let a = authenticator(|_| {});
    let key = a
        .authenticate(&headers(&[("x-api-key", "key-one")]))
        .expect("ok")
        .expect("identity");
    assert_eq!(key.scopes, scope::Scopes::UNMARKED);
    let pair = a.issue(&key).expect("tokens enabled");
    let bearer = format!("Bearer {}", pair.access_token);
    let token = a
        .authenticate(&headers(&[("authorization", &bearer)]))
        .expect("ok")
        .expect("identity");
    assert_eq!(token.scopes, scope::Scopes::UNMARKED);
}
