//! Asynchronous invocation (`InvocationType: Event`): acceptance, the dispatcher, retries,
//! destinations and dead letters.
//!
//! [`accept`] stores the event in the [`EventQueue`] (a committed transaction) and only then
//! answers 202. The dispatcher ([`start`]) claims due events per function, no more at a time than
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

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kumo_engine::metrics::FunctionLabels;
use kumo_engine::Invocation;
use kumo_store::{EventQueue, NewEvent, QueuedEvent, RuleStore, StoreError};
use kumo_types::{FunctionConfig, FunctionName};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Largest payload of an `Event` invocation (Lambda: 1 MB).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;
/// Lambda's default `MaximumRetryAttempts`.
pub const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 2;
/// Lambda's default `MaximumEventAgeInSeconds` (6 hours).
pub const DEFAULT_MAX_EVENT_AGE_SECS: u32 = 21_600;

/// Timing of retries and schedules.
#[derive(Debug, Clone)]
pub struct AsyncSettings {
    /// Wait before the first retry after a function error; the second waits twice as long
    /// (Lambda: 1 minute, then 2 minutes).
    pub retry_delay: Duration,
    /// First wait after a throttle or platform error, doubling up to `throttle_max_delay`
    /// (Lambda: 1 second up to 5 minutes).
    pub throttle_delay: Duration,
    pub throttle_max_delay: Duration,
    /// Accept `rate(N second[s])` schedules. EventBridge's smallest rate is one minute; this is
    /// for tests and demonstrations only.
    pub allow_second_rates: bool,
    /// Most asynchronous invocations running at once over all functions; 0 means the account's
    /// concurrency (Lambda's behaviour). A lower cap keeps a burst of events from starting as many
    /// environments as the account allows.
    pub max_concurrency: u32,
}

impl Default for AsyncSettings {
    fn default() -> Self {
        Self {
            retry_delay: Duration::from_secs(60),
            throttle_delay: Duration::from_secs(1),
            throttle_max_delay: Duration::from_secs(300),
            allow_second_rates: false,
            max_concurrency: 0,
        }
    }
}

/// The asynchronous side of Kumo as the handlers see it. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    pub queue: Arc<dyn EventQueue>,
    pub rules: Arc<dyn RuleStore>,
    pub settings: AsyncSettings,
    wake: Arc<Notify>,
    rules_changed: Arc<Notify>,
    /// Set when the workers stop: an attempt that fails from then on may have been cut short by
    /// the shutdown, so it is not counted; the event stays claimed and runs again after restart.
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Events {
    pub fn new(
        queue: Arc<dyn EventQueue>,
        rules: Arc<dyn RuleStore>,
        settings: AsyncSettings,
    ) -> Self {
        Self {
            queue,
            rules,
            settings,
            wake: Arc::new(Notify::new()),
            rules_changed: Arc::new(Notify::new()),
            stopping: Arc::default(),
        }
    }

    /// Events accepted and not yet at their end (for metrics).
    pub async fn depth(&self) -> kumo_store::Result<u64> {
        self.queue.depth().await
    }

    /// Age of the oldest event not yet at its end (for metrics).
    pub async fn oldest_age(&self) -> kumo_store::Result<Option<Duration>> {
        self.queue.oldest_age().await
    }

    /// Tells the dispatcher that events were queued.
    pub(crate) fn wake_dispatcher(&self) {
        self.wake.notify_one();
    }

    /// Tells the scheduler that rules changed.
    pub(crate) fn rules_changed(&self) {
        self.rules_changed.notify_one();
    }

    pub(crate) fn rules_notify(&self) -> &Notify {
        &self.rules_changed
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `2019-11-14T18:16:05.568Z`
pub(crate) fn iso_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default()
}

/// The name of a function of this account and region from its ARN (unqualified or `$LATEST`).
pub(crate) fn function_from_arn(state: &AppState, arn: &str) -> Option<FunctionName> {
    let rest = arn.strip_prefix(&format!(
        "arn:aws:lambda:{}:{}:function:",
        state.region, state.account_id
    ))?;
    let name = match rest.split_once(':') {
        None => rest,
        Some((name, "$LATEST")) => name,
        Some(_) => return None,
    };
    FunctionName::parse(name).ok()
}

/// Queues an `Event` invocation and answers 202 once it is stored.
pub(crate) async fn accept(
    state: &AppState,
    function: &FunctionConfig,
    invoked_arn: String,
    payload: Bytes,
    client_context: Option<String>,
    trace_id: Option<String>,
) -> ApiResult<Response> {
    if payload.len() > MAX_ASYNC_PAYLOAD {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!(
                "{} byte payload is too large for the Event invocation type (limit {MAX_ASYNC_PAYLOAD} bytes)",
                payload.len()
            ),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    state
        .events
        .queue
        .enqueue(vec![NewEvent {
            id: id.clone(),
            function: function.name.to_string(),
            invoked_arn,
            payload: payload.to_vec(),
            client_context,
            trace_id,
            enqueued_ms: now,
            due_ms: now,
        }])
        .await?;
    state.events.wake_dispatcher();
    debug!(function = %function.name, request_id = %id, "event queued");
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    Ok(resp)
}

/// Largest payload of the deprecated `InvokeAsync` operation.
pub const MAX_INVOKE_ASYNC_PAYLOAD: usize = 256 * 1024;

/// `POST /2014-11-13/functions/{name}/invoke-async` (deprecated `InvokeAsync`): an `Event` invoke
/// with the older 256 KB limit, answered 202.
pub(crate) async fn invoke_async(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(raw): axum::extract::Path<String>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let too_large = |n: Option<usize>| {
        let size = n.map_or_else(|| "The".to_owned(), |n| format!("{n} byte"));
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("{size} payload is too large for the InvokeAsync operation (limit {MAX_INVOKE_ASYNC_PAYLOAD} bytes)"),
        )
    };
    let name = crate::functions::resolve_name(&state, &raw, None)?;
    let payload = axum::body::to_bytes(body, kumo_types::MAX_SYNC_PAYLOAD)
        .await
        .map_err(|_| too_large(None))?;
    if payload.len() > MAX_INVOKE_ASYNC_PAYLOAD {
        return Err(too_large(Some(payload.len())));
    }
    let function = crate::functions::load(&state, &name).await?;
    if !payload.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Err(ApiError::invalid_content(
            "Could not parse request body into json: Unexpected character",
        ));
    }
    let payload = if payload.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        payload
    };
    let invoked_arn = if raw.starts_with("arn:") {
        raw.clone()
    } else {
        state.function_arn(name.as_str())
    };
    accept(&state, &function, invoked_arn, payload, None, None).await
}

