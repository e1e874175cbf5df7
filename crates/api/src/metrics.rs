//! `GET /metrics`: the engine's metrics in the Prometheus text format (or OpenMetrics 1.0 when
//! the scraper asks for it), and the [`Telemetry`] part of the application state (log queries,
//! usage records, prices).
//!
//! `/metrics` needs a SigV4 signature like every other route by default; with
//! `metrics_public = true` (`[metrics] public = true`) it is served to anyone, for scrapers that
//! do not sign requests.

use crate::usage::Pricing;
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use kumo_engine::metrics::openmetrics_to_prometheus;
use kumo_store::{LogQuery, UsageStore};
use std::sync::Arc;

/// Logs, usage and metrics settings the handlers share.
#[derive(Clone)]
pub struct Telemetry {
    pub logs: Arc<dyn LogQuery>,
    pub usage: Arc<dyn UsageStore>,
    pub pricing: Pricing,
    /// Serve `/metrics` without a signature.
    pub metrics_public: bool,
}

impl Telemetry {
    /// Everything from one store, default prices, metrics for signed callers only.
    pub fn new<S: LogQuery + UsageStore + Clone>(store: &S) -> Self {
        Self {
            logs: Arc::new(store.clone()),
            usage: Arc::new(store.clone()),
            pricing: Pricing::default(),
            metrics_public: false,
        }
    }
}

/// Prometheus text format 0.0.4, or OpenMetrics 1.0 for scrapers that ask for it (`Accept:
/// application/openmetrics-text`).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let text = state.engine.render_metrics();
    let openmetrics = headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response()
    } else {
        (
            [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
            openmetrics_to_prometheus(&text),
        )
            .into_response()
    }
}
