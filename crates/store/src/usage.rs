//! Metering: one usage record per invocation, and sums over them.
//!
//! A record is written when an invocation ends (or is throttled) with what it used: duration,
//! billed duration (whole milliseconds, rounded up), configured memory, peak memory, init
//! duration and whether it was a cold start. Sums are computed in integers — billed
//! milliseconds times configured megabytes (`mb_ms`) — so that any grouping of records adds up
//! exactly to the total; conversion to GB-seconds (`mb_ms / 1024 / 1000`) and to money happens
//! only when presenting.
//!
//! Records older than the retention are deleted by [`UsageStore::expire_usage`], a few thousand
//! per transaction.

use crate::{Result, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params_from_iter, Connection};

/// Most records one retention transaction deletes.
pub const USAGE_SWEEP_BATCH: i64 = 5000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage_records (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    function      TEXT NOT NULL,
    version       TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    start_ms      INTEGER NOT NULL,
    duration_us   INTEGER NOT NULL,
    billed_ms     INTEGER NOT NULL,
    memory_mb     INTEGER NOT NULL,
    max_memory_mb INTEGER NOT NULL,
    init_us       INTEGER,
    cold          INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    error_type    TEXT
);
CREATE INDEX IF NOT EXISTS usage_records_start ON usage_records (start_ms);
CREATE INDEX IF NOT EXISTS usage_records_function ON usage_records (function, start_ms);
";

pub(crate) fn create_schema(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The function returned a response.
    Success,
    /// The function's code raised an error, reported by its runtime.
    Handled,
    /// The runtime failed: it exited, ran out of memory or could not initialise (`Runtime.*`).
    Unhandled,
    /// The invocation ran past its timeout.
    Timeout,
    /// Refused at a concurrency limit; nothing ran and nothing is billed.
    Throttled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Handled => "handled",
            Outcome::Unhandled => "unhandled",
            Outcome::Timeout => "timeout",
            Outcome::Throttled => "throttled",
        }
    }
}

/// What one invocation used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub function: String,
    pub version: String,
    pub request_id: String,
    /// Milliseconds since the Unix epoch.
    pub start_ms: i64,
    pub duration_us: i64,
    /// Whole milliseconds billed (duration plus init, rounded up).
    pub billed_ms: i64,
    pub memory_mb: i64,
    pub max_memory_mb: i64,
    pub init_us: Option<i64>,
    pub cold: bool,
    pub outcome: Outcome,
    /// Lambda's error type when the invocation failed (`Sandbox.Timedout`, the function's own).
    pub error_type: Option<String>,
}

/// How records are grouped in a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Total,
    /// UTC hour, `2026-01-31T13:00Z`.
    Hour,
    /// UTC day, `2026-01-31`.
    Day,
    /// UTC month, `2026-01` (the free tier is monthly).
    Month,
    Function,
}

/// Which records a summary covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    pub function: Option<String>,
    /// Inclusive lower bound on the start time (ms).
    pub since: Option<i64>,
    /// Exclusive upper bound on the start time (ms).
    pub until: Option<i64>,
}

/// Sums over a group of records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageSum {
    /// The group (hour, day, month or function); empty for the total.
    pub key: String,
    /// Invocations that ran (everything but throttles): the billed requests.
    pub requests: u64,
    pub throttles: u64,
    /// Invocations that ended in a function error or a timeout.
    pub errors: u64,
    pub cold_starts: u64,
    pub billed_ms: u64,
    /// Sum of billed milliseconds times configured megabytes.
    pub mb_ms: u64,
}

