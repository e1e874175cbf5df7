//! What an invocation is and how it ends, as the API hands it to the engine and gets it back;
//! shared by the pools that run invocations and the metrics that count them.

use axum::body::Bytes;
use kumo_types::FunctionConfig;

/// One synchronous invocation, as the API hands it over.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub function: FunctionConfig,
    /// The ARN the caller used, passed to the runtime.
    pub invoked_arn: String,
    pub payload: Bytes,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    pub trace_id: Option<String>,
    /// Return the last 4 KB of the log.
    pub tail_log: bool,
}

/// The result of an invocation that ran (successfully or with a function error).
#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    pub request_id: String,
    pub payload: Bytes,
    /// `Some("Unhandled")` when the function failed.
    pub function_error: Option<&'static str>,
    /// Base64 of the last 4 KB of the invocation's log, when asked for.
    pub log_result: Option<String>,
    pub executed_version: &'static str,
    pub duration_ms: f64,
    pub billed_duration_ms: u64,
    pub init_duration_ms: Option<f64>,
    pub max_memory_mb: u64,
}

/// An invocation that never reached a function.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("Rate Exceeded.")]
    Throttled { reason: &'static str },
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("platform failure: {0}")]
    Platform(String),
}
