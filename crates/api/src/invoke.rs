//! `Invoke`: the synchronous path from an HTTP request to the engine and back; `Event` invokes
//! (and the deprecated `InvokeAsync`) are handed to the asynchronous side and answered 202.

use crate::error::{ApiError, ApiResult};
use crate::functions::{load, resolve_name};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use kumo_engine::Invocation;
use kumo_events::{EventRequest, MAX_INVOKE_ASYNC_PAYLOAD};
use kumo_types::MAX_SYNC_PAYLOAD;
use std::collections::HashMap;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn invoke(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let invocation_type = header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    if !matches!(invocation_type, "RequestResponse" | "Event" | "DryRun") {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        )));
    }
    let tail_log = match header(&headers, "x-amz-log-type") {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
            )))
        }
    };
    let client_context = match header(&headers, "x-amz-client-context") {
        None | Some("") => None,
        Some(b64) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| serde_json::from_str::<serde_json::Value>(s).is_ok())
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "Client context must be a valid Base64-encoded JSON object.",
                    )
                })?;
            Some(decoded)
        }
    };
    let name = resolve_name(&state, &raw, q.get("Qualifier").map(String::as_str))?;
    let payload = axum::body::to_bytes(body, MAX_SYNC_PAYLOAD).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"),
        )
    })?;
    let function = load(&state, &name).await?;
    if invocation_type == "DryRun" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if !payload.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Err(ApiError::invalid_content(
            "Could not parse request body into json: Unexpected character",
        ));
    }
    let payload = if payload.is_empty() {
        axum::body::Bytes::from_static(b"{}")
    } else {
        payload
    };
    // The ARN as the caller named the function: qualified when the caller gave a qualifier.
    let qualifier = kumo_types::FunctionRef::parse(&raw)
        .ok()
        .and_then(|r| r.qualifier.map(|q| q.as_str().to_owned()))
        .or_else(|| q.get("Qualifier").cloned());
    let invoked_arn = match qualifier {
        Some(qualifier) => format!("{}:{qualifier}", state.function_arn(name.as_str())),
        None => state.function_arn(name.as_str()),
    };
    let trace_id = header(&headers, "x-amzn-trace-id").map(str::to_owned);
    if invocation_type == "Event" {
        let event = EventRequest {
            function: function.name,
            invoked_arn,
            payload: payload.to_vec(),
            client_context,
            trace_id,
        };
        return queue_event(&state, event).await;
    }
    let inv = Invocation {
        function,
        invoked_arn,
        payload,
        client_context,
        trace_id,
        tail_log,
    };
    let outcome = state.engine.invoke(inv).await?;
    let mut resp = (StatusCode::OK, outcome.payload).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static(outcome.executed_version),
    );
    if let Ok(v) = HeaderValue::from_str(&outcome.request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(fe) = outcome.function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static(fe));
    }
    if let Some(log) = outcome
        .log_result
        .and_then(|l| HeaderValue::from_str(&l).ok())
    {
        h.insert("x-amz-log-result", log);
    }
    Ok(resp)
}

/// Queues an `Event` invocation and answers 202 once it is stored.
async fn queue_event(state: &AppState, event: EventRequest) -> ApiResult<Response> {
    let id = state.events.accept(event).await?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    Ok(resp)
}

/// `POST /2014-11-13/functions/{name}/invoke-async` (deprecated `InvokeAsync`): an `Event` invoke
/// with the older 256 KB limit, answered 202.
pub(crate) async fn invoke_async(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let too_large = |n: Option<usize>| {
        let size = n.map_or_else(|| "The".to_owned(), |n| format!("{n} byte"));
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("{size} payload is too large for the InvokeAsync operation (limit {MAX_INVOKE_ASYNC_PAYLOAD} bytes)"),
        )
    };
    let name = resolve_name(&state, &raw, None)?;
    let payload = axum::body::to_bytes(body, kumo_types::MAX_SYNC_PAYLOAD)
        .await
        .map_err(|_| too_large(None))?;
    if payload.len() > MAX_INVOKE_ASYNC_PAYLOAD {
        return Err(too_large(Some(payload.len())));
    }
    let function = load(&state, &name).await?;
    if !payload.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Err(ApiError::invalid_content(
            "Could not parse request body into json: Unexpected character",
        ));
    }
    let payload = if payload.is_empty() {
        b"{}".to_vec()
    } else {
        payload.to_vec()
    };
    let invoked_arn = if raw.starts_with("arn:") {
        raw.clone()
    } else {
        state.function_arn(name.as_str())
    };
    let event = EventRequest {
        function: function.name,
        invoked_arn,
        payload,
        client_context: None,
        trace_id: None,
    };
    queue_event(&state, event).await
}