#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    async fn record_usage(&self, record: UsageRecord) -> Result<()>;
    /// Several records at once, in one transaction where the store has them.
    async fn record_usage_batch(&self, records: Vec<UsageRecord>) -> Result<()> {
        for r in records {
            self.record_usage(r).await?;
        }
        Ok(())
    }
    /// Sums of the matching records, one per group, in key order.
    async fn usage_summary(&self, filter: UsageFilter, group: UsageGroup) -> Result<Vec<UsageSum>>;
    /// Deletes the records that started before `before_ms`, in small transactions; returns how
    /// many went.
    async fn expire_usage(&self, before_ms: i64) -> Result<u64>;
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record_usage(&self, r: UsageRecord) -> Result<()> {
        self.record_usage_batch(vec![r]).await
    }

    async fn record_usage_batch(&self, records: Vec<UsageRecord>) -> Result<()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO usage_records (function, version, request_id, start_ms, duration_us,
                    billed_ms, memory_mb, max_memory_mb, init_us, cold, outcome, error_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for r in &records {
                    stmt.execute(rusqlite::params![
                        r.function,
                        r.version,
                        r.request_id,
                        r.start_ms,
                        r.duration_us,
                        r.billed_ms,
                        r.memory_mb,
                        r.max_memory_mb,
                        r.init_us,
                        r.cold,
                        r.outcome.as_str(),
                        r.error_type,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn expire_usage(&self, before_ms: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self
                .with(move |c| {
                    Ok(c.prepare_cached(
                        "DELETE FROM usage_records WHERE id IN (
                             SELECT id FROM usage_records WHERE start_ms < ?1
                             ORDER BY start_ms LIMIT ?2)",
                    )?
                    .execute(rusqlite::params![before_ms, USAGE_SWEEP_BATCH])?)
                })
                .await?;
            total += n as u64;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    async fn usage_summary(&self, filter: UsageFilter, group: UsageGroup) -> Result<Vec<UsageSum>> {
        let key = match group {
            UsageGroup::Total => "''",
            UsageGroup::Hour => "strftime('%Y-%m-%dT%H:00Z', start_ms / 1000, 'unixepoch')",
            UsageGroup::Day => "strftime('%Y-%m-%d', start_ms / 1000, 'unixepoch')",
            UsageGroup::Month => "strftime('%Y-%m', start_ms / 1000, 'unixepoch')",
            UsageGroup::Function => "function",
        };
        self.with(move |c| {
            let mut sql = format!(
                "SELECT {key} AS k,
                    SUM(outcome != 'throttled'),
                    SUM(outcome = 'throttled'),
                    SUM(outcome IN ('handled', 'unhandled', 'timeout')),
                    SUM(cold),
                    SUM(billed_ms),
                    SUM(billed_ms * memory_mb)
                 FROM usage_records WHERE 1"
            );
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(f) = filter.function {
                sql.push_str(" AND function = ?");
                args.push(f.into());
            }
            if let Some(s) = filter.since {
                sql.push_str(" AND start_ms >= ?");
                args.push(s.into());
            }
            if let Some(u) = filter.until {
                sql.push_str(" AND start_ms < ?");
                args.push(u.into());
            }
            sql.push_str(" GROUP BY k HAVING COUNT(*) > 0 ORDER BY k");
            let mut stmt = c.prepare_cached(&sql)?;
            let n = |r: &rusqlite::Row<'_>, i| -> rusqlite::Result<u64> {
                Ok(u64::try_from(r.get::<_, Option<i64>>(i)?.unwrap_or(0)).unwrap_or(0))
            };
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok(UsageSum {
                    key: r.get(0)?,
                    requests: n(r, 1)?,
                    throttles: n(r, 2)?,
                    errors: n(r, 3)?,
                    cold_starts: n(r, 4)?,
                    billed_ms: n(r, 5)?,
                    mb_ms: n(r, 6)?,
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

    fn rec(
        function: &str,
        start_ms: i64,
        billed_ms: i64,
        memory_mb: i64,
        outcome: Outcome,
    ) -> UsageRecord {
        UsageRecord {
            function: function.into(),
            version: "$LATEST".into(),
            request_id: format!("r-{start_ms}"),
            start_ms,
            duration_us: billed_ms * 1000,
            billed_ms,
            memory_mb,
            max_memory_mb: 40,
            init_us: None,
            cold: false,
            outcome,
            error_type: None,
        }
    }

    #[tokio::test]
    async fn groups_add_up_to_the_total() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
        let hour = 3_600_000;
        s.record_usage(rec("a", 0, 3, 128, Outcome::Success))
            .await
            .expect("record");
        s.record_usage(rec("a", hour, 7, 128, Outcome::Handled))
            .await
            .expect("record");
        s.record_usage(rec("b", 2 * hour, 11, 1024, Outcome::Timeout))
            .await
            .expect("record");
        s.record_usage(rec("b", 2 * hour, 0, 1024, Outcome::Throttled))
            .await
            .expect("record");
        let total = s
            .usage_summary(UsageFilter::default(), UsageGroup::Total)
            .await
            .expect("summary");
        assert_eq!(total.len(), 1);
        assert_eq!(total[0].requests, 3);
        assert_eq!(total[0].throttles, 1);
        assert_eq!(total[0].errors, 2);
        assert_eq!(total[0].mb_ms, 3 * 128 + 7 * 128 + 11 * 1024);
        for g in [UsageGroup::Hour, UsageGroup::Day, UsageGroup::Function] {
            let rows = s
                .usage_summary(UsageFilter::default(), g)
                .await
                .expect("summary");
            assert_eq!(rows.iter().map(|r| r.mb_ms).sum::<u64>(), total[0].mb_ms);
            assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 3);
        }
        let hours = s
            .usage_summary(UsageFilter::default(), UsageGroup::Hour)
            .await
            .expect("summary");
        assert_eq!(hours[0].key, "1970-01-01T00:00Z");
        let only_b = s
            .usage_summary(
                UsageFilter {
                    function: Some("a".into()),
                    since: Some(1),
                    until: Some(2 * hour),
                },
                UsageGroup::Total,
            )
            .await
            .expect("summary");
        assert_eq!(only_b[0].requests, 1);
        assert_eq!(only_b[0].billed_ms, 7);
    }

    #[tokio::test]
    async fn retention_deletes_old_records_in_batches() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
        let old = USAGE_SWEEP_BATCH * 2 + 7;
        let records = (0..old)
            .map(|i| rec("a", i, 1, 128, Outcome::Success))
            .chain((0..3).map(|i| rec("a", 1_000_000 + i, 1, 128, Outcome::Success)))
            .collect();
        s.record_usage_batch(records).await.expect("record");
        let gone = s.expire_usage(1_000_000).await.expect("expire");
        assert_eq!(gone, u64::try_from(old).expect("positive"));
        let total = s
            .usage_summary(UsageFilter::default(), UsageGroup::Total)
            .await
            .expect("summary");
        assert_eq!(total[0].requests, 3);
        assert_eq!(s.expire_usage(1_000_000).await.expect("expire"), 0);
    }
}
