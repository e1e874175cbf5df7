//! Writes function logs and usage records behind the responses.
//!
//! An invocation's answer does not wait for the database: its log lines and usage record are
//! queued here and written by one task, in order, many invocations per transaction. Readers that
//! must see everything written so far (the Logs API, usage reports, shutdown) call
//! [`Persister::flush`] first, which returns once everything queued before it is stored.

use kumo_store::{LogEvent, LogStore, UsageRecord, UsageStore};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// Most jobs written in one go.
const MAX_BATCH: usize = 1024;

enum Job {
    Logs {
        group: String,
        stream: String,
        events: Vec<LogEvent>,
    },
    Usage(Arc<dyn UsageStore>, UsageRecord),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(crate) struct Persister {
    tx: mpsc::UnboundedSender<Job>,
}

impl Persister {
    /// Starts the writer on the current runtime.
    pub fn start(logs: Arc<dyn LogStore>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(logs, rx));
        Self { tx }
    }

    pub fn logs(&self, group: String, stream: String, events: Vec<LogEvent>) {
        if events.is_empty() {
            return;
        }
        let _ = self.tx.send(Job::Logs {
            group,
            stream,
            events,
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

async fn write_loop(logs: Arc<dyn LogStore>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs = Vec::new();
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let mut log_batch = Vec::new();
        let mut usage_batch: Vec<UsageRecord> = Vec::new();
        let mut usage_store: Option<Arc<dyn UsageStore>> = None;
        let mut acks = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Logs {
                    group,
                    stream,
                    events,
                } => log_batch.push((group, stream, events)),
                Job::Usage(store, record) => {
                    usage_store.get_or_insert(store);
                    usage_batch.push(record);
                }
                Job::Flush(ack) => acks.push(ack),
            }
        }
        if !log_batch.is_empty() {
            if let Err(e) = logs.append_log_batch(log_batch).await {
                warn!(error = %e, "could not store function logs");
            }
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
