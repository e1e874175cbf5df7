//! Reading function logs back: log groups, streams and events, as the CloudWatch Logs API needs
//! them, plus retention and the size bound.
//!
//! Events live in the `log_events` table (written by [`crate::LogStore::append_logs`]); each has
//! a row id that never changes and is never reused (`AUTOINCREMENT`), which serves as the event's
//! unique id. Two small tables are kept up to date in the same transaction as every append, so
//! describing groups and streams never scans events:
//!
//! - `log_groups`: name, creation time, retention in days (`PutRetentionPolicy`);
//! - `log_streams`: per stream its creation time, first and last event timestamps, last
//!   ingestion time and stored bytes (message bytes + 26 per event, as CloudWatch counts them).
//!
//! Events are read in `(timestamp, id)` order, the order `FilterLogEvents` answers in, through the
//! index `log_events_group_time`; positions in that order ([`EventPos`]) make pagination stable
//! while events are being added.
//!
//! Retention and the size bound ([`LogQuery::expire_logs`]) live in `log_sweep`.

use crate::log_sweep::{Expired, EVENT_OVERHEAD};
use crate::{Result, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log_groups (
    name           TEXT PRIMARY KEY,
    creation_time  INTEGER NOT NULL,
    retention_days INTEGER
);
CREATE TABLE IF NOT EXISTS log_streams (
    group_name     TEXT NOT NULL,
    stream_name    TEXT NOT NULL,
    creation_time  INTEGER NOT NULL,
    first_event    INTEGER NOT NULL,
    last_event     INTEGER NOT NULL,
    last_ingestion INTEGER NOT NULL,
    stored_bytes   INTEGER NOT NULL,
    PRIMARY KEY (group_name, stream_name)
);
CREATE INDEX IF NOT EXISTS log_events_group_time ON log_events (group_name, timestamp);
";

/// Creates the tables (and fills them from existing events on first use).
pub(crate) fn create_schema(conn: &Connection) -> Result<()> {
    let existed: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'log_streams'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)?;
    conn.execute_batch(SCHEMA)?;
    if !existed {
        conn.execute_batch(&format!(
            "INSERT OR IGNORE INTO log_streams
                 SELECT group_name, stream_name, MIN(ingestion_time), MIN(timestamp), MAX(timestamp),
                        MAX(ingestion_time), SUM(length(CAST(message AS BLOB)) + {EVENT_OVERHEAD})
                 FROM log_events GROUP BY group_name, stream_name;
             INSERT OR IGNORE INTO log_groups (name, creation_time)
                 SELECT group_name, MIN(creation_time) FROM log_streams GROUP BY group_name;"
        ))?;
    }
    Ok(())
}

/// Keeps `log_groups` and `log_streams` in step with events just inserted in `tx`.
pub(crate) fn note_appended(
    tx: &Transaction<'_>,
    group: &str,
    stream: &str,
    events: &[crate::LogEvent],
    ingestion: i64,
) -> Result<()> {
    let Some(first) = events.iter().map(|e| e.timestamp_ms).min() else {
        return Ok(());
    };
    let last = events.iter().map(|e| e.timestamp_ms).max().unwrap_or(first);
    let bytes: i64 = events
        .iter()
        .map(|e| i64::try_from(e.message.len()).unwrap_or(i64::MAX) + EVENT_OVERHEAD)
        .sum();
    tx.prepare_cached("INSERT OR IGNORE INTO log_groups (name, creation_time) VALUES (?1, ?2)")?
        .execute(params![group, ingestion])?;
    tx.prepare_cached(
        "INSERT INTO log_streams (group_name, stream_name, creation_time, first_event, last_event, last_ingestion, stored_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?3, ?6)
         ON CONFLICT (group_name, stream_name) DO UPDATE SET
             first_event = MIN(first_event, excluded.first_event),
             last_event = MAX(last_event, excluded.last_event),
             last_ingestion = excluded.last_ingestion,
             stored_bytes = stored_bytes + excluded.stored_bytes",
    )?
    .execute(params![group, stream, ingestion, first, last, bytes])?;
    Ok(())
}

/// A log group (`/aws/lambda/NAME`), created by a function's first log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupInfo {
    pub name: String,
    pub creation_time: i64,
    pub retention_days: Option<u32>,
    pub stored_bytes: i64,
}

