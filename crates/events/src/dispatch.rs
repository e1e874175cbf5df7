//! The dispatcher of asynchronous invocations (`InvocationType: Event`).
//!
//! Accepted events (see `accept.rs`) wait in the [`EventQueue`]. The dispatcher claims due events per function, no more at a time than
//! the function's reserved concurrency (or the account's concurrency), and runs each through the
//! same [`Engine::invoke_as`](kumo_engine::Engine::invoke_as) path as a synchronous invoke, with
//! the event id as request id on every attempt. How an attempt ends decides what follows, as in
//! Lambda:
//!
//! - success: the event is done; an `OnSuccess` destination function gets the invocation record;
//! - function error: retried after `retry_delay`, then twice that, up to `MaximumRetryAttempts`
//!   (default 2); then it has failed (`RetriesExhausted`);
//! - throttle or platform error: retried with a doubling delay for as long as the event is younger
//!   than `MaximumEventAgeInSeconds` (default 6 h); then it has failed (`EventAgeExceeded`).
//!
//! (Those decisions and what a failed event produces live in `settle.rs`.)
//!
//! A failed event goes, in the transaction that removes it from the queue, to the `OnFailure`
//! destination function (the invocation record), to the function's `DeadLetterConfig` target
//! function (the original event) and always to the function's built-in dead-letter store
//! (`kumo dlq list|replay`). Events left running by a crash are queued again at start, so every
//! accepted event runs at least once.

use crate::clock::now_ms;
use crate::context::Events;
use bytes::Bytes;
use kumo_engine::metrics::FunctionLabels;
use kumo_engine::Invocation;
use kumo_store::{EventQueue, QueuedEvent, StoreError};
use kumo_types::{FunctionConfig, FunctionName};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

type Running = Arc<Mutex<HashMap<String, u32>>>;

fn running_total(running: &Running) -> u32 {
    running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .sum()
}

fn running_of(running: &Running, function: &str) -> u32 {
    running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(function)
        .copied()
        .unwrap_or(0)
}

pub(crate) async fn dispatcher(events: Events, mut stop: watch::Receiver<bool>) {
    match events.queue.recover().await {
        Ok(0) => {}
        Ok(n) => info!(
            events = n,
            "queued again the events that were running when Kumo stopped"
        ),
        Err(e) => warn!(error = %e, "could not recover running events"),
    }
    let running: Running = Arc::default();
    let mut gauges = QueueGauges::new(&events);
    loop {
        if *stop.borrow() {
            break;
        }
        let wake = Arc::clone(events.wake_notify());
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = now_ms();
        let mut wait = Duration::from_secs(5);
        if let Err(e) = dispatch_due(&events, &running, now).await {
            warn!(error = %e, "dispatching queued events failed");
            wait = Duration::from_secs(1);
        }
        gauges.refresh(&events).await;
        if let Ok(Some(next)) = events.queue.next_due_after(now).await {
            let until = Duration::from_millis(u64::try_from(next - now).unwrap_or(0));
            wait = wait.min(until);
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Keeps the engine's `async_queue_depth` and this module's `async_oldest_event_age_seconds`
/// gauges (per function) up to date, at most once a second.
struct QueueGauges {
    age: Family<FunctionLabels, Gauge>,
    reported: HashSet<String>,
    last: Option<std::time::Instant>,
}

impl QueueGauges {
    fn new(events: &Events) -> Self {
        let age = Family::<FunctionLabels, Gauge>::default();
        events.engine.metrics().register(
            "async_oldest_event_age_seconds",
            "Age of the oldest event in the asynchronous invocation queue",
            age.clone(),
        );
        Self {
            age,
            reported: HashSet::new(),
            last: None,
        }
    }

    async fn refresh(&mut self, events: &Events) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let Ok(stats) = events.queue.queue_stats().await else {
            return;
        };
        let depth = &events.engine.metrics().async_queue_depth;
        let now = now_ms();
        let mut seen = HashSet::new();
        for s in stats {
            let labels = FunctionLabels {
                function: s.function.clone(),
            };
            depth
                .get_or_create(&labels)
                .set(i64::try_from(s.depth).unwrap_or(i64::MAX));
            self.age
                .get_or_create(&labels)
                .set((now - s.oldest_enqueued_ms).max(0) / 1000);
            seen.insert(s.function);
        }
        for gone in self.reported.difference(&seen) {
            let labels = FunctionLabels {
                function: gone.clone(),
            };
            depth.remove(&labels);
            self.age.remove(&labels);
        }
        self.reported = seen;
    }
}

async fn dispatch_due(events: &Events, running: &Running, now: i64) -> kumo_store::Result<()> {
    let queue: &Arc<dyn EventQueue> = &events.queue;
    let overall = match events.settings.max_concurrency {
        0 => events.account.concurrency,
        n => n,
    };
    for function in queue.due_functions(now).await? {
        let Ok(name) = FunctionName::parse(&function) else {
            queue.discard_function(&function).await?;
            continue;
        };
        let config = match events.functions.get_function(&name).await {
            Ok(c) => c,
            Err(StoreError::NotFound(_)) => {
                let n = queue.discard_function(&function).await?;
                warn!(function, events = n, "dropped events of a deleted function");
                continue;
            }
            Err(e) => return Err(e),
        };
        // Reserved concurrency 0 still lets one attempt through, to be throttled and age out.
        let limit = config
            .reserved_concurrency
            .unwrap_or(events.account.concurrency)
            .max(1);
        let busy = running_of(running, &function);
        let free_overall = overall.saturating_sub(running_total(running));
        if busy >= limit || free_overall == 0 {
            continue;
        }
        let take = (limit - busy).min(free_overall).min(64);
        let claimed = queue.claim(&function, now, take, lease(&config)).await?;
        for event in claimed {
            *running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(function.clone())
                .or_default() += 1;
            let (events, running, config) = (events.clone(), Arc::clone(running), config.clone());
            tokio::spawn(async move {
                let function = event.function.clone();
                run_event(&events, config, event).await;
                {
                    let mut r = running
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Some(n) = r.get_mut(&function) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            r.remove(&function);
                        }
                    }
                }
                events.wake_dispatcher();
            });
        }
    }
    Ok(())
}

/// How long a claim holds an event: longer than any attempt can take (the function's timeout,
/// plus a cold start and the time to store the result), so only a dead claimer loses it.
fn lease(function: &FunctionConfig) -> Duration {
    Duration::from_secs(u64::from(function.timeout_secs) + 120)
}

async fn run_event(events: &Events, function: FunctionConfig, event: QueuedEvent) {
    let inv = Invocation {
        function,
        invoked_arn: event.invoked_arn.clone(),
        payload: Bytes::from(event.payload.clone()),
        client_context: event.client_context.clone(),
        trace_id: event.trace_id.clone(),
        tail_log: false,
    };
    let result = events.engine.invoke_as(inv, event.id.clone()).await;
    let id = event.id.clone();
    let failed = !matches!(&result, Ok(o) if o.function_error.is_none());
    if failed && events.stopping.load(Ordering::SeqCst) {
        debug!(request_id = %id, "attempt ended during shutdown; it runs again after restart");
        return;
    }
    if let Err(e) = crate::settle::settle(events, event, result).await {
        // The event stays claimed; the next start of Kumo queues it again.
        warn!(request_id = %id, error = %e, "could not record the end of an event");
    }
}
