//! Control-plane operations on function URLs: Create/Get/Update/Delete/ListFunctionUrlConfig(s).
//!
//! A URL is bound to a function's `$LATEST` (aliases are not supported yet). Its address is
//! `http://<url-id>.lambda-url.<region>.localhost:<port>/`, with the port of the request that asked;
//! the same function is also reachable at `http://<kumo>/urls/<url-id>/` (see `edge`).

use crate::error::{ApiError, ApiResult};
use crate::functions::resolve_name;
use crate::wire::last_modified;
use crate::{json, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kumo_store::StoreError;
use kumo_types::{Cors, FunctionName, FunctionUrlConfig, UrlAuthType, ValidationError};
use serde::Deserialize;
use serde_json::{json as j, Map, Value};
use std::collections::HashMap;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CorsInput {
    allow_credentials: Option<bool>,
    allow_headers: Option<Vec<String>>,
    allow_methods: Option<Vec<String>>,
    allow_origins: Option<Vec<String>>,
    expose_headers: Option<Vec<String>>,
    max_age: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct UrlInput {
    auth_type: Option<String>,
    cors: Option<CorsInput>,
    invoke_mode: Option<String>,
}

fn parse_body(body: &Bytes) -> ApiResult<UrlInput> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_content(format!("Could not parse request body into json: {e}"))
    })
}

fn cors_from(input: CorsInput) -> ApiResult<Cors> {
    let cors = Cors {
        allow_credentials: input.allow_credentials,
        // Header names are case-insensitive; methods are not.
        allow_headers: input
            .allow_headers
            .map(|v| v.into_iter().map(|h| h.to_ascii_lowercase()).collect()),
        allow_methods: input.allow_methods,
        allow_origins: input.allow_origins,
        expose_headers: input
            .expose_headers
            .map(|v| v.into_iter().map(|h| h.to_ascii_lowercase()).collect()),
        max_age: input.max_age,
    };
    cors.validate()?;
    Ok(cors)
}

fn check_invoke_mode(mode: Option<&str>) -> ApiResult<()> {
    match mode {
        None | Some("BUFFERED") => Ok(()),
        Some("RESPONSE_STREAM") => Err(ApiError::unsupported("InvokeMode RESPONSE_STREAM")),
        Some(other) => Err(ValidationError::Constraint {
            member: "invokeMode",
            value: other.to_owned(),
            constraint: "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]".into(),
        }
        .into()),
    }
}

/// `((?!^\d+$)^[0-9a-zA-Z-_]+$)`, 1 to 128 characters: an alias name.
fn check_qualifier(q: &str) -> ApiResult<()> {
    let ok = !q.is_empty()
        && q.len() <= 128
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !q.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::Constraint {
            member: "qualifier",
            value: q.to_owned(),
            constraint:
                "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)"
                    .into(),
        }
        .into())
    }
}

