//! The CloudWatch Logs subset that reads function logs (`X-Amz-Target: Logs_20140328.*`):
//! DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents, PutRetentionPolicy and
//! DeleteRetentionPolicy — enough for `aws logs tail --follow`, `aws logs get-log-events` and
//! `aws logs filter-log-events`.
//!
//! FilterLogEvents answers in `(timestamp, event id)` order with `startTime` inclusive, every
//! event carrying its stored id as `eventId` and its ingestion time, and omits `nextToken` once
//! caught up — the contract `aws logs tail --follow` polls against. Its tokens are positions in
//! that order, so pages never repeat or skip an event while new ones arrive. GetLogEvents
//! tokens (`f/...`, `b/...`) are positions in one stream; at either end the token passed in comes
//! back unchanged.
//!
//! Filter patterns: whitespace-separated terms that must all occur (case-sensitive), `"quoted
//! phrases"`, `?term` alternatives (at least one must occur) and `-term` exclusions. JSON
//! (`{...}`), space-delimited (`[...]`) and regular-expression (`%...%`) patterns are refused.
//!
//! Retention and the size bound are kept by [`crate::janitor`].

use crate::json11::{Json11Error, Json11Result};
use crate::AppState;
use kumo_store::{
    EventPos, EventScan, LogGroupInfo, LogQuery, StoredLogEvent, StreamCursor, StreamOrder,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// At most this many events per FilterLogEvents / GetLogEvents page (the model's maximum).
const MAX_EVENTS: usize = 10_000;
/// And at most about this many bytes of messages (CloudWatch: 1 MB).
const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Rows read per store query while filtering.
const BATCH: usize = 1000;
/// Rows examined per FilterLogEvents call before answering with a token to go on.
const MAX_SCAN: usize = 20_000;
/// Retention values CloudWatch accepts, in days.
const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub async fn handle(state: &AppState, op: &str, input: Value) -> Json11Result {
    // Invocations answered so far have their lines in the store before any read.
    state.engine.flush_records().await;
    let logs = &state.telemetry.logs;
    match op {
        "DescribeLogGroups" => describe_log_groups(state, parse(input)?).await,
        "DescribeLogStreams" => describe_log_streams(state, parse(input)?).await,
        "GetLogEvents" => get_log_events(logs.as_ref(), parse(input)?).await,
        "FilterLogEvents" => filter_log_events(logs.as_ref(), parse(input)?).await,
        "PutRetentionPolicy" => put_retention(logs.as_ref(), parse(input)?).await,
        "DeleteRetentionPolicy" => delete_retention(logs.as_ref(), parse(input)?).await,
        _ => Err(Json11Error::new(
            "UnknownOperationException",
            format!("unknown operation {op}"),
        )),
    }
}

fn parse<T: DeserializeOwned>(input: Value) -> Result<T, Json11Error> {
    serde_json::from_value(input).map_err(|e| {
        Json11Error::new(
            "SerializationException",
            format!("could not read the request: {e}"),
        )
    })
}

fn invalid(message: impl Into<String>) -> Json11Error {
    Json11Error::new("InvalidParameterException", message)
}

fn store_error(e: kumo_store::StoreError) -> Json11Error {
    tracing::error!(error = %e, "log store failure");
    Json11Error::internal("The service is unavailable; try again.")
}

fn constraint(value: impl std::fmt::Display, member: &str, rule: &str) -> Json11Error {
    invalid(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

fn group_not_found() -> Json11Error {
    Json11Error::new(
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
}

fn bad_token() -> Json11Error {
    invalid("The specified nextToken is invalid.")
}

/// Checks a log group or stream name: length and CloudWatch's character set.
fn check_name(value: &str, member: &str, stream: bool) -> Result<(), Json11Error> {
    let n = value.chars().count();
    if !(1..=512).contains(&n) {
        return Err(constraint(
            value,
            member,
            "Member must have length between 1 and 512",
        ));
    }
    let ok = if stream {
        !value.contains([':', '*'])
    } else {
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/#".contains(c))
    };
    if !ok {
        let pattern = if stream {
            "[^:*]*"
        } else {
            "[\\.\\-_/#A-Za-z0-9]+"
        };
        return Err(constraint(
            value,
            member,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ));
    }
    Ok(())
}

fn check_limit(limit: Option<i64>, max: usize, default: usize) -> Result<usize, Json11Error> {
    match limit {
        None => Ok(default),
        Some(l) if l < 1 => Err(constraint(
            l,
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(l) if l > max as i64 => Err(constraint(
            l,
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(l) => Ok(usize::try_from(l).unwrap_or(default)),
    }
}

fn check_time(t: Option<i64>, member: &str) -> Result<Option<i64>, Json11Error> {
    match t {
        Some(v) if v < 0 => Err(constraint(
            v,
            member,
            "Member must have value greater than or equal to 0",
        )),
        other => Ok(other),
    }
}

/// The group a request names, by `logGroupName` or `logGroupIdentifier` (name or ARN).
fn group_name(name: Option<String>, identifier: Option<String>) -> Result<String, Json11Error> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(n), None) => {
            check_name(&n, "logGroupName", false)?;
            Ok(n)
        }
        (None, Some(id)) => {
            let name = match id.strip_prefix("arn:") {
                Some(_) => {
                    let parts: Vec<&str> = id.splitn(6, ':').collect();
                    match (parts.get(2), parts.get(5)) {
                        (Some(&"logs"), Some(rest)) => rest
                            .strip_prefix("log-group:")
                            .map(|g| g.trim_end_matches(":*").to_owned())
                            .ok_or_else(|| invalid(format!("Invalid log group ARN: {id}")))?,
                        _ => return Err(invalid(format!("Invalid log group ARN: {id}"))),
                    }
                }
                None => id,
            };
            check_name(&name, "logGroupIdentifier", false)?;
            Ok(name)
        }
        (None, None) => Err(invalid(
            "Either logGroupName or logGroupIdentifier must be specified.",
        )),
    }
}

async fn existing_group(logs: &dyn LogQuery, name: &str) -> Result<LogGroupInfo, Json11Error> {
    logs.log_group(name)
        .await
        .map_err(store_error)?
        .ok_or_else(group_not_found)
}

fn group_arn(state: &AppState, name: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{name}",
        state.region, state.account_id
    )
}

// ------------------------------------------------------------------ DescribeLogGroups

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DescribeLogGroupsInput {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    log_group_identifiers: Option<Vec<String>>,
    next_token: Option<String>,
    limit: Option<i64>,
}

async fn describe_log_groups(state: &AppState, input: DescribeLogGroupsInput) -> Json11Result {
    let logs = state.telemetry.logs.as_ref();
    let limit = check_limit(input.limit, 50, 50)?;
    if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
        return Err(invalid(
            "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.",
        ));
    }
    if let Some(p) = &input.log_group_name_prefix {
        check_name(p, "logGroupNamePrefix", false)?;
    }
    let pattern = input.log_group_name_pattern.map(|p| p.to_lowercase());
    let wanted: Option<Vec<String>> = match input.log_group_identifiers {
        Some(ids) => Some(
            ids.into_iter()
                .map(|id| group_name(None, Some(id)))
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let mut after = match input.next_token {
        Some(t) => Some(t.strip_prefix("g/").ok_or_else(bad_token)?.to_owned()),
        None => None,
    };
    let mut out = Vec::new();
    let mut more = false;
    'pages: loop {
        let page = logs
            .log_groups(
                input.log_group_name_prefix.as_deref(),
                after.as_deref(),
                200,
            )
            .await
            .map_err(store_error)?;
        let exhausted = page.len() < 200;
        for g in page {
            let keep = pattern
                .as_ref()
                .is_none_or(|p| g.name.to_lowercase().contains(p.as_str()))
                && wanted.as_ref().is_none_or(|w| w.contains(&g.name));
            if keep {
                if out.len() == limit {
                    more = true;
                    break 'pages;
                }
                out.push(g.clone());
            }
            after = Some(g.name);
        }
        if exhausted {
            break;
        }
    }
    let groups: Vec<Value> = out
        .iter()
        .map(|g| {
            let arn = group_arn(state, &g.name);
            let mut v = json!({
                "logGroupName": g.name,
                "creationTime": g.creation_time,
                "metricFilterCount": 0,
                "arn": format!("{arn}:*"),
                "logGroupArn": arn,
                "storedBytes": g.stored_bytes,
                "logGroupClass": "STANDARD",
            });
            if let Some(d) = g.retention_days {
                v["retentionInDays"] = d.into();
            }
            v
        })
        .collect();
    let mut resp = json!({ "logGroups": groups });
    if more {
        if let Some(last) = out.last() {
            resp["nextToken"] = format!("g/{}", last.name).into();
        }
    }
    Ok(resp)
}

// ------------------------------------------------------------------ DescribeLogStreams

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DescribeLogStreamsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    next_token: Option<String>,
    limit: Option<i64>,
}

async fn describe_log_streams(state: &AppState, input: DescribeLogStreamsInput) -> Json11Result {
    let logs = state.telemetry.logs.as_ref();
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    let limit = check_limit(input.limit, 50, 50)?;
    let order = match input.order_by.as_deref() {
        None | Some("LogStreamName") => StreamOrder::Name,
        Some("LastEventTime") => StreamOrder::LastEventTime,
        Some(other) => {
            return Err(constraint(
                other,
                "orderBy",
                "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
            ))
        }
    };
    if let Some(p) = &input.log_stream_name_prefix {
        check_name(p, "logStreamNamePrefix", true)?;
        if order == StreamOrder::LastEventTime {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
    }
    let offset = match input.next_token {
        Some(t) => t
            .strip_prefix("s/")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(bad_token)?,
        None => 0,
    };
    existing_group(logs, &group).await?;
    let mut streams = logs
        .log_streams(
            &group,
            input.log_stream_name_prefix.as_deref(),
            order,
            input.descending.unwrap_or(false),
            offset,
            limit + 1,
        )
        .await
        .map_err(store_error)?;
    let more = streams.len() > limit;
    streams.truncate(limit);
    let arn = group_arn(state, &group);
    let list: Vec<Value> = streams
        .iter()
        .map(|s| {
            json!({
                "logStreamName": s.name,
                "creationTime": s.creation_time,
                "firstEventTimestamp": s.first_event,
                "lastEventTimestamp": s.last_event,
                "lastIngestionTime": s.last_ingestion,
                "arn": format!("{arn}:log-stream:{}", s.name),
                "storedBytes": s.stored_bytes,
            })
        })
        .collect();
    let mut resp = json!({ "logStreams": list });
    if more {
        resp["nextToken"] = format!("s/{}", offset + limit).into();
    }
    Ok(resp)
}

// ------------------------------------------------------------------ events

/// Messages go out as Lambda writes them: one line, ending in a newline.
fn message(e: &StoredLogEvent) -> String {
    let mut m = String::with_capacity(e.message.len() + 1);
    m.push_str(&e.message);
    m.push('\n');
    m
}

fn encode_pos(dir: char, p: EventPos) -> String {
    format!("{dir}/{}/{}", p.timestamp_ms, p.id)
}

fn decode_pos(token: &str) -> Option<(char, EventPos)> {
    let mut parts = token.splitn(3, '/');
    let dir = match parts.next()? {
        "f" => 'f',
        "b" => 'b',
        "e" => 'e',
        _ => return None,
    };
    let timestamp_ms = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    Some((dir, EventPos { timestamp_ms, id }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GetLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

async fn get_log_events(logs: &dyn LogQuery, input: GetLogEventsInput) -> Json11Result {
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    let stream = input
        .log_stream_name
        .ok_or_else(|| constraint("null", "logStreamName", "Member must not be null"))?;
    check_name(&stream, "logStreamName", true)?;
    let start = check_time(input.start_time, "startTime")?;
    let end = check_time(input.end_time, "endTime")?;
    let limit = check_limit(input.limit, MAX_EVENTS, MAX_EVENTS)?;
    let token = match &input.next_token {
        Some(t) => match decode_pos(t) {
            Some(('f', p)) => Some(StreamCursor::After(p)),
            Some(('b', p)) => Some(StreamCursor::Before(p)),
            _ => return Err(bad_token()),
        },
        None => None,
    };
    existing_group(logs, &group).await?;
    let exists = logs
        .log_streams(&group, Some(&stream), StreamOrder::Name, false, 0, 1)
        .await
        .map_err(store_error)?
        .iter()
        .any(|s| s.name == stream);
    if !exists {
        return Err(Json11Error::new(
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        ));
    }
    let cursor = token.unwrap_or(if input.start_from_head.unwrap_or(false) {
        StreamCursor::Head
    } else {
        StreamCursor::Tail
    });
    let mut events = logs
        .stream_page(&group, &stream, start, end, cursor, limit)
        .await
        .map_err(store_error)?;
    // Keep the page within the byte bound, dropping from the far end of the walk.
    let mut bytes = 0;
    let keep = match cursor {
        StreamCursor::Head | StreamCursor::After(_) => events
            .iter()
            .take_while(|e| {
                bytes += e.message.len() + 26;
                bytes <= MAX_PAGE_BYTES
            })
            .count()
            .max(1),
        StreamCursor::Tail | StreamCursor::Before(_) => {
            let n = events
                .iter()
                .rev()
                .take_while(|e| {
                    bytes += e.message.len() + 26;
                    bytes <= MAX_PAGE_BYTES
                })
                .count()
                .max(1);
            let skip = events.len().saturating_sub(n);
            events.drain(..skip);
            n
        }
    };
    events.truncate(keep);
    let origin = EventPos {
        timestamp_ms: 0,
        id: 0,
    };
    let (forward, backward) = match (events.first(), events.last(), &input.next_token) {
        (Some(first), Some(last), _) => (encode_pos('f', last.pos()), encode_pos('b', first.pos())),
        (_, _, Some(t)) => (t.clone(), t.clone()),
        _ => (encode_pos('f', origin), encode_pos('b', origin)),
    };
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "timestamp": e.timestamp_ms,
                "message": message(e),
                "ingestionTime": e.ingestion_ms,
            })
        })
        .collect();
    Ok(json!({
        "events": list,
        "nextForwardToken": forward,
        "nextBackwardToken": backward,
    }))
}

/// A parsed filter pattern.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Pattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with('{') || text.starts_with('[') || text.starts_with('%') {
            return Err(
                "Kumo supports filter patterns made of terms, \"quoted phrases\", ?alternatives and -exclusions; JSON, space-delimited and regular-expression patterns are not supported".into(),
            );
        }
        let mut p = Pattern::default();
        let mut chars = text.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let list = match first {
                '?' => {
                    chars.next();
                    &mut p.any
                }
                '-' => {
                    chars.next();
                    &mut p.none
                }
                _ => &mut p.all,
            };
            let mut term = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                term.push(n);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => term.push(c),
                    }
                }
                if !closed {
                    return Err(format!(
                        "Invalid filter pattern: unterminated quote in {text}"
                    ));
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    term.push(c);
                }
            }
            if !term.is_empty() {
                list.push(term);
            }
        }
        Ok(p)
    }

    pub(crate) fn is_all(&self) -> bool {
        self.all.is_empty() && self.any.is_empty() && self.none.is_empty()
    }

    pub(crate) fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FilterLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

