//! The embedded store: SQLite in WAL mode.

use crate::{FunctionChange, FunctionStore, LogEvent, LogStore, Result, StoreError};
use async_trait::async_trait;
use kumo_types::{FunctionConfig, FunctionName};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS functions (
    name        TEXT PRIMARY KEY,
    revision_id TEXT NOT NULL,
    config      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name     TEXT NOT NULL,
    stream_name    TEXT NOT NULL,
    timestamp      INTEGER NOT NULL,
    ingestion_time INTEGER NOT NULL,
    message        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_stream ON log_events (group_name, stream_name, timestamp);
";

/// SQLite-backed [`FunctionStore`] and [`LogStore`]. Cheap to clone.
///
/// Function configurations are also kept in memory, because every invocation reads one: the
/// cache is filled and changed only while the connection is held, in the same step as the
/// database, so it can never hold a configuration older than the database's.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    functions: Arc<Mutex<HashMap<String, FunctionConfig>>>,
    /// Registry changes, sent once committed (and under the connection lock, so in commit order).
    changes: tokio::sync::broadcast::Sender<FunctionChange>,
    /// Bytes the database may use before appending logs deletes the oldest (0: no bound).
    log_bound: Arc<AtomicU64>,
    /// Events appending logs deleted for the bound, not yet reported by a sweep.
    pub(crate) log_trimmed: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes the database file (and the `-wal` and `-shm` files SQLite keeps next to it) readable by
/// the server's user only: it holds every function's environment variables. SQLite gives the
/// `-wal` and `-shm` files it creates the database file's mode, so creating that one private is
/// enough for new databases; files of older versions are tightened.
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(file)(e)),
            _ => {}
        }
    }
    Ok(())
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self> {
        make_private(path)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // After a checkpoint the write-ahead log is cut back to this, so one large transaction
        // does not leave a large file behind.
        conn.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        crate::urls::create_schema(&conn)?;
        crate::events::create_schema(&conn)?;
        crate::rules::create_schema(&conn)?;
        crate::logs::create_schema(&conn)?;
        crate::usage::create_schema(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            functions: Arc::default(),
            changes: tokio::sync::broadcast::channel(1024).0,
            log_bound: Arc::default(),
            log_trimmed: Arc::default(),
        })
    }

    /// From now on, appending log events also deletes the oldest ones while the database uses
    /// more than `max_bytes` on disk (see `log_sweep::keep_under`); `None` removes the bound.
    pub fn bound_logs(&self, max_bytes: Option<u64>) {
        self.log_bound
            .store(max_bytes.unwrap_or(0), Ordering::Relaxed);
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await?
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Backend(Box::new(e))
    }
}

