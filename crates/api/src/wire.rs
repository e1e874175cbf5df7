//! Lambda's wire shapes for functions (PascalCase JSON), built from the domain types.

use crate::AppState;
use kumo_store::code::sha256_base64;
use kumo_types::FunctionConfig;
use serde_json::{json, Value};

/// `2019-08-14T22:26:11.234+0000`
pub fn last_modified(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    ))
    .unwrap_or_default()
}

/// `FunctionConfiguration` as Lambda returns it for `$LATEST`.
pub fn function_configuration(state: &AppState, f: &FunctionConfig) -> Value {
    let mut v = json!({
        "FunctionName": f.name.as_str(),
        "FunctionArn": state.function_arn(f.name.as_str()),
        "Runtime": f.runtime.as_str(),
        "Role": f.role,
        "Handler": f.handler,
        "CodeSize": f.code_size,
        "Description": f.description,
        "Timeout": f.timeout_secs,
        "MemorySize": f.memory_mb,
        "LastModified": last_modified(f.last_modified_ms),
        "CodeSha256": sha256_base64(&f.code_sha256_hex),
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": f.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [f.architecture],
        "EphemeralStorage": {"Size": f.ephemeral_storage_mb},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f.log_group()},
        "RuntimeVersionConfig": {"RuntimeVersionArn": runtime_version_arn(state, f.runtime.as_str())},
    });
    if !f.environment.is_empty() {
        v["Environment"] = json!({ "Variables": f.environment });
    }
    v
}

/// The runtime version a function runs on: stable for a runtime name on this server, in the form
/// Lambda uses (`arn:aws:lambda:REGION::runtime:<64 hex digits>`).
fn runtime_version_arn(state: &AppState, runtime: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("kumo-runtime:{runtime}"));
    format!("arn:aws:lambda:{}::runtime:{digest:x}", state.region)
}

/// CreateFunction answers as Lambda does while a new function is set up: `State: Pending` and no
/// `LastUpdateStatus` yet; GetFunction then reports `Active` (Kumo is ready at once, and clients
/// wait with `function_active_v2`).
pub fn mark_creating(doc: &mut Value) {
    if let Some(m) = doc.as_object_mut() {
        m.insert("State".into(), json!("Pending"));
        m.insert(
            "StateReason".into(),
            json!("The function is being created."),
        );
        m.insert("StateReasonCode".into(), json!("Creating"));
        m.remove("LastUpdateStatus");
    }
}

/// UpdateFunctionCode/UpdateFunctionConfiguration answer with the update `InProgress`, in
/// Lambda's words; GetFunction then reports it `Successful` (`function_updated_v2` waits for it).
pub fn mark_updating(doc: &mut Value) {
    if let Some(m) = doc.as_object_mut() {
        m.insert("LastUpdateStatus".into(), json!("InProgress"));
        m.insert(
            "LastUpdateStatusReason".into(),
            json!("The function is being created."),
        );
        m.insert("LastUpdateStatusReasonCode".into(), json!("Creating"));
    }
}

/// A configuration document as the caller qualified the function: with a qualifier (only
/// `$LATEST` for now) Lambda returns the qualified `FunctionArn`.
pub fn qualify(doc: &mut Value, qualifier: Option<&str>) {
    if let Some(q) = qualifier {
        if let Some(arn) = doc.get("FunctionArn").and_then(Value::as_str) {
            let qualified = format!("{arn}:{q}");
            doc["FunctionArn"] = json!(qualified);
        }
    }
}

/// A configuration as ListFunctions lists it: without `State`, `LastUpdateStatus` and
/// `RuntimeVersionConfig`, and with `FunctionVersion=ALL` a `$LATEST`-qualified `FunctionArn`.
pub fn list_item(doc: &mut Value, all_versions: bool) {
    if let Some(m) = doc.as_object_mut() {
        for key in ["State", "LastUpdateStatus", "RuntimeVersionConfig"] {
            m.remove(key);
        }
    }
    if all_versions {
        qualify(doc, Some("$LATEST"));
    }
}
