//! Turns a request path and query into what it addresses, the way the real
//! server's request-info resolver does (including `namespaces/{ns}/status`).

use std::collections::HashMap;

/// A resource request's target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// API group, empty for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource.
    pub plural: String,
    /// Namespace of the URL.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource, e.g. `status`.
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/{group}`.
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`.
    ResourceList(String, String),
    /// `/openapi/v3` (empty) or `/openapi/v3/{group version path}`.
    OpenApiV3(String),
    /// Any other `/openapi/...` (v2 is not served).
    OpenApiOther,
    /// `/debug/cluster-double/stats`: the double's request counters.
    Stats,
    /// A resource or object.
    Resource(Target),
}

/// Parses a request path.
pub fn route(path: &str) -> Option<Route> {
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .map(decode)
        .collect();
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    let (group, version, rest) = match p.as_slice() {
        ["version"] => return Some(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => return Some(Route::Health),
        ["openapi", "v3", rest @ ..] => return Some(Route::OpenApiV3(rest.join("/"))),
        ["openapi", ..] => return Some(Route::OpenApiOther),
        ["debug", "cluster-double", "stats"] => return Some(Route::Stats),
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["api", v] => return Some(Route::ResourceList(String::new(), v.to_string())),
        ["apis", g] => return Some(Route::Group(g.to_string())),
        ["apis", g, v] => return Some(Route::ResourceList(g.to_string(), v.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let mut t = Target {
        group: group.to_string(),
        version: version.to_string(),
        ..Target::default()
    };
    let mut rest = rest;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        t.namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    match rest {
        [plural] => t.plural = plural.to_string(),
        [plural, name] => {
            t.plural = plural.to_string();
            t.name = Some(name.to_string());
        }
        [plural, name, sub] => {
            t.plural = plural.to_string();
            t.name = Some(name.to_string());
            t.subresource = Some(sub.to_string());
        }
        _ => return None,
    }
    if t.plural == "namespaces" && t.group.is_empty() {
        t.namespace = None;
    }
    Some(Route::Resource(t))
}

/// Percent-decodes a URL component (`+` is a space in queries).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string into its (last) values.
pub fn query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_cluster_and_namespace_status_paths_resolve() {
        let Some(Route::Resource(t)) = route("/apis/apps/v1/namespaces/ns1/deployments/web/status")
        else {
            panic!("no route");
        };
        assert_eq!(
            (t.group.as_str(), t.plural.as_str()),
            ("apps", "deployments")
        );
        assert_eq!(t.namespace.as_deref(), Some("ns1"));
        assert_eq!(t.subresource.as_deref(), Some("status"));
        let Some(Route::Resource(t)) = route("/api/v1/namespaces/ns1/status") else {
            panic!("no route");
        };
        assert_eq!(
            (t.plural.as_str(), t.name.as_deref()),
            ("namespaces", Some("ns1"))
        );
        assert_eq!(t.namespace, None);
        assert_eq!(
            route("/apis/x.io/v1"),
            Some(Route::ResourceList("x.io".into(), "v1".into()))
        );
        assert_eq!(
            query(Some("labelSelector=a%3Db%2Cc&watch=1"))["labelSelector"],
            "a=b,c"
        );
    }
}
