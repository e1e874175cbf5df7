//! Per-function settings that deployment tools read or write on every deploy and that Kumo keeps
//! at Lambda's defaults for a function without them: `GetFunctionCodeSigningConfig` (none),
//! `Get`/`PutFunctionRecursionConfig` (stored; `Terminate` by default), and
//! `GetRuntimeManagementConfig` (`Auto`).

use crate::error::{ApiError, ApiResult};
use crate::functions::{load, resolve_name, resolve_unqualified};
use crate::{json, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json as j;
use std::collections::HashMap;

/// `GET /2020-06-30/functions/{name}/code-signing-config`: Kumo has no code signing configs.
pub async fn code_signing(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let name = resolve_name(&state, &raw, None)?;
    let f = load(&state, &name).await?;
    Ok(json(
        StatusCode::OK,
        j!({ "CodeSigningConfigArn": "", "FunctionName": f.name.as_str() }),
    ))
}

/// `GET /2024-08-31/functions/{name}/recursion-config`.
pub async fn get_recursion(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let name = resolve_unqualified(&state, &raw)?;
    let f = load(&state, &name).await?;
    let mode = f.recursive_loop.as_deref().unwrap_or("Terminate");
    Ok(json(StatusCode::OK, j!({ "RecursiveLoop": mode })))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecursionInput {
    recursive_loop: Option<String>,
}

/// `PUT /2024-08-31/functions/{name}/recursion-config`.
pub async fn put_recursion(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let input: RecursionInput = serde_json::from_slice(if body.is_empty() { b"{}" } else { &body })
        .map_err(|e| {
            ApiError::invalid_content(format!("Could not parse request body into json: {e}"))
        })?;
    let mode = match input.recursive_loop.as_deref() {
        None => {
            return Err(ApiError::validation(
                "1 validation error detected: Value null at 'recursiveLoop' failed to satisfy constraint: Member must not be null",
            ))
        }
        Some(m @ ("Allow" | "Terminate")) => m.to_owned(),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Allow, Terminate]"
            )))
        }
    };
    let name = resolve_unqualified(&state, &raw)?;
    let mut f = load(&state, &name).await?;
    let expected = f.revision_id.clone();
    f.recursive_loop = Some(mode.clone());
    state.store.replace_function(&f, &expected).await?;
    Ok(json(StatusCode::OK, j!({ "RecursiveLoop": mode })))
}

/// `GET /2021-07-20/functions/{name}/runtime-management-config`: runtimes follow the host's
/// interpreters, which is Lambda's `Auto` mode.
pub async fn runtime_management(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let name = resolve_name(&state, &raw, q.get("Qualifier").map(String::as_str))?;
    let f = load(&state, &name).await?;
    let mut arn = state.function_arn(f.name.as_str());
    if let Some(qualifier) = q.get("Qualifier") {
        arn = format!("{arn}:{qualifier}");
    }
    Ok(json(
        StatusCode::OK,
        j!({ "UpdateRuntimeOn": "Auto", "FunctionArn": arn }),
    ))
}
