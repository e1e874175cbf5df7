//! `kumo logs` and `kumo usage`: reading a function's log and the bill, over the same signed API
//! as the aws CLI (`FilterLogEvents` on the CloudWatch Logs API, `GET /kumo/usage`).

use crate::cli::{check, Api};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `10m`, `2h`, `30s`, `1d`, `1w` as milliseconds.
fn relative_ms(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

/// A time given on the command line: a duration back from now (`10m`), epoch milliseconds or
/// RFC 3339.
pub fn parse_when(text: &str) -> Result<i64> {
    if let Some(ms) = relative_ms(text) {
        return Ok(now_ms().saturating_sub(ms));
    }
    kumo_api::parse_time(text).with_context(|| {
        format!("invalid time {text:?} (expected e.g. 10m, 2h, 1d, epoch milliseconds or 2024-05-01T12:00:00Z)")
    })
}

fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn logs_call(api: &Api, op: &str, body: &Value) -> Result<Value> {
    let req = api
        .client
        .post(api.url("/"))
        .header("x-amz-target", format!("Logs_20140328.{op}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string());
    check(api.send(req)?)
}

pub struct LogsArgs<'a> {
    pub name: &'a str,
    pub follow: bool,
    pub since: &'a str,
    pub filter: Option<&'a str>,
}

/// Prints a function's log events since `since`; with `follow`, keeps printing new ones.
///
/// Following polls FilterLogEvents the way `aws logs tail --follow` does: `startTime` moves to
/// the newest timestamp seen (inclusive), and events already printed at that timestamp are
/// recognised by their ids.
pub fn logs(api: &Api, a: &LogsArgs<'_>) -> Result<()> {
    let group = if a.name.starts_with('/') {
        a.name.to_owned()
    } else {
        format!("/aws/lambda/{}", a.name)
    };
    let mut start = parse_when(a.since)?;
    let mut seen: BTreeMap<i64, HashSet<String>> = BTreeMap::new();
    let mut token: Option<String> = None;
    let mut out = std::io::stdout().lock();
    loop {
        let mut body = json!({ "logGroupName": group, "startTime": start, "interleaved": true });
        if let Some(f) = a.filter {
            body["filterPattern"] = f.into();
        }
        if let Some(t) = &token {
            body["nextToken"] = t.as_str().into();
        }
        let page = match logs_call(api, "FilterLogEvents", &body) {
            Ok(page) => page,
            Err(e) if format!("{e}").starts_with("ResourceNotFoundException") => {
                if !a.follow {
                    bail!(
                        "no logs for {} yet (log group {group} does not exist)",
                        a.name
                    );
                }
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(e) => return Err(e),
        };
        for e in page["events"].as_array().into_iter().flatten() {
            let ts = e["timestamp"].as_i64().unwrap_or(0);
            let id = e["eventId"].as_str().unwrap_or_default().to_owned();
            if !seen.entry(ts).or_default().insert(id) {
                continue;
            }
            writeln!(
                out,
                "{} {} {}",
                iso(ts),
                e["logStreamName"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("").trim_end()
            )?;
        }
        out.flush()?;
        token = page["nextToken"].as_str().map(str::to_owned);
        if token.is_none() {
            if !a.follow {
                return Ok(());
            }
            if let Some((&newest, _)) = seen.iter().next_back() {
                start = newest;
                seen.retain(|&ts, _| ts == newest);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

pub struct UsageArgs<'a> {
    pub function: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub by: &'a str,
    pub json: bool,
}

/// `mb_ms` as GB-seconds with 10 decimals, exactly rounded.
fn gb_seconds(mb_ms: u64) -> String {
    let scale: u128 = 10_000_000_000;
    let denom: u128 = 1_024_000;
    let scaled = (u128::from(mb_ms) * scale + denom / 2) / denom;
    format!("{}.{:010}", scaled / scale, scaled % scale)
}

pub fn usage(api: &Api, a: &UsageArgs<'_>) -> Result<()> {
    let mut query: Vec<(&str, String)> = vec![("by", a.by.to_owned())];
    if let Some(f) = a.function {
        query.push(("function", f.to_owned()));
    }
    if let Some(s) = a.since {
        query.push(("since", parse_when(s)?.to_string()));
    }
    if let Some(u) = a.until {
        query.push(("until", parse_when(u)?.to_string()));
    }
    let report = check(api.send(api.client.get(api.url("/kumo/usage")).query(&query))?)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    let header = match a.by {
        "function" => "FUNCTION",
        "hour" => "HOUR",
        "day" => "DAY",
        "month" => "MONTH",
        _ => "",
    };
    writeln!(
        out,
        "{header:<24} {:>10} {:>9} {:>7} {:>6} {:>12} {:>18} {:>16}",
        "REQUESTS", "THROTTLES", "ERRORS", "COLD", "BILLED_MS", "GB_SECONDS", "COST_USD"
    )?;
    let line = |out: &mut std::io::StdoutLock<'_>, key: &str, r: &Value| -> Result<()> {
        writeln!(
            out,
            "{key:<24} {:>10} {:>9} {:>7} {:>6} {:>12} {:>18} {:>16}",
            r["requests"],
            r["throttles"],
            r["errors"],
            r["cold_starts"],
            r["billed_ms"],
            gb_seconds(r["mb_ms"].as_u64().unwrap_or(0)),
            r["cost_usd"].as_str().unwrap_or("")
        )?;
        Ok(())
    };
    for r in report["rows"].as_array().into_iter().flatten() {
        line(&mut out, r["key"].as_str().unwrap_or(""), r)?;
    }
    let total = &report["total"];
    line(&mut out, "TOTAL", total)?;
    let prices = &report["prices"];
    writeln!(
        out,
        "prices: ${} per request, ${} per GB-second",
        prices["request_usd"].as_str().unwrap_or("?"),
        prices["gb_second_usd"].as_str().unwrap_or("?")
    )?;
    let free_requests = prices["free_requests_per_month"].as_u64().unwrap_or(0);
    let free_gbs = prices["free_gb_seconds_per_month"].as_u64().unwrap_or(0);
    if free_requests > 0 || free_gbs > 0 {
        writeln!(
            out,
            "free tier: {free_requests} requests and {free_gbs} GB-seconds a month: -${}; due ${}",
            total["free_tier_credit_usd"].as_str().unwrap_or("?"),
            total["due_usd"].as_str().unwrap_or("?")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_relative_and_absolute() {
        assert_eq!(relative_ms("10m"), Some(600_000));
        assert_eq!(relative_ms("2h"), Some(7_200_000));
        assert_eq!(relative_ms("m"), None);
        assert_eq!(relative_ms("5y"), None);
        assert_eq!(
            parse_when("2023-11-14T22:13:20Z").expect("rfc3339"),
            1_700_000_000_000
        );
        assert!(parse_when("soon").is_err());
        assert_eq!(gb_seconds(384), "0.0003750000");
        assert_eq!(gb_seconds(1_024_000), "1.0000000000");
    }
}
