//! The security headers every HTTPS response carries (`headers.*` of the
//! config), prepared once and set on each answer by the hardening
//! middleware.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::config::Headers;

/// The security headers every HTTPS response carries.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// The security headers alone.
    plain: Arc<HeaderMap>,
    /// The same and `content-type: application/json`: every header of
    /// nearly every API answer.
    json: Arc<HeaderMap>,
}

/// The media type of the API's answers.
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Banner a framework could add; removed from every response.
const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

/// `value` as a header value, `key` naming it in the error. A default value
/// is static, so that setting it on a response copies a pointer instead of
/// counting a reference shared by every worker thread.
fn header_value(value: &str, default: &'static str, key: &str) -> Result<HeaderValue, String> {
    if value == default {
        return Ok(HeaderValue::from_static(default));
    }
    HeaderValue::from_str(value)
        .map_err(|_| format!("{key}: {value:?} is not a valid header value"))
}

impl SecurityHeaders {
    /// The headers `headers` configures; a value that is not a valid header
    /// value is named in the error.
    pub fn from_config(headers: &Headers) -> Result<Self, String> {
        // Room for a response's own headers, added to a clone of this map.
        let mut map = HeaderMap::with_capacity(12);
        let pairs = [
            (
                header::STRICT_TRANSPORT_SECURITY,
                &headers.strict_transport_security,
                Headers::DEFAULT_STRICT_TRANSPORT_SECURITY,
                "headers.strictTransportSecurity",
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                &headers.content_security_policy,
                Headers::DEFAULT_CONTENT_SECURITY_POLICY,
                "headers.contentSecurityPolicy",
            ),
            (
                header::X_FRAME_OPTIONS,
                &headers.frame_options,
                Headers::DEFAULT_FRAME_OPTIONS,
                "headers.frameOptions",
            ),
            (
                header::REFERRER_POLICY,
                &headers.referrer_policy,
                Headers::DEFAULT_REFERRER_POLICY,
                "headers.referrerPolicy",
            ),
        ];
        for (name, value, default, key) in pairs {
            map.insert(name, header_value(value, default, key)?);
        }
        map.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        map.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let mut json = map.clone();
        json.insert(header::CONTENT_TYPE, APPLICATION_JSON);
        Ok(Self {
            plain: Arc::new(map),
            json: Arc::new(json),
        })
    }

    /// Sets every security header on `headers` (replacing any the handler
    /// set) and removes banners, keeping every other header.
    ///
    /// The response's headers are copied into a clone of the prepared map,
    /// not the other way round: a response has two or three headers of its
    /// own, and hashing those costs less than hashing all six of ours. An
    /// answer whose only header is the JSON content type, as most are, takes
    /// a clone of the prepared map that already holds it.
    pub(super) fn apply(&self, headers: &mut HeaderMap) {
        if headers.len() == 1 && headers.get(header::CONTENT_TYPE) == Some(&APPLICATION_JSON) {
            *headers = (*self.json).clone();
            return;
        }
        let theirs = std::mem::replace(headers, (*self.plain).clone());
        let mut name = None;
        for (next, value) in theirs {
            // The second and later values of a name come without it.
            if next.is_some() {
                name = next;
            }
            let Some(name) = &name else { continue };
            if self.plain.contains_key(name) || name == header::SERVER || name == X_POWERED_BY {
                continue;
            }
            headers.append(name.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_headers_replace_the_handlers_and_banners_go() {
        let ours = SecurityHeaders::from_config(&Headers::default()).expect("headers");
        let mut headers = HeaderMap::new();
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("ALLOW"));
        headers.insert(header::SERVER, HeaderValue::from_static("axum"));
        headers.insert(X_POWERED_BY, HeaderValue::from_static("rust"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.append(header::VARY, HeaderValue::from_static("accept"));
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        ours.apply(&mut headers);
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers.get_all(header::X_FRAME_OPTIONS).iter().count(), 1);
        assert!(headers.get(header::SERVER).is_none());
        assert!(headers.get(X_POWERED_BY).is_none());
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain");
        let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["accept", "origin"]);
        for (name, value) in ours.plain.iter() {
            assert_eq!(&headers[name], value, "{name}");
        }
    }

    #[test]
    fn a_json_answer_gets_the_same_headers_by_the_prepared_map() {
        let ours = SecurityHeaders::from_config(&Headers::default()).expect("headers");
        let mut json = HeaderMap::new();
        json.insert(header::CONTENT_TYPE, APPLICATION_JSON);
        ours.apply(&mut json);
        let mut merged = HeaderMap::new();
        merged.insert(header::CONTENT_TYPE, APPLICATION_JSON);
        merged.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("x"));
        ours.apply(&mut merged);
        assert_eq!(json, merged);
        assert_eq!(json.len(), ours.plain.len() + 1);
    }
}
