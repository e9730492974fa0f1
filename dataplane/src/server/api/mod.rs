//! The REST API under `/api/v1`, and its OpenAPI document. Its mail routes
//! are thin adapters over [`crate::service`]: they turn a request into an
//! operation's input and its output or error into an answer.
//!
//! Every route is registered through [`documented`], an [`OpenApiRouter`]
//! that takes only handlers annotated with `#[utoipa::path]`: a route cannot
//! be served without its entry in `GET /api/v1/openapi.json`, and the
//! document cannot list a route that is not served. [`route_table`] reads the
//! routes back from the document, for tests that walk every route.
//!
//! A mail route's `operationId` is its operation's name
//! ([`crate::service::Spec::name`]), the name its MCP tool has too
//! ([`crate::mcp::tools`]); [`openapi`] marks each such operation with
//! `x-mcp-tool`, read from the tool table, and the `contract` tests check
//! that a route and its tool take the same fields.

mod call;
#[cfg(test)]
mod contract;
pub mod errors;
pub(crate) mod folders;
pub(crate) mod messages;
mod openapi;
pub(crate) mod send;
mod status;

use axum::{Router, http::Method};
use utoipa::openapi::{OpenApi, extensions::Extensions};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth;

pub use self::openapi::OPENAPI_PATH;
use crate::service::MailService;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The mail operations, behind the service's gate.
    pub mail: MailService,
}

/// Every route of the API with its documentation, before state and the
/// hardening layers of [`super::http::app`]. Add routes here, with
/// `routes!(handler, …)` of handlers annotated with `#[utoipa::path]`.
pub fn documented() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(status::root))
        .routes(routes!(status::status))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(auth::routes::token))
        .routes(routes!(auth::routes::refresh))
        .routes(routes!(folders::list, folders::create))
        .routes(routes!(folders::show, folders::rename, folders::delete))
        .routes(routes!(messages::list, messages::append))
        .routes(routes!(messages::get, messages::flags, messages::delete))
        .routes(routes!(messages::move_to))
        .routes(routes!(messages::expunge))
        .routes(routes!(messages::attachments))
        .routes(routes!(messages::attachment))
        .routes(routes!(messages::search))
        .routes(routes!(send::send))
}

/// The API routes over `state`, ready for [`super::http::app`].
pub fn routes(state: ApiState) -> Router {
    let (router, _) = documented().split_for_parts();
    router.with_state(state)
}

/// The OpenAPI 3 document of [`routes`], each operation that is also an
/// MCP tool marked `x-mcp-tool: <tool name>`.
pub fn openapi() -> OpenApi {
    let (_, mut doc) = documented().split_for_parts();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let tool = operation
                .operation_id
                .as_deref()
                .and_then(crate::mcp::tools::spec);
            if let Some(tool) = tool {
                let mark = Extensions::from_iter([("x-mcp-tool", tool.wire)]);
                operation
                    .extensions
                    .get_or_insert_with(Extensions::default)
                    .merge(mark);
            }
        }
    }
    doc
}

/// A request path that reaches the route of `template` (a path of
/// [`route_table`]): every `{parameter}` segment filled in with `1`.
pub fn concrete_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `(method, path template)` the API serves, read from its document
/// (path templates as axum spells them, `/api/v1/folders/{name}`).
pub fn route_table() -> Vec<(Method, String)> {
    let doc = openapi();
    let mut table = Vec::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
            (Method::PATCH, &item.patch),
            (Method::HEAD, &item.head),
            (Method::OPTIONS, &item.options),
            (Method::TRACE, &item.trace),
        ];
        for (method, operation) in operations {
            if operation.is_some() {
                table.push((method, path.clone()));
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    /// The routes over one account that is never reached.
    fn test_routes() -> Router {
        let config = crate::config::Config::parse(
            "accounts: [{name: a, imap: {host: imap.invalid}, usernameFile: /dev/null, passwordFile: /dev/null}]",
        )
        .expect("config");
        let accounts =
            crate::imap::Accounts::new(&config.accounts, &crate::metrics::Metrics::new())
                .expect("accounts");
        routes(ApiState {
            mail: MailService::new(accounts),
        })
    }

    #[tokio::test]
    async fn every_documented_route_is_served_by_the_router() {
        let table = route_table();
        assert!(table.contains(&(Method::GET, "/api/v1/status".to_owned())));
        assert!(table.contains(&(Method::GET, OPENAPI_PATH.to_owned())));
        for (method, path) in table {
            let router = test_routes().fallback(|| async { axum::http::StatusCode::IM_A_TEAPOT });
            let request = Request::builder()
                .method(method.clone())
                .uri(concrete_path(&path))
                .body(Body::empty())
                .expect("request");
            let response = router.oneshot(request).await.expect("infallible");
            assert_ne!(
                response.status().as_u16(),
                418,
                "{method} {path} is not routed"
            );
            assert_ne!(
                response.status().as_u16(),
                405,
                "{method} {path} is not routed"
            );
        }
    }

    #[test]
    fn the_document_lists_every_route_of_the_rest_contract() {
        let table = route_table();
        let folder = "/api/v1/folders/{name}";
        let email = "/api/v1/folders/{name}/emails/{uid}";
        let expected = [
            (Method::GET, "/api/v1/folders".to_owned()),
            (Method::POST, "/api/v1/folders".to_owned()),
            (Method::GET, folder.to_owned()),
            (Method::PUT, folder.to_owned()),
            (Method::DELETE, folder.to_owned()),
            (Method::GET, format!("{folder}/emails")),
            (Method::POST, format!("{folder}/emails")),
            (Method::GET, email.to_owned()),
            (Method::PUT, email.to_owned()),
            (Method::DELETE, email.to_owned()),
            (Method::POST, format!("{email}/move")),
            (Method::POST, format!("{folder}/expunge")),
            (Method::GET, format!("{email}/attachments")),
            (Method::GET, format!("{email}/attachments/{{index}}")),
            (Method::GET, "/api/v1/emails/search".to_owned()),
        ];
        for route in expected {
            assert!(table.contains(&route), "{route:?} missing from {table:?}");
        }
    }

    #[tokio::test]
    async fn the_served_document_is_the_generated_one() {
        let request = Request::builder()
            .uri(OPENAPI_PATH)
            .body(Body::empty())
            .expect("request");
        let response = test_routes().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let served: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let generated = serde_json::to_value(openapi()).expect("serialises");
        assert_eq!(served, generated);
        assert!(
            served["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3."))
        );
        assert_eq!(served["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
