//! The `[logs]`, `[usage]`, `[pricing]` and `[metrics]` sections of `kumo.toml`, with their
//! `KUMO_<SECTION>_<KEY>` overrides, validated into [`TelemetrySettings`].

use anyhow::{bail, Result};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsSection {
    /// Days log events are kept in groups without their own retention policy.
    pub retention_days: Option<u32>,
    /// Bytes the database may use on disk before the oldest events are dropped; 0 for no bound.
    pub max_bytes: Option<u64>,
    pub sweep_interval_secs: Option<u64>,
    /// Bytes of output one invocation may log (lines + 26 each); the rest is dropped.
    pub max_invocation_bytes: Option<u64>,
    /// Bytes of output one environment may log per second; the rest is dropped.
    pub max_bytes_per_sec: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageSection {
    /// Days usage records are kept; 0 keeps them forever.
    pub retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingSection {
    pub request_usd: Option<f64>,
    pub gb_second_usd: Option<f64>,
    pub free_requests: Option<u64>,
    pub free_gb_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serve `/metrics` without a signature (default false: metrics tell what runs and how
    /// much, so they are for signed callers unless the operator opens them to a scraper).
    pub public: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub logs: kumo_api::LogLimits,
    /// Bounds on what a function's output adds to its log.
    pub capture: kumo_engine::CaptureLimits,
    pub pricing: kumo_api::Pricing,
    pub metrics_public: bool,
}

pub const DEFAULT_LOG_MAX_BYTES: u64 = 1 << 30;

/// The least `logs.max_bytes` may be: an empty database takes a few hundred KB.
const MIN_LOG_MAX_BYTES: u64 = 1 << 20;

/// About 13 months, as long as AWS Cost Explorer shows.
pub const DEFAULT_USAGE_RETENTION_DAYS: u32 = 400;

/// The least either capture bound may be: room for a `REPORT`-sized line or two.
const MIN_CAPTURE_BYTES: u64 = 1024;

fn env_parse<T: std::str::FromStr>(key: &str) -> Result<Option<T>> {
    match std::env::var(key).ok().filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("invalid value {v:?} in environment variable {key}")),
    }
}

fn price(key: &str, file: Option<f64>, default: u64) -> Result<u64> {
    match env_parse::<f64>(&format!("KUMO_PRICING_{}", key.to_uppercase()))?.or(file) {
        None => Ok(default),
        Some(d) => kumo_api::dollars_to_pico(d).ok_or_else(|| {
            anyhow::anyhow!("pricing.{key} must be a non-negative number of dollars, got {d}")
        }),
    }
}

impl TelemetrySettings {
    pub fn load(
        logs: LogsSection,
        usage: UsageSection,
        pricing: PricingSection,
        metrics: MetricsSection,
    ) -> Result<Self> {
        let retention = env_parse::<u32>("KUMO_LOGS_RETENTION_DAYS")?.or(logs.retention_days);
        if retention == Some(0) {
            bail!("logs.retention_days must be at least 1 (leave it out to keep logs forever)");
        }
        let max_bytes = env_parse::<u64>("KUMO_LOGS_MAX_BYTES")?
            .or(logs.max_bytes)
            .unwrap_or(DEFAULT_LOG_MAX_BYTES);
        if max_bytes > 0 && max_bytes < MIN_LOG_MAX_BYTES {
            bail!(
                "logs.max_bytes must be 0 (no bound) or at least {MIN_LOG_MAX_BYTES}: it bounds the whole database on disk, got {max_bytes}"
            );
        }
        let interval = env_parse::<u64>("KUMO_LOGS_SWEEP_INTERVAL_SECS")?
            .or(logs.sweep_interval_secs)
            .unwrap_or(60);
        if interval == 0 {
            bail!("logs.sweep_interval_secs must be at least 1");
        }
        let capture_defaults = kumo_engine::CaptureLimits::default();
        let capture = kumo_engine::CaptureLimits {
            invocation_bytes: env_parse("KUMO_LOGS_MAX_INVOCATION_BYTES")?
                .or(logs.max_invocation_bytes)
                .unwrap_or(capture_defaults.invocation_bytes),
            bytes_per_sec: env_parse("KUMO_LOGS_MAX_BYTES_PER_SEC")?
                .or(logs.max_bytes_per_sec)
                .unwrap_or(capture_defaults.bytes_per_sec),
        };
        for (key, value) in [
            ("max_invocation_bytes", capture.invocation_bytes),
            ("max_bytes_per_sec", capture.bytes_per_sec),
        ] {
            if value < MIN_CAPTURE_BYTES {
                bail!("logs.{key} must be at least {MIN_CAPTURE_BYTES}, got {value}");
            }
        }
        let usage_retention = env_parse::<u32>("KUMO_USAGE_RETENTION_DAYS")?
            .or(usage.retention_days)
            .unwrap_or(DEFAULT_USAGE_RETENTION_DAYS);
        let defaults = kumo_api::Pricing::default();
        Ok(Self {
            logs: kumo_api::LogLimits {
                default_retention_days: retention,
                max_bytes: (max_bytes > 0).then_some(max_bytes),
                interval: Duration::from_secs(interval),
                usage_retention_days: (usage_retention > 0).then_some(usage_retention),
            },
            capture,
            pricing: kumo_api::Pricing {
                request_pico: price("request_usd", pricing.request_usd, defaults.request_pico)?,
                gb_second_pico: price(
                    "gb_second_usd",
                    pricing.gb_second_usd,
                    defaults.gb_second_pico,
                )?,
                free_requests: env_parse("KUMO_PRICING_FREE_REQUESTS")?
                    .or(pricing.free_requests)
                    .unwrap_or(0),
                free_gb_seconds: env_parse("KUMO_PRICING_FREE_GB_SECONDS")?
                    .or(pricing.free_gb_seconds)
                    .unwrap_or(0),
            },
            metrics_public: env_parse("KUMO_METRICS_PUBLIC")?
                .or(metrics.public)
                .unwrap_or(false),
        })
    }
}

/// Attaches the usage store to the engine, starts the log janitor and returns the API's view.
pub fn app_telemetry(
    settings: &TelemetrySettings,
    store: &kumo_store::SqliteStore,
    engine: &kumo_engine::Engine,
) -> kumo_api::Telemetry {
    let mut telemetry = kumo_api::Telemetry::new(store);
    telemetry.pricing = settings.pricing;
    telemetry.metrics_public = settings.metrics_public;
    engine.attach_usage_store(std::sync::Arc::new(store.clone()));
    store.bound_logs(settings.logs.max_bytes);
    kumo_api::spawn_log_janitor(
        telemetry.logs.clone(),
        telemetry.usage.clone(),
        engine.clone(),
        settings.logs,
    );
    telemetry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let s = TelemetrySettings::load(
            LogsSection::default(),
            UsageSection::default(),
            PricingSection::default(),
            MetricsSection::default(),
        )
        .expect("defaults load");
        assert_eq!(s.pricing, kumo_api::Pricing::default());
        assert_eq!(s.logs.max_bytes, Some(DEFAULT_LOG_MAX_BYTES));
        assert!(
            !s.metrics_public,
            "/metrics needs a signature unless made public"
        );
        let bad = TelemetrySettings::load(
            LogsSection::default(),
            UsageSection::default(),
            PricingSection {
                gb_second_usd: Some(-1.0),
                ..PricingSection::default()
            },
            MetricsSection::default(),
        );
        assert!(bad.is_err());
        let zero_retention = TelemetrySettings::load(
            LogsSection {
                retention_days: Some(0),
                ..LogsSection::default()
            },
            UsageSection::default(),
            PricingSection::default(),
            MetricsSection::default(),
        );
        assert!(zero_retention.is_err());
        assert_eq!(s.capture, kumo_engine::CaptureLimits::default());
        assert_eq!(
            s.logs.usage_retention_days,
            Some(DEFAULT_USAGE_RETENTION_DAYS)
        );
        let tiny_rate = TelemetrySettings::load(
            LogsSection {
                max_bytes_per_sec: Some(10),
                ..LogsSection::default()
            },
            UsageSection::default(),
            PricingSection::default(),
            MetricsSection::default(),
        );
        assert!(tiny_rate.is_err());
        let tiny_store = TelemetrySettings::load(
            LogsSection {
                max_bytes: Some(30_000),
                ..LogsSection::default()
            },
            UsageSection::default(),
            PricingSection::default(),
            MetricsSection::default(),
        );
        assert!(tiny_store.is_err());
        let keep_usage = TelemetrySettings::load(
            LogsSection::default(),
            UsageSection {
                retention_days: Some(0),
            },
            PricingSection::default(),
            MetricsSection::default(),
        )
        .expect("loads");
        assert_eq!(keep_usage.logs.usage_retention_days, None);
    }
}
