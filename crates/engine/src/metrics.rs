//! What the engine counts and meters: Prometheus metrics and one usage record per invocation.
//!
//! [`Metrics`] holds the metric families (labelled by function) and renders them in the
//! Prometheus/OpenMetrics text format. Counters and histograms are updated as invocations end;
//! gauges of environments and concurrency are read from the pools when scraped.
//!
//! Hooks for other parts of Kumo: set [`Metrics::async_queue_depth`] per function from the
//! asynchronous invocation queue, or [`Metrics::register`] a new family before serving.
//!
//! What the pool calls when an invocation ends, to update these metrics and write the usage
//! record, is the observer (`observer.rs`).

use crate::invocation::InvokeOutcome;
use kumo_store::Outcome;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FunctionLabels {
    pub function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub function: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub function: String,
    pub error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ThrottleLabels {
    pub function: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabels {
    pub function: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub function: String,
    pub reason: String,
}

type Hist = Family<FunctionLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0, 900.0,
    ])
}

/// The engine's metric families.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Invocations that ran, by outcome (success, handled, unhandled, timeout).
    pub invocations: Family<OutcomeLabels, Counter>,
    /// Failed invocations by Lambda error type.
    pub errors: Family<ErrorLabels, Counter>,
    pub throttles: Family<ThrottleLabels, Counter>,
    pub cold_starts: Family<FunctionLabels, Counter>,
    pub duration: Hist,
    pub init_duration: Hist,
    /// Invocations running now.
    pub concurrent_executions: Family<FunctionLabels, Gauge>,
    /// Environments by state: starting, busy, idle.
    pub environments: Family<EnvLabels, Gauge>,
    /// Events waiting in the asynchronous invocation queue, set by its dispatcher.
    pub async_queue_depth: Family<FunctionLabels, Gauge>,
    pub log_events_dropped: Counter,
    pub log_events_expired: Counter,
    pub log_stored_bytes: Gauge,
    /// Bytes of function output not stored, by reason: over `rate_limit` or `invocation_limit`,
    /// `writer_behind` (the log writer's queue was full), `store_error`.
    pub log_dropped_bytes: Family<DropLabels, Counter>,
    /// Bytes of function output written to the log store (messages + 26 per event).
    pub log_ingested_bytes: Counter,
    /// Bytes of the database file in use (pages not free), as the last sweep measured.
    pub log_database_bytes: Gauge,
    /// Functions with an environment being started, and how many.
    starting: Mutex<HashMap<String, u32>>,
    /// Serialises scrapes (gauges are rebuilt for each).
    render: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("kumo")),
            invocations: Family::default(),
            errors: Family::default(),
            throttles: Family::default(),
            cold_starts: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            init_duration: Family::new_with_constructor(duration_histogram),
            concurrent_executions: Family::default(),
            environments: Family::default(),
            async_queue_depth: Family::default(),
            log_events_dropped: Counter::default(),
            log_events_expired: Counter::default(),
            log_stored_bytes: Gauge::default(),
            log_dropped_bytes: Family::default(),
            log_ingested_bytes: Counter::default(),
            log_database_bytes: Gauge::default(),
            starting: Mutex::default(),
            render: Mutex::new(()),
        };
        {
            let mut r = m.lock_registry();
            r.register(
                "invocations",
                "Invocations that ran, by outcome (success, handled, unhandled, timeout)",
                m.invocations.clone(),
            );
            r.register(
                "errors",
                "Failed invocations by Lambda error type",
                m.errors.clone(),
            );
            r.register(
                "throttles",
                "Invocations refused at a concurrency limit",
                m.throttles.clone(),
            );
            r.register(
                "cold_starts",
                "Invocations that started a new environment",
                m.cold_starts.clone(),
            );
            r.register(
                "invocation_duration_seconds",
                "Duration of invocations (without init)",
                m.duration.clone(),
            );
            r.register(
                "init_duration_seconds",
                "Duration of environment initialisation on cold starts",
                m.init_duration.clone(),
            );
            r.register(
                "concurrent_executions",
                "Invocations running now",
                m.concurrent_executions.clone(),
            );
            r.register(
                "environments",
                "Execution environments by state (starting, busy, idle)",
                m.environments.clone(),
            );
            r.register(
                "async_queue_depth",
                "Events waiting in the asynchronous invocation queue",
                m.async_queue_depth.clone(),
            );
            r.register(
                "log_events_dropped",
                "Log events dropped because the log store was over its size bound",
                m.log_events_dropped.clone(),
            );
            r.register(
                "log_events_expired",
                "Log events deleted after their group's retention",
                m.log_events_expired.clone(),
            );
            r.register(
                "log_stored_bytes",
                "Bytes of stored log events (messages + 26 per event)",
                m.log_stored_bytes.clone(),
            );
            r.register(
                "log_dropped_bytes",
                "Bytes of function output not stored, by reason (rate_limit, invocation_limit, writer_behind, store_error)",
                m.log_dropped_bytes.clone(),
            );
            r.register(
                "log_ingested_bytes",
                "Bytes of function output written to the log store (messages + 26 per event)",
                m.log_ingested_bytes.clone(),
            );
            r.register(
                "database_bytes",
                "Bytes of the database file in use, as the last log sweep measured",
                m.log_database_bytes.clone(),
            );
        }
        m
    }

    fn lock_registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a metric family (its name gets the `kumo_` prefix).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.lock_registry().register(name, help, metric);
    }

    /// The counter of bytes of `function`'s output dropped for `reason`.
    pub fn log_dropped(&self, function: &str, reason: &str) -> Counter {
        self.log_dropped_bytes
            .get_or_create(&DropLabels {
                function: function.to_owned(),
                reason: reason.to_owned(),
            })
            .clone()
    }

    /// The counters a new environment's log capture adds its dropped bytes to.
    pub(crate) fn log_drop_counters(&self, function: &str) -> crate::logs::DropCounters {
        crate::logs::DropCounters {
            rate: self.log_dropped(function, "rate_limit"),
            invocation: self.log_dropped(function, "invocation_limit"),
        }
    }

    /// Environments being started now, per function.
    pub(crate) fn starting(&self) -> HashMap<String, u32> {
        self.starting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Marks an environment of `function` as starting until the guard is dropped.
    pub(crate) fn start_guard(self: &Arc<Self>, function: &str) -> StartingGuard {
        *self
            .starting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(function.to_owned())
            .or_default() += 1;
        StartingGuard {
            metrics: Arc::clone(self),
            function: function.to_owned(),
        }
    }

    /// Renders every family in OpenMetrics text, after `refresh` has set the gauges read from the
    /// pools.
    pub fn render(&self, refresh: impl FnOnce(&Self)) -> String {
        let _one = self
            .render
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        refresh(self);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.lock_registry()) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }
}

