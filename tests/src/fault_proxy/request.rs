//! What a request to the API server does: its verb, resource and field
//! manager, resolved from method, path and query the way the API server's
//! request-info resolver does.

/// The parts of a request a fault rule can match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; empty for a non-resource request (`/apis`, `/version`).
    pub verb: String,
    /// `plural` or `plural/subresource`; empty for a non-resource request.
    pub resource: String,
    /// The `fieldManager` query parameter, empty when absent.
    pub field_manager: String,
}

impl RequestInfo {
    /// Resolves `method` and a path with its query (`/api/v1/pods?watch=1`).
    pub fn resolve(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut watch = false;
        let mut field_manager = String::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "watch" => watch = value == "true" || value == "1",
                "fieldManager" => field_manager = value.into_owned(),
                _ => {}
            }
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut rest = match parts.as_slice() {
            ["api", _version, rest @ ..] => rest,
            ["apis", _group, _version, rest @ ..] => rest,
            _ => &[][..],
        };
        if rest.first() == Some(&"watch") {
            watch = true;
            rest = &rest[1..];
        }
        if rest.first() == Some(&"namespaces") && rest.len() > 2 {
            rest = &rest[2..];
        }
        let (resource, named) = match rest {
            [] => return Self::default(),
            [plural] => ((*plural).to_owned(), false),
            [plural, _name] => ((*plural).to_owned(), true),
            [plural, _name, sub, ..] => (format!("{plural}/{sub}"), true),
        };
        let verb = match (method, named, watch) {
            ("GET", _, true) => "watch",
            ("GET", true, false) => "get",
            ("GET", false, false) => "list",
            ("POST", ..) => "create",
            ("PUT", ..) => "update",
            ("PATCH", ..) => "patch",
            ("DELETE", true, _) => "delete",
            ("DELETE", false, _) => "deletecollection",
            _ => "",
        };
        Self {
            verb: verb.to_owned(),
            resource,
            field_manager,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_resources_and_field_managers_resolve_as_the_api_server_does() {
        let r = RequestInfo::resolve(
            "PATCH",
            "/apis/apps/v1/namespaces/a/deployments/web?fieldManager=rustymail-operator&force=true",
        );
        assert_eq!(
            (
                r.verb.as_str(),
                r.resource.as_str(),
                r.field_manager.as_str()
            ),
            ("patch", "deployments", "rustymail-operator")
        );
        let r = RequestInfo::resolve("GET", "/api/v1/namespaces/a/configmaps?watch=true");
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str()),
            ("watch", "configmaps")
        );
        let r = RequestInfo::resolve("GET", "/api/v1/secrets?labelSelector=a%3Db");
        assert_eq!((r.verb.as_str(), r.resource.as_str()), ("list", "secrets"));
        let r = RequestInfo::resolve(
            "PUT",
            "/apis/rustymail.io/v1alpha1/namespaces/a/rustymails/m/status",
        );
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str()),
            ("update", "rustymails/status")
        );
        let r = RequestInfo::resolve("GET", "/api/v1/namespaces/a");
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str()),
            ("get", "namespaces")
        );
        assert_eq!(RequestInfo::resolve("GET", "/apis"), RequestInfo::default());
    }
}
