//! Input validation for the API's routes: the guide's email address
//! pattern and length, folder names, UIDs, paging, and JSON bodies whose
//! every problem is a 400 naming the field at fault.
//!
//! ```ignore
//! async fn append(Path(name): Path<String>, ValidJson(body): ValidJson<NewEmail>) -> Result<…, ApiError> {
//!     let folder = validate::folder_name("name", &name)?;
//!     let to = validate::email("to", &body.to)?;
//! ```

use std::sync::LazyLock;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use regex::Regex;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The longest email address accepted, as the guide sets it.
pub const MAX_EMAIL_LENGTH: usize = 255;

/// The longest folder name accepted, in bytes.
pub const MAX_FOLDER_NAME_LENGTH: usize = 255;

/// The most messages one page lists.
pub const MAX_LIMIT: u32 = 100;

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 20;

/// The guide's email address pattern.
pub const EMAIL_PATTERN: &str = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(EMAIL_PATTERN).expect("the guide's email pattern is a valid regex")
});

/// The 400 answered for `field`, with what is wrong with it.
pub fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_field",
        format!("{field}: {message}"),
    )
}

/// `value` if it is an email address the guide accepts.
pub fn email<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.len() > MAX_EMAIL_LENGTH {
        return Err(invalid(
            field,
            format!("longer than {MAX_EMAIL_LENGTH} characters"),
        ));
    }
    if !EMAIL.is_match(value) {
        return Err(invalid(
            field,
            "is not an email address like name@example.com",
        ));
    }
    Ok(value)
}

/// `value` if it can name an IMAP folder: 1 to 255 bytes, no control
/// characters, no IMAP wildcards (`*`, `%`), no blank at either end.
pub fn folder_name<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > MAX_FOLDER_NAME_LENGTH {
        return Err(invalid(
            field,
            format!("longer than {MAX_FOLDER_NAME_LENGTH} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if value.contains(['*', '%']) {
        return Err(invalid(field, "must not contain the IMAP wildcards * or %"));
    }
    if value.trim() != value {
        return Err(invalid(field, "must not start or end with a blank"));
    }
    Ok(value)
}

/// `value` as a message UID: a whole number from 1 to 4294967295.
pub fn uid(field: &str, value: &str) -> Result<u32, ApiError> {
    match value.parse::<u32>() {
        Ok(0) | Err(_) => Err(invalid(
            field,
            "must be a message UID, a whole number from 1 to 4294967295",
        )),
        Ok(uid) => Ok(uid),
    }
}

/// The page size asked for: [`DEFAULT_LIMIT`] when absent, 1 to [`MAX_LIMIT`].
pub fn limit(field: &str, value: Option<u32>) -> Result<u32, ApiError> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=MAX_LIMIT) => Ok(n),
        Some(_) => Err(invalid(field, format!("must be from 1 to {MAX_LIMIT}"))),
    }
}

/// A JSON body deserialized into `T`; any problem is a 400 naming the
/// field (`to[1]: invalid type: integer, expected a string`) or a 415 for
/// another media type.
#[derive(Debug, Clone)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "this route takes a JSON body (content-type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            ApiError::from_status(status)
        })?;
        parse_json(&bytes).map(ValidJson)
    }
}

/// `bytes` as JSON of `T`, a problem named by the path of its field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        invalid(&field, e.into_inner())
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn the_guides_email_pattern_and_length_are_enforced() {
        assert!(Regex::new(EMAIL_PATTERN).is_ok());
        for ok in [
            "alice@example.com",
            "a.b+tag@mail.example.org",
            "x_y%z@host.io",
        ] {
            assert_eq!(email("to", ok).map_err(|e| e.message), Ok(ok));
        }
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "a@b.c",
            "a b@example.com",
            "a@example.com\n",
        ] {
            let err = email("to", bad).unwrap_err();
            assert_eq!(err.status, 400);
            assert!(err.message.starts_with("to: "), "{}", err.message);
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(email("from", &long).unwrap_err().message.contains("255"));
    }

    #[test]
    fn folder_names_uids_and_limits_are_checked_by_field() {
        assert!(folder_name("name", "INBOX/Archive 2024").is_ok());
        for bad in ["", "IN\r\nBOX", "*", "a%", " INBOX", &"x".repeat(256)] {
            let err = folder_name("name", bad).unwrap_err();
            assert!(
                err.message.starts_with("name: "),
                "{bad:?}: {}",
                err.message
            );
        }
        assert_eq!(uid("uid", "42").map_err(|e| e.message), Ok(42));
        for bad in ["0", "-1", "abc", "4294967296", ""] {
            assert!(uid("uid", bad).is_err(), "{bad}");
        }
        assert_eq!(
            limit("limit", None).map_err(|e| e.message),
            Ok(DEFAULT_LIMIT)
        );
        assert_eq!(limit("limit", Some(100)).map_err(|e| e.message), Ok(100));
        assert!(limit("limit", Some(0)).is_err());
        assert!(
            limit("limit", Some(101))
                .unwrap_err()
                .message
                .starts_with("limit: ")
        );
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct NewEmail {
        to: Vec<String>,
        subject: String,
    }

    #[test]
    fn json_bodies_name_the_field_at_fault() {
        let err = parse_json::<NewEmail>(br#"{"to": ["a@example.com", 7], "subject": "hi"}"#)
            .unwrap_err();
        assert!(err.message.starts_with("to[1]: "), "{}", err.message);
        let err = parse_json::<NewEmail>(br#"{"to": []}"#).unwrap_err();
        assert!(err.message.contains("subject"), "{}", err.message);
        let err = parse_json::<NewEmail>(b"not json").unwrap_err();
        assert!(err.message.starts_with("body: "), "{}", err.message);
    }
}
