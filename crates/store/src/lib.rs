//! Persistence for Kumo: functions, code packages and function logs.
//!
//! The engine and the API see the store only through the traits [`FunctionStore`] and
//! [`LogStore`] and the [`CodeStore`] on disk, so that a networked backend (NATS JetStream) can take
//! the place of the embedded one. The embedded implementation keeps everything in one data
//! directory:
//!
//! ```text
//! <data-dir>/kumo.db          SQLite in WAL mode: functions, function URLs, log events
//! <data-dir>/code/<sha>.zip   deployment packages, content-addressed by SHA-256
//! <data-dir>/tasks/<sha>/     the same packages unpacked, shared read-only by environments
//! ```
//!
//! Nothing is acknowledged to a client before it is on disk: every write is a committed SQLite
//! transaction or a file renamed into place. This crate holds no HTTP and no process logic.

pub mod code;
mod events;
mod log_sweep;
mod logs;
mod rules;
mod sqlite;
mod urls;
mod usage;

pub use code::{CodeInfo, CodeStore};
pub use events::{
    DeadLetter, EventInvokeConfig, EventQueue, NewEvent, QueueStats, QueuedEvent, Retry,
};
pub use logs::{
    EventPos, EventScan, Expired, LogGroupInfo, LogQuery, LogStreamInfo, StoredLogEvent,
    StreamCursor, StreamOrder,
};
pub use rules::{Rule, RuleDeletion, RuleStore, Target};
pub use sqlite::SqliteStore;
pub use urls::UrlStore;
pub use usage::{Outcome, UsageFilter, UsageGroup, UsageRecord, UsageStore, UsageSum};

use async_trait::async_trait;
use kumo_types::{FunctionConfig, FunctionName};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("function not found: {0}")]
    NotFound(String),
    #[error("function already exists: {0}")]
    AlreadyExists(String),
    #[error("revision id does not match the latest revision id")]
    RevisionMismatch,
    #[error("invalid deployment package: {0}")]
    InvalidPackage(String),
    #[error("deployment package too large: {0}")]
    PackageTooLarge(String),
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored record is corrupt")]
    Corrupt(#[from] serde_json::Error),
    #[error("i/o error on {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store task failed")]
    Join(#[from] tokio::task::JoinError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Functions and their configuration.
#[async_trait]
pub trait FunctionStore: Send + Sync + 'static {
    async fn get_function(&self, name: &FunctionName) -> Result<FunctionConfig>;
    /// Functions in name order, starting after `after`, at most `limit`.
    async fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>>;
    /// Stores a new function; fails with `AlreadyExists` if the name is taken.
    async fn create_function(&self, config: &FunctionConfig) -> Result<()>;
    /// Replaces a function's configuration if its stored revision is still `expected_revision`.
    async fn replace_function(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<()>;
    async fn delete_function(&self, name: &FunctionName) -> Result<()>;
    /// Number of functions and the sum of their code sizes.
    async fn usage(&self) -> Result<(u64, u64)>;
    /// Sum of reserved concurrency over all functions except `except`.
    async fn reserved_concurrency_total(&self, except: &FunctionName) -> Result<u64>;
}

/// One line of a function's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub message: String,
}

/// Function logs: groups (`/aws/lambda/NAME`) of streams (one per environment) of events.
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    async fn append_logs(&self, group: &str, stream: &str, events: Vec<LogEvent>) -> Result<()>;
    /// Several streams' events (group, stream, events) at once, in one transaction where the
    /// store has them.
    async fn append_log_batch(&self, batch: Vec<(String, String, Vec<LogEvent>)>) -> Result<()> {
        for (group, stream, events) in batch {
            self.append_logs(&group, &stream, events).await?;
        }
        Ok(())
    }
    /// Events of one stream in order, for tests and the CLI.
    async fn stream_events(&self, group: &str, stream: &str) -> Result<Vec<LogEvent>>;
}

/// What the store's tests share.
#[cfg(test)]
pub(crate) mod testing {
    use kumo_types::{FunctionConfig, FunctionName, Runtime};
    use std::collections::BTreeMap;

    /// A valid function configuration named `name`.
    pub fn function(name: &str) -> FunctionConfig {
        FunctionConfig {
            name: FunctionName::parse(name).expect("valid name"),
            runtime: Runtime::parse("python3.11").expect("valid runtime"),
            handler: "app.handler".into(),
            role: "arn:aws:iam::123456789012:role/r".into(),
            description: String::new(),
            memory_mb: 128,
            timeout_secs: 3,
            ephemeral_storage_mb: 512,
            environment: BTreeMap::new(),
            architecture: "x86_64".into(),
            code_sha256_hex: "00".into(),
            code_size: 1,
            last_modified_ms: 0,
            revision_id: "r1".into(),
            reserved_concurrency: None,
            tags: BTreeMap::new(),
        }
    }
}
