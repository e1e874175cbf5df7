//! The log and usage janitor: deletes log events past their group's retention, keeps the
//! database under its size bound, and deletes usage records past theirs.
//!
//! It sweeps every `interval`, and sooner when functions have written a 64th of the bound
//! since the last sweep (`kumo_log_ingested_bytes_total`, counted by the engine's log writer), so
//! a flood of output cannot outgrow the bound by much between sweeps. Sweeps delete in small
//! transactions (see `kumo_store::LogQuery::expire_logs`); what they drop is said in the platform
//! log and counted in `kumo_log_events_dropped_total` and `kumo_log_events_expired_total`.

use kumo_engine::Engine;
use kumo_store::{LogQuery, UsageStore};
use std::sync::Arc;
use std::time::Duration;

/// How the log store and usage records are kept in bounds.
#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    /// Retention of groups without their own policy; `None` keeps events forever.
    pub default_retention_days: Option<u32>,
    /// Bytes the database may use on disk before the oldest log events are dropped.
    pub max_bytes: Option<u64>,
    /// How often the janitor runs.
    pub interval: Duration,
    /// Days usage records are kept; `None` keeps them forever.
    pub usage_retention_days: Option<u32>,
}

/// How often the janitor looks at how much was written since its last sweep.
const CHECK: Duration = Duration::from_secs(1);

/// Part of the bound written since the last sweep that starts the next one early. An event takes
/// more room on disk than it counts (its row, names, two index entries: about 150 bytes for an
/// empty line, counted as 27), so this is small.
const EARLY_PART: u64 = 64;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs the sweep now, then every `limits.interval`, or sooner after much was written.
pub fn spawn_log_janitor(
    logs: Arc<dyn LogQuery>,
    usage: Arc<dyn UsageStore>,
    engine: Engine,
    limits: LogLimits,
) {
    tokio::spawn(async move {
        let early = limits.max_bytes.map(|m| (m / EARLY_PART).max(1));
        let mut last_sweep: Option<tokio::time::Instant> = None;
        let mut written_then = 0;
        loop {
            if let Some(at) = last_sweep {
                let due = at + limits.interval;
                loop {
                    let wake = (tokio::time::Instant::now() + CHECK).min(due);
                    tokio::time::sleep_until(wake).await;
                    let written = engine.metrics().log_ingested_bytes.get();
                    if wake >= due || early.is_some_and(|e| written - written_then >= e) {
                        break;
                    }
                }
            }
            last_sweep = Some(tokio::time::Instant::now());
            written_then = engine.metrics().log_ingested_bytes.get();
            sweep(logs.as_ref(), usage.as_ref(), &engine, &limits).await;
        }
    });
}

async fn sweep(logs: &dyn LogQuery, usage: &dyn UsageStore, engine: &Engine, limits: &LogLimits) {
    match logs
        .expire_logs(now_ms(), limits.default_retention_days, limits.max_bytes)
        .await
    {
        Ok(out) => {
            let m = engine.metrics();
            m.log_events_expired.inc_by(out.expired);
            m.log_events_dropped.inc_by(out.dropped);
            m.log_stored_bytes
                .set(i64::try_from(out.stored_bytes).unwrap_or(i64::MAX));
            m.log_database_bytes
                .set(i64::try_from(out.database_bytes).unwrap_or(i64::MAX));
            if out.expired > 0 {
                tracing::info!(events = out.expired, "deleted log events past retention");
            }
            if out.dropped > 0 {
                tracing::warn!(
                    events = out.dropped,
                    max_bytes = limits.max_bytes.unwrap_or(0),
                    database_bytes = out.database_bytes,
                    "log storage is over its size bound: dropped the oldest log events"
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "log retention sweep failed"),
    }
    if let Some(days) = limits.usage_retention_days {
        let before = now_ms().saturating_sub(i64::from(days) * 86_400_000);
        match usage.expire_usage(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "deleted usage records past retention"),
            Err(e) => tracing::error!(error = %e, "usage retention sweep failed"),
        }
    }
}