/// A log stream: the events of one execution environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStreamInfo {
    pub name: String,
    pub creation_time: i64,
    pub first_event: i64,
    pub last_event: i64,
    pub last_ingestion: i64,
    pub stored_bytes: i64,
}

/// One stored event with its unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLogEvent {
    pub id: i64,
    pub stream: String,
    pub timestamp_ms: i64,
    pub ingestion_ms: i64,
    pub message: String,
}

impl StoredLogEvent {
    pub fn pos(&self) -> EventPos {
        EventPos {
            timestamp_ms: self.timestamp_ms,
            id: self.id,
        }
    }
}

/// A place in the `(timestamp, id)` order of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventPos {
    pub timestamp_ms: i64,
    pub id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    Name,
    LastEventTime,
}

/// Which events of a group to read, oldest first.
#[derive(Debug, Clone, Default)]
pub struct EventScan {
    pub group: String,
    /// Only these streams (all when empty).
    pub streams: Vec<String>,
    pub stream_prefix: Option<String>,
    /// Inclusive lower bound on timestamps.
    pub start: Option<i64>,
    /// Inclusive upper bound on timestamps.
    pub end: Option<i64>,
    /// Only events after this position.
    pub after: Option<EventPos>,
    pub limit: usize,
}

/// Where in one stream a page of [`LogQuery::stream_page`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamCursor {
    /// The oldest events.
    Head,
    /// The newest events.
    Tail,
    /// The oldest events after this position.
    After(EventPos),
    /// The newest events before this position.
    Before(EventPos),
}

