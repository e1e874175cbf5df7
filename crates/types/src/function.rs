//! The stored configuration of one function.

use crate::{FunctionName, Runtime};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FunctionState {
    Active,
}

/// Everything Kumo keeps about a function's `$LATEST` version.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FunctionConfig {
    pub name: FunctionName,
    pub runtime: Runtime,
    pub handler: String,
    pub role: String,
    pub description: String,
    pub memory_mb: u32,
    pub timeout_secs: u32,
    pub ephemeral_storage_mb: u32,
    pub environment: BTreeMap<String, String>,
    pub architecture: String,
    /// Lower-case hex SHA-256 of the deployment package.
    pub code_sha256_hex: String,
    pub code_size: u64,
    /// Milliseconds since the Unix epoch of the last change.
    pub last_modified_ms: i64,
    /// Changes on every change of code or configuration.
    pub revision_id: String,
    pub reserved_concurrency: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The resource-based policy's statements (AddPermission), as Lambda returns them.
    #[serde(default)]
    pub policy: Vec<serde_json::Value>,
    /// `PutFunctionRecursionConfig`: `Allow` or `Terminate` (the default when `None`).
    #[serde(default)]
    pub recursive_loop: Option<String>,
}

impl FunctionConfig {
    /// The log group all of this function's environments write to.
    pub fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }
}
