//! Kumo's HTTP surface: the AWS Lambda REST-JSON API (control plane and Invoke).
//!
//! [`router`] builds an axum `Router` that speaks the wire protocol of `/2015-03-31/...` and its
//! sibling date prefixes, so that the aws CLI, boto3 and the AWS SDKs work unchanged against Kumo.
//! Handlers parse and validate, then either call the store or hand an `Invocation` to the engine;
//! they never touch execution environments. Every failure is an [`ApiError`] in Lambda's error
//! shape (`x-amzn-ErrorType` header, JSON body), and no failed request changes stored state.
//!
//! [`front`] stands before every route: it serves function URLs (by host name or `/urls/<id>/`)
//! and verifies SigV4 signatures ([`sigv4`]) on everything else, per the signer's service, so
//! that JSON 1.1 APIs merged into the same router are covered too. It refuses paths with dot or
//! empty segments first ([`paths`]), and keeps unverified bodies in a bounded [`spool`].

mod code_gc;
pub mod code_link;
mod dead_letter;
mod edge;
mod error;
mod event_config;
mod events_api;
mod functions;
mod invoke;
mod janitor;
pub mod json11;
mod json11_route;
mod logs_api;
mod metrics;
mod paths;
mod policy;
mod settings_ops;
pub mod sigv4;
pub mod spool;
mod tags;
mod url_http;
mod urls;
mod usage;
mod wire;

pub use code_gc::spawn_code_gc;
pub use edge::{front, Auth, MAX_SIGNED_BODY, PUBLIC_PATHS};
pub use error::{ApiError, ApiResult};
pub use janitor::{spawn_log_janitor, LogLimits};
pub use metrics::Telemetry;
pub use usage::{dollars_to_pico, parse_time, Pricing};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use kumo_engine::Engine;
use kumo_store::{CodePackages, FunctionStore, UrlStore};
use std::sync::Arc;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn FunctionStore>,
    pub code: Arc<dyn CodePackages>,
    pub engine: Engine,
    pub region: String,
    pub account_id: String,
    pub account_concurrency: u32,
    /// Runtime names this node can run.
    pub runtimes: Arc<Vec<String>>,
    /// Function URL configurations.
    pub urls: Arc<dyn UrlStore>,
    /// Log queries, usage records, prices and metrics settings.
    pub telemetry: Telemetry,
    /// Asynchronous invocation: event queue, rules, dispatcher wake-ups.
    pub events: kumo_events::Events,
    /// Where request bodies wait for their signature to be verified.
    pub spool: spool::Spool,
    /// Presigned `Code.Location` links.
    pub code_links: code_link::CodeLinks,
}

impl AppState {
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }
}

/// The Lambda API router.
pub fn router(state: AppState) -> Router {
    use functions as f;
    Router::new()
        .route("/2015-03-31/functions", post(f::create).get(f::list))
        .route("/2015-03-31/functions/", post(f::create).get(f::list))
        .route(
            "/2015-03-31/functions/{name}",
            get(f::get).delete(f::delete),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(f::get_configuration).put(f::update_configuration),
        )
        .route("/2015-03-31/functions/{name}/code", put(f::update_code))
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route("/2016-08-19/account-settings", get(f::account_settings))
        .route("/2016-08-19/account-settings/", get(f::account_settings))
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(f::put_concurrency).delete(f::delete_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(f::get_concurrency),
        )
        .route(
            "/2021-10-31/functions/{name}/url",
            post(urls::create)
                .get(urls::get)
                .put(urls::update)
                .delete(urls::delete),
        )
        .route("/2021-10-31/functions/{name}/urls", get(urls::list))
        .route("/kumo/code/{file}", get(f::download_code))
        .route("/kumo/usage", get(usage::usage))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/2014-11-13/functions/{name}/invoke-async",
            post(invoke::invoke_async),
        )
        .route(
            "/2014-11-13/functions/{name}/invoke-async/",
            post(invoke::invoke_async),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            put(event_config::put)
                .post(event_config::update)
                .get(event_config::get)
                .delete(event_config::delete),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(event_config::list),
        )
        .route(
            "/kumo/functions/{name}/dead-letters",
            get(event_config::dead_letters),
        )
        .route(
            "/kumo/functions/{name}/dead-letters/replay",
            post(event_config::replay),
        )
        .route(
            "/2017-03-31/tags/{resource}",
            post(tags::tag).delete(tags::untag).get(tags::list),
        )
        .route(
            "/2015-03-31/functions/{name}/policy",
            post(policy::add).get(policy::get),
        )
        .route(
            "/2015-03-31/functions/{name}/policy/{sid}",
            axum::routing::delete(policy::remove),
        )
        .route(
            "/2020-06-30/functions/{name}/code-signing-config",
            get(settings_ops::code_signing),
        )
        .route(
            "/2024-08-31/functions/{name}/recursion-config",
            get(settings_ops::get_recursion).put(settings_ops::put_recursion),
        )
        .route(
            "/2021-07-20/functions/{name}/runtime-management-config",
            get(settings_ops::runtime_management),
        )
        .route("/", post(json11_route::dispatch))
        .fallback(unknown_route)
        // Signed bodies are bounded at the front door; this bounds them with `[auth] mode = "none"` too.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_SIGNED_BODY))
        .layer(axum::middleware::map_response(add_request_id))
        .with_state(state)
}

async fn unknown_route(uri: axum::http::Uri, method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("no operation at {method} {}", uri.path()),
    )
}

/// Every response carries a request id, as AWS's do.
async fn add_request_id(mut resp: Response) -> Response {
    if !resp.headers().contains_key("x-amzn-requestid") {
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
    }
    resp
}

/// A JSON response with a status.
pub(crate) fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}
