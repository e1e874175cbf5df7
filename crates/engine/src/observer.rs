//! [`Observer`]: what the pool calls when an invocation ends (or is throttled). It updates the
//! [`Metrics`], hands the usage record to the [`Persister`] (written behind the response) and logs
//! one platform line inside the invocation's span.

use crate::invocation::InvokeOutcome;
use crate::metrics::{
    classify, ErrorLabels, FunctionLabels, Metrics, OutcomeLabels, ThrottleLabels,
};
use crate::persist::Persister;
use kumo_store::{Outcome, UsageRecord, UsageStore};
use std::sync::{Arc, OnceLock};

/// Updates metrics and writes usage records as invocations end.
pub(crate) struct Observer {
    pub metrics: Arc<Metrics>,
    pub usage: OnceLock<Arc<dyn UsageStore>>,
    /// Writes the usage records behind the responses.
    pub persist: Persister,
}

impl Observer {
    async fn store(&self, record: UsageRecord) {
        if let Some(usage) = self.usage.get() {
            self.persist.usage(Arc::clone(usage), record);
        }
    }

    pub(crate) async fn throttled(
        &self,
        function: &str,
        memory_mb: u32,
        request_id: &str,
        reason: &str,
        start_ms: i64,
    ) {
        self.metrics
            .throttles
            .get_or_create(&ThrottleLabels {
                function: function.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
        tracing::info!(function, request_id, reason, "invocation throttled");
        self.store(UsageRecord {
            function: function.to_owned(),
            version: "$LATEST".into(),
            request_id: request_id.to_owned(),
            start_ms,
            duration_us: 0,
            billed_ms: 0,
            memory_mb: i64::from(memory_mb),
            max_memory_mb: 0,
            init_us: None,
            cold: false,
            outcome: Outcome::Throttled,
            error_type: Some("TooManyRequestsException".into()),
        })
        .await;
    }

    pub(crate) async fn finished(
        &self,
        function: &str,
        memory_mb: u32,
        start_ms: i64,
        o: &InvokeOutcome,
    ) {
        let (kind, error_type) = classify(o);
        let labels = FunctionLabels {
            function: function.to_owned(),
        };
        let m = &self.metrics;
        m.invocations
            .get_or_create(&OutcomeLabels {
                function: function.to_owned(),
                outcome: kind.as_str().to_owned(),
            })
            .inc();
        if let Some(t) = &error_type {
            m.errors
                .get_or_create(&ErrorLabels {
                    function: function.to_owned(),
                    error_type: t.clone(),
                })
                .inc();
        }
        m.duration
            .get_or_create(&labels)
            .observe(o.duration_ms / 1000.0);
        if let Some(init) = o.init_duration_ms {
            m.cold_starts.get_or_create(&labels).inc();
            m.init_duration
                .get_or_create(&labels)
                .observe(init / 1000.0);
        }
        tracing::info!(
            outcome = kind.as_str(),
            error_type = error_type.as_deref().unwrap_or(""),
            duration_ms = (o.duration_ms * 100.0).round() / 100.0,
            billed_ms = o.billed_duration_ms,
            cold = o.init_duration_ms.is_some(),
            "invocation finished"
        );
        let us = |ms: f64| (ms * 1000.0).round() as i64;
        self.store(UsageRecord {
            function: function.to_owned(),
            version: o.executed_version.to_owned(),
            request_id: o.request_id.clone(),
            start_ms,
            duration_us: us(o.duration_ms),
            billed_ms: i64::try_from(o.billed_duration_ms).unwrap_or(i64::MAX),
            memory_mb: i64::from(memory_mb),
            max_memory_mb: i64::try_from(o.max_memory_mb).unwrap_or(i64::MAX),
            init_us: o.init_duration_ms.map(us),
            cold: o.init_duration_ms.is_some(),
            outcome: kind,
            error_type,
        })
        .await;
    }
}