/// Queries over stored function logs.
#[async_trait]
pub trait LogQuery: Send + Sync + 'static {
    /// Groups in name order: names starting with `prefix`, after `after`, at most `limit`.
    async fn log_groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroupInfo>>;
    async fn log_group(&self, name: &str) -> Result<Option<LogGroupInfo>>;
    /// Streams of a group, skipping `offset`, at most `limit`.
    async fn log_streams(
        &self,
        group: &str,
        prefix: Option<&str>,
        order: StreamOrder,
        descending: bool,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogStreamInfo>>;
    /// Events of a group in `(timestamp, id)` order.
    async fn scan_events(&self, scan: EventScan) -> Result<Vec<StoredLogEvent>>;
    /// A page of one stream's events within `[start, end)`, oldest first.
    async fn stream_page(
        &self,
        group: &str,
        stream: &str,
        start: Option<i64>,
        end: Option<i64>,
        cursor: StreamCursor,
        limit: usize,
    ) -> Result<Vec<StoredLogEvent>>;
    /// Sets (or with `None` removes) a group's retention; false when the group does not exist.
    async fn set_retention(&self, group: &str, days: Option<u32>) -> Result<bool>;
    /// Deletes events older than their group's retention (or `default_retention_days`), then,
    /// when the database uses more than `max_bytes` on disk, the oldest events until it uses 90%
    /// of it (or no events are left). Deletes in small transactions.
    async fn expire_logs(
        &self,
        now_ms: i64,
        default_retention_days: Option<u32>,
        max_bytes: Option<u64>,
    ) -> Result<Expired>;
}

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogGroupInfo> {
    Ok(LogGroupInfo {
        name: r.get(0)?,
        creation_time: r.get(1)?,
        retention_days: r
            .get::<_, Option<i64>>(2)?
            .and_then(|d| u32::try_from(d).ok()),
        stored_bytes: r.get(3)?,
    })
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredLogEvent> {
    Ok(StoredLogEvent {
        id: r.get(0)?,
        stream: r.get(1)?,
        timestamp_ms: r.get(2)?,
        ingestion_ms: r.get(3)?,
        message: r.get(4)?,
    })
}

const GROUP_COLUMNS: &str = "g.name, g.creation_time, g.retention_days,
    (SELECT COALESCE(SUM(s.stored_bytes), 0) FROM log_streams s WHERE s.group_name = g.name)";

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl LogQuery for SqliteStore {
    async fn log_groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogGroupInfo>> {
        let prefix = prefix.unwrap_or("").to_owned();
        let after = after.unwrap_or("").to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {GROUP_COLUMNS} FROM log_groups g
                 WHERE substr(g.name, 1, length(?1)) = ?1 AND g.name > ?2
                 ORDER BY g.name LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![prefix, after, to_i64(limit)], group_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn log_group(&self, name: &str) -> Result<Option<LogGroupInfo>> {
        let name = name.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                &format!("SELECT {GROUP_COLUMNS} FROM log_groups g WHERE g.name = ?1"),
                [name],
                group_row,
            )
            .optional()?)
        })
        .await
    }

    async fn log_streams(
        &self,
        group: &str,
        prefix: Option<&str>,
        order: StreamOrder,
        descending: bool,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LogStreamInfo>> {
        let group = group.to_owned();
        let prefix = prefix.unwrap_or("").to_owned();
        let dir = if descending { "DESC" } else { "ASC" };
        let order_by = match order {
            StreamOrder::Name => format!("stream_name {dir}"),
            StreamOrder::LastEventTime => format!("last_event {dir}, stream_name {dir}"),
        };
        self.with(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT stream_name, creation_time, first_event, last_event, last_ingestion, stored_bytes
                 FROM log_streams WHERE group_name = ?1 AND substr(stream_name, 1, length(?2)) = ?2
                 ORDER BY {order_by} LIMIT ?3 OFFSET ?4"
            ))?;
            let rows = stmt.query_map(
                params![group, prefix, to_i64(limit), to_i64(offset)],
                |r| {
                    Ok(LogStreamInfo {
                        name: r.get(0)?,
                        creation_time: r.get(1)?,
                        first_event: r.get(2)?,
                        last_event: r.get(3)?,
                        last_ingestion: r.get(4)?,
                        stored_bytes: r.get(5)?,
                    })
                },
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn scan_events(&self, scan: EventScan) -> Result<Vec<StoredLogEvent>> {
        self.with(move |c| {
            let mut sql = String::from(
                "SELECT id, stream_name, timestamp, ingestion_time, message FROM log_events
                 WHERE group_name = ?",
            );
            let mut args: Vec<rusqlite::types::Value> = vec![scan.group.into()];
            if !scan.streams.is_empty() {
                sql.push_str(" AND stream_name IN (");
                for (i, s) in scan.streams.into_iter().enumerate() {
                    sql.push_str(if i == 0 { "?" } else { ", ?" });
                    args.push(s.into());
                }
                sql.push(')');
            }
            if let Some(p) = scan.stream_prefix {
                sql.push_str(" AND substr(stream_name, 1, length(?)) = ?");
                args.push(p.clone().into());
                args.push(p.into());
            }
            if let Some(s) = scan.start {
                sql.push_str(" AND timestamp >= ?");
                args.push(s.into());
            }
            if let Some(e) = scan.end {
                sql.push_str(" AND timestamp <= ?");
                args.push(e.into());
            }
            if let Some(pos) = scan.after {
                sql.push_str(" AND (timestamp > ? OR (timestamp = ? AND id > ?))");
                args.push(pos.timestamp_ms.into());
                args.push(pos.timestamp_ms.into());
                args.push(pos.id.into());
            }
            sql.push_str(" ORDER BY timestamp, id LIMIT ?");
            args.push(to_i64(scan.limit).into());
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), event_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn stream_page(
        &self,
        group: &str,
        stream: &str,
        start: Option<i64>,
        end: Option<i64>,
        cursor: StreamCursor,
        limit: usize,
    ) -> Result<Vec<StoredLogEvent>> {
        let (group, stream) = (group.to_owned(), stream.to_owned());
        let start = start.unwrap_or(i64::MIN);
        let end = end.unwrap_or(i64::MAX);
        self.with(move |c| {
            let (cond, backwards, pos) = match cursor {
                StreamCursor::Head => (
                    "1",
                    false,
                    EventPos {
                        timestamp_ms: 0,
                        id: 0,
                    },
                ),
                StreamCursor::Tail => (
                    "1",
                    true,
                    EventPos {
                        timestamp_ms: 0,
                        id: 0,
                    },
                ),
                StreamCursor::After(p) => {
                    ("(timestamp > ?5 OR (timestamp = ?5 AND id > ?6))", false, p)
                }
                StreamCursor::Before(p) => {
                    ("(timestamp < ?5 OR (timestamp = ?5 AND id < ?6))", true, p)
                }
            };
            let dir = if backwards { "DESC" } else { "ASC" };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT id, stream_name, timestamp, ingestion_time, message FROM log_events
                 WHERE group_name = ?1 AND stream_name = ?2 AND timestamp >= ?3 AND timestamp < ?4
                   AND {cond} AND ?5 IS NOT NULL AND ?6 IS NOT NULL
                 ORDER BY timestamp {dir}, id {dir} LIMIT ?7"
            ))?;
            let rows = stmt.query_map(
                params![
                    group,
                    stream,
                    start,
                    end,
                    pos.timestamp_ms,
                    pos.id,
                    to_i64(limit)
                ],
                event_row,
            )?;
            let mut events = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            if backwards {
                events.reverse();
            }
            Ok(events)
        })
        .await
    }

    async fn set_retention(&self, group: &str, days: Option<u32>) -> Result<bool> {
        let group = group.to_owned();
        self.with(move |c| {
            Ok(c.execute(
                "UPDATE log_groups SET retention_days = ?2 WHERE name = ?1",
                params![group, days],
            )? > 0)
        })
        .await
    }

    async fn expire_logs(
        &self,
        now_ms: i64,
        default_retention_days: Option<u32>,
        max_bytes: Option<u64>,
    ) -> Result<Expired> {
        crate::log_sweep::expire(self, now_ms, default_retention_days, max_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ev, store};
    use crate::LogStore;

    #[tokio::test]
    async fn groups_and_streams_follow_appends() {
        let (_d, s) = store().await;
        s.append_logs("/aws/lambda/a", "s1", vec![ev(10, "one"), ev(20, "two")])
            .await
            .expect("append");
        s.append_logs("/aws/lambda/a", "s2", vec![ev(5, "x")])
            .await
            .expect("append");
        s.append_logs("/aws/lambda/b", "s1", vec![ev(7, "y")])
            .await
            .expect("append");
        let groups = s
            .log_groups(Some("/aws/lambda/"), None, 10)
            .await
            .expect("groups");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].stored_bytes, 3 + 3 + 1 + 3 * EVENT_OVERHEAD);
        let after_a = s
            .log_groups(None, Some("/aws/lambda/a"), 10)
            .await
            .expect("groups");
        assert_eq!(after_a.len(), 1);
        let streams = s
            .log_streams(
                "/aws/lambda/a",
                None,
                StreamOrder::LastEventTime,
                true,
                0,
                10,
            )
            .await
            .expect("streams");
        assert_eq!(streams[0].name, "s1");
        assert_eq!((streams[0].first_event, streams[0].last_event), (10, 20));
        assert!(s
            .log_group("/aws/lambda/zz")
            .await
            .expect("group")
            .is_none());
    }

    #[tokio::test]
    async fn scans_in_time_order_and_resume_after_a_position() {
        let (_d, s) = store().await;
        s.append_logs("g", "s1", vec![ev(10, "a"), ev(30, "c")])
            .await
            .expect("append");
        s.append_logs("g", "s2", vec![ev(20, "b"), ev(30, "d")])
            .await
            .expect("append");
        let all = s
            .scan_events(EventScan {
                group: "g".into(),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("scan");
        let msgs: Vec<_> = all.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, ["a", "b", "c", "d"]);
        let rest = s
            .scan_events(EventScan {
                group: "g".into(),
                after: Some(all[2].pos()),
                start: Some(30),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("scan");
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].message, "d");
        let only_s2 = s
            .scan_events(EventScan {
                group: "g".into(),
                streams: vec!["s2".into()],
                end: Some(20),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("scan");
        assert_eq!(only_s2.len(), 1);
    }

    #[tokio::test]
    async fn stream_pages_walk_both_ways() {
        let (_d, s) = store().await;
        let events = (0..5).map(|i| ev(i, &format!("m{i}"))).collect();
        s.append_logs("g", "s", events).await.expect("append");
        let tail = s
            .stream_page("g", "s", None, None, StreamCursor::Tail, 2)
            .await
            .expect("page");
        assert_eq!(
            tail.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>(),
            [3, 4]
        );
        let before = s
            .stream_page("g", "s", None, None, StreamCursor::Before(tail[0].pos()), 2)
            .await
            .expect("page");
        assert_eq!(
            before.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>(),
            [1, 2]
        );
        let after = s
            .stream_page(
                "g",
                "s",
                None,
                Some(4),
                StreamCursor::After(before[1].pos()),
                10,
            )
            .await
            .expect("page");
        assert_eq!(
            after.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>(),
            [3]
        );
    }
}
