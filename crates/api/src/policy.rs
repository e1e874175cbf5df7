//! A function's resource-based policy: `AddPermission`, `RemovePermission`, `GetPolicy`.
//!
//! Statements are stored with the function in Lambda's shape (`Sid`, `Effect`, `Principal`,
//! `Action`, `Resource`, `Condition`) and returned as Lambda returns them (the policy and each
//! statement as JSON text). Kumo records them for the tools that manage them; it does not evaluate
//! them (requests are authorised by the account's key; see docs/authentication.md). Adding or
//! removing a statement does not change the function's `RevisionId` here, for the same reason as
//! tags (see `tags.rs`); `RevisionId` preconditions are checked.

use crate::error::{ApiError, ApiResult};
use crate::functions::parse_target;
use crate::{json, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kumo_store::StoreError;
use kumo_types::{FunctionConfig, FunctionName, NameKind};
use serde::Deserialize;
use serde_json::{json as j, Map, Value};
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddInput {
    statement_id: Option<String>,
    action: Option<String>,
    principal: Option<String>,
    source_arn: Option<String>,
    source_account: Option<String>,
    event_source_token: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    principal_org_id: Option<String>,
    function_url_auth_type: Option<String>,
    revision_id: Option<String>,
}

fn missing(member: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

/// The function a policy operation names; a version or alias qualifier names nothing here.
async fn function(
    state: &AppState,
    raw: &str,
    qualifier: Option<&str>,
    not_found: impl FnOnce(&str) -> ApiError,
) -> ApiResult<FunctionConfig> {
    let target = parse_target(state, raw, qualifier, NameKind::Namespaced)?;
    let arn = state.function_arn(target.name.as_str());
    if let Some(q) = target.qualifier.as_deref() {
        if q == "$LATEST" {
            return Err(ApiError::invalid_parameter(
                "We currently do not support adding policies for $LATEST.",
            ));
        }
        return Err(ApiError::not_found(format!(
            "Function not found: {arn}:{q}"
        )));
    }
    match state.store.get_function(&target.name).await {
        Ok(f) => Ok(f),
        Err(StoreError::NotFound(_)) => Err(not_found(&arn)),
        Err(e) => Err(e.into()),
    }
}

/// Lambda's `Principal` forms: a service, `*`, an account id or an IAM ARN.
fn principal(p: &str) -> ApiResult<Value> {
    let is_account = p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit());
    if p == "*" {
        Ok(j!("*"))
    } else if is_account {
        Ok(j!({ "AWS": format!("arn:aws:iam::{p}:root") }))
    } else if p.starts_with("arn:aws") && p.split(':').nth(2) == Some("iam") {
        Ok(j!({ "AWS": p }))
    } else if p.contains('.') && !p.contains(char::is_whitespace) && !p.starts_with("arn:") {
        Ok(j!({ "Service": p }))
    } else {
        Err(ApiError::invalid_parameter(
            "The provided principal was invalid. Please check the principal and try again.",
        ))
    }
}

fn statement(
    state: &AppState,
    name: &FunctionName,
    sid: &str,
    input: &AddInput,
) -> ApiResult<Value> {
    let action = input.action.as_deref().ok_or_else(|| missing("action"))?;
    let action_ok = action == "*"
        || action == "lambda:*"
        || action
            .strip_prefix("lambda:")
            .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphabetic()));
    if !action_ok {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{action}' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])"
        )));
    }
    let principal = principal(
        input
            .principal
            .as_deref()
            .ok_or_else(|| missing("principal"))?,
    )?;
    let mut equals = Map::new();
    if let Some(v) = &input.function_url_auth_type {
        if !matches!(v.as_str(), "NONE" | "AWS_IAM") {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{v}' at 'functionUrlAuthType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]"
            )));
        }
        equals.insert("lambda:FunctionUrlAuthType".into(), j!(v));
    }
    if let Some(v) = &input.principal_org_id {
        equals.insert("aws:PrincipalOrgID".into(), j!(v));
    }
    if let Some(v) = &input.source_account {
        equals.insert("AWS:SourceAccount".into(), j!(v));
    }
    if let Some(v) = &input.event_source_token {
        equals.insert("lambda:EventSourceToken".into(), j!(v));
    }
    let mut condition = Map::new();
    if !equals.is_empty() {
        condition.insert("StringEquals".into(), Value::Object(equals));
    }
    if let Some(v) = &input.source_arn {
        condition.insert("ArnLike".into(), j!({ "AWS:SourceArn": v }));
    }
    let mut st = j!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": state.function_arn(name.as_str()),
    });
    if !condition.is_empty() {
        st["Condition"] = Value::Object(condition);
    }
    Ok(st)
}

