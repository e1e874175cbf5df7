//! Asynchronous invocation settings of a function: `Put`/`Get`/`Update`/`Delete`/
//! `ListFunctionEventInvokeConfig(s)` (`/2019-09-25/functions/{name}/event-invoke-config`), and
//! Kumo's own view of the built-in dead-letter store (`/kumo/functions/{name}/dead-letters`,
//! used by `kumo dlq list|replay`).
//!
//! Destinations and dead-letter targets must be functions of this Kumo (their ARN in this
//! region and account); SQS, SNS, S3 and EventBridge destinations are refused.

use crate::dispatch::{function_from_arn, iso_ms, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::functions::{load, resolve_name};
use crate::{json, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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

fn in_range(v: i64, member: &str, min: i64, max: i64) -> ApiResult<u32> {
    if v < min {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        )));
    }
    if v > max {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        )));
    }
    Ok(u32::try_from(v).unwrap_or(0))
}

/// A destination or dead-letter target: a function of this Kumo, or nothing (empty string).
pub(crate) fn check_target(state: &AppState, arn: Option<&str>) -> ApiResult<Option<String>> {
    match arn {
        None | Some("") => Ok(None),
        Some(arn) if function_from_arn(state, arn).is_some() => Ok(Some(arn.to_owned())),
        Some(arn) => Err(ApiError::invalid_parameter(format!(
            "The destination ARN {arn} is invalid. Kumo delivers only to functions of this server (arn:aws:lambda:{}:{}:function:NAME).",
            state.region, state.account_id
        ))),
    }
}

/// Lambda refuses a Put/Update that sets nothing, before it looks the function up.
fn require_some_setting(input: &ConfigInput) -> ApiResult<()> {
    if input.maximum_retry_attempts.is_none()
        && input.maximum_event_age_in_seconds.is_none()
        && input.destination_config.is_none()
    {
        return Err(ApiError::invalid_parameter(
            "You must specify at least one of error handling or destination setting.",
        ));
    }
    Ok(())
}

/// A destination of `own`: a function of this Kumo that exists and is not `own` itself.
async fn check_destination(
    state: &AppState,
    own: &FunctionName,
    arn: Option<&str>,
) -> ApiResult<Option<String>> {
    let Some(target) = check_target(state, arn)? else {
        return Ok(None);
    };
    let name = function_from_arn(state, &target).ok_or_else(|| {
        ApiError::invalid_parameter(format!("The destination ARN {target} is invalid."))
    })?;
    if &name == own {
        return Err(ApiError::invalid_parameter(
            "You can't specify the function as a destination for itself.",
        ));
    }
    match state.store.get_function(&name).await {
        Ok(_) => Ok(Some(target)),
        Err(StoreError::NotFound(_)) => Err(ApiError::invalid_parameter(format!(
            "The destination ARN {target} is invalid."
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Applies the members present in `input` to `cfg`, validating each.
async fn apply(
    state: &AppState,
    own: &FunctionName,
    cfg: &mut EventInvokeConfig,
    input: &ConfigInput,
) -> ApiResult<()> {
    if let Some(v) = input.maximum_retry_attempts {
        cfg.max_retry_attempts = Some(in_range(v, "maximumRetryAttempts", 0, 2)?);
    }
    if let Some(v) = input.maximum_event_age_in_seconds {
        cfg.max_event_age_secs = Some(in_range(v, "maximumEventAgeInSeconds", 60, 21_600)?);
    }
    if let Some(d) = &input.destination_config {
        if let Some(s) = &d.on_success {
            cfg.on_success = check_destination(state, own, s.destination.as_deref()).await?;
        }
        if let Some(f) = &d.on_failure {
            cfg.on_failure = check_destination(state, own, f.destination.as_deref()).await?;
        }
    }
    Ok(())
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
    require_some_setting(&input)?;
    let name = function_name(&state, &raw, &q, no_function).await?;
    let mut cfg = EventInvokeConfig {
        function: name.to_string(),
        max_retry_attempts: None,
        max_event_age_secs: None,
        on_success: None,
        on_failure: None,
        last_modified_ms: now_ms(),
    };
    apply(&state, &name, &mut cfg, &input).await?;
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
    require_some_setting(&input)?;
    let name = function_name(&state, &raw, &q, no_function).await?;
    let mut cfg = state
        .events
        .queue
        .get_event_config(name.as_str())
        .await?
        .ok_or_else(|| no_config(&state, &name))?;
    apply(&state, &name, &mut cfg, &input).await?;
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

/// The `TargetArn` of a `DeadLetterConfig` member, validated (`None` when absent or empty).
pub(crate) fn dead_letter_target(
    state: &AppState,
    member: Option<&Value>,
) -> ApiResult<Option<String>> {
    check_target(
        state,
        member
            .and_then(|d| d.get("TargetArn"))
            .and_then(Value::as_str),
    )
}

/// Stores the `DeadLetterConfig` member of CreateFunction/UpdateFunctionConfiguration, if given
/// (an empty `TargetArn` removes it).
pub(crate) async fn store_dead_letter(
    state: &AppState,
    name: &FunctionName,
    member: Option<&Value>,
) -> ApiResult<()> {
    if member.is_none() {
        return Ok(());
    }
    let target = dead_letter_target(state, member)?;
    state
        .events
        .queue
        .set_dead_letter_target(name.as_str(), target.as_deref())
        .await?;
    Ok(())
}

/// Adds `DeadLetterConfig` to a `FunctionConfiguration` document when the function has one.
pub(crate) async fn add_dead_letter(
    state: &AppState,
    name: &FunctionName,
    doc: &mut Value,
) -> ApiResult<()> {
    if let Some(arn) = state.events.queue.dead_letter_target(name.as_str()).await? {
        doc["DeadLetterConfig"] = j!({ "TargetArn": arn });
    }
    Ok(())
}