/// The function a URL operation addresses, after checking that it exists; `missing` is the
/// error when it does not (Lambda words it differently for changes and for reads).
async fn function_of(
    state: &AppState,
    raw: &str,
    q: &HashMap<String, String>,
    missing: fn() -> ApiError,
) -> ApiResult<FunctionName> {
    let qualifier = q.get("Qualifier").map(String::as_str);
    if let Some(q) = qualifier {
        check_qualifier(q)?;
    }
    let name = resolve_name(state, raw, qualifier)?;
    match state.store.get_function(&name).await {
        Ok(_) => Ok(name),
        Err(StoreError::NotFound(_)) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

/// Create and Update of a URL configuration for a function that does not exist.
fn no_function() -> ApiError {
    ApiError::not_found("Function does not exist")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The port part of a `Host` header (`host:port`, `[v6]:port`), if any.
fn host_port(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get("host")?.to_str().ok()?;
    let (_, port) = host.rsplit_once(':')?;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

/// `http://<url-id>.lambda-url.<region>.localhost:<port>/`.
pub(crate) fn function_url(state: &AppState, url_id: &str, headers: &HeaderMap) -> String {
    let port = host_port(headers)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "http://{url_id}.lambda-url.{}.localhost{port}/",
        state.region
    )
}

fn cors_json(c: &Cors) -> Value {
    let mut m = Map::new();
    if let Some(v) = c.allow_credentials {
        m.insert("AllowCredentials".into(), v.into());
    }
    for (key, list) in [
        ("AllowHeaders", &c.allow_headers),
        ("AllowMethods", &c.allow_methods),
        ("AllowOrigins", &c.allow_origins),
        ("ExposeHeaders", &c.expose_headers),
    ] {
        if let Some(list) = list {
            m.insert(key.into(), j!(list));
        }
    }
    if let Some(age) = c.max_age {
        m.insert("MaxAge".into(), age.into());
    }
    Value::Object(m)
}

/// Which operation answers with a URL configuration: Lambda's members differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UrlView {
    /// CreateFunctionUrlConfig: no `LastModifiedTime`, no `InvokeMode`.
    Created,
    /// UpdateFunctionUrlConfig: `LastModifiedTime`, no `InvokeMode`.
    Updated,
    /// Get and List: every member.
    Read,
}

/// `FunctionUrlConfig` as the API returns it.
fn config_json(
    state: &AppState,
    c: &FunctionUrlConfig,
    headers: &HeaderMap,
    view: UrlView,
) -> Value {
    let mut v = j!({
        "FunctionUrl": function_url(state, &c.url_id, headers),
        "FunctionArn": state.function_arn(c.function.as_str()),
        "AuthType": c.auth_type.as_str(),
        "CreationTime": last_modified(c.created_ms),
    });
    if view != UrlView::Created {
        v["LastModifiedTime"] = last_modified(c.modified_ms).into();
    }
    if view == UrlView::Read {
        v["InvokeMode"] = "BUFFERED".into();
    }
    if let Some(cors) = &c.cors {
        v["Cors"] = cors_json(cors);
    }
    v
}

fn no_url_config() -> ApiError {
    ApiError::not_found("The resource you requested does not exist.")
}

async fn stored(state: &AppState, name: &FunctionName) -> ApiResult<FunctionUrlConfig> {
    state.urls.get_url(name).await?.ok_or_else(no_url_config)
}

pub async fn create(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let input = parse_body(&body)?;
    let auth_type = input.auth_type.as_deref().ok_or_else(|| {
        ApiError::validation("1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null")
    })?;
    let auth_type = UrlAuthType::parse(auth_type)?;
    check_invoke_mode(input.invoke_mode.as_deref())?;
    let cors = input.cors.map(cors_from).transpose()?;
    let name = function_of(&state, &raw, &q, no_function).await?;
    let now = now_ms();
    let config = FunctionUrlConfig {
        function: name.clone(),
        url_id: uuid::Uuid::new_v4().simple().to_string(),
        auth_type,
        cors,
        created_ms: now,
        modified_ms: now,
    };
    match state.urls.create_url(&config).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(ApiError::conflict(format!(
                "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                state.function_arn(name.as_str())
            )))
        }
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(format!(
            "Function not found: {}",
            state.function_arn(name.as_str())
        ))),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(function = %name, url_id = %config.url_id, auth = auth_type.as_str(), "function URL created");
    Ok(json(
        StatusCode::CREATED,
        config_json(&state, &config, &headers, UrlView::Created),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = function_of(&state, &raw, &q, no_url_config).await?;
    let config = stored(&state, &name).await?;
    Ok(json(
        StatusCode::OK,
        config_json(&state, &config, &headers, UrlView::Read),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let input = parse_body(&body)?;
    let auth_type = input
        .auth_type
        .as_deref()
        .map(UrlAuthType::parse)
        .transpose()?;
    check_invoke_mode(input.invoke_mode.as_deref())?;
    let cors = input.cors.map(cors_from).transpose()?;
    let name = function_of(&state, &raw, &q, no_function).await?;
    let mut config = stored(&state, &name).await?;
    if let Some(a) = auth_type {
        config.auth_type = a;
    }
    if let Some(c) = cors {
        config.cors = Some(c);
    }
    config.modified_ms = now_ms();
    match state.urls.replace_url(&config).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(no_url_config()),
        Err(e) => return Err(e.into()),
    }
    Ok(json(
        StatusCode::OK,
        config_json(&state, &config, &headers, UrlView::Updated),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let name = function_of(&state, &raw, &q, no_url_config).await?;
    match state.urls.delete_url(&name).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(StoreError::NotFound(_)) => Err(no_url_config()),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(s) = q.get("MaxItems") {
        let n: i64 = s
            .parse()
            .map_err(|_| ApiError::invalid_parameter(format!("Invalid MaxItems: {s}")))?;
        if !(1..=50).contains(&n) {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 50"
            )));
        }
    }
    let name = function_of(&state, &raw, &HashMap::new(), no_function).await?;
    // One URL per function (for `$LATEST`): a page after any marker is empty.
    let after_marker = q.get("Marker").is_some_and(|m| !m.is_empty());
    let configs: Vec<Value> = match state.urls.get_url(&name).await? {
        Some(c) if !after_marker => vec![config_json(&state, &c, &headers, UrlView::Read)],
        _ => Vec::new(),
    };
    Ok(json(StatusCode::OK, j!({ "FunctionUrlConfigs": configs })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_must_be_alias_names() {
        assert!(check_qualifier("live").is_ok());
        assert!(check_qualifier("v-2_a").is_ok());
        assert!(check_qualifier("12").is_err());
        assert!(check_qualifier("$LATEST").is_err());
        assert!(check_qualifier("").is_err());
    }

    #[test]
    fn host_port_reads_the_port_of_ipv4_ipv6_and_names() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            axum::http::HeaderValue::from_static("127.0.0.1:9900"),
        );
        assert_eq!(host_port(&h), Some("9900"));
        h.insert("host", axum::http::HeaderValue::from_static("[::1]:81"));
        assert_eq!(host_port(&h), Some("81"));
        h.insert("host", axum::http::HeaderValue::from_static("kumo.example"));
        assert_eq!(host_port(&h), None);
    }

    #[test]
    fn invoke_mode_accepts_buffered_only() {
        assert!(check_invoke_mode(None).is_ok());
        assert!(check_invoke_mode(Some("BUFFERED")).is_ok());
        let e = check_invoke_mode(Some("RESPONSE_STREAM")).expect_err("unsupported");
        assert_eq!(e.code, "InvalidParameterValueException");
        let e = check_invoke_mode(Some("STREAM")).expect_err("not in the enum");
        assert_eq!(e.code, "ValidationException");
    }
}
