//! Keeping the log store in bounds: retention and the size bound.
//!
//! The size bound is measured on the database file itself (pages in use), which is what the disk
//! holds, not on message bytes: an empty line takes about 250 bytes of row and index entries.
//! Deletions happen in small transactions ([`SWEEP_BATCH_EVENTS`] events or
//! [`SWEEP_BATCH_BYTES`] at most each), keeping each stream's statistics right as they go, so
//! neither the write-ahead log nor the time the connection is held grows with what is deleted.
//! Appends call [`keep_under`] in their own transaction, so a flood of output cannot outgrow the
//! bound by much between sweeps.

use crate::{Result, SqliteStore};
use rusqlite::{params, params_from_iter, Connection};

/// CloudWatch counts 26 bytes of overhead per event.
pub(crate) const EVENT_OVERHEAD: i64 = 26;

/// What one pass of [`crate::LogQuery::expire_logs`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Events older than their group's retention.
    pub expired: u64,
    /// Events dropped, oldest first, to bring the store under its size bound (by this pass, and
    /// by appends since the last pass).
    pub dropped: u64,
    /// Stored bytes after the pass.
    pub stored_bytes: u64,
    /// Bytes of the database file in use (all tables) after the pass.
    pub database_bytes: u64,
}

/// Most events one sweep transaction deletes: more than the log writer adds in one (4096), so a
/// sweep catches up with a flood of output.
pub const SWEEP_BATCH_EVENTS: i64 = 10_000;

/// Most message bytes one sweep transaction deletes (beyond its first event).
pub const SWEEP_BATCH_BYTES: i64 = 4 * 1024 * 1024;

/// Bytes of the database file in use: its pages, less the free ones.
pub(crate) fn database_bytes(c: &Connection) -> Result<u64> {
    // Every log write asks: keep the statements compiled.
    let pragma =
        |sql: &str| -> Result<i64> { Ok(c.prepare_cached(sql)?.query_row([], |r| r.get(0))?) };
    let used = (pragma("PRAGMA page_count")? - pragma("PRAGMA freelist_count")?).max(0);
    Ok(u64::try_from(used.saturating_mul(pragma("PRAGMA page_size")?)).unwrap_or(0))
}

/// Deletes one batch of the events `pick` selects (`id, group_name, stream_name, bytes`, at most
/// [`SWEEP_BATCH_EVENTS`] rows, oldest first) and keeps their streams' statistics right, in one
/// transaction. Returns how many were deleted.
fn delete_batch(c: &mut Connection, pick: &str, args: &[rusqlite::types::Value]) -> Result<u64> {
    let tx = c.transaction()?;
    let n = delete_picked(&tx, pick, args)?;
    tx.commit()?;
    Ok(n)
}

/// SQL picking the oldest events (`?1` of them) for [`delete_picked`] (26: [`EVENT_OVERHEAD`]).
const OLDEST: &str = "SELECT id, group_name, stream_name, length(CAST(message AS BLOB)) + 26
    FROM log_events ORDER BY id LIMIT ?1";

/// Called by the log writer in its transaction, after adding `added` events: when the database
/// uses more than `max_bytes`, deletes up to twice as many of the oldest events, so a flood of
/// output cannot grow the file much past the bound between sweeps. Returns how many went.
pub(crate) fn keep_under(tx: &Connection, max_bytes: u64, added: usize) -> Result<u64> {
    if database_bytes(tx)? <= max_bytes {
        return Ok(0);
    }
    let limit = i64::try_from(added.saturating_mul(2).max(100)).unwrap_or(i64::MAX);
    delete_picked(tx, OLDEST, &[limit.into()])
}

