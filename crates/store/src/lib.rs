//! Persistence for Kumo: functions, code packages and function logs.
//!
//! The engine, the asynchronous side and the API see the store only through async traits that say
//! nothing about SQL or files: [`FunctionStore`] (with compare-and-set on `RevisionId` and a change
//! feed), [`CodePackages`], [`EventQueue`] (claims with leases), [`RuleStore`], [`UrlStore`],
//! [`LogStore`]/[`LogQuery`] and [`UsageStore`], so that a networked backend (NATS JetStream) can
//! take the place of the embedded one. [`conformance`] holds the checks every backend must pass.
//! The embedded implementation ([`SqliteStore`] and [`CodeStore`]) keeps everything in one data
//! directory:
//!
//! ```text
//! <data-dir>/kumo.db          SQLite in WAL mode: functions, function URLs, log events
//! <data-dir>/code/<sha>.zip   deployment packages, content-addressed by SHA-256
//! <data-dir>/tasks/<sha>/     the same packages unpacked, shared read-only by environments
//! ```
//!
//! The database (it holds environment variables) and the zips are private to the server's user
//! (0600, in 0700 directories); only the unpacked trees keep files every uid may read, because
//! environments run as other uids and see them through a bind mount.
//!
//! Nothing is acknowledged to a client before it is on disk: every write is a committed SQLite
//! transaction or a file renamed into place. This crate holds no HTTP and no process logic.

pub mod code;
pub mod conformance;
mod events;
mod log_sweep;
mod logs;
mod rules;
mod sqlite;
mod urls;
mod usage;
mod zip_entries;

pub use code::{CodeInfo, CodeStore};
pub use events::{
    DeadLetter, EventInvokeConfig, EventQueue, NewEvent, QueueStats, QueuedEvent, Retry,
};
pub use log_sweep::Expired;
pub use logs::{
    EventPos, EventScan, LogGroupInfo, LogQuery, LogStreamInfo, StoredLogEvent, StreamCursor,
    StreamOrder,
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
    /// The backend failed (a database error, a lost connection): nothing about the request.
    #[error("storage backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
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

/// A change to the function registry, as [`FunctionStore::watch`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionChange {
    /// Created or replaced; the revision it now has.
    Put {
        name: String,
        revision_id: String,
    },
    Deleted {
        name: String,
    },
}

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
    /// Every change committed from now on, in commit order (with a shared backend, also the
    /// changes other nodes make). A receiver that falls behind gets `Lagged` and must re-read
    /// whatever it keeps.
    fn watch(&self) -> tokio::sync::broadcast::Receiver<FunctionChange>;
}

/// Deployment packages (zips), content-addressed by their SHA-256, and each one's unpacked tree
/// on this node for environments to mount.
#[async_trait]
pub trait CodePackages: Send + Sync + 'static {
    /// Checks and stores a zip (refusing bad or oversized ones with `InvalidPackage` /
    /// `PackageTooLarge`); storing the same bytes again is a no-op.
    async fn put(&self, zip: Vec<u8>) -> Result<CodeInfo>;
    /// The stored zip, if there is one with that digest.
    async fn read(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>>;
    /// A local directory holding the package unpacked, read-only for environments.
    async fn unpacked(&self, sha256_hex: &str) -> Result<std::path::PathBuf>;
    /// Digests of every stored package.
    async fn packages(&self) -> Result<Vec<String>>;
    /// Deletes a package (its zip and its unpacked tree); a missing one is not an error.
    async fn remove(&self, sha256_hex: &str) -> Result<()>;
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
    pub use crate::conformance::function;
    use crate::{LogEvent, SqliteStore};

    /// A log line at `ts`.
    pub fn ev(ts: i64, msg: &str) -> LogEvent {
        LogEvent {
            timestamp_ms: ts,
            message: msg.into(),
        }
    }

    /// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
    pub async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
        (dir, s)
    }
}
