//! A function's `DeadLetterConfig` as CreateFunction, UpdateFunctionConfiguration and the
//! configuration documents carry it: the target must be a function of this Kumo (see
//! [`kumo_events::Events::check_target`]); the queue stores it.

use crate::error::ApiResult;
use crate::AppState;
use kumo_types::FunctionName;
use serde_json::{json as j, Value};

/// The `TargetArn` of a `DeadLetterConfig` member, validated (`None` when absent or empty).
pub(crate) fn dead_letter_target(
    state: &AppState,
    member: Option<&Value>,
) -> ApiResult<Option<String>> {
    Ok(state.events.check_target(
        member
            .and_then(|d| d.get("TargetArn"))
            .and_then(Value::as_str),
    )?)
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
