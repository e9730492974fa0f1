//! The HTTP front: routes a request, applies RBAC and faults, calls the
//! engine, answers JSON (or a watch stream), and records the request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use super::admission::FieldValidation;
use super::delete::DeleteOptions;
use super::discovery;
use super::engine::{Engine, ListOptions, Sub, WriteOptions, Written};
use super::faults::Faults;
use super::openapi;
use super::patch::PatchType;
use super::rbac::{Attributes, Policy};
use super::registry::ResourceType;
use super::request::{Route, Target, query, route};
use super::selector::{FieldSelector, LabelSelector};
use super::stats::{RequestRecord, Stats};
use super::status::{ApiError, ApiResult};
use super::table;
use super::watch::{self, Dropper, WatchLimits, WatchParams};

/// A response body: a whole JSON document or a watch stream.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The largest request body accepted (the real server's limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// State shared by every connection.
#[derive(Debug)]
pub struct Shared {
    /// The API semantics.
    pub engine: Arc<Engine>,
    /// Faults in force.
    pub faults: Arc<Mutex<Faults>>,
    /// Bumped to end every running watch.
    pub kill_watches: tokio::sync::watch::Sender<u64>,
    /// RBAC rules for the restricted user; `None` allows everything.
    pub rbac: Mutex<Option<Policy>>,
    /// Request counters.
    pub stats: Mutex<Stats>,
    /// Bookmark cadence and longest watch.
    pub watch_limits: WatchLimits,
    /// Bearer token of the restricted user.
    pub restricted_token: String,
    /// Name of the restricted user in 403 messages.
    pub restricted_user: String,
}

/// Locks a mutex, ignoring poisoning (state stays usable after a panic in a test).
pub fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn full(code: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    full(code, "application/json", v.to_string().into_bytes())
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

/// Handles one request.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let header_str = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let accept = header_str(header::ACCEPT);
    let restricted =
        header_str(header::AUTHORIZATION) == format!("Bearer {}", shared.restricted_token);
    let Some(route) = route(parts.uri.path()) else {
        return Ok(error_response(&ApiError::no_route()));
    };
    let target = match route {
        Route::Resource(t) => t,
        other => return Ok(non_resource(&shared, other, &accept, headers)),
    };
    let q = query(parts.uri.query());
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(error_response(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                "the request is too large",
            )));
        }
    };
    let ctx = Ctx {
        shared: &shared,
        target: &target,
        q: &q,
        method: &parts.method,
        content_type: header_str(header::CONTENT_TYPE),
        user_agent: header_str(header::USER_AGENT),
        accept,
        user: if restricted {
            shared.restricted_user.clone()
        } else {
            "admin".to_string()
        },
        restricted,
    };
    Ok(ctx.serve(body).await)
}

fn non_resource(
    shared: &Shared,
    route: Route,
    accept: &str,
    headers: &HeaderMap,
) -> Response<Body> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let st = shared.engine.lock();
    let aggregated = discovery::wants_aggregated(accept);
    let agg = |v: Value| full(200, discovery::AGGREGATED, v.to_string().into_bytes());
    match route {
        Route::Version => json_response(200, &discovery::version()),
        Route::Health => full(200, "text/plain", b"ok".to_vec()),
        Route::CoreVersions if aggregated => agg(discovery::aggregated(&st.registry, true)),
        Route::CoreVersions => json_response(200, &discovery::core_versions(host)),
        Route::Groups if aggregated => agg(discovery::aggregated(&st.registry, false)),
        Route::Groups => json_response(200, &discovery::groups(&st.registry)),
        Route::Group(g) => discovery::group(&st.registry, &g).map_or_else(
            || error_response(&ApiError::no_route()),
            |v| json_response(200, &v),
        ),
        Route::ResourceList(g, v) => discovery::resource_list(&st.registry, &g, &v).map_or_else(
            || error_response(&ApiError::no_route()),
            |v| json_response(200, &v),
        ),
        Route::OpenApiV3(p) if p.is_empty() => json_response(200, &openapi::index(&st.registry)),
        Route::OpenApiV3(p) => openapi::group_version(&st.registry, &p).map_or_else(
            || error_response(&ApiError::no_route()),
            |v| json_response(200, &v),
        ),
        Route::Stats => {
            let stats = locked(&shared.stats).clone();
            let mut v = serde_json::to_value(&stats).unwrap_or_default();
            v["perResource"] = json!(stats.per_resource());
            v["resourceVersion"] = json!(st.store.rv());
            json_response(200, &v)
        }
        Route::OpenApiOther | Route::Resource(_) => error_response(&ApiError::no_route()),
    }
}

struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    target: &'a Target,
    q: &'a HashMap<String, String>,
    method: &'a Method,
    content_type: String,
    user_agent: String,
    accept: String,
    user: String,
    restricted: bool,
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "1" || v == "true")
}

impl Ctx<'_> {
    fn verb(&self) -> ApiResult<&'static str> {
        let named = self.target.name.is_some();
        Ok(match (self.method.clone(), named) {
            (Method::GET, true) => "get",
            (Method::GET, false) if truthy(self.q.get("watch")) => "watch",
            (Method::GET, false) => "list",
            (Method::POST, false) => "create",
            (Method::PUT, true) => "update",
            (Method::PATCH, true) => "patch",
            (Method::DELETE, true) => "delete",
            (Method::DELETE, false) => "deletecollection",
            _ => return Err(ApiError::method_not_allowed()),
        })
    }

    fn resource_name(&self) -> String {
        match &self.target.subresource {
            Some(s) => format!("{}/{s}", self.target.plural),
            None => self.target.plural.clone(),
        }
    }

    async fn serve(&self, body: Bytes) -> Response<Body> {
        let verb = self.verb().unwrap_or("unknown");
        let (response, changed) = match self.dispatch(verb, body).await {
            Ok(r) => r,
            Err(e) => (error_response(&e), false),
        };
        let record = RequestRecord {
            verb: verb.to_string(),
            resource: self.resource_name(),
            namespace: self.target.namespace.clone().unwrap_or_default(),
            name: self.target.name.clone().unwrap_or_default(),
            field_manager: self.q.get("fieldManager").cloned().unwrap_or_default(),
            user: self.user.clone(),
            code: response.status().as_u16(),
            mutated: changed,
        };
        tracing::debug!(?record, "request");
        locked(&self.shared.stats).record(record);
        response
    }

    fn resource_type(&self) -> ApiResult<Arc<ResourceType>> {
        let t = self.target;
        let rt = self
            .shared
            .engine
            .lock()
            .registry
            .find(&t.group, &t.version, &t.plural)
            .ok_or_else(ApiError::no_route)?;
        let scope_ok = rt.namespaced || t.namespace.is_none();
        let named_ns_ok = !rt.namespaced || t.name.is_none() || t.namespace.is_some();
        let sub_ok = match t.subresource.as_deref() {
            None => true,
            Some("status") => rt.status_subresource,
            Some(_) => false,
        };
        if scope_ok && named_ns_ok && sub_ok {
            Ok(rt)
        } else {
            Err(ApiError::no_route())
        }
    }

    async fn dispatch(&self, verb: &str, body: Bytes) -> ApiResult<(Response<Body>, bool)> {
        let rt = self.resource_type()?;
        let t = self.target;
        let ns = t.namespace.clone().unwrap_or_default();
        let name = t.name.clone().unwrap_or_default();
        if self.restricted
            && let Some(policy) = locked(&self.shared.rbac).as_ref()
        {
            let a = Attributes {
                verb: verb.to_string(),
                group: t.group.clone(),
                resource: t.plural.clone(),
                subresource: t.subresource.clone().unwrap_or_default(),
                namespace: ns.clone(),
                name: name.clone(),
            };
            if !policy.allows(&a) {
                return Err(ApiError::forbidden(Policy::denial(&a, &self.user)));
            }
        }
        let manager = self.q.get("fieldManager").map_or("", String::as_str);
        let decision = locked(&self.shared.faults).decide(verb, &self.resource_name(), manager);
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }
        if let Some(e) = decision.error {
            return Err(e);
        }
        if !body.is_empty()
            && !self.content_type.is_empty()
            && !self.content_type.contains("json")
            && !self.content_type.contains("yaml")
        {
            return Err(ApiError::unsupported_media_type(&self.content_type));
        }
        let engine = &self.shared.engine;
        let sub = if t.subresource.is_some() {
            Sub::Status
        } else {
            Sub::Main
        };
        let table = self.accept.contains("as=Table");
        let read = |v: Value| {
            let v = if table { table::to_table(&rt, &v) } else { v };
            Ok((json_response(200, &v), false))
        };
        match verb {
            "get" => read(engine.get(&rt, &ns, &name)?),
            "list" => read(engine.list(&rt, t.namespace.as_deref(), &self.list_options(&rt)?)?),
            "watch" => self.watch(rt),
            "create" => {
                self.written(engine.create(&rt, &ns, parse_json(&body)?, &self.write_options()?)?)
            }
            "update" => self.written(engine.update(
                &rt,
                &ns,
                &name,
                parse_json(&body)?,
                sub,
                &self.write_options()?,
            )?),
            "patch" => {
                let kind = PatchType::from_content_type(&self.content_type)
                    .ok_or_else(|| ApiError::unsupported_media_type(&self.content_type))?;
                self.written(engine.patch(
                    &rt,
                    &ns,
                    &name,
                    kind,
                    &body,
                    sub,
                    &self.write_options()?,
                )?)
            }
            "delete" => {
                self.written(engine.delete(&rt, &ns, &name, &self.delete_options(&body)?)?)
            }
            "deletecollection" => {
                let l = self.list_options(&rt)?;
                let v = engine.delete_collection(
                    &rt,
                    t.namespace.as_deref(),
                    &l,
                    &self.delete_options(&body)?,
                )?;
                Ok((json_response(200, &v), true))
            }
            _ => Err(ApiError::method_not_allowed()),
        }
    }

    fn written(&self, w: Written) -> ApiResult<(Response<Body>, bool)> {
        let mut r = json_response(w.code, &w.object);
        for warning in &w.warnings {
            let text = format!("299 - \"{}\"", warning.replace('"', "\\\""));
            if let Ok(v) = text.parse() {
                r.headers_mut().append(header::WARNING, v);
            }
        }
        Ok((r, w.changed))
    }

    fn list_options(&self, rt: &ResourceType) -> ApiResult<ListOptions> {
        Ok(ListOptions {
            labels: LabelSelector::parse(self.q.get("labelSelector").map_or("", String::as_str))?,
            fields: FieldSelector::parse(
                self.q.get("fieldSelector").map_or("", String::as_str),
                &rt.kind,
            )?,
            limit: self
                .q
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0),
            continue_token: self.q.get("continue").filter(|c| !c.is_empty()).cloned(),
        })
    }

    fn write_options(&self) -> ApiResult<WriteOptions> {
        let given = self.q.get("fieldManager").filter(|m| !m.is_empty());
        let manager = given.cloned().unwrap_or_else(|| {
            self.user_agent
                .split('/')
                .next()
                .unwrap_or("unknown")
                .to_string()
        });
        let validation = match self.q.get("fieldValidation").map(String::as_str) {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation: Invalid value: \"{other}\""
                )));
            }
        };
        Ok(WriteOptions {
            manager,
            manager_given: given.is_some(),
            dry_run: self.q.get("dryRun").is_some_and(|d| d == "All"),
            validation,
            force: truthy(self.q.get("force")),
        })
    }

    fn delete_options(&self, body: &[u8]) -> ApiResult<DeleteOptions> {
        DeleteOptions::parse(
            body,
            self.q.get("propagationPolicy").map(String::as_str),
            self.q.get("dryRun").is_some_and(|d| d == "All"),
        )
    }

    fn watch(&self, rt: Arc<ResourceType>) -> ApiResult<(Response<Body>, bool)> {
        let l = self.list_options(&rt)?;
        let p = WatchParams {
            namespace: self.target.namespace.clone(),
            resource_version: self.q.get("resourceVersion").cloned(),
            version_match: self.q.get("resourceVersionMatch").cloned(),
            bookmarks: truthy(self.q.get("allowWatchBookmarks")),
            send_initial_events: truthy(self.q.get("sendInitialEvents")),
            timeout: self
                .q
                .get("timeoutSeconds")
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs),
            labels: l.labels,
            fields: l.fields,
        };
        let dropper = Dropper {
            faults: self.shared.faults.clone(),
            kill: self.shared.kill_watches.subscribe(),
        };
        let rx = watch::start(
            self.shared.engine.clone(),
            rt,
            p,
            self.shared.watch_limits,
            dropper,
        )?;
        let stream = tokio_stream(rx).map(|b| Ok::<_, Infallible>(Frame::data(b)));
        let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok((r, false))
    }
}

fn tokio_stream(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> impl futures::Stream<Item = Bytes> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ApiError::bad_request(format!(
            "the body of the request must be an object, got {}",
            json!(v)
        )))
    }
}
