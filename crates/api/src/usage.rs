//! `GET /kumo/usage`: requests, GB-seconds and cost from the usage records, as JSON.
//!
//! Query parameters (all optional): `function`, `since` and `until` (epoch milliseconds or
//! RFC 3339; `since` inclusive, `until` exclusive) and `by` (`total`, `hour`, `day`, `month`,
//! `function`). Signed like every other API call.
//!
//! Everything is summed in integers: `mb_ms` is billed milliseconds times configured megabytes,
//! so rows add up exactly to the total. Money is computed exactly too, in units of
//! 10⁻¹² dollars divided by 1,024,000 (one GB-second is 1,024,000 MB·ms), and rounded only when
//! printed. Throttled invocations are counted (`throttles`) but are not billed requests.
//! The free tier, when configured, is taken off each calendar month (UTC) of the selected
//! records.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kumo_store::{UsageFilter, UsageGroup, UsageSum};
use serde_json::{json, Value};
use std::collections::HashMap;

/// MB·ms in one GB-second.
pub const MB_MS_PER_GB_SECOND: u64 = 1024 * 1000;
/// Picodollars in a dollar.
const PICO: u128 = 1_000_000_000_000;

/// Prices in picodollars (10⁻¹² $), and the monthly free tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    pub request_pico: u64,
    pub gb_second_pico: u64,
    pub free_requests: u64,
    pub free_gb_seconds: u64,
}

impl Default for Pricing {
    /// AWS's public x86 prices: $0.20 per million requests, $0.0000166667 per GB-second; no free
    /// tier.
    fn default() -> Self {
        Self {
            request_pico: 200_000,
            gb_second_pico: 16_666_700,
            free_requests: 0,
            free_gb_seconds: 0,
        }
    }
}

/// Dollars to picodollars; `None` for negative, non-finite or absurd prices.
pub fn dollars_to_pico(dollars: f64) -> Option<u64> {
    (dollars.is_finite() && (0.0..1e6).contains(&dollars)).then(|| (dollars * 1e12).round() as u64)
}

/// Exact cost in picodollars × 1,024,000.
fn cost_units(p: &Pricing, requests: u64, mb_ms: u64) -> u128 {
    u128::from(requests) * u128::from(p.request_pico) * u128::from(MB_MS_PER_GB_SECOND)
        + u128::from(mb_ms) * u128::from(p.gb_second_pico)
}

/// Formats cost units as dollars with 10 decimals (rounded half up).
fn dollars(units: u128) -> String {
    let denom = PICO * u128::from(MB_MS_PER_GB_SECOND);
    let scale = 10_000_000_000u128; // 10 decimals
    let scaled = (units * scale + denom / 2) / denom;
    format!("{}.{:010}", scaled / scale, scaled % scale)
}

fn pico_dollars(pico: u64) -> String {
    let s = format!(
        "{}.{:012}",
        pico / 1_000_000_000_000,
        pico % 1_000_000_000_000
    );
    let s = s.trim_end_matches('0');
    s.strip_suffix('.')
        .map_or_else(|| s.to_owned(), str::to_owned)
}

fn gb_seconds(mb_ms: u64) -> f64 {
    mb_ms as f64 / MB_MS_PER_GB_SECOND as f64
}

fn row(p: &Pricing, s: &UsageSum) -> Value {
    json!({
        "key": s.key,
        "requests": s.requests,
        "throttles": s.throttles,
        "errors": s.errors,
        "cold_starts": s.cold_starts,
        "billed_ms": s.billed_ms,
        "mb_ms": s.mb_ms,
        "gb_seconds": gb_seconds(s.mb_ms),
        "cost_usd": dollars(cost_units(p, s.requests, s.mb_ms)),
    })
}

/// A time bound: epoch milliseconds or RFC 3339.
pub fn parse_time(value: &str) -> Option<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    let t =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