/// Turns OpenMetrics text into the Prometheus text format 0.0.4: counter families are named
/// after their `_total` samples, and there is no `# EOF` (nor `# UNIT`) line.
pub fn openmetrics_to_prometheus(text: &str) -> String {
    let counters: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Sets the concurrency and environment gauges from `(function, busy, idle)` of every pool and
/// the environments starting per function.
pub(crate) fn set_pool_gauges(
    m: &Metrics,
    pools: &[(String, u32, usize)],
    starting: &HashMap<String, u32>,
) {
    m.concurrent_executions.clear();
    m.environments.clear();
    for (function, busy, idle) in pools {
        let starting = starting.get(function).copied().unwrap_or(0);
        let labels = FunctionLabels {
            function: function.clone(),
        };
        m.concurrent_executions
            .get_or_create(&labels)
            .set(i64::from(*busy));
        for (state, n) in [
            ("starting", i64::from(starting.min(*busy))),
            ("busy", i64::from(busy.saturating_sub(starting))),
            ("idle", i64::try_from(*idle).unwrap_or(i64::MAX)),
        ] {
            m.environments
                .get_or_create(&EnvLabels {
                    function: function.clone(),
                    state: state.into(),
                })
                .set(n);
        }
    }
}

/// See [`Metrics::start_guard`].
pub(crate) struct StartingGuard {
    metrics: Arc<Metrics>,
    function: String,
}

impl Drop for StartingGuard {
    fn drop(&mut self) {
        let mut map = self
            .metrics
            .starting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.function) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.function);
            }
        }
    }
}

/// Sorts a function error into an outcome: `Sandbox.Timedout` is a timeout, `Runtime.*` a failure
/// of the runtime (unhandled), anything else an error raised by the function's code (handled).
pub fn classify(outcome: &InvokeOutcome) -> (Outcome, Option<String>) {
    if outcome.function_error.is_none() {
        return (Outcome::Success, None);
    }
    let error_type = serde_json::from_slice::<serde_json::Value>(&outcome.payload)
        .ok()
        .and_then(|v| v.get("errorType")?.as_str().map(str::to_owned))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Unknown".into());
    let error_type: String = error_type.chars().take(128).collect();
    let kind = if error_type == "Sandbox.Timedout" {
        Outcome::Timeout
    } else if error_type.starts_with("Runtime.") {
        Outcome::Unhandled
    } else {
        Outcome::Handled
    };
    (kind, Some(error_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    fn outcome(error: Option<&str>) -> InvokeOutcome {
        InvokeOutcome {
            request_id: "r".into(),
            payload: Bytes::from(
                error
                    .map(|t| format!(r#"{{"errorType":"{t}","errorMessage":"m"}}"#))
                    .unwrap_or_else(|| "{}".into()),
            ),
            function_error: error.map(|_| "Unhandled"),
            log_result: None,
            executed_version: "$LATEST",
            duration_ms: 1.5,
            billed_duration_ms: 2,
            init_duration_ms: None,
            max_memory_mb: 30,
        }
    }

    #[test]
    fn errors_are_sorted_by_type() {
        assert_eq!(classify(&outcome(None)).0, Outcome::Success);
        assert_eq!(classify(&outcome(Some("MyError"))).0, Outcome::Handled);
        assert_eq!(
            classify(&outcome(Some("Runtime.ExitError"))).0,
            Outcome::Unhandled
        );
        assert_eq!(
            classify(&outcome(Some("Sandbox.Timedout"))).0,
            Outcome::Timeout
        );
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Arc::new(Metrics::new());
        m.invocations
            .get_or_create(&OutcomeLabels {
                function: "f".into(),
                outcome: "success".into(),
            })
            .inc();
        m.duration
            .get_or_create(&FunctionLabels {
                function: "f".into(),
            })
            .observe(0.01);
        let guard = m.start_guard("f");
        assert_eq!(m.starting().get("f"), Some(&1));
        drop(guard);
        assert!(m.starting().is_empty());
        let text = m.render(|_| {});
        assert!(text.contains("kumo_invocations_total{function=\"f\",outcome=\"success\"} 1"));
        assert!(text.contains("# TYPE kumo_invocation_duration_seconds histogram"));
        assert!(text.ends_with("# EOF\n"));
        let prom = openmetrics_to_prometheus(&text);
        assert!(prom.contains("# TYPE kumo_invocations_total counter\n"));
        assert!(prom.contains("# HELP kumo_invocations_total Invocations"));
        assert!(prom.contains("# TYPE kumo_invocation_duration_seconds histogram\n"));
        assert!(!prom.contains("# EOF"));
    }
}
