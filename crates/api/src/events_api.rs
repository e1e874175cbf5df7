//! The EventBridge subset for scheduled rules (JSON 1.1, `X-Amz-Target: AWSEvents.<Op>`):
//! `PutRule`, `DescribeRule`, `ListRules`, `DeleteRule`, `EnableRule`, `DisableRule`,
//! `PutTargets`, `RemoveTargets` and `ListTargetsByRule`, on the `default` event bus.
//!
//! Rules need a `ScheduleExpression` (see [`kumo_events::Schedule`]); event-pattern rules are refused,
//! as Kumo has no event bus to match against. Targets must be functions of this Kumo; each firing
//! queues an asynchronous invocation of every target with the target's `Input`, or else the
//! "Scheduled Event" document.

use crate::json11::{Json11Error, Json11Result};
use crate::AppState;
use kumo_events::clock::now_ms;
use kumo_events::Schedule;
use kumo_store::{Rule, RuleDeletion, StoreError, Target};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn handle(state: &AppState, op: &str, input: Value) -> Json11Result {
    match op {
        "PutRule" => put_rule(state, parse(input)?).await,
        "DescribeRule" => describe_rule(state, parse(input)?).await,
        "ListRules" => list_rules(state, parse(input)?).await,
        "DeleteRule" => delete_rule(state, parse(input)?).await,
        "EnableRule" => set_enabled(state, parse(input)?, true).await,
        "DisableRule" => set_enabled(state, parse(input)?, false).await,
        "PutTargets" => put_targets(state, parse(input)?).await,
        "RemoveTargets" => remove_targets(state, parse(input)?).await,
        "ListTargetsByRule" => list_targets(state, parse(input)?).await,
        _ => Err(Json11Error::new(
            "UnknownOperationException",
            format!("unknown operation {op}"),
        )),
    }
}

fn parse<T: DeserializeOwned>(input: Value) -> Result<T, Json11Error> {
    serde_json::from_value(input)
        .map_err(|e| Json11Error::new("SerializationException", e.to_string()))
}

fn validation(message: impl Into<String>) -> Json11Error {
    Json11Error::new("ValidationException", message)
}

fn store_error(e: StoreError) -> Json11Error {
    tracing::error!(error = %e, "rule store failed");
    Json11Error::internal("the rule store failed")
}

fn rule_not_found(name: &str) -> Json11Error {
    Json11Error::new(
        "ResourceNotFoundException",
        format!("Rule {name} does not exist on EventBus default."),
    )
}

/// Names of rules and ids of targets: 1-64 of `[.\-_A-Za-z0-9]`.
fn check_name(v: Option<&str>, member: &str) -> Result<String, Json11Error> {
    let v = v.ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })?;
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(validation(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ and have length between 1 and 64"
        )));
    }
    Ok(v.to_owned())
}

fn check_bus(bus: Option<&str>) -> Result<(), Json11Error> {
    match bus {
        None | Some("default") => Ok(()),
        Some(b) if b.ends_with(":event-bus/default") => Ok(()),
        Some(_) => Err(validation(
            "ScheduleExpression is supported only on the default event bus.",
        )),
    }
}