/// The running dispatcher and scheduler.
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Workers {
    /// Stops claiming events and firing rules. Events still running stay claimed in the store
    /// unless they end before the engine stops; the next start queues them again.
    pub async fn stop(self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Starts the dispatcher and the scheduler on the current runtime.
pub fn start(state: AppState) -> Workers {
    let (stop, rx) = watch::channel(false);
    let stopping = Arc::clone(&state.events.stopping);
    let handles = vec![
        tokio::spawn(dispatcher(state.clone(), rx.clone())),
        tokio::spawn(crate::schedule::scheduler(state, rx)),
    ];
    Workers {
        stop,
        handles,
        stopping,
    }
}

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

async fn dispatcher(state: AppState, mut stop: watch::Receiver<bool>) {
    match state.events.queue.recover().await {
        Ok(0) => {}
        Ok(n) => info!(
            events = n,
            "queued again the events that were running when Kumo stopped"
        ),
        Err(e) => warn!(error = %e, "could not recover running events"),
    }
    let running: Running = Arc::default();
    let mut gauges = QueueGauges::new(&state);
    loop {
        if *stop.borrow() {
            break;
        }
        let wake = Arc::clone(&state.events.wake);
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = now_ms();
        let mut wait = Duration::from_secs(5);
        if let Err(e) = dispatch_due(&state, &running, now).await {
            warn!(error = %e, "dispatching queued events failed");
            wait = Duration::from_secs(1);
        }
        gauges.refresh(&state).await;
        if let Ok(Some(next)) = state.events.queue.next_due_after(now).await {
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
    fn new(state: &AppState) -> Self {
        let age = Family::<FunctionLabels, Gauge>::default();
        state.engine.metrics().register(
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

    async fn refresh(&mut self, state: &AppState) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let Ok(stats) = state.events.queue.queue_stats().await else {
            return;
        };
        let depth = &state.engine.metrics().async_queue_depth;
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

async fn dispatch_due(state: &AppState, running: &Running, now: i64) -> kumo_store::Result<()> {
    let queue = &state.events.queue;
    let overall = match state.events.settings.max_concurrency {
        0 => state.account_concurrency,
        n => n,
    };
    for function in queue.due_functions(now).await? {
        let Ok(name) = FunctionName::parse(&function) else {
            queue.discard_function(&function).await?;
            continue;
        };
        let config = match state.store.get_function(&name).await {
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
            .unwrap_or(state.account_concurrency)
            .max(1);
        let busy = running_of(running, &function);
        let free_overall = overall.saturating_sub(running_total(running));
        if busy >= limit || free_overall == 0 {
            continue;
        }
        let take = (limit - busy).min(free_overall).min(64);
        let claimed = queue.claim(&function, now, take).await?;
        for event in claimed {
            *running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(function.clone())
                .or_default() += 1;
            let (state, running, config) = (state.clone(), Arc::clone(running), config.clone());
            tokio::spawn(async move {
                let function = event.function.clone();
                run_event(&state, config, event).await;
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
                state.events.wake_dispatcher();
            });
        }
    }
    Ok(())
}

async fn run_event(state: &AppState, function: FunctionConfig, event: QueuedEvent) {
    let inv = Invocation {
        function,
        invoked_arn: event.invoked_arn.clone(),
        payload: Bytes::from(event.payload.clone()),
        client_context: event.client_context.clone(),
        trace_id: event.trace_id.clone(),
        tail_log: false,
    };
    let result = state.engine.invoke_as(inv, event.id.clone()).await;
    let id = event.id.clone();
    let failed = !matches!(&result, Ok(o) if o.function_error.is_none());
    if failed
        && state
            .events
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst)
    {
        debug!(request_id = %id, "attempt ended during shutdown; it runs again after restart");
        return;
    }
    if let Err(e) = crate::settle::settle(state, event, result).await {
        // The event stays claimed; the next start of Kumo queues it again.
        warn!(request_id = %id, error = %e, "could not record the end of an event");
    }
}
