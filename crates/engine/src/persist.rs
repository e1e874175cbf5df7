//! Writes function logs and usage records behind the responses.
//!
//! An invocation's answer does not wait for the database: its log lines and usage record are
//! queued here and written by one task, in order, many invocations per transaction. Readers that
//! must see everything written so far (the Logs API, usage reports, shutdown) call
//! [`Persister::flush`] first, which returns once everything queued before it is stored.
//!
//! The queue is bounded in bytes ([`MAX_QUEUED_BYTES`]): when functions print faster than the
//! database takes it, new log lines are dropped (counted in `kumo_log_dropped_bytes_total` with
//! reason `writer_behind`) and the stream's next lines that do go in start with a line saying
//! how much was lost. Transactions hold at most [`MAX_BATCH_BYTES`] or [`MAX_BATCH_EVENTS`] of
//! log events, so the database is never held long for other requests.

use crate::metrics::Metrics;
use kumo_store::{LogEvent, LogStore, UsageRecord, UsageStore};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// Most jobs written in one go.
const MAX_BATCH: usize = 1024;

/// Bytes of log events (messages + 26 each) waiting for the writer beyond which more are dropped.
pub const MAX_QUEUED_BYTES: u64 = 32 * 1024 * 1024;

/// Bytes of log events written in one transaction at most (beyond its first event).
pub const MAX_BATCH_BYTES: u64 = 4 * 1024 * 1024;

/// Log events written in one transaction at most: an event's row and index entries take about
/// 250 bytes on disk however short its message, and the database is not held for long.
pub const MAX_BATCH_EVENTS: usize = 4096;

enum Job {
    Logs {
        group: String,
        stream: String,
        events: Vec<LogEvent>,
        bytes: u64,
    },
    Usage(Arc<dyn UsageStore>, UsageRecord),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(crate) struct Persister {
    tx: mpsc::UnboundedSender<Job>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Bytes of log events queued and not yet written.
    queued: AtomicU64,
    /// Bytes dropped per (group, stream) and not yet told in that stream.
    dropped: Mutex<HashMap<(String, String), u64>>,
    any_dropped: AtomicBool,
    metrics: Arc<Metrics>,
}

fn event_bytes(events: &[LogEvent]) -> u64 {
    events
        .iter()
        .map(|e| e.message.len() as u64 + crate::logs::EVENT_OVERHEAD)
        .sum()
}

fn function_of(group: &str) -> &str {
    group.strip_prefix("/aws/lambda/").unwrap_or(group)
}

impl Persister {
    /// Starts the writer on the current runtime.
    pub fn start(logs: Arc<dyn LogStore>, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queued: AtomicU64::new(0),
            dropped: Mutex::default(),
            any_dropped: AtomicBool::new(false),
            metrics,
        });
        tokio::spawn(write_loop(logs, rx, Arc::clone(&shared)));
        Self { tx, shared }
    }

    pub fn logs(&self, group: String, stream: String, mut events: Vec<LogEvent>) {
        if events.is_empty() {
            return;
        }
        let mut bytes = event_bytes(&events);
        let shared = &self.shared;
        if shared.queued.fetch_add(bytes, Ordering::Relaxed) + bytes > MAX_QUEUED_BYTES {
            shared.queued.fetch_sub(bytes, Ordering::Relaxed);
            shared
                .metrics
                .log_dropped(function_of(&group), "writer_behind")
                .inc_by(bytes);
            *lock(&shared.dropped).entry((group, stream)).or_default() += bytes;
            shared.any_dropped.store(true, Ordering::Relaxed);
            return;
        }
        if shared.any_dropped.load(Ordering::Relaxed) {
            let mut dropped = lock(&shared.dropped);
            if let Some(n) = dropped.remove(&(group.clone(), stream.clone())) {
                let message = format!(
                    "KUMO LOG TRUNCATED: {n} bytes of function output dropped: the log writer was behind"
                );
                let extra = message.len() as u64 + crate::logs::EVENT_OVERHEAD;
                shared.queued.fetch_add(extra, Ordering::Relaxed);
                bytes += extra;
                events.push(LogEvent {
                    timestamp_ms: crate::logs::now_ms(),
                    message,
                });
            }
            if dropped.is_empty() {
                shared.any_dropped.store(false, Ordering::Relaxed);
            }
        }
        let _ = self.tx.send(Job::Logs {
            group,
            stream,
            events,
            bytes,
        });
    }

    pub fn usage(&self, store: Arc<dyn UsageStore>, record: UsageRecord) {
        let _ = self.tx.send(Job::Usage(store, record));
    }

    /// Returns once everything queued before this call has been written.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Job::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

type LogBatch = Vec<(String, String, Vec<LogEvent>)>;