fn describe(state: &AppState, r: &Rule) -> Value {
    let mut v = json!({
        "Name": r.name,
        "Arn": state.events.rule_arn(&r.name),
        "ScheduleExpression": r.schedule,
        "State": if r.enabled { "ENABLED" } else { "DISABLED" },
        "EventBusName": "default",
        "CreatedBy": state.account_id,
    });
    if let Some(d) = &r.description {
        v["Description"] = json!(d);
    }
    if let Some(role) = &r.role_arn {
        v["RoleArn"] = json!(role);
    }
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRuleInput {
    name: Option<String>,
    schedule_expression: Option<String>,
    event_pattern: Option<String>,
    state: Option<String>,
    description: Option<String>,
    role_arn: Option<String>,
    event_bus_name: Option<String>,
    #[allow(dead_code)]
    tags: Option<Value>,
}

async fn put_rule(state: &AppState, input: PutRuleInput) -> Json11Result {
    let name = check_name(input.name.as_deref(), "name")?;
    check_bus(input.event_bus_name.as_deref())?;
    if input.event_pattern.is_some() {
        return Err(validation(
            "EventPattern is not supported by Kumo: rules must have a ScheduleExpression.",
        ));
    }
    let expr = input.schedule_expression.ok_or_else(|| {
        validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    })?;
    let schedule =
        Schedule::parse(&expr, state.events.settings.allow_second_rates).map_err(validation)?;
    let enabled = match input.state.as_deref() {
        None | Some("ENABLED") => true,
        Some("DISABLED") => false,
        Some(other) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )))
        }
    };
    if input.description.as_ref().is_some_and(|d| d.len() > 512) {
        return Err(validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 512",
        ));
    }
    let now = now_ms();
    let existing = state
        .events
        .rules
        .get_rule(&name)
        .await
        .map_err(store_error)?;
    // A rule that keeps its schedule and stays enabled keeps its next firing.
    let next_fire_ms = match &existing {
        Some(old) if old.enabled && enabled && old.schedule == expr => old.next_fire_ms,
        _ if enabled => schedule.next_after(now, now),
        _ => None,
    };
    let rule = Rule {
        name: name.clone(),
        schedule: expr,
        description: input.description,
        enabled,
        role_arn: input.role_arn,
        created_ms: existing.as_ref().map_or(now, |r| r.created_ms),
        next_fire_ms,
    };
    state
        .events
        .rules
        .put_rule(&rule)
        .await
        .map_err(store_error)?;
    state.events.rules_changed();
    Ok(json!({"RuleArn": state.events.rule_arn(&name)}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    name: Option<String>,
    event_bus_name: Option<String>,
    #[allow(dead_code)]
    force: Option<bool>,
}

async fn existing_rule(state: &AppState, input: &NameInput) -> Result<Rule, Json11Error> {
    let name = check_name(input.name.as_deref(), "name")?;
    check_bus(input.event_bus_name.as_deref())?;
    state
        .events
        .rules
        .get_rule(&name)
        .await
        .map_err(store_error)?
        .ok_or_else(|| rule_not_found(&name))
}

async fn describe_rule(state: &AppState, input: NameInput) -> Json11Result {
    let rule = existing_rule(state, &input).await?;
    Ok(describe(state, &rule))
}

async fn set_enabled(state: &AppState, input: NameInput, enabled: bool) -> Json11Result {
    let mut rule = existing_rule(state, &input).await?;
    if rule.enabled == enabled {
        return Ok(json!({}));
    }
    rule.enabled = enabled;
    rule.next_fire_ms = if enabled {
        let now = now_ms();
        Schedule::parse(&rule.schedule, true)
            .ok()
            .and_then(|s| s.next_after(now, now))
    } else {
        None
    };
    state
        .events
        .rules
        .put_rule(&rule)
        .await
        .map_err(store_error)?;
    state.events.rules_changed();
    Ok(json!({}))
}

async fn delete_rule(state: &AppState, input: NameInput) -> Json11Result {
    let name = check_name(input.name.as_deref(), "name")?;
    check_bus(input.event_bus_name.as_deref())?;
    match state
        .events
        .rules
        .delete_rule(&name)
        .await
        .map_err(store_error)?
    {
        RuleDeletion::Deleted | RuleDeletion::NotFound => {
            state.events.rules_changed();
            Ok(json!({}))
        }
        RuleDeletion::HasTargets => Err(validation("Rule can't be deleted since it has targets.")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    name_prefix: Option<String>,
    event_bus_name: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

fn page_limit(limit: Option<i64>) -> Result<usize, Json11Error> {
    match limit {
        None => Ok(100),
        Some(l @ 1..=100) => Ok(usize::try_from(l).unwrap_or(100)),
        Some(l) => Err(validation(format!(
            "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100"
        ))),
    }
}

async fn list_rules(state: &AppState, input: ListInput) -> Json11Result {
    check_bus(input.event_bus_name.as_deref())?;
    let limit = page_limit(input.limit)?;
    let prefix = input.name_prefix.unwrap_or_default();
    let after = input.next_token.unwrap_or_default();
    let mut rules = state
        .events
        .rules
        .list_rules(&prefix, &after, limit + 1)
        .await
        .map_err(store_error)?;
    let more = rules.len() > limit;
    rules.truncate(limit);
    let mut out = json!({"Rules": rules.iter().map(|r| describe(state, r)).collect::<Vec<_>>()});
    if more {
        if let Some(last) = rules.last() {
            out["NextToken"] = json!(last.name);
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetInput {
    id: Option<String>,
    arn: Option<String>,
    input: Option<String>,
    input_path: Option<String>,
    input_transformer: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTargetsInput {
    rule: Option<String>,
    event_bus_name: Option<String>,
    targets: Option<Vec<TargetInput>>,
}

async fn put_targets(state: &AppState, input: PutTargetsInput) -> Json11Result {
    let rule = check_name(input.rule.as_deref(), "rule")?;
    check_bus(input.event_bus_name.as_deref())?;
    let targets = input.targets.unwrap_or_default();
    if targets.is_empty() || targets.len() > 10 {
        return Err(validation(
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 10",
        ));
    }
    let mut checked = Vec::with_capacity(targets.len());
    for t in targets {
        let id = check_name(t.id.as_deref(), "targets.member.id")?;
        let arn = t.arn.unwrap_or_default();
        if state.events.function_from_arn(&arn).is_none() {
            return Err(validation(format!(
                "Target {id} has ARN {arn:?}: Kumo delivers only to functions of this server (arn:aws:lambda:{}:{}:function:NAME).",
                state.region, state.account_id
            )));
        }
        if t.input_path.is_some() || t.input_transformer.is_some() {
            return Err(validation(
                "InputPath and InputTransformer are not supported by Kumo; use Input.",
            ));
        }
        if let Some(i) = &t.input {
            if i.len() > 8192 || serde_json::from_str::<Value>(i).is_err() {
                return Err(validation(format!(
                    "Target {id}: Input must be valid JSON of at most 8192 characters."
                )));
            }
        }
        checked.push(Target {
            id,
            arn,
            input: t.input,
        });
    }
    match state.events.rules.put_targets(&rule, &checked).await {
        Ok(()) => Ok(json!({"FailedEntryCount": 0, "FailedEntries": []})),
        Err(StoreError::NotFound(_)) => Err(rule_not_found(&rule)),
        Err(e) => Err(store_error(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoveTargetsInput {
    rule: Option<String>,
    event_bus_name: Option<String>,
    ids: Option<Vec<String>>,
    #[allow(dead_code)]
    force: Option<bool>,
}

async fn remove_targets(state: &AppState, input: RemoveTargetsInput) -> Json11Result {
    let rule = check_name(input.rule.as_deref(), "rule")?;
    check_bus(input.event_bus_name.as_deref())?;
    let ids = input.ids.unwrap_or_default();
    if ids.is_empty() || ids.len() > 100 {
        return Err(validation(
            "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length between 1 and 100",
        ));
    }
    match state.events.rules.remove_targets(&rule, &ids).await {
        Ok(_) => Ok(json!({"FailedEntryCount": 0, "FailedEntries": []})),
        Err(StoreError::NotFound(_)) => Err(rule_not_found(&rule)),
        Err(e) => Err(store_error(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTargetsInput {
    rule: Option<String>,
    event_bus_name: Option<String>,
    #[allow(dead_code)]
    next_token: Option<String>,
    limit: Option<i64>,
}

async fn list_targets(state: &AppState, input: ListTargetsInput) -> Json11Result {
    let rule = check_name(input.rule.as_deref(), "rule")?;
    check_bus(input.event_bus_name.as_deref())?;
    page_limit(input.limit)?;
    if state
        .events
        .rules
        .get_rule(&rule)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(rule_not_found(&rule));
    }
    let targets = state
        .events
        .rules
        .targets(&rule)
        .await
        .map_err(store_error)?;
    let targets: Vec<Value> = targets
        .into_iter()
        .map(|t| {
            let mut v = json!({"Id": t.id, "Arn": t.arn});
            if let Some(i) = t.input {
                v["Input"] = json!(i);
            }
            v
        })
        .collect();
    Ok(json!({"Targets": targets}))
}
