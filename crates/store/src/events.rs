//! Asynchronous invocation: the durable event queue, per-function event-invoke configuration,
//! dead-letter targets and the built-in dead-letter store.
//!
//! Tables:
//!
//! ```text
//! async_events          one row per accepted event until it has run to its end; state is
//!                       'queued' (waiting for due_ms) or 'running' (claimed by a dispatcher
//!                       until lease_until: an expired claim may be taken by another)
//! event_invoke_configs  MaximumRetryAttempts / MaximumEventAgeInSeconds / destinations per function
//! dead_letter_configs   DeadLetterConfig.TargetArn per function
//! dead_letters          events that failed for good, kept per function until replayed
//! ```
//!
//! An event is inserted (and committed) before its client is answered, and removed only in the
//! transaction that also stores what its end produced (destination events, a dead letter). Rows
//! left 'running' by a crash are put back in the queue by [`EventQueue::recover`], so every
//! accepted event runs at least once; a claim whose lease ran out (its claimer died or stopped
//! answering) may be claimed again by any dispatcher. Everything about a function follows it when
//! it is deleted.

use crate::{Result, SqliteStore, StoreError};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS async_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    function_name  TEXT NOT NULL,
    invoked_arn    TEXT NOT NULL,
    payload        BLOB NOT NULL,
    client_context TEXT,
    trace_id       TEXT,
    enqueued_ms    INTEGER NOT NULL,
    due_ms         INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    invoke_count   INTEGER NOT NULL DEFAULT 0,
    throttles      INTEGER NOT NULL DEFAULT 0,
    state          TEXT NOT NULL DEFAULT 'queued',
    lease_until    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS async_events_due ON async_events (state, function_name, due_ms, seq);
CREATE TABLE IF NOT EXISTS event_invoke_configs (
    function_name TEXT PRIMARY KEY,
    config        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter_configs (
    function_name TEXT PRIMARY KEY,
    target_arn    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    function_name TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    invoked_arn   TEXT NOT NULL,
    payload       BLOB NOT NULL,
    record        TEXT NOT NULL,
    enqueued_ms   INTEGER NOT NULL,
    failed_ms     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_function ON dead_letters (function_name, seq);
CREATE TRIGGER IF NOT EXISTS async_state_follows_function
AFTER DELETE ON functions
BEGIN
    DELETE FROM async_events WHERE function_name = OLD.name;
    DELETE FROM event_invoke_configs WHERE function_name = OLD.name;
    DELETE FROM dead_letter_configs WHERE function_name = OLD.name;
    DELETE FROM dead_letters WHERE function_name = OLD.name;
END;
";

/// Creates the tables (and their trigger) if missing; part of opening the SQLite store.
pub(crate) fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    // Databases from before claims had leases.
    let has_lease: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('async_events') WHERE name = 'lease_until'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_lease {
        conn.execute_batch(
            "ALTER TABLE async_events ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    Ok(())
}

/// An event to put in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The request id the function sees (the same on every attempt).
    pub id: String,
    pub function: String,
    pub invoked_arn: String,
    pub payload: Vec<u8>,
    pub client_context: Option<String>,
    pub trace_id: Option<String>,
    /// When the event was accepted (its age counts from here), ms since the Unix epoch.
    pub enqueued_ms: i64,
    /// When it may first run.
    pub due_ms: i64,
}

/// An event claimed by the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub id: String,
    pub function: String,
    pub invoked_arn: String,
    pub payload: Vec<u8>,
    pub client_context: Option<String>,
    pub trace_id: Option<String>,
    pub enqueued_ms: i64,
    /// Attempts that ended in a function error.
    pub attempts: u32,
    /// Times the function was invoked for this event.
    pub invoke_count: u32,
    /// Attempts refused by throttling or a platform failure.
    pub throttles: u32,
}

/// The retry state of an event that goes back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub due_ms: i64,
    pub attempts: u32,
    pub invoke_count: u32,
    pub throttles: u32,
}

/// An event that failed for good, as kept in the built-in dead-letter store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Position in the store (0 for one not stored yet).
    pub seq: i64,
    pub function: String,
    pub request_id: String,
    pub invoked_arn: String,
    pub payload: Vec<u8>,
    /// The invocation record (JSON) describing how it failed.
    pub record: String,
    pub enqueued_ms: i64,
    pub failed_ms: i64,
}