/// [`delete_batch`] inside the caller's transaction.
fn delete_picked(tx: &Connection, pick: &str, args: &[rusqlite::types::Value]) -> Result<u64> {
    let mut picked: Vec<(i64, String, String, i64)> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(pick)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut bytes = 0;
        while let Some(r) = rows.next()? {
            if bytes >= SWEEP_BATCH_BYTES {
                break;
            }
            let row = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            bytes += row.3;
            picked.push(row);
        }
    }
    let mut streams: std::collections::HashMap<(String, String), i64> = Default::default();
    {
        let mut delete = tx.prepare_cached("DELETE FROM log_events WHERE id = ?1")?;
        for (id, group, stream, bytes) in &picked {
            delete.execute([id])?;
            *streams.entry((group.clone(), stream.clone())).or_default() += bytes;
        }
    }
    for ((group, stream), bytes) in streams {
        let first: Option<i64> = tx
            .prepare_cached(
                "SELECT MIN(timestamp) FROM log_events WHERE group_name = ?1 AND stream_name = ?2",
            )?
            .query_row(params![group, stream], |r| r.get(0))?;
        match first {
            None => tx
                .prepare_cached("DELETE FROM log_streams WHERE group_name = ?1 AND stream_name = ?2")?
                .execute(params![group, stream])?,
            Some(first) => tx
                .prepare_cached(
                    "UPDATE log_streams SET first_event = ?3, stored_bytes = MAX(stored_bytes - ?4, 0)
                     WHERE group_name = ?1 AND stream_name = ?2",
                )?
                .execute(params![group, stream, first, bytes])?,
        };
    }
    Ok(picked.len() as u64)
}

