//! Asynchronous invocation settings of a function: `Put`/`Get`/`Update`/`Delete`/
//! `ListFunctionEventInvokeConfig(s)` (`/2019-09-25/functions/{name}/event-invoke-config`), and
//! Kumo's own view of the built-in dead-letter store (`/kumo/functions/{name}/dead-letters`,
//! used by `kumo dlq list|replay`).
//!
//! Destinations and dead-letter targets must be functions of this Kumo (their ARN in this
//! region and account); SQS, SNS, S3 and EventBridge destinations are refused.

use crate::error::{ApiError, ApiResult};
use crate::functions::{load, resolve_name};
use crate::{json, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kumo_events::clock::{iso_ms, now_ms};
use kumo_events::config_rules::{in_range, require_some_setting, ConfigChange};
use kumo_store::{EventInvokeConfig, StoreError};
use kumo_types::FunctionName;
use serde::Deserialize;
use serde_json::{json as j, Value};
use std::collections::HashMap;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DestinationInput {
    destination: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DestinationConfigInput {
    on_success: Option<DestinationInput>,
    on_failure: Option<DestinationInput>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ConfigInput {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<DestinationConfigInput>,
}

fn parse_body(body: &Bytes) -> ApiResult<ConfigInput> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_content(format!("Could not parse request body into json: {e}"))
    })
}

impl ConfigInput {
    /// The request as the rules see it.
    fn change(&self) -> ConfigChange<'_> {
        let dest = self.destination_config.as_ref();
        ConfigChange {
            maximum_retry_attempts: self.maximum_retry_attempts,
            maximum_event_age_in_seconds: self.maximum_event_age_in_seconds,
            destination_config: dest.is_some(),
            on_success: dest
                .and_then(|d| d.on_success.as_ref())
                .map(|d| d.destination.as_deref()),
            on_failure: dest
                .and_then(|d| d.on_failure.as_ref())
                .map(|d| d.destination.as_deref()),
        }
    }
}

fn output(state: &AppState, cfg: &EventInvokeConfig) -> Value {
    let dest = |d: &Option<String>| match d {
        Some(arn) => j!({"Destination": arn}),
        None => j!({}),
    };
    let mut v = j!({
        "LastModified": cfg.last_modified_ms as f64 / 1000.0,
        "FunctionArn": format!("{}:$LATEST", state.function_arn(&cfg.function)),
        "DestinationConfig": {"OnSuccess": dest(&cfg.on_success), "OnFailure": dest(&cfg.on_failure)},
    });
    if let Some(r) = cfg.max_retry_attempts {
        v["MaximumRetryAttempts"] = j!(r);
    }
    if let Some(a) = cfg.max_event_age_secs {
        v["MaximumEventAgeInSeconds"] = j!(a);
    }
    v
}

fn no_config(state: &AppState, name: &FunctionName) -> ApiError {
    ApiError::not_found(format!(
        "The function {}:$LATEST doesn't have an EventInvokeConfig",
        state.function_arn(name.as_str())
    ))
}

/// Resolves the path and query to an existing function's name; `missing` is the error when
/// there is no such function (Lambda words it differently per operation).
async fn function_name(
    state: &AppState,
    raw: &str,
    q: &HashMap<String, String>,
    missing: fn(&AppState, &FunctionName) -> ApiError,
) -> ApiResult<FunctionName> {
    let name = resolve_name(state, raw, q.get("Qualifier").map(String::as_str))?;
    match state.store.get_function(&name).await {
        Ok(_) => Ok(name),
        Err(StoreError::NotFound(_)) => Err(missing(state, &name)),
        Err(e) => Err(e.into()),
    }
}

fn no_function(_: &AppState, _: &FunctionName) -> ApiError {
    ApiError::not_found("The function doesn't exist.")
}