/// Writes one transaction of log events; they leave the queue either way.
async fn write_logs(logs: &dyn LogStore, shared: &Shared, batch: LogBatch, bytes: u64) {
    let groups: Vec<(String, u64)> = batch
        .iter()
        .map(|(g, _, e)| (g.clone(), event_bytes(e)))
        .collect();
    match logs.append_log_batch(batch).await {
        Ok(()) => {
            shared.metrics.log_ingested_bytes.inc_by(bytes);
        }
        Err(e) => {
            warn!(error = %e, "could not store function logs");
            for (group, n) in groups {
                shared
                    .metrics
                    .log_dropped(function_of(&group), "store_error")
                    .inc_by(n);
            }
        }
    }
    shared.queued.fetch_sub(bytes, Ordering::Relaxed);
}

async fn write_loop(
    logs: Arc<dyn LogStore>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
) {
    let mut jobs = Vec::new();
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let mut log_batch = Vec::new();
        let mut batch_bytes = 0;
        let mut batch_events = 0;
        let mut usage_batch: Vec<UsageRecord> = Vec::new();
        let mut usage_store: Option<Arc<dyn UsageStore>> = None;
        let mut acks = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Logs {
                    group,
                    stream,
                    mut events,
                    bytes,
                } => {
                    if bytes + batch_bytes < MAX_BATCH_BYTES
                        && events.len() + batch_events < MAX_BATCH_EVENTS
                    {
                        // The common case: the job joins the batch whole.
                        batch_events += events.len();
                        batch_bytes += bytes;
                        log_batch.push((group, stream, events));
                        continue;
                    }
                    // A large job goes in pieces, each piece filling up a batch.
                    while !events.is_empty() {
                        let room = MAX_BATCH_EVENTS.saturating_sub(batch_events).max(1);
                        let mut take = 0;
                        let mut take_bytes = 0;
                        for e in events.iter().take(room) {
                            if take > 0 && batch_bytes + take_bytes >= MAX_BATCH_BYTES {
                                break;
                            }
                            take_bytes += e.message.len() as u64 + crate::logs::EVENT_OVERHEAD;
                            take += 1;
                        }
                        let rest = events.split_off(take);
                        log_batch.push((group.clone(), stream.clone(), events));
                        events = rest;
                        batch_events += take;
                        batch_bytes += take_bytes;
                        if batch_events >= MAX_BATCH_EVENTS || batch_bytes >= MAX_BATCH_BYTES {
                            let batch = std::mem::take(&mut log_batch);
                            write_logs(logs.as_ref(), &shared, batch, batch_bytes).await;
                            (batch_events, batch_bytes) = (0, 0);
                        }
                    }
                }
                Job::Usage(store, record) => {
                    usage_store.get_or_insert(store);
                    usage_batch.push(record);
                }
                Job::Flush(ack) => acks.push(ack),
            }
        }
        if !log_batch.is_empty() {
            write_logs(logs.as_ref(), &shared, log_batch, batch_bytes).await;
        }
        if let Some(store) = usage_store {
            if let Err(e) = store.record_usage_batch(usage_batch).await {
                warn!(error = %e, "could not store usage records");
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_store::SqliteStore;

    #[tokio::test]
    async fn a_full_queue_drops_lines_counts_them_and_says_so_in_the_stream() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("kumo.db")).expect("open");
        let metrics: Arc<Metrics> = Arc::default();
        let persist = Persister::start(Arc::new(store.clone()), Arc::clone(&metrics));
        let line = "z".repeat(1024 * 1024 - 26);
        let event = || LogEvent {
            timestamp_ms: 1,
            message: line.clone(),
        };
        // On this single-threaded runtime the writer cannot run until the test awaits: the
        // queue takes its bound's worth, then drops.
        let group = "/aws/lambda/f".to_owned();
        for _ in 0..40 {
            persist.logs(group.clone(), "s".into(), vec![event()]);
        }
        let bound = usize::try_from(MAX_QUEUED_BYTES >> 20).expect("fits");
        let dropped = metrics.log_dropped("f", "writer_behind").get();
        assert_eq!(dropped, (40 - bound as u64) << 20);
        persist.flush().await;
        // Room again: the next lines go in, after a line saying what was lost.
        persist.logs(group.clone(), "s".into(), vec![event()]);
        persist.flush().await;
        let stored = store.stream_events(&group, "s").await.expect("events");
        assert_eq!(stored.len(), bound + 2);
        let marker = &stored[bound + 1].message;
        assert!(
            marker.starts_with(&format!("KUMO LOG TRUNCATED: {dropped} bytes"))
                && marker.ends_with("the log writer was behind"),
            "{marker}"
        );
        assert_eq!(shared_queued(&persist), 0);
        assert_eq!(
            metrics.log_ingested_bytes.get(),
            ((bound as u64 + 1) << 20) + marker.len() as u64 + 26
        );
    }

    fn shared_queued(p: &Persister) -> u64 {
        p.shared.queued.load(Ordering::Relaxed)
    }
}
