//! The front door of Kumo's listener: every request passes here before any route.
//!
//! - **Function URL requests** — by host name (`<url-id>.lambda-url.<region>.localhost[:port]`, any
//!   host whose first two labels are a URL id and `lambda-url`) or by path
//!   (`/urls/<url-id>/<path>` for clients that cannot set `Host`) — are served here: CORS
//!   preflight, the `AWS_IAM` signature check, the payload format 2.0 event, the invocation and
//!   Lambda's response mapping.
//! - **Everything else** — the Lambda REST API, and any JSON 1.1 API (`POST /` with
//!   `X-Amz-Target`) mounted on the same router — must carry a valid SigV4 signature when
//!   [`Auth::SigV4`] is on, except the few [`PUBLIC_PATHS`]. A verified request goes on with its
//!   body intact and a [`Caller`] extension.

use crate::error::ApiError;
use crate::sigv4::{hex_sha256, payload_hash_mismatch, AuthError, Caller, KeyRing, Prechecked};
use crate::spool::{Spool, SpoolError};
use crate::url_http::{apply_cors, event, is_preflight, map_result, UrlRequest};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use kumo_engine::Invocation;
use kumo_types::{is_url_id, FunctionUrlConfig, UrlAuthType, MAX_SYNC_PAYLOAD};
use std::net::SocketAddr;
use std::time::SystemTime;

/// How API callers are authenticated.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Every request is served (`[auth] mode = "none"`, for local development).
    Disabled,
    /// Requests must be signed with one of these keys.
    SigV4(KeyRing),
}

/// The largest body a signed API request may carry: CreateFunction sends a 50 MB zip as base64.
pub const MAX_SIGNED_BODY: usize = 100 * 1024 * 1024;

/// Served without an API signature: Prometheus scrapes (`/metrics`, only with
/// `[metrics] public = true`), and code download links from GetFunction
/// (`/kumo/code/<sha256>.zip`), which carry their own presigned, expiring signature
/// ([`crate::code_link`]), as Lambda's S3 links do.
pub const PUBLIC_PATHS: [&str; 2] = ["/metrics", "/kumo/code/"];

fn is_public(path: &str) -> bool {
    PUBLIC_PATHS
        .iter()
        .any(|p| path == *p || (p.ends_with('/') && path.starts_with(p)))
}

/// The body size a request announces in `Content-Length`, if it announces one.
fn content_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Refuses at once a body announced larger than `limit`, before reading any of it.
fn check_announced(parts: &Parts, limit: usize) -> Result<(), ApiError> {
    match content_length(parts) {
        Some(n) if n > u64::try_from(limit).unwrap_or(u64::MAX) => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// The largest body the operation at this path takes: Invoke's payload limit for
/// `.../invocations`, [`MAX_SIGNED_BODY`] for the rest.
fn body_limit(parts: &Parts) -> (usize, ApiError) {
    if parts.method == axum::http::Method::POST && parts.uri.path().ends_with("/invocations") {
        let e = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"),
        );
        (MAX_SYNC_PAYLOAD, e)
    } else {
        (MAX_SIGNED_BODY, too_large(MAX_SIGNED_BODY))
    }
}

#[derive(Clone)]
struct Front {
    state: AppState,
    auth: Auth,
}

/// Puts the front door before `api`: function URLs, then authentication.
pub fn front(api: Router, state: AppState, auth: Auth) -> Router {
    if let Auth::SigV4(keys) = &auth {
        if keys.is_empty() {
            tracing::warn!("SigV4 authentication has no keys: every API request will be refused");
        }
    }
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn_with_state(
            Front { state, auth },
            front_door,
        ))
}

async fn front_door(State(front): State<Front>, req: Request, next: Next) -> Response {
    // Before anything reads the path: the signature and the router must see the same one.
    if let Err(e) = crate::paths::check(req.uri().path()) {
        tracing::info!(method = %req.method(), "request refused: {}", e.message);
        return e.into_response();
    }
    if let Some(target) = url_target(&req) {
        return serve_url(&front, target, req).await;
    }
    let (parts, body) = req.into_parts();
    let (limit, refusal) = body_limit(&parts);
    if check_announced(&parts, limit).is_err() {
        return refusal.into_response();
    }
    let path = parts.uri.path();
    let needs_signature =
        !is_public(path) || (path == "/metrics" && !front.state.telemetry.metrics_public);
    match &front.auth {
        Auth::SigV4(keys) if needs_signature => {
            match authenticate(keys, &front.state.spool, parts, body, limit).await {
                Ok(req) => next.run(req).await,
                Err(resp) => resp,
            }
        }
        _ => next.run(Request::from_parts(parts, body)).await,
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        format!("Request must be smaller than {limit} bytes"),
    )
}