async fn store(state: &AppState, cfg: &EventInvokeConfig) -> ApiResult<Response> {
    match state.events.queue.put_event_config(cfg).await {
        Ok(()) => Ok(json(StatusCode::OK, output(state, cfg))),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found(format!(
            "Function not found: {}",
            state.function_arn(&cfg.function)
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `PUT .../event-invoke-config`: replaces the whole configuration.
pub async fn put(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    let input = parse_body(&body)?;
    require_some_setting(&input.change())?;
    let name = function_name(&state, &raw, &q, no_function).await?;
    let mut cfg = EventInvokeConfig {
        function: name.to_string(),
        max_retry_attempts: None,
        max_event_age_secs: None,
        on_success: None,
        on_failure: None,
        last_modified_ms: now_ms(),
    };
    state
        .events
        .apply_config_change(&name, &mut cfg, &input.change())
        .await?;
    store(&state, &cfg).await
}

/// `POST .../event-invoke-config`: changes the members given.
pub async fn update(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    let input = parse_body(&body)?;
    require_some_setting(&input.change())?;
    let name = function_name(&state, &raw, &q, no_function).await?;
    let mut cfg = state
        .events
        .queue
        .get_event_config(name.as_str())
        .await?
        .ok_or_else(|| no_config(&state, &name))?;
    state
        .events
        .apply_config_change(&name, &mut cfg, &input.change())
        .await?;
    cfg.last_modified_ms = now_ms();
    store(&state, &cfg).await
}

pub async fn get(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let name = function_name(&state, &raw, &q, no_config).await?;
    let cfg = state
        .events
        .queue
        .get_event_config(name.as_str())
        .await?
        .ok_or_else(|| no_config(&state, &name))?;
    Ok(json(StatusCode::OK, output(&state, &cfg)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let name = function_name(&state, &raw, &q, no_config).await?;
    match state.events.queue.delete_event_config(name.as_str()).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(StoreError::NotFound(_)) => Err(no_config(&state, &name)),
        Err(e) => Err(e.into()),
    }
}

/// `GET .../event-invoke-config/list`: Kumo keeps one configuration per function (`$LATEST`).
pub async fn list(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    if let Some(m) = q.get("MaxItems") {
        let v: i64 = m.parse().map_err(|_| {
            ApiError::validation(format!(
                "1 validation error detected: Value '{m}' at 'maxItems' failed to satisfy constraint: Member must be a number"
            ))
        })?;
        in_range(v, "maxItems", 1, 50)?;
    }
    let name = function_name(&state, &raw, &HashMap::new(), no_function).await?;
    let configs: Vec<Value> = state
        .events
        .queue
        .get_event_config(name.as_str())
        .await?
        .iter()
        .map(|c| output(&state, c))
        .collect();
    Ok(json(
        StatusCode::OK,
        j!({"FunctionEventInvokeConfigs": configs}),
    ))
}

/// `GET /kumo/functions/{name}/dead-letters`: the built-in dead-letter store of a function.
pub async fn dead_letters(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let name = resolve_name(&state, &raw, None)?;
    load(&state, &name).await?;
    let letters: Vec<Value> = state
        .events
        .queue
        .dead_letters(name.as_str())
        .await?
        .into_iter()
        .map(|d| {
            j!({
                "RequestId": d.request_id,
                "EnqueuedAt": iso_ms(d.enqueued_ms),
                "FailedAt": iso_ms(d.failed_ms),
                "Payload": String::from_utf8_lossy(&d.payload),
                "Record": serde_json::from_str::<Value>(&d.record).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(json(StatusCode::OK, j!({"DeadLetters": letters})))
}

/// `POST /kumo/functions/{name}/dead-letters/replay`: queues every dead letter again.
pub async fn replay(State(state): State<AppState>, Path(raw): Path<String>) -> ApiResult<Response> {
    let name = resolve_name(&state, &raw, None)?;
    load(&state, &name).await?;
    let n = state
        .events
        .queue
        .replay_dead_letters(name.as_str(), now_ms())
        .await?;
    state.events.wake_dispatcher();
    Ok(json(StatusCode::OK, j!({"Replayed": n})))
}
