//! Placeholder: operations are added by the issue that builds this API.

use crate::json11::{Json11Error, Json11Result};
use crate::AppState;

pub async fn handle(_state: &AppState, op: &str, _input: serde_json::Value) -> Json11Result {
    Err(Json11Error::new(
        "UnknownOperationException",
        format!("unknown operation {op}"),
    ))
}