/// `PutFunctionEventInvokeConfig` state of one function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventInvokeConfig {
    pub function: String,
    pub max_retry_attempts: Option<u32>,
    pub max_event_age_secs: Option<u32>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub last_modified_ms: i64,
}

/// Depth of one function's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    pub function: String,
    /// Events accepted and not yet at their end (queued or running).
    pub depth: u64,
    /// When the oldest of them was accepted, ms since the Unix epoch.
    pub oldest_enqueued_ms: i64,
}

/// The asynchronous-invocation queue and its per-function settings.
#[async_trait]
pub trait EventQueue: Send + Sync + 'static {
    /// Stores events durably (one transaction).
    async fn enqueue(&self, events: Vec<NewEvent>) -> Result<()>;
    /// Puts every event claimed by a previous run of this store's only dispatcher back in the
    /// queue at once (a single node restarting); returns how many. Where several dispatchers
    /// share the queue, claims end by their leases instead.
    async fn recover(&self) -> Result<u64>;
    /// Functions that have events claimable at `now_ms`: queued and due, or claimed with a lease
    /// that has run out.
    async fn due_functions(&self, now_ms: i64) -> Result<Vec<String>>;
    /// Claims up to `limit` claimable events of `function` (oldest due first) for `lease`, and
    /// returns them. Until the lease runs out no other claim takes them; after it, another
    /// dispatcher may (so an event whose claimer died runs again: at least once).
    async fn claim(
        &self,
        function: &str,
        now_ms: i64,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedEvent>>;
    /// The earliest time after `now_ms` at which an event becomes claimable (a queued event's due
    /// time or a claim's lease end).
    async fn next_due_after(&self, now_ms: i64) -> Result<Option<i64>>;
    /// Puts a running event back in the queue with new retry state.
    async fn retry(&self, id: &str, retry: Retry) -> Result<()>;
    /// Removes a finished event and, in the same transaction, stores what its end produced.
    async fn complete(
        &self,
        id: &str,
        follow_ups: Vec<NewEvent>,
        dead_letter: Option<DeadLetter>,
    ) -> Result<()>;
    /// Drops every queued event of a function that no longer exists; returns how many.
    async fn discard_function(&self, function: &str) -> Result<u64>;

    /// Events accepted and not yet at their end, over all functions.
    async fn depth(&self) -> Result<u64>;
    /// Age of the oldest such event.
    async fn oldest_age(&self) -> Result<Option<Duration>>;
    /// Depth and oldest event per function, in name order.
    async fn queue_stats(&self) -> Result<Vec<QueueStats>>;

    /// Stores (replaces) a function's event-invoke configuration; `NotFound` if the function
    /// does not exist.
    async fn put_event_config(&self, config: &EventInvokeConfig) -> Result<()>;
    async fn get_event_config(&self, function: &str) -> Result<Option<EventInvokeConfig>>;
    /// `NotFound` if the function has none.
    async fn delete_event_config(&self, function: &str) -> Result<()>;

    /// Sets or clears a function's dead-letter target.
    async fn set_dead_letter_target(&self, function: &str, target: Option<&str>) -> Result<()>;
    async fn dead_letter_target(&self, function: &str) -> Result<Option<String>>;

    /// A function's dead letters, oldest first.
    async fn dead_letters(&self, function: &str) -> Result<Vec<DeadLetter>>;
    /// Moves every dead letter of a function back into the queue as fresh events (new age,
    /// no attempts), in one transaction; returns how many.
    async fn replay_dead_letters(&self, function: &str, now_ms: i64) -> Result<u64>;
}

