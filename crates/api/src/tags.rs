//! `TagResource`, `UntagResource` and `ListTags` on functions (`/2017-03-31/tags/{ARN}`).
//!
//! Tags live with the function's configuration (`Tags` on CreateFunction sets them too). Only
//! unqualified function ARNs take tags, as in Lambda; at most 50 per function. Tagging does not
//! change the function's `RevisionId` here (Lambda's does): a new revision would retire the
//! function's warm environments, and tags do not change what runs.

use crate::error::{ApiError, ApiResult};
use crate::functions::parse_target;
use crate::{json, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kumo_store::StoreError;
use kumo_types::{FunctionConfig, NameKind};
use serde::Deserialize;
use serde_json::json as j;
use std::collections::{BTreeMap, HashMap};

/// Lambda's limit of tags per function.
const MAX_TAGS: usize = 50;

const RESOURCE_PATTERN: &str = "arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(capacity-provider|network-connector):[a-zA-Z0-9-_]{1,64})";

/// The function a tagging request names: a full, unqualified function ARN of this account and
/// region, of a function that exists.
async fn tagged_function(state: &AppState, resource: &str) -> ApiResult<FunctionConfig> {
    let is_function_arn = resource.starts_with("arn:aws")
        && resource.split(':').nth(2) == Some("lambda")
        && resource.split(':').nth(5) == Some("function");
    if !is_function_arn {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{resource}' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: {RESOURCE_PATTERN}"
        )));
    }
    let target = parse_target(state, resource, None, NameKind::Plain)?;
    if target.qualifier.is_some() {
        return Err(ApiError::invalid_parameter(
            "Tags on function aliases and versions are not supported. Please specify a function ARN.",
        ));
    }
    match state.store.get_function(&target.name).await {
        Ok(f) => Ok(f),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found(format!(
            "Function not found: {}",
            state.function_arn(target.name.as_str())
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Stores `f` with `tags`, if nobody changed the function meanwhile.
async fn store_tags(
    state: &AppState,
    mut f: FunctionConfig,
    tags: BTreeMap<String, String>,
) -> ApiResult<()> {
    let expected = f.revision_id.clone();
    f.tags = tags;
    state.store.replace_function(&f, &expected).await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    tags: Option<BTreeMap<String, String>>,
}

/// `POST /2017-03-31/tags/{ARN}`: adds or overwrites tags.
pub async fn tag(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let input: TagInput = serde_json::from_slice(if body.is_empty() { b"{}" } else { &body })
        .map_err(|e| {
            ApiError::invalid_content(format!("Could not parse request body into json: {e}"))
        })?;
    let f = tagged_function(&state, &resource).await?;
    let new = input.tags.unwrap_or_default();
    if new.is_empty() {
        return Err(ApiError::invalid_parameter(
            "An error occurred and the request cannot be processed.",
        ));
    }
    for (k, v) in &new {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(ApiError::invalid_parameter(format!(
                "The tag {k} is invalid: keys are 1 to 128 characters and may not start with aws:, values at most 256"
            )));
        }
    }
    let mut tags = f.tags.clone();
    tags.extend(new);
    if tags.len() > MAX_TAGS {
        return Err(ApiError::invalid_parameter(
            "Number of tags exceeds resource tag limit.",
        ));
    }
    store_tags(&state, f, tags).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /2017-03-31/tags/{ARN}?tagKeys=...`: removes tags (absent keys are not an error).
pub async fn untag(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let keys: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v.as_str())
        .collect();
    let f = tagged_function(&state, &resource).await?;
    if keys.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut tags = f.tags.clone();
    for k in keys {
        tags.remove(k);
    }
    store_tags(&state, f, tags).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2017-03-31/tags/{ARN}`.
pub async fn list(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    Query(_): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let f = tagged_function(&state, &resource).await?;
    Ok(json(StatusCode::OK, j!({ "Tags": f.tags })))
}