pub(crate) async fn expire(
    store: &SqliteStore,
    now_ms: i64,
    default_retention_days: Option<u32>,
    max_bytes: Option<u64>,
) -> Result<Expired> {
    let mut out = Expired {
        dropped: store
            .log_trimmed
            .swap(0, std::sync::atomic::Ordering::Relaxed),
        ..Expired::default()
    };
    let groups: Vec<(String, Option<i64>)> = store
        .with(|c| {
            let mut stmt = c.prepare_cached("SELECT name, retention_days FROM log_groups")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await?;
    for (group, days) in groups {
        let Some(days) = days.or(default_retention_days.map(i64::from)) else {
            continue;
        };
        let cut = now_ms.saturating_sub(days.saturating_mul(86_400_000));
        loop {
            let args = vec![group.clone().into(), cut.into()];
            let n = store
                .with(move |c| {
                    delete_batch(
                        c,
                        &format!(
                            "SELECT id, group_name, stream_name, length(CAST(message AS BLOB)) + {EVENT_OVERHEAD}
                             FROM log_events WHERE group_name = ?1 AND timestamp < ?2
                             ORDER BY timestamp LIMIT {SWEEP_BATCH_EVENTS}"
                        ),
                        &args,
                    )
                })
                .await?;
            out.expired += n;
            if n == 0 {
                break;
            }
        }
    }
    let mut used = store.with(|c| database_bytes(c)).await?;
    if let Some(max) = max_bytes.filter(|m| used > *m) {
        let target = max / 10 * 9;
        while used > target {
            let n = store
                .with(|c| delete_batch(c, OLDEST, &[SWEEP_BATCH_EVENTS.into()]))
                .await?;
            if n == 0 {
                break;
            }
            out.dropped += n;
            used = store.with(|c| database_bytes(c)).await?;
        }
    }
    let deleted = out.expired + out.dropped > 0;
    let (stored, used) = store
        .with(move |c| {
            if deleted {
                // Give the write-ahead log's space back now rather than at the next
                // checkpoint.
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            let stored: i64 = c.query_row(
                "SELECT COALESCE(SUM(stored_bytes), 0) FROM log_streams",
                [],
                |r| r.get(0),
            )?;
            Ok((stored, database_bytes(c)?))
        })
        .await?;
    out.stored_bytes = u64::try_from(stored).unwrap_or(0);
    out.database_bytes = used;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{EventScan, LogQuery, StreamOrder};
    use crate::testing::{ev, store};
    use crate::{LogEvent, LogStore};

    #[tokio::test]
    async fn retention_and_size_bound_delete_oldest_events() {
        let (_d, s) = store().await;
        let day = 86_400_000;
        s.append_logs("g", "old", vec![ev(0, "ancient")])
            .await
            .expect("append");
        s.append_logs("g", "new", vec![ev(10 * day, "recent")])
            .await
            .expect("append");
        assert!(s.set_retention("g", Some(1)).await.expect("retention"));
        assert!(!s.set_retention("nope", Some(1)).await.expect("retention"));
        let out = s
            .expire_logs(10 * day + 5, None, None)
            .await
            .expect("expire");
        assert_eq!(out.expired, 1);
        let streams = s
            .log_streams("g", None, StreamOrder::Name, false, 0, 10)
            .await
            .expect("streams");
        assert_eq!(streams.len(), 1);

        // The size bound counts the database's pages: fill it well past a bound, in batches
        // bigger than one sweep transaction, and check what is left.
        for batch in 0..6 {
            let events: Vec<LogEvent> = (0..1000)
                .map(|i| {
                    ev(
                        11 * day + batch * 1000 + i,
                        &format!("{i:04}{}", "x".repeat(996)),
                    )
                })
                .collect();
            let stream = if batch % 2 == 0 { "new" } else { "other" };
            s.append_logs("g", stream, events).await.expect("append");
        }
        let full = s.with(|c| database_bytes(c)).await.expect("size");
        assert!(full > 6_000_000, "{full}");
        let bound = full / 2;
        let out = s
            .expire_logs(11 * day, None, Some(bound))
            .await
            .expect("expire");
        // More than one sweep transaction's worth went.
        let dropped = i64::try_from(out.dropped).expect("fits");
        assert!(
            dropped * (1000 + EVENT_OVERHEAD) > SWEEP_BATCH_BYTES,
            "{out:?}"
        );
        assert!(
            out.database_bytes <= bound / 10 * 9,
            "{out:?} bound {bound}"
        );
        // The oldest went first; the newest are all there.
        let left = s
            .scan_events(EventScan {
                group: "g".into(),
                limit: 10_000,
                ..Default::default()
            })
            .await
            .expect("scan");
        assert_eq!(left.last().map(|e| e.timestamp_ms), Some(11 * day + 5999));
        assert!(left.iter().all(|e| e.message != "recent"));
        let first = left[0].timestamp_ms;
        assert_eq!(left.len() as i64, 11 * day + 6000 - first);
        // Stream statistics follow what is left.
        let streams = s
            .log_streams("g", None, StreamOrder::Name, false, 0, 10)
            .await
            .expect("streams");
        let listed: i64 = streams.iter().map(|st| st.stored_bytes).sum();
        assert_eq!(listed, left.len() as i64 * (1000 + EVENT_OVERHEAD));
        assert_eq!(u64::try_from(listed).expect("positive"), out.stored_bytes);
        for st in &streams {
            let oldest = left.iter().find(|e| e.stream == st.name).expect("events");
            assert_eq!(st.first_event, oldest.timestamp_ms);
        }
        // Under the bound, nothing more goes.
        let again = s
            .expire_logs(11 * day, None, Some(bound))
            .await
            .expect("expire");
        assert_eq!(again.dropped, 0);
    }

    #[tokio::test]
    async fn appends_keep_the_database_near_its_bound() {
        let (_d, s) = store().await;
        let bound = 2 * 1024 * 1024;
        s.bound_logs(Some(bound));
        let mut peak = 0;
        for batch in 0..60 {
            // Empty lines: the rows, not the messages, fill the disk.
            let events: Vec<LogEvent> = (0..4000).map(|i| ev(batch * 4000 + i, "")).collect();
            s.append_logs("g", "s", events).await.expect("append");
            peak = peak.max(s.with(|c| database_bytes(c)).await.expect("size"));
        }
        // 240,000 events take far more than the bound; what is kept stays within a batch of it.
        assert!(peak < bound + bound / 2, "peak {peak}");
        let out = s.expire_logs(0, None, Some(bound)).await.expect("expire");
        assert!(out.dropped > 100_000, "{out:?}");
        let streams = s
            .log_streams("g", None, StreamOrder::Name, false, 0, 10)
            .await
            .expect("streams");
        let left = s
            .with(|c| {
                Ok(
                    c.query_row("SELECT count(*), MIN(timestamp) FROM log_events", [], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })?,
                )
            })
            .await
            .expect("count");
        assert_eq!(streams[0].stored_bytes, left.0 * EVENT_OVERHEAD);
        assert_eq!(streams[0].first_event, left.1);
        assert_eq!(left.1 + left.0, 240_000, "the newest are kept");
    }
}