fn spool_failed(e: SpoolError) -> Response {
    match e {
        SpoolError::TooLarge(limit) => too_large(limit).into_response(),
        SpoolError::Busy => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Too many large request bodies are being received at once; retry later",
        )
        .into_response(),
        SpoolError::TooSlow(rate) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            format!("The request body must arrive at {rate} bytes per second or faster"),
        )
        .into_response(),
        SpoolError::Body(why) => {
            ApiError::invalid_content(format!("Could not read the request body: {why}"))
                .into_response()
        }
        SpoolError::Io { .. } => {
            tracing::error!("spooling a request body failed: {e}");
            ApiError::service("The request body could not be received").into_response()
        }
    }
}

/// Reads a body of at most `limit` bytes whose signature is `checked`, and verifies it: before
/// reading when the caller signed the payload hash, otherwise through the [`Spool`], so that an
/// unverified body never takes more than the spool's memory.
async fn verified_body(
    checked: Prechecked,
    spool: &Spool,
    parts: &Parts,
    body: Body,
    limit: usize,
) -> Result<(Caller, Bytes), Response> {
    if let Some(declared) = checked.signed_payload_hash(parts) {
        let caller = checked
            .verify_hash(parts, &declared)
            .map_err(|e| refused(parts, e))?;
        let body = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large(limit).into_response())?;
        if hex_sha256(&body) != declared {
            return Err(refused(parts, payload_hash_mismatch()));
        }
        return Ok((caller, body));
    }
    let spooled = spool
        .take(body, content_length(parts), limit)
        .await
        .map_err(spool_failed)?;
    let caller = checked
        .verify_hash(parts, spooled.sha256_hex())
        .map_err(|e| refused(parts, e))?;
    let body = spooled.into_bytes().await.map_err(spool_failed)?;
    Ok((caller, body))
}

/// Verifies a request's signature; on success returns it with its body and a [`Caller`].
async fn authenticate(
    keys: &KeyRing,
    spool: &Spool,
    mut parts: Parts,
    body: Body,
    limit: usize,
) -> Result<Request, Response> {
    let checked = keys
        .precheck(&parts, SystemTime::now())
        .map_err(|e| refused(&parts, e))?;
    let (caller, body) = verified_body(checked, spool, &parts, body, limit).await?;
    parts.extensions.insert(caller);
    Ok(Request::from_parts(parts, Body::from(body)))
}

fn refused(parts: &Parts, e: AuthError) -> Response {
    tracing::info!(method = %parts.method, path = parts.uri.path(), code = e.code, "request refused: {}", e.message);
    e.into_response()
}

/// A request for a function URL: which URL, and the path inside it.
struct UrlTarget {
    url_id: String,
    raw_path: String,
}

fn url_target(req: &Request) -> Option<UrlTarget> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let mut labels = host.split('.');
    if let (Some(id), Some("lambda-url")) = (labels.next(), labels.next()) {
        return Some(UrlTarget {
            url_id: id.to_ascii_lowercase(),
            raw_path: req.uri().path().to_owned(),
        });
    }
    let rest = req.uri().path().strip_prefix("/urls/")?;
    let (id, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some(UrlTarget {
        url_id: id.to_owned(),
        raw_path: path.to_owned(),
    })
}

async fn serve_url(front: &Front, target: UrlTarget, req: Request) -> Response {
    let state = &front.state;
    let config = if is_url_id(&target.url_id) {
        match state.urls.url_by_id(&target.url_id).await {
            Ok(c) => c,
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        None
    };
    let Some(config) = config else {
        return ApiError::not_found(format!("No function URL with id {:?}", target.url_id))
            .into_response();
    };
    let (parts, body) = req.into_parts();
    let preflight = config.cors.is_some() && is_preflight(&parts.method, &parts.headers);
    let mut resp = if preflight {
        StatusCode::OK.into_response()
    } else {
        invoke_url(front, &config, &target, &parts, body)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    };
    if let Some(cors) = &config.cors {
        apply_cors(cors, &parts.headers, resp.headers_mut(), preflight);
    }
    resp
}

fn bad_gateway() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [("content-type", "text/plain; charset=utf-8")],
        "Internal Server Error",
    )
        .into_response()
}