fn sid_of(st: &Value) -> Option<&str> {
    st.get("Sid").and_then(Value::as_str)
}

async fn store(state: &AppState, mut f: FunctionConfig, policy: Vec<Value>) -> ApiResult<()> {
    let expected = f.revision_id.clone();
    f.policy = policy;
    state.store.replace_function(&f, &expected).await?;
    Ok(())
}

/// `POST /2015-03-31/functions/{name}/policy`: adds a statement; 201 `{"Statement": "<json>"}`.
pub async fn add(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    let input: AddInput = serde_json::from_slice(if body.is_empty() { b"{}" } else { &body })
        .map_err(|e| {
            ApiError::invalid_content(format!("Could not parse request body into json: {e}"))
        })?;
    let sid = input
        .statement_id
        .clone()
        .ok_or_else(|| missing("statementId"))?;
    let sid_ok = !sid.is_empty()
        && sid.len() <= 100
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !sid_ok {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{sid}' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"
        )));
    }
    let f = function(
        &state,
        &raw,
        q.get("Qualifier").map(String::as_str),
        |arn| ApiError::not_found(format!("Function not found: {arn}")),
    )
    .await?;
    if input
        .revision_id
        .as_deref()
        .is_some_and(|r| r != f.revision_id)
    {
        return Err(ApiError::precondition_failed());
    }
    let st = statement(&state, &f.name, &sid, &input)?;
    if f.policy.iter().any(|s| sid_of(s) == Some(sid.as_str())) {
        return Err(ApiError::conflict(format!(
            "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
        )));
    }
    let mut policy = f.policy.clone();
    policy.push(st.clone());
    store(&state, f, policy).await?;
    Ok(json(
        StatusCode::CREATED,
        j!({ "Statement": st.to_string() }),
    ))
}

/// `DELETE /2015-03-31/functions/{name}/policy/{sid}`.
pub async fn remove(
    State(state): State<AppState>,
    Path((raw, sid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let f = function(
        &state,
        &raw,
        q.get("Qualifier").map(String::as_str),
        |arn| ApiError::not_found(format!("No policy found for: {arn}")),
    )
    .await?;
    if q.get("RevisionId").is_some_and(|r| *r != f.revision_id) {
        return Err(ApiError::precondition_failed());
    }
    if f.policy.is_empty() {
        return Err(ApiError::not_found(
            "No policy is associated with the given resource.",
        ));
    }
    let policy: Vec<Value> = f
        .policy
        .iter()
        .filter(|s| sid_of(s) != Some(sid.as_str()))
        .cloned()
        .collect();
    if policy.len() == f.policy.len() {
        return Err(ApiError::not_found(format!(
            "Statement {sid} is not found in resource policy."
        )));
    }
    store(&state, f, policy).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2015-03-31/functions/{name}/policy`: `{"Policy": "<json>", "RevisionId": ...}`.
pub async fn get(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let qualifier = q.get("Qualifier").map(String::as_str);
    if qualifier.is_some_and(|q| q != "$LATEST") {
        // No versions or aliases are published here: nothing carries a policy.
        parse_target(&state, &raw, qualifier, NameKind::Namespaced)?;
        return Err(ApiError::not_found(
            "The resource you requested does not exist.",
        ));
    }
    let f = function(&state, &raw, None, |arn| {
        ApiError::not_found(format!("Function not found: {arn}"))
    })
    .await?;
    if f.policy.is_empty() {
        return Err(ApiError::not_found(
            "The resource you requested does not exist.",
        ));
    }
    let policy = j!({ "Version": "2012-10-17", "Id": "default", "Statement": f.policy });
    Ok(json(
        StatusCode::OK,
        j!({ "Policy": policy.to_string(), "RevisionId": f.revision_id }),
    ))
}