pub async fn usage(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    for key in params.keys() {
        if !["function", "since", "until", "by"].contains(&key.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "unknown query parameter {key:?} (expected function, since, until, by)"
            )));
        }
    }
    // Every invocation answered so far has its record in the store before the sums.
    state.engine.flush_records().await;
    let time_param = |name: &str| -> ApiResult<Option<i64>> {
        match params.get(name) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "{name} must be epoch milliseconds or an RFC 3339 time, got {v:?}"
                ))
            }),
        }
    };
    let since = time_param("since")?;
    let until = time_param("until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(ApiError::invalid_parameter(
                "until must not be before since",
            ));
        }
    }
    let function = match params.get("function") {
        Some(f) => Some(
            kumo_types::FunctionName::parse(f)
                .map_err(|e| ApiError::invalid_parameter(e.to_string()))?
                .to_string(),
        ),
        None => None,
    };
    let by = params.get("by").map_or("total", String::as_str);
    let group = match by {
        "total" => UsageGroup::Total,
        "hour" => UsageGroup::Hour,
        "day" => UsageGroup::Day,
        "month" => UsageGroup::Month,
        "function" => UsageGroup::Function,
        other => {
            return Err(ApiError::invalid_parameter(format!(
                "by must be one of total, hour, day, month, function; got {other:?}"
            )))
        }
    };
    let filter = UsageFilter {
        function,
        since,
        until,
    };
    let usage = &state.telemetry.usage;
    let p = state.telemetry.pricing;
    let rows = if group == UsageGroup::Total {
        Vec::new()
    } else {
        usage.usage_summary(filter.clone(), group).await?
    };
    let months = usage.usage_summary(filter, UsageGroup::Month).await?;
    let mut total = UsageSum::default();
    let (mut gross, mut credit) = (0u128, 0u128);
    for m in &months {
        total.requests += m.requests;
        total.throttles += m.throttles;
        total.errors += m.errors;
        total.cold_starts += m.cold_starts;
        total.billed_ms += m.billed_ms;
        total.mb_ms += m.mb_ms;
        gross += cost_units(&p, m.requests, m.mb_ms);
        let free_mb_ms = p.free_gb_seconds.saturating_mul(MB_MS_PER_GB_SECOND);
        credit += cost_units(&p, m.requests.min(p.free_requests), m.mb_ms.min(free_mb_ms));
    }
    let mut total_json = row(&p, &total);
    total_json["cost_usd"] = dollars(gross).into();
    total_json["free_tier_credit_usd"] = dollars(credit).into();
    total_json["due_usd"] = dollars(gross - credit).into();
    let body = json!({
        "since": since,
        "until": until,
        "by": by,
        "prices": {
            "request_usd": pico_dollars(p.request_pico),
            "gb_second_usd": pico_dollars(p.gb_second_pico),
            "free_requests_per_month": p.free_requests,
            "free_gb_seconds_per_month": p.free_gb_seconds,
        },
        "rows": rows.iter().map(|r| row(&p, r)).collect::<Vec<_>>(),
        "total": total_json,
    });
    Ok(crate::json(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_until_printed() {
        let p = Pricing::default();
        // One million requests of 1 GB-second each: $0.20 + $16.6667.
        let units = cost_units(&p, 1_000_000, 1_000_000 * MB_MS_PER_GB_SECOND);
        assert_eq!(dollars(units), "16.8667000000");
        // 128 MB for 3 ms: 384 MB·ms = 0.000375 GB-s.
        assert_eq!(dollars(cost_units(&p, 1, 384)), "0.0000002063");
        assert_eq!(pico_dollars(p.request_pico), "0.0000002");
        assert_eq!(pico_dollars(p.gb_second_pico), "0.0000166667");
        assert_eq!(dollars_to_pico(0.0000166667), Some(16_666_700));
        assert_eq!(dollars_to_pico(-1.0), None);
    }

    #[test]
    fn times_are_milliseconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("-5"), None);
    }
}