/// Inserts events inside a caller's transaction (also used when a schedule fires).
pub(crate) fn insert_events(tx: &Transaction<'_>, events: &[NewEvent]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO async_events (id, function_name, invoked_arn, payload, client_context, trace_id, enqueued_ms, due_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in events {
        stmt.execute(params![
            e.id,
            e.function,
            e.invoked_arn,
            e.payload,
            e.client_context,
            e.trace_id,
            e.enqueued_ms,
            e.due_ms
        ])?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn function_exists(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM functions WHERE name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[async_trait]
impl EventQueue for SqliteStore {
    async fn enqueue(&self, events: Vec<NewEvent>) -> Result<()> {
        self.with(move |c| {
            // The client is told the event is stored once this returns: sync the WAL to disk for
            // this commit (the store's NORMAL mode survives a process crash, not a power cut).
            let mode: i64 = c.pragma_query_value(None, "synchronous", |r| r.get(0))?;
            c.pragma_update(None, "synchronous", "FULL")?;
            let stored = (|| -> Result<()> {
                let tx = c.transaction()?;
                insert_events(&tx, &events)?;
                tx.commit()?;
                Ok(())
            })();
            c.pragma_update(None, "synchronous", mode)?;
            stored
        })
        .await
    }

    async fn recover(&self) -> Result<u64> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE async_events SET state = 'queued' WHERE state = 'running'",
                [],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn due_functions(&self, now_ms: i64) -> Result<Vec<String>> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT function_name FROM async_events
                 WHERE (state = 'queued' AND due_ms <= ?1) OR (state = 'running' AND lease_until <= ?1)",
            )?;
            let rows = stmt.query_map([now_ms], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn claim(
        &self,
        function: &str,
        now_ms: i64,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedEvent>> {
        let lease_until =
            now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let function = function.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let events = {
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, id, invoked_arn, payload, client_context, trace_id, enqueued_ms, attempts, invoke_count, throttles
                     FROM async_events
                     WHERE function_name = ?1
                       AND ((state = 'queued' AND due_ms <= ?2) OR (state = 'running' AND lease_until <= ?2))
                     ORDER BY due_ms, seq LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![function, now_ms, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        QueuedEvent {
                            id: r.get(1)?,
                            function: function.clone(),
                            invoked_arn: r.get(2)?,
                            payload: r.get(3)?,
                            client_context: r.get(4)?,
                            trace_id: r.get(5)?,
                            enqueued_ms: r.get(6)?,
                            attempts: count(r.get(7)?),
                            invoke_count: count(r.get(8)?),
                            throttles: count(r.get(9)?),
                        },
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            {
                let mut mark = tx.prepare_cached(
                    "UPDATE async_events SET state = 'running', lease_until = ?2 WHERE seq = ?1",
                )?;
                for (seq, _) in &events {
                    mark.execute([*seq, lease_until])?;
                }
            }
            tx.commit()?;
            Ok(events.into_iter().map(|(_, e)| e).collect())
        })
        .await
    }

    async fn next_due_after(&self, now_ms: i64) -> Result<Option<i64>> {
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT MIN(t) FROM (
                    SELECT due_ms AS t FROM async_events WHERE state = 'queued' AND due_ms > ?1
                    UNION ALL
                    SELECT lease_until FROM async_events WHERE state = 'running' AND lease_until > ?1)",
                [now_ms],
                |r| r.get::<_, Option<i64>>(0),
            )?)
        })
        .await
    }

    async fn retry(&self, id: &str, retry: Retry) -> Result<()> {
        let id = id.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE async_events SET state = 'queued', due_ms = ?2, attempts = ?3, invoke_count = ?4, throttles = ?5 WHERE id = ?1",
                params![id, retry.due_ms, retry.attempts, retry.invoke_count, retry.throttles],
            )?;
            Ok(())
        })
        .await
    }

    async fn complete(
        &self,
        id: &str,
        follow_ups: Vec<NewEvent>,
        dead_letter: Option<DeadLetter>,
    ) -> Result<()> {
        let id = id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            if tx.execute("DELETE FROM async_events WHERE id = ?1", [&id])? == 0 {
                // Gone with its function (or finished already): nothing it produced is kept.
                return Ok(());
            }
            insert_events(&tx, &follow_ups)?;
            if let Some(d) = dead_letter {
                tx.execute(
                    "INSERT INTO dead_letters (function_name, request_id, invoked_arn, payload, record, enqueued_ms, failed_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![d.function, d.request_id, d.invoked_arn, d.payload, d.record, d.enqueued_ms, d.failed_ms],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn discard_function(&self, function: &str) -> Result<u64> {
        let function = function.to_owned();
        self.with(move |c| {
            let n = c.execute(
                "DELETE FROM async_events WHERE function_name = ?1 AND state = 'queued'",
                [function],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn depth(&self) -> Result<u64> {
        self.with(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM async_events", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn oldest_age(&self) -> Result<Option<Duration>> {
        self.with(|c| {
            let oldest: Option<i64> =
                c.query_row("SELECT MIN(enqueued_ms) FROM async_events", [], |r| {
                    r.get(0)
                })?;
            Ok(oldest.map(|ms| Duration::from_millis(u64::try_from(now_ms() - ms).unwrap_or(0))))
        })
        .await
    }

    async fn queue_stats(&self) -> Result<Vec<QueueStats>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT function_name, COUNT(*), MIN(enqueued_ms) FROM async_events GROUP BY function_name ORDER BY function_name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(QueueStats {
                    function: r.get(0)?,
                    depth: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    oldest_enqueued_ms: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn put_event_config(&self, config: &EventInvokeConfig) -> Result<()> {
        let json = serde_json::to_string(config)?;
        let name = config.function.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            if !function_exists(&tx, &name)? {
                return Err(StoreError::NotFound(name));
            }
            tx.execute(
                "INSERT INTO event_invoke_configs (function_name, config) VALUES (?1, ?2)
                 ON CONFLICT (function_name) DO UPDATE SET config = excluded.config",
                params![name, json],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn get_event_config(&self, function: &str) -> Result<Option<EventInvokeConfig>> {
        let name = function.to_owned();
        self.with(move |c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT config FROM event_invoke_configs WHERE function_name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
        })
        .await
    }

    async fn delete_event_config(&self, function: &str) -> Result<()> {
        let name = function.to_owned();
        self.with(move |c| {
            if c.execute(
                "DELETE FROM event_invoke_configs WHERE function_name = ?1",
                [&name],
            )? == 0
            {
                return Err(StoreError::NotFound(name));
            }
            Ok(())
        })
        .await
    }

    async fn set_dead_letter_target(&self, function: &str, target: Option<&str>) -> Result<()> {
        let name = function.to_owned();
        let target = target.map(str::to_owned);
        self.with(move |c| {
            match target {
                Some(t) => c.execute(
                    "INSERT INTO dead_letter_configs (function_name, target_arn) VALUES (?1, ?2)
                     ON CONFLICT (function_name) DO UPDATE SET target_arn = excluded.target_arn",
                    params![name, t],
                )?,
                None => c.execute(
                    "DELETE FROM dead_letter_configs WHERE function_name = ?1",
                    [name],
                )?,
            };
            Ok(())
        })
        .await
    }

    async fn dead_letter_target(&self, function: &str) -> Result<Option<String>> {
        let name = function.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT target_arn FROM dead_letter_configs WHERE function_name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn dead_letters(&self, function: &str) -> Result<Vec<DeadLetter>> {
        let name = function.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, request_id, invoked_arn, payload, record, enqueued_ms, failed_ms
                 FROM dead_letters WHERE function_name = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([&name], |r| {
                Ok(DeadLetter {
                    seq: r.get(0)?,
                    function: name.clone(),
                    request_id: r.get(1)?,
                    invoked_arn: r.get(2)?,
                    payload: r.get(3)?,
                    record: r.get(4)?,
                    enqueued_ms: r.get(5)?,
                    failed_ms: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn replay_dead_letters(&self, function: &str, now_ms: i64) -> Result<u64> {
        let name = function.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let events = {
                let mut stmt = tx.prepare_cached(
                    "SELECT invoked_arn, payload FROM dead_letters WHERE function_name = ?1 ORDER BY seq",
                )?;
                let rows = stmt.query_map([&name], |r| {
                    Ok(NewEvent {
                        id: uuid::Uuid::new_v4().to_string(),
                        function: name.clone(),
                        invoked_arn: r.get(0)?,
                        payload: r.get(1)?,
                        client_context: None,
                        trace_id: None,
                        enqueued_ms: now_ms,
                        due_ms: now_ms,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            insert_events(&tx, &events)?;
            tx.execute("DELETE FROM dead_letters WHERE function_name = ?1", [&name])?;
            tx.commit()?;
            Ok(events.len() as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Longer than any test's clock runs.
    const LEASE: Duration = Duration::from_secs(3600);
    use crate::testing::function;
    use crate::FunctionStore;
    use kumo_types::FunctionName;

    fn event(id: &str, function: &str, due_ms: i64) -> NewEvent {
        NewEvent {
            id: id.into(),
            function: function.into(),
            invoked_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            payload: br#"{"n":1}"#.to_vec(),
            client_context: None,
            trace_id: None,
            enqueued_ms: 100,
            due_ms,
        }
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
        store.create_function(&function("f")).await.expect("create");
        (dir, store)
    }

    #[tokio::test]
    async fn claimed_events_survive_a_crash_and_run_again() {
        let (dir, store) = store().await;
        store
            .enqueue(vec![event("a", "f", 100), event("b", "f", 100)])
            .await
            .expect("enqueue");
        let claimed = store.claim("f", 200, 1, LEASE).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, "a");
        assert_eq!(
            store.claim("f", 200, 5, LEASE).await.expect("claim")[0].id,
            "b"
        );
        assert!(store
            .claim("f", 200, 5, LEASE)
            .await
            .expect("claim")
            .is_empty());
        drop(store);
        let reopened = SqliteStore::open(&dir.path().join("kumo.db")).expect("reopen");
        assert_eq!(reopened.recover().await.expect("recover"), 2);
        assert_eq!(reopened.depth().await.expect("depth"), 2);
        assert_eq!(
            reopened
                .claim("f", 200, 5, LEASE)
                .await
                .expect("claim")
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn retries_wait_for_their_due_time() {
        let (_dir, store) = store().await;
        store
            .enqueue(vec![event("a", "f", 100)])
            .await
            .expect("enqueue");
        let a = store
            .claim("f", 100, 1, LEASE)
            .await
            .expect("claim")
            .remove(0);
        let retry = Retry {
            due_ms: 500,
            attempts: 1,
            invoke_count: 1,
            throttles: 0,
        };
        store.retry(&a.id, retry).await.expect("retry");
        assert!(store.due_functions(499).await.expect("due").is_empty());
        assert_eq!(store.next_due_after(100).await.expect("next"), Some(500));
        assert_eq!(store.due_functions(500).await.expect("due"), vec!["f"]);
        let again = store
            .claim("f", 500, 1, LEASE)
            .await
            .expect("claim")
            .remove(0);
        assert_eq!((again.attempts, again.invoke_count), (1, 1));
    }

    #[tokio::test]
    async fn completion_moves_an_event_to_its_follow_ups_and_dead_letters() {
        let (_dir, store) = store().await;
        store.create_function(&function("g")).await.expect("create");
        store
            .enqueue(vec![event("a", "f", 0)])
            .await
            .expect("enqueue");
        store.claim("f", 0, 1, LEASE).await.expect("claim");
        let dl = DeadLetter {
            seq: 0,
            function: "f".into(),
            request_id: "a".into(),
            invoked_arn: "arn".into(),
            payload: b"{}".to_vec(),
            record: "{}".into(),
            enqueued_ms: 0,
            failed_ms: 1,
        };
        store
            .complete("a", vec![event("d", "g", 0)], Some(dl))
            .await
            .expect("complete");
        let stats = store.queue_stats().await.expect("stats");
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].function.as_str(), stats[0].depth), ("g", 1));
        assert_eq!(store.dead_letters("f").await.expect("dl").len(), 1);
        assert_eq!(store.replay_dead_letters("f", 9).await.expect("replay"), 1);
        assert!(store.dead_letters("f").await.expect("dl").is_empty());
        let replayed = store.claim("f", 9, 5, LEASE).await.expect("claim");
        assert_eq!(replayed.len(), 1);
        assert_eq!(replayed[0].attempts, 0);
        assert_ne!(replayed[0].id, "a");
    }

    #[tokio::test]
    async fn everything_async_follows_its_function() {
        let (_dir, store) = store().await;
        let cfg = EventInvokeConfig {
            function: "f".into(),
            max_retry_attempts: Some(0),
            max_event_age_secs: None,
            on_success: None,
            on_failure: None,
            last_modified_ms: 1,
        };
        store.put_event_config(&cfg).await.expect("put");
        assert_eq!(
            store.get_event_config("f").await.expect("get"),
            Some(cfg.clone())
        );
        let mut missing = cfg.clone();
        missing.function = "nope".into();
        assert!(matches!(
            store.put_event_config(&missing).await,
            Err(StoreError::NotFound(_))
        ));
        store
            .set_dead_letter_target("f", Some("arn:x"))
            .await
            .expect("dlq");
        store
            .enqueue(vec![event("a", "f", 0)])
            .await
            .expect("enqueue");
        store
            .delete_function(&FunctionName::parse("f").expect("name"))
            .await
            .expect("delete");
        assert_eq!(store.get_event_config("f").await.expect("get"), None);
        assert_eq!(store.dead_letter_target("f").await.expect("dlq"), None);
        assert_eq!(store.depth().await.expect("depth"), 0);
    }
}