fn decode(json: &str) -> Result<FunctionConfig> {
    Ok(serde_json::from_str(json)?)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl FunctionStore for SqliteStore {
    async fn get_function(&self, name: &FunctionName) -> Result<FunctionConfig> {
        if let Some(f) = lock(&self.functions).get(name.as_str()) {
            return Ok(f.clone());
        }
        let name = name.to_string();
        let cache = Arc::clone(&self.functions);
        self.with(move |c| {
            // The invoke path reads this on every request: keep the statement compiled.
            let json: Option<String> = c
                .prepare_cached("SELECT config FROM functions WHERE name = ?1")?
                .query_row([&name], |r| r.get(0))
                .optional()?;
            let f = decode(&json.ok_or_else(|| StoreError::NotFound(name.clone()))?)?;
            lock(&cache).insert(name, f.clone());
            Ok(f)
        })
        .await
    }

    async fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>> {
        let after = after.unwrap_or("").to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT config FROM functions WHERE name > ?1 ORDER BY name LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| r.get::<_, String>(0))?;
            rows.map(|r| decode(&r?)).collect()
        })
        .await
    }

    async fn create_function(&self, config: &FunctionConfig) -> Result<()> {
        let json = serde_json::to_string(config)?;
        let name = config.name.to_string();
        let revision = config.revision_id.clone();
        let (cache, fresh) = (Arc::clone(&self.functions), config.clone());
        let changes = self.changes.clone();
        self.with(move |c| {
            let inserted = c.execute(
                "INSERT INTO functions (name, revision_id, config) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![name, revision, json],
            )?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(name));
            }
            lock(&cache).insert(name.clone(), fresh);
            let _ = changes.send(FunctionChange::Put {
                name,
                revision_id: revision,
            });
            Ok(())
        })
        .await
    }

    async fn replace_function(
        &self,
        config: &FunctionConfig,
        expected_revision: &str,
    ) -> Result<()> {
        let json = serde_json::to_string(config)?;
        let name = config.name.to_string();
        let revision = config.revision_id.clone();
        let expected = expected_revision.to_owned();
        let (cache, fresh) = (Arc::clone(&self.functions), config.clone());
        let changes = self.changes.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            let current: Option<String> = tx
                .query_row(
                    "SELECT revision_id FROM functions WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .optional()?;
            match current {
                None => return Err(StoreError::NotFound(name)),
                Some(rev) if rev != expected => return Err(StoreError::RevisionMismatch),
                Some(_) => {}
            }
            tx.execute(
                "UPDATE functions SET revision_id = ?2, config = ?3 WHERE name = ?1",
                params![name, revision, json],
            )?;
            tx.commit()?;
            lock(&cache).insert(name.clone(), fresh);
            let _ = changes.send(FunctionChange::Put {
                name,
                revision_id: revision,
            });
            Ok(())
        })
        .await
    }

    async fn delete_function(&self, name: &FunctionName) -> Result<()> {
        let name = name.to_string();
        let cache = Arc::clone(&self.functions);
        let changes = self.changes.clone();
        self.with(move |c| {
            let deleted = c.execute("DELETE FROM functions WHERE name = ?1", [&name])?;
            lock(&cache).remove(&name);
            if deleted == 0 {
                return Err(StoreError::NotFound(name));
            }
            let _ = changes.send(FunctionChange::Deleted { name });
            Ok(())
        })
        .await
    }

    async fn usage(&self) -> Result<(u64, u64)> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT config FROM functions")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let (mut count, mut size) = (0u64, 0u64);
            for row in rows {
                count += 1;
                size += decode(&row?)?.code_size;
            }
            Ok((count, size))
        })
        .await
    }

    fn watch(&self) -> tokio::sync::broadcast::Receiver<FunctionChange> {
        self.changes.subscribe()
    }

    async fn reserved_concurrency_total(&self, except: &FunctionName) -> Result<u64> {
        let except = except.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare_cached("SELECT config FROM functions WHERE name != ?1")?;
            let rows = stmt.query_map([except], |r| r.get::<_, String>(0))?;
            let mut total = 0u64;
            for row in rows {
                total += u64::from(decode(&row?)?.reserved_concurrency.unwrap_or(0));
            }
            Ok(total)
        })
        .await
    }
}

#[async_trait]
impl LogStore for SqliteStore {
    async fn append_logs(&self, group: &str, stream: &str, events: Vec<LogEvent>) -> Result<()> {
        self.append_log_batch(vec![(group.to_owned(), stream.to_owned(), events)])
            .await
    }

    async fn append_log_batch(&self, batch: Vec<(String, String, Vec<LogEvent>)>) -> Result<()> {
        let bound = self.log_bound.load(Ordering::Relaxed);
        let trimmed = Arc::clone(&self.log_trimmed);
        self.with(move |c| {
            let tx = c.transaction()?;
            let mut added = 0;
            {
                let ingestion = now_ms();
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO log_events (group_name, stream_name, timestamp, ingestion_time, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (group, stream, events) in &batch {
                    for e in events {
                        stmt.execute(params![group, stream, e.timestamp_ms, ingestion, e.message])?;
                    }
                    added += events.len();
                    crate::logs::note_appended(&tx, group, stream, events, ingestion)?;
                }
            }
            let gone = if bound > 0 {
                crate::log_sweep::keep_under(&tx, bound, added)?
            } else {
                0
            };
            tx.commit()?;
            trimmed.fetch_add(gone, Ordering::Relaxed);
            Ok(())
        })
        .await
    }

    async fn stream_events(&self, group: &str, stream: &str) -> Result<Vec<LogEvent>> {
        let (group, stream) = (group.to_owned(), stream.to_owned());
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT timestamp, message FROM log_events WHERE group_name = ?1 AND stream_name = ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![group, stream], |r| {
                Ok(LogEvent {
                    timestamp_ms: r.get(0)?,
                    message: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn the_database_and_its_wal_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("kumo.db");
        // A database left world-readable by an older version.
        drop(SqliteStore::open(&db).expect("open"));
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = SqliteStore::open(&db).expect("reopen");
        store
            .create_function(&crate::testing::function("secret"))
            .await
            .expect("create");
        for name in ["kumo.db", "kumo.db-wal", "kumo.db-shm"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
    }
}
