//! Asynchronous invocation and schedules in the binary: the `[events]` configuration section,
//! `kumo dlq list|replay NAME` (the built-in dead-letter store of a function) and
//! `kumo schedule NAME EXPRESSION` (an EventBridge rule with the function as its target).

use crate::cli::{check, Api};
use anyhow::{bail, Context, Result};
use kumo_events::AsyncSettings;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// `[events]`: timing of asynchronous retries and schedules.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Wait before the first retry after a function error (the second waits twice as long).
    pub retry_delay_ms: Option<u64>,
    /// First wait after a throttle, doubling up to `throttle_max_delay_ms`.
    pub throttle_delay_ms: Option<u64>,
    pub throttle_max_delay_ms: Option<u64>,
    /// Accept `rate(N seconds)` schedules (tests and demonstrations).
    pub allow_second_rates: Option<bool>,
    /// Most asynchronous invocations running at once (0: the account concurrency).
    pub max_concurrency: Option<u32>,
}

fn env_override<T: std::str::FromStr>(key: &str, file: Option<T>) -> Result<Option<T>> {
    match std::env::var(key).ok().filter(|v| !v.is_empty()) {
        None => Ok(file),
        Some(v) => match v.parse() {
            Ok(x) => Ok(Some(x)),
            Err(_) => bail!("invalid value {v:?} in environment variable {key}"),
        },
    }
}

impl EventsSection {
    /// Validated settings, with `KUMO_EVENTS_*` overrides.
    pub fn load(self) -> Result<AsyncSettings> {
        let d = AsyncSettings::default();
        let ms = |key: &str, file: Option<u64>, default: Duration| -> Result<Duration> {
            Ok(env_override(key, file)?.map_or(default, Duration::from_millis))
        };
        let s = AsyncSettings {
            retry_delay: ms(
                "KUMO_EVENTS_RETRY_DELAY_MS",
                self.retry_delay_ms,
                d.retry_delay,
            )?,
            throttle_delay: ms(
                "KUMO_EVENTS_THROTTLE_DELAY_MS",
                self.throttle_delay_ms,
                d.throttle_delay,
            )?,
            throttle_max_delay: ms(
                "KUMO_EVENTS_THROTTLE_MAX_DELAY_MS",
                self.throttle_max_delay_ms,
                d.throttle_max_delay,
            )?,
            allow_second_rates: env_override(
                "KUMO_EVENTS_ALLOW_SECOND_RATES",
                self.allow_second_rates,
            )?
            .unwrap_or(false),
            max_concurrency: env_override("KUMO_EVENTS_MAX_CONCURRENCY", self.max_concurrency)?
                .unwrap_or(0),
        };
        if s.throttle_delay.is_zero() || s.throttle_max_delay < s.throttle_delay {
            bail!("events.throttle_delay_ms must be at least 1 and at most events.throttle_max_delay_ms");
        }
        Ok(s)
    }
}

fn events_call(api: &Api, op: &str, body: &Value) -> Result<Value> {
    let req = api
        .client
        .post(api.url("/"))
        .header("x-amz-target", format!("AWSEvents.{op}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string());
    check(api.send(req)?)
}

/// Function names and ARNs need no escaping in a path (`[A-Za-z0-9-_:]`); anything else is
/// refused by the server with a clear error.
fn path_segment(name: &str) -> &str {
    name
}

/// Prints a function's dead letters: when each failed, its request id, why, and its payload.
pub fn dlq_list(api: &Api, name: &str, json_out: bool) -> Result<()> {
    let url = api.url(&format!(
        "/kumo/functions/{}/dead-letters",
        path_segment(name)
    ));
    let body = check(api.send(api.client.get(url))?)?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let letters = body
        .get("DeadLetters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if letters.is_empty() {
        println!("no dead letters for {name}");
        return Ok(());
    }
    for d in &letters {
        let record = d.get("Record").cloned().unwrap_or(Value::Null);
        let condition = record
            .pointer("/requestContext/condition")
            .and_then(Value::as_str)
            .unwrap_or("-");
        let attempts = record
            .pointer("/requestContext/approximateInvokeCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let error = record
            .pointer("/responsePayload/errorMessage")
            .and_then(Value::as_str)
            .unwrap_or("");
        println!(
            "{}  {}  {condition} after {attempts} attempt(s)  {error}",
            d.get("FailedAt").and_then(Value::as_str).unwrap_or("-"),
            d.get("RequestId").and_then(Value::as_str).unwrap_or("-"),
        );
        println!(
            "    payload: {}",
            d.get("Payload").and_then(Value::as_str).unwrap_or("")
        );
    }
    println!("{} dead letter(s)", letters.len());
    Ok(())
}

/// Queues every dead letter of a function again.
pub fn dlq_replay(api: &Api, name: &str) -> Result<()> {
    let url = api.url(&format!(
        "/kumo/functions/{}/dead-letters/replay",
        path_segment(name)
    ));
    let body = check(api.send(api.client.post(url))?)?;
    let n = body.get("Replayed").and_then(Value::as_u64).unwrap_or(0);
    println!("re-queued {n} event(s) for {name}");
    Ok(())
}

/// Creates (or updates) the rule `kumo-schedule-NAME` with `expression` and the function as its
/// only target.
pub fn schedule(api: &Api, name: &str, expression: &str, input: Option<&str>) -> Result<()> {
    let config = check(api.send(api.client.get(api.url(&format!(
        "/2015-03-31/functions/{}/configuration",
        path_segment(name)
    ))))?)
    .with_context(|| format!("while looking up function {name}"))?;
    let arn = config
        .get("FunctionArn")
        .and_then(Value::as_str)
        .context("the server sent no FunctionArn")?
        .to_owned();
    let rule = format!("kumo-schedule-{name}");
    let rule = &rule[..rule.len().min(64)];
    let created = events_call(
        api,
        "PutRule",
        &json!({"Name": rule, "ScheduleExpression": expression, "State": "ENABLED"}),
    )?;
    let mut target = json!({"Id": "function", "Arn": arn});
    if let Some(i) = input {
        target["Input"] = json!(i);
    }
    events_call(
        api,
        "PutTargets",
        &json!({"Rule": rule, "Targets": [target]}),
    )?;
    println!(
        "{name} runs on {expression} (rule {})",
        created
            .get("RuleArn")
            .and_then(Value::as_str)
            .unwrap_or(rule)
    );
    Ok(())
}
