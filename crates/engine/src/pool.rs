//! The engine: admission (throttling), environment pools, and the life of one invocation.

pub use crate::env::{DotnetRuntime, JavaRuntime, RuntimeCommands, SandboxConfig};
use crate::env::{Env, StartError};
pub use crate::invocation::{Invocation, InvokeError, InvokeOutcome};
use crate::logs::{keep_tail, now_ms, tail};
use crate::runtime_api::{Pending, Phase, RuntimeReply};
use axum::body::Bytes;
use kumo_store::{CodePackages, LogEvent, LogStore};
use kumo_types::FunctionConfig;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};
use tracing::{debug, info, warn, Instrument};

/// Settings of the engine, validated by the binary.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub region: String,
    pub account_id: String,
    /// Concurrent executions allowed across all functions.
    pub account_concurrency: u32,
    /// How long an idle environment is kept warm.
    pub idle_timeout: Duration,
    /// How long a runtime may take to initialise (Lambda: 10 s).
    pub init_timeout: Duration,
    /// Where environments get their scratch space (`/tmp`).
    pub scratch_dir: PathBuf,
    pub commands: RuntimeCommands,
    /// How environments are isolated; `None` runs bare processes (`--insecure-no-sandbox`).
    pub sandbox: Option<SandboxConfig>,
    /// Bounds on what a function's output adds to its log.
    pub log_capture: crate::logs::CaptureLimits,
}

#[derive(Default)]
struct Pool {
    /// Idle environments, most recently used last.
    idle: Vec<Env>,
    busy: u32,
    /// Revision of the function that new and reused environments must match.
    revision: String,
}

#[derive(Default)]
struct State {
    pools: HashMap<String, Pool>,
    unreserved_busy: u32,
    reserved_total: u64,
    shutting_down: bool,
}

struct Inner {
    config: EngineConfig,
    code: Arc<dyn CodePackages>,
    state: Mutex<State>,
    /// Process groups of every live environment, killed at shutdown.
    live: Arc<Mutex<HashSet<u32>>>,
    idle_changed: Notify,
    /// Metrics and usage records.
    observer: crate::observer::Observer,
}