async fn filter_log_events(logs: &dyn LogQuery, input: FilterLogEventsInput) -> Json11Result {
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
        return Err(invalid(
            "You cannot specify both LogStreamNames and LogStreamNamePrefix.",
        ));
    }
    let streams = input.log_stream_names.unwrap_or_default();
    if streams.len() > 100 {
        return Err(constraint(
            format!("{streams:?}"),
            "logStreamNames",
            "Member must have length less than or equal to 100",
        ));
    }
    for s in &streams {
        check_name(s, "logStreamNames", true)?;
    }
    if let Some(p) = &input.log_stream_name_prefix {
        check_name(p, "logStreamNamePrefix", true)?;
    }
    let start = check_time(input.start_time, "startTime")?;
    let end = check_time(input.end_time, "endTime")?;
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            return Err(invalid("endTime must not be before startTime."));
        }
    }
    let limit = check_limit(input.limit, MAX_EVENTS, MAX_EVENTS)?;
    let pattern_text = input.filter_pattern.unwrap_or_default();
    if pattern_text.chars().count() > 1024 {
        return Err(constraint(
            &pattern_text,
            "filterPattern",
            "Member must have length less than or equal to 1024",
        ));
    }
    let pattern = Pattern::parse(&pattern_text).map_err(invalid)?;
    let mut cursor = match &input.next_token {
        Some(t) => match decode_pos(t) {
            Some(('e', p)) => Some(p),
            _ => return Err(bad_token()),
        },
        None => None,
    };
    existing_group(logs, &group).await?;

    let mut out: Vec<Value> = Vec::new();
    let mut bytes = 0usize;
    let mut scanned = 0usize;
    let mut more = false;
    'scan: loop {
        let batch = if pattern.is_all() {
            (limit - out.len() + 1).min(BATCH)
        } else {
            BATCH
        };
        let rows = logs
            .scan_events(EventScan {
                group: group.clone(),
                streams: streams.clone(),
                stream_prefix: input.log_stream_name_prefix.clone(),
                start,
                end,
                after: cursor,
                limit: batch,
            })
            .await
            .map_err(store_error)?;
        let exhausted = rows.len() < batch;
        for e in rows {
            scanned += 1;
            if pattern.matches(&e.message) {
                if out.len() == limit || bytes + e.message.len() + 26 > MAX_PAGE_BYTES {
                    more = true;
                    break 'scan;
                }
                bytes += e.message.len() + 26;
                out.push(json!({
                    "logStreamName": e.stream,
                    "timestamp": e.timestamp_ms,
                    "message": message(&e),
                    "ingestionTime": e.ingestion_ms,
                    "eventId": e.id.to_string(),
                }));
            }
            cursor = Some(e.pos());
        }
        if exhausted {
            break;
        }
        if scanned >= MAX_SCAN {
            more = true;
            break;
        }
    }
    let mut resp = json!({ "events": out, "searchedLogStreams": [] });
    if more {
        if let Some(pos) = cursor {
            resp["nextToken"] = encode_pos('e', pos).into();
        }
    }
    Ok(resp)
}