async fn invoke_url(
    front: &Front,
    config: &FunctionUrlConfig,
    target: &UrlTarget,
    parts: &Parts,
    body: Body,
) -> Result<Response, Response> {
    let state = &front.state;
    let checked = match (&front.auth, config.auth_type) {
        (Auth::SigV4(keys), UrlAuthType::AwsIam) => {
            let checked = keys
                .precheck(parts, SystemTime::now())
                .map_err(|e| refused(parts, e))?;
            if checked.service() != "lambda" {
                return Err(refused(
                    parts,
                    AuthError {
                        code: "InvalidSignatureException",
                        message: "Credential should be scoped to correct service: 'lambda'.".into(),
                    },
                ));
            }
            Some(checked)
        }
        _ => None,
    };
    check_announced(parts, MAX_SYNC_PAYLOAD).map_err(IntoResponse::into_response)?;
    let (caller, body) = match checked {
        Some(c) => {
            let (caller, body) =
                verified_body(c, &state.spool, parts, body, MAX_SYNC_PAYLOAD).await?;
            (Some(caller), body)
        }
        // `NONE` URLs are public by the function owner's choice: the payload limit bounds them.
        None => {
            let body = axum::body::to_bytes(body, MAX_SYNC_PAYLOAD)
                .await
                .map_err(|_| too_large(MAX_SYNC_PAYLOAD).into_response())?;
            (None, body)
        }
    };
    let function = match state.store.get_function(&config.function).await {
        Ok(f) => f,
        Err(kumo_store::StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!(
                "Function not found: {}",
                state.function_arn(config.function.as_str())
            ))
            .into_response())
        }
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.ip().to_string());
    let request_id = uuid::Uuid::new_v4().to_string();
    let payload = event(&UrlRequest {
        url_id: &config.url_id,
        region: &state.region,
        account_id: &state.account_id,
        method: &parts.method,
        version: parts.version,
        raw_path: &target.raw_path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        source_ip: &source_ip,
        body: &body,
        request_id: &request_id,
        now: time::OffsetDateTime::now_utc(),
        caller: caller.as_ref(),
    });
    let inv = Invocation {
        invoked_arn: state.function_arn(function.name.as_str()),
        function,
        payload: Bytes::from(payload.to_string()),
        client_context: None,
        trace_id: parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        tail_log: false,
    };
    let outcome = state
        .engine
        .invoke_as(inv, request_id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let mut resp = if outcome.function_error.is_some() {
        bad_gateway()
    } else {
        match map_result(&outcome.payload) {
            Ok(reply) => {
                let mut resp = Response::new(Body::from(reply.body));
                *resp.status_mut() = reply.status;
                let h = resp.headers_mut();
                for (name, value) in reply.headers {
                    h.append(name, value);
                }
                resp
            }
            Err(why) => {
                tracing::info!(function = %config.function, request_id = %outcome.request_id, "function URL result refused: {why}");
                bad_gateway()
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&outcome.request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, uri: &str) -> Option<(String, String)> {
        let req = Request::builder()
            .uri(uri)
            .header("host", host)
            .body(Body::empty())
            .expect("request");
        url_target(&req).map(|t| (t.url_id, t.raw_path))
    }

    #[test]
    fn url_requests_are_recognised_by_host_or_path() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            target(
                &format!("{id}.lambda-url.us-east-1.localhost:9900"),
                "/a/b?x=1"
            ),
            Some((id.to_owned(), "/a/b".to_owned()))
        );
        assert_eq!(
            target("127.0.0.1:9900", &format!("/urls/{id}/todos/1?x=1")),
            Some((id.to_owned(), "/todos/1".to_owned()))
        );
        assert_eq!(
            target("127.0.0.1:9900", &format!("/urls/{id}")),
            Some((id.to_owned(), "/".to_owned()))
        );
        assert_eq!(target("127.0.0.1:9900", "/2015-03-31/functions"), None);
        assert_eq!(target("lambda.us-east-1.localhost", "/urls"), None);
    }

    #[test]
    fn only_listed_paths_are_public() {
        assert!(is_public("/metrics"));
        assert!(is_public("/kumo/code/abc.zip"));
        assert!(!is_public("/metrics/x"));
        assert!(!is_public("/kumo/usage"));
        assert!(!is_public("/2015-03-31/functions"));
    }
}