/// The execution engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Holds one unit of concurrency until dropped.
struct Admission {
    inner: Arc<Inner>,
    function: String,
    unreserved: bool,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        if let Some(pool) = st.pools.get_mut(&self.function) {
            pool.busy = pool.busy.saturating_sub(1);
        }
        if self.unreserved {
            st.unreserved_busy = st.unreserved_busy.saturating_sub(1);
        }
        drop(st);
        self.inner.idle_changed.notify_waiters();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long an environment stays unfrozen after its invocation (see [`Engine::freeze_soon`]).
const FREEZE_DELAY: Duration = Duration::from_millis(5);

/// How often a running invocation's output is passed on to the log store.
const LIVE_LOGS: Duration = Duration::from_secs(1);

const INIT_FAILED_TYPES: &[&str] = &[
    "Runtime.ExitError",
    "Runtime.InvalidEntrypoint",
    "Sandbox.Timedout",
];

impl Engine {
    /// Creates the engine and starts its reaper. `reserved_total` is the sum of all functions'
    /// reserved concurrency as stored.
    pub fn new(
        config: EngineConfig,
        code: Arc<dyn CodePackages>,
        logs: Arc<dyn LogStore>,
        reserved_total: u64,
    ) -> Self {
        let _ = std::fs::remove_dir_all(&config.scratch_dir);
        let _ = std::fs::create_dir_all(&config.scratch_dir);
        let metrics: Arc<crate::metrics::Metrics> = Arc::default();
        let persist = crate::persist::Persister::start(Arc::clone(&logs), Arc::clone(&metrics));
        let inner = Arc::new(Inner {
            config,
            code,
            state: Mutex::new(State {
                reserved_total,
                ..State::default()
            }),
            live: Arc::default(),
            idle_changed: Notify::new(),
            observer: crate::observer::Observer {
                metrics,
                usage: std::sync::OnceLock::new(),
                persist,
            },
        });
        if let Some(sandbox) = &inner.config.sandbox {
            // The first cold starts find networks and /tmp disks ready.
            sandbox.networks.refill();
            if let Some(disks) = &sandbox.tmp_disks {
                disks.refill();
            }
        }
        let weak = Arc::downgrade(&inner);
        let period = (inner.config.idle_timeout / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(5));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Engine { inner }.reap();
            }
        });
        Self { inner }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Records a new total of reserved concurrency (after Put/DeleteFunctionConcurrency).
    pub fn set_reserved_total(&self, total: u64) {
        self.inner.lock().reserved_total = total;
    }

    /// Stops the idle environments of a function whose code or configuration changed or which was
    /// deleted; busy ones are stopped when their invocation ends.
    pub fn retire(&self, function: &str, new_revision: Option<&str>) {
        let stale = {
            let mut st = self.inner.lock();
            match new_revision {
                Some(rev) => st.pools.get_mut(function).map(|p| {
                    p.revision = rev.to_owned();
                    std::mem::take(&mut p.idle)
                }),
                None => st.pools.get_mut(function).map(|p| {
                    p.revision.clear();
                    std::mem::take(&mut p.idle)
                }),
            }
        };
        drop(stale);
    }

    /// The engine's metrics, for hooks elsewhere (queue depth, log store).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.inner.observer.metrics
    }

    /// Writes one usage record per invocation (and per throttle) to `usage` from now on.
    pub fn attach_usage_store(&self, usage: Arc<dyn kumo_store::UsageStore>) {
        let _ = self.inner.observer.usage.set(usage);
    }

    /// Prometheus text of every metric, with concurrency and environment gauges read now.
    pub fn render_metrics(&self) -> String {
        let starting = self.inner.observer.metrics.starting();
        let pools: Vec<(String, u32, usize)> = {
            let st = self.inner.lock();
            st.pools
                .iter()
                .map(|(name, p)| (name.clone(), p.busy, p.idle.len()))
                .collect()
        };
        self.inner.observer.metrics.render(|m| {
            crate::metrics::set_pool_gauges(m, &pools, &starting);
        })
    }

    /// Number of environments (busy, idle) per function, for tests and metrics.
    pub fn environments(&self, function: &str) -> (u32, usize) {
        let st = self.inner.lock();
        st.pools
            .get(function)
            .map_or((0, 0), |p| (p.busy, p.idle.len()))
    }

    fn admit(&self, f: &FunctionConfig) -> Result<Admission, InvokeError> {
        let mut st = self.inner.lock();
        if st.shutting_down {
            return Err(InvokeError::ShuttingDown);
        }
        let account = u64::from(self.inner.config.account_concurrency);
        let unreserved_limit = account.saturating_sub(st.reserved_total);
        let name = f.name.to_string();
        let busy = st.pools.get(&name).map_or(0, |p| p.busy);
        let unreserved = match f.reserved_concurrency {
            Some(r) if busy >= r => {
                return Err(InvokeError::Throttled {
                    reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
                })
            }
            Some(_) => false,
            None if u64::from(st.unreserved_busy) >= unreserved_limit => {
                return Err(InvokeError::Throttled {
                    reason: "ConcurrentInvocationLimitExceeded",
                })
            }
            None => true,
        };
        if unreserved {
            st.unreserved_busy += 1;
        }
        let pool = st.pools.entry(name.clone()).or_default();
        pool.busy += 1;
        if pool.revision != f.revision_id {
            pool.revision = f.revision_id.clone();
        }
        Ok(Admission {
            inner: Arc::clone(&self.inner),
            function: name,
            unreserved,
        })
    }

    /// Takes the most recently used idle environment of the function's current revision.
    fn take_idle(&self, f: &FunctionConfig) -> Option<Env> {
        let mut stale = Vec::new();
        let found = {
            let mut st = self.inner.lock();
            let pool = st.pools.get_mut(f.name.as_str())?;
            let mut found = None;
            while let Some(env) = pool.idle.pop() {
                if env.revision == f.revision_id && !env.has_exited() {
                    found = Some(env);
                    break;
                }
                stale.push(env);
            }
            found
        };
        drop(stale);
        // Idle environments are frozen; the runtime goes on where it stopped (normally in its
        // pending `/next`), before the invocation is handed over.
        let mut env = found?;
        if env.thaw() {
            return Some(env);
        }
        drop(env);
        self.take_idle(f)
    }

    fn release(&self, env: Env) {
        let mut st = self.inner.lock();
        let keep = !st.shutting_down;
        let function = env_function(&env);
        match st.pools.get_mut(&function) {
            Some(pool) if keep && pool.revision == env.revision && !env.has_exited() => {
                let id = env.id.clone();
                pool.idle.push(env);
                drop(st);
                self.freeze_soon(function, id);
            }
            _ => {
                drop(st);
                drop(env);
            }
        }
    }

    /// Freezes an idle environment (Lambda's freeze: nothing in it runs until its next
    /// invocation) once its runtime has had [`FREEZE_DELAY`] to get back into its `/next`, if it
    /// is still idle then. Frozen earlier, the runtime would send its `/next` only after the thaw,
    /// on the next invocation's clock; an environment taken again within the delay (a busy
    /// function) is never frozen at all.
    fn freeze_soon(&self, function: String, id: String) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(FREEZE_DELAY).await;
            let Some(inner) = weak.upgrade() else { return };
            let mut st = inner.lock();
            let idle = st.pools.get_mut(&function).map(|p| &mut p.idle);
            if let Some(env) = idle.and_then(|idle| idle.iter_mut().find(|e| e.id == id)) {
                env.freeze();
            }
        });
    }

    fn reap(&self) {
        let timeout = self.inner.config.idle_timeout;
        let mut expired = Vec::new();
        {
            let mut st = self.inner.lock();
            for pool in st.pools.values_mut() {
                let (old, keep): (Vec<Env>, Vec<Env>) = std::mem::take(&mut pool.idle)
                    .into_iter()
                    .partition(|e| e.last_used.elapsed() >= timeout || e.has_exited());
                pool.idle = keep;
                expired.extend(old);
            }
            st.pools
                .retain(|_, p| p.busy > 0 || !p.idle.is_empty() || !p.revision.is_empty());
        }
        for env in &expired {
            debug!(env = %env.id, "reaping idle environment");
        }
        drop(expired);
    }

    /// Refuses new invocations, waits up to `grace` for running ones, then stops every environment.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.lock().shutting_down = true;
        if let Some(sandbox) = &self.inner.config.sandbox {
            sandbox.networks.close();
            if let Some(disks) = &sandbox.tmp_disks {
                disks.close();
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.inner.idle_changed.notified();
            let busy: u32 = self.inner.lock().pools.values().map(|p| p.busy).sum();
            if busy == 0 {
                break;
            }
            info!(busy, "waiting for running invocations");
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                warn!(
                    busy,
                    "shutdown grace period over; stopping running invocations"
                );
                break;
            }
        }
        let pools = std::mem::take(&mut self.inner.lock().pools);
        drop(pools);
        let live: Vec<u32> = self
            .inner
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .collect();
        for pid in live {
            crate::env::kill_group(pid);
        }
        self.flush_records().await;
    }

    /// Runs one synchronous invocation to its end.
    pub async fn invoke(&self, inv: Invocation) -> Result<InvokeOutcome, InvokeError> {
        self.invoke_as(inv, uuid::Uuid::new_v4().to_string()).await
    }

    /// [`Engine::invoke`] under a request id chosen by the caller (function URLs put it in the
    /// event before the invocation starts).
    pub async fn invoke_as(
        &self,
        inv: Invocation,
        request_id: String,
    ) -> Result<InvokeOutcome, InvokeError> {
        let function = inv.function.name.to_string();
        let memory_mb = inv.function.memory_mb;
        let start_ms = now_ms();
        let span = tracing::info_span!("invoke", function = %inv.function.name, version = "$LATEST", request_id = %request_id);
        let admission = match self.admit(&inv.function) {
            Ok(a) => a,
            Err(InvokeError::Throttled { reason }) => {
                let obs = &self.inner.observer;
                obs.throttled(&function, memory_mb, &request_id, reason, start_ms)
                    .instrument(span)
                    .await;
                return Err(InvokeError::Throttled { reason });
            }
            Err(e) => return Err(e),
        };
        let result = self.run(inv, request_id).instrument(span.clone()).await;
        drop(admission);
        if let Ok(outcome) = &result {
            let obs = &self.inner.observer;
            obs.finished(&function, memory_mb, start_ms, outcome)
                .instrument(span)
                .await;
        }
        result
    }

    async fn run(&self, inv: Invocation, request_id: String) -> Result<InvokeOutcome, InvokeError> {
        let f = &inv.function;
        let mut lines: Vec<LogEvent> = Vec::new();
        let mut init_ms = None;
        let mut env = match self.take_idle(f) {
            Some(env) => env,
            None => {
                let _starting = self.inner.observer.metrics.start_guard(f.name.as_str());
                let task_dir = self
                    .inner
                    .code
                    .unpacked(&f.code_sha256_hex)
                    .await
                    .map_err(|e| InvokeError::Platform(format!("code package: {e}")))?;
                let cfg = &self.inner.config;
                let started = Env::start(
                    f,
                    &task_dir,
                    &cfg.scratch_dir,
                    &cfg.commands,
                    &cfg.region,
                    Arc::clone(&self.inner.live),
                    cfg.sandbox.as_ref(),
                    crate::logs::CaptureSetup {
                        limits: cfg.log_capture,
                        dropped: self
                            .inner
                            .observer
                            .metrics
                            .log_drop_counters(f.name.as_str()),
                    },
                    cfg.idle_timeout,
                )
                .await;
                let env = match started {
                    Ok(env) => env,
                    Err(StartError::Platform(e)) => return Err(InvokeError::Platform(e)),
                    Err(StartError::InvalidEntrypoint(msg)) => {
                        return Ok(self
                            .failed_start(&inv, &request_id, "Runtime.InvalidEntrypoint", &msg)
                            .await)
                    }
                };
                debug!(env = %env.id, spawned_ms = env.started.elapsed().as_secs_f64() * 1000.0, "cold start");
                lines.push(event(format!(
                    "INIT_START Runtime Version: {}",
                    f.runtime.as_str()
                )));
                match self.await_init(&env, &request_id).await {
                    Ok(()) => {}
                    Err((body, error_type, status)) => {
                        let init = env.started.elapsed().as_secs_f64() * 1000.0;
                        lines.extend(env.logs.drain(true).await);
                        lines.push(event(format!(
                            "INIT_REPORT Init Duration: {init:.2} ms\tPhase: init\tStatus: {status}\tError Type: {error_type}"
                        )));
                        return Ok(self
                            .finish_failed(&inv, &env, request_id, lines, body, &error_type, init)
                            .await);
                    }
                }
                init_ms = Some(env.started.elapsed().as_secs_f64() * 1000.0);
                lines.extend(env.logs.drain(false).await);
                env
            }
        };
        env.invocations += 1;
        env.reset_peak_memory();
        lines.push(event(format!(
            "START RequestId: {request_id} Version: $LATEST"
        )));

        let timeout = Duration::from_secs(u64::from(f.timeout_secs));
        let start = Instant::now();
        let deadline_ms = now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let (reply_tx, reply_rx) = oneshot::channel();
        let delivered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dispatched = env
            .api
            .dispatch(Pending {
                request_id: request_id.clone(),
                payload: inv.payload.clone(),
                deadline_ms,
                invoked_arn: inv.invoked_arn.clone(),
                client_context: inv.client_context.clone(),
                trace_id: inv.trace_id.clone(),
                reply: reply_tx,
                delivered: Arc::clone(&delivered),
            })
            .await;
        if !dispatched {
            return Err(InvokeError::Platform(
                "environment stopped before the invocation".into(),
            ));
        }

        enum End {
            Reply(RuntimeReply),
            Exited(String),
            Timeout,
        }
        // What a long invocation prints reaches the log store every LIVE_LOGS while it runs
        // (for `aws logs tail --follow`) and leaves `lines`; `tail_lines` keeps the end of what
        // went, for `LogType: Tail`.
        let mut tail_lines: Vec<LogEvent> = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut live = tokio::time::interval_at(tokio::time::Instant::now() + LIVE_LOGS, LIVE_LOGS);
        let mut reply_rx = reply_rx;
        let end = loop {
            tokio::select! {
                biased;
                reply = &mut reply_rx => break match reply {
                    Ok(r) => Some(End::Reply(r)),
                    Err(_) => None,
                },
                () = wait_exited(env.exited.clone()) => break None,
                () = tokio::time::sleep_until(deadline) => break Some(End::Timeout),
                _ = live.tick() => {
                    lines.extend(env.logs.drain(false).await);
                    if inv.tail_log {
                        keep_tail(&mut tail_lines, &lines);
                    }
                    self.store_logs(f, &env.log_stream, std::mem::take(&mut lines));
                }
            }
        };
        let end = match end {
            Some(end) => end,
            None => End::Exited(exit_reason(&env).await),
        };
        if matches!(end, End::Exited(_))
            && init_ms.is_none()
            && !delivered.load(std::sync::atomic::Ordering::SeqCst)
        {
            // A warm environment whose runtime exited after its previous invocation, before
            // fetching this one (e.g. a runtime that exits after reporting a crash): the
            // invocation never reached it, so it runs on another environment.
            debug!(env = %env.id, "warm environment had exited; retrying on another");
            drop(env);
            return Box::pin(self.run(inv, request_id)).await;
        }
        let duration = start.elapsed().as_secs_f64() * 1000.0;
        let max_memory_mb = env.max_memory_mb();
        let (payload, function_error, status, keep) = match end {
            End::Reply(RuntimeReply::Response(body)) => (body, None, None, true),
            End::Reply(RuntimeReply::Error { body, error_type }) => (
                body,
                Some("Unhandled"),
                Some(format!("Status: error\tError Type: {error_type}")),
                true,
            ),
            End::Exited(reason) => {
                let error_type = if env.oom_killed() {
                    "Runtime.OutOfMemory"
                } else {
                    "Runtime.ExitError"
                };
                let doc = error_doc(
                    error_type,
                    &format!("RequestId: {request_id} Error: Runtime exited with error: {reason}"),
                );
                (
                    doc,
                    Some("Unhandled"),
                    Some(format!("Status: error\tError Type: {error_type}")),
                    false,
                )
            }
            End::Timeout => {
                let secs = format!("{:.2}", timeout.as_secs_f64());
                env.destroy();
                let doc = error_doc(
                    "Sandbox.Timedout",
                    &format!("RequestId: {request_id} Error: Task timed out after {secs} seconds"),
                );
                lines.extend(env.logs.drain(false).await);
                lines.push(event(format!(
                    "{} {request_id} Task timed out after {secs} seconds",
                    iso_now()
                )));
                (
                    doc,
                    Some("Unhandled"),
                    Some("Status: timeout".into()),
                    false,
                )
            }
        };
        lines.extend(env.logs.drain(true).await);
        let billed = (duration + init_ms.unwrap_or(0.0)).ceil() as u64;
        lines.push(event(format!("END RequestId: {request_id}")));
        let mut report = format!(
            "REPORT RequestId: {request_id}\tDuration: {duration:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {max_memory_mb} MB\t",
            f.memory_mb
        );
        if let Some(init) = init_ms {
            report.push_str(&format!("Init Duration: {init:.2} ms\t"));
        }
        if let Some(status) = status {
            report.push_str(&status);
        }
        lines.push(event(report));
        let log_result = inv.tail_log.then(|| tail(&tail_lines, &lines));
        self.store_logs(f, &env.log_stream, lines);
        env.last_used = Instant::now();
        if keep {
            self.release(env);
        } else {
            drop(env);
        }
        Ok(InvokeOutcome {
            request_id,
            payload,
            function_error,
            log_result,
            executed_version: "$LATEST",
            duration_ms: duration,
            billed_duration_ms: billed,
            init_duration_ms: init_ms,
            max_memory_mb,
        })
    }

    /// Waits for the runtime to ask for its first invocation. On failure returns the error
    /// document, its type and the INIT_REPORT status.
    async fn await_init(
        &self,
        env: &Env,
        request_id: &str,
    ) -> Result<(), (Bytes, String, &'static str)> {
        let init_timeout = self.inner.config.init_timeout;
        let outcome = tokio::select! {
            biased;
            p = wait_initialized(env.api.phase.clone()) => p,
            () = wait_exited(env.exited.clone()) => None,
            () = tokio::time::sleep(init_timeout) => {
                let secs = format!("{:.2}", init_timeout.as_secs_f64());
                return Err((error_doc(INIT_FAILED_TYPES[2], &format!("Init timed out after {secs} seconds")), INIT_FAILED_TYPES[2].into(), "timeout"));
            }
        };
        match outcome {
            Some(Phase::Ready) => Ok(()),
            Some(Phase::InitFailed(body, error_type)) => Err((body, error_type, "error")),
            _ => {
                // The runtime may have reported an init error just before exiting.
                let reported = env.api.phase.borrow().clone();
                if let Phase::InitFailed(body, error_type) = reported {
                    return Err((body, error_type, "error"));
                }
                let reason = exit_reason(env).await;
                Err((
                    error_doc(
                        INIT_FAILED_TYPES[0],
                        &format!(
                            "RequestId: {request_id} Error: Runtime exited with error: {reason}"
                        ),
                    ),
                    INIT_FAILED_TYPES[0].into(),
                    "error",
                ))
            }
        }
    }

    async fn finish_failed(
        &self,
        inv: &Invocation,
        env: &Env,
        request_id: String,
        mut lines: Vec<LogEvent>,
        body: Bytes,
        error_type: &str,
        init_ms: f64,
    ) -> InvokeOutcome {
        let f = &inv.function;
        lines.push(event(format!(
            "START RequestId: {request_id} Version: $LATEST"
        )));
        lines.push(event(format!("END RequestId: {request_id}")));
        let billed = init_ms.ceil() as u64;
        lines.push(event(format!(
            "REPORT RequestId: {request_id}\tDuration: {init_ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\tStatus: error\tError Type: {error_type}",
            f.memory_mb,
            env.max_memory_mb()
        )));
        let log_result = inv.tail_log.then(|| tail(&[], &lines));
        self.store_logs(f, &env.log_stream, lines);
        InvokeOutcome {
            request_id,
            payload: body,
            function_error: Some("Unhandled"),
            log_result,
            executed_version: "$LATEST",
            duration_ms: init_ms,
            billed_duration_ms: billed,
            init_duration_ms: Some(init_ms),
            max_memory_mb: 0,
        }
    }

    async fn failed_start(
        &self,
        inv: &Invocation,
        request_id: &str,
        error_type: &str,
        msg: &str,
    ) -> InvokeOutcome {
        let body = error_doc(error_type, &format!("RequestId: {request_id} Error: {msg}"));
        let lines = vec![
            event(format!("START RequestId: {request_id} Version: $LATEST")),
            event(format!("END RequestId: {request_id}")),
            event(format!(
                "REPORT RequestId: {request_id}\tDuration: 0.00 ms\tBilled Duration: 0 ms\tMemory Size: {} MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: {error_type}",
                inv.function.memory_mb
            )),
        ];
        let log_result = inv.tail_log.then(|| tail(&[], &lines));
        self.store_logs(&inv.function, "entrypoint-errors", lines);
        InvokeOutcome {
            request_id: request_id.to_owned(),
            payload: body,
            function_error: Some("Unhandled"),
            log_result,
            executed_version: "$LATEST",
            duration_ms: 0.0,
            billed_duration_ms: 0,
            init_duration_ms: None,
            max_memory_mb: 0,
        }
    }

    /// Queues the lines for the log store; the answer does not wait for them (see `persist`).
    fn store_logs(&self, f: &FunctionConfig, stream: &str, lines: Vec<LogEvent>) {
        self.inner
            .observer
            .persist
            .logs(f.log_group(), stream.to_owned(), lines);
    }

    /// Returns once the logs and usage records of every invocation answered so far are stored.
    pub async fn flush_records(&self) {
        self.inner.observer.persist.flush().await;
    }
}

fn env_function(env: &Env) -> String {
    env.function.clone()
}

async fn wait_exited(mut rx: tokio::sync::watch::Receiver<Option<String>>) {
    if rx.wait_for(Option::is_some).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn wait_initialized(mut rx: tokio::sync::watch::Receiver<Phase>) -> Option<Phase> {
    rx.wait_for(|p| *p != Phase::Initializing)
        .await
        .ok()
        .map(|p| p.clone())
}

async fn exit_reason(env: &Env) -> String {
    // The exit watcher reports shortly after the pipe closes; give it a moment.
    let _ = tokio::time::timeout(Duration::from_millis(500), wait_exited(env.exited.clone())).await;
    let reason = env.exited.borrow().clone();
    reason.unwrap_or_else(|| "Runtime exited without providing a reason".into())
}

fn event(message: String) -> LogEvent {
    LogEvent {
        timestamp_ms: now_ms(),
        message,
    }
}

fn error_doc(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

fn iso_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

#[allow(dead_code)]
fn assert_send(e: Engine, i: Invocation) {
    fn is_send<T: Send>(_: T) {}
    is_send(e.invoke(i));
}