// ------------------------------------------------------------------ retention

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RetentionInput {
    log_group_name: Option<String>,
    retention_in_days: Option<i64>,
}

async fn put_retention(logs: &dyn LogQuery, input: RetentionInput) -> Json11Result {
    let group = group_name(input.log_group_name, None)?;
    let days = input
        .retention_in_days
        .ok_or_else(|| constraint("null", "retentionInDays", "Member must not be null"))?;
    let days = u32::try_from(days)
        .ok()
        .filter(|d| RETENTION_DAYS.contains(d))
        .ok_or_else(|| {
            constraint(
                days,
                "retentionInDays",
                &format!("Member must satisfy enum value set: {RETENTION_DAYS:?}"),
            )
        })?;
    if !logs
        .set_retention(&group, Some(days))
        .await
        .map_err(store_error)?
    {
        return Err(group_not_found());
    }
    Ok(json!({}))
}

async fn delete_retention(logs: &dyn LogQuery, input: RetentionInput) -> Json11Result {
    let group = group_name(input.log_group_name, None)?;
    if !logs
        .set_retention(&group, None)
        .await
        .map_err(store_error)?
    {
        return Err(group_not_found());
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_terms_phrases_alternatives_and_exclusions() {
        let p = Pattern::parse(r#"ERROR "disk full" -retry"#).expect("parse");
        assert!(p.matches("ERROR: disk full on /tmp"));
        assert!(!p.matches("ERROR: disk full, will retry"));
        assert!(!p.matches("ERROR: disk almost full"));
        assert!(!p.matches("error: disk full"));
        let p = Pattern::parse("?WARN ?ERROR").expect("parse");
        assert!(p.matches("a WARN line") && p.matches("an ERROR line"));
        assert!(!p.matches("an INFO line"));
        assert!(Pattern::parse("").expect("parse").is_all());
        assert!(Pattern::parse("  \"\" ").expect("parse").is_all());
        assert!(Pattern::parse("{ $.level = \"x\" }").is_err());
        assert!(Pattern::parse("\"open").is_err());
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let p = EventPos {
            timestamp_ms: 1_700_000_000_000,
            id: 42,
        };
        assert_eq!(decode_pos(&encode_pos('e', p)), Some(('e', p)));
        assert_eq!(decode_pos("f/1/x"), None);
        assert_eq!(decode_pos("zz"), None);
    }

    #[test]
    fn group_identifiers_accept_names_and_arns() {
        assert_eq!(
            group_name(
                None,
                Some("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*".into())
            )
            .expect("arn"),
            "/aws/lambda/f"
        );
        assert!(group_name(Some("a".into()), Some("a".into())).is_err());
        assert!(group_name(Some("bad name".into()), None).is_err());
        assert!(group_name(None, None).is_err());
    }
}
