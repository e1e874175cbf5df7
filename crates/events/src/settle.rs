//! What follows one attempt of an asynchronous invocation, by Lambda's rules: the event is done
//! (an `OnSuccess` destination gets the invocation record), goes back to the queue with a delay
//! ([`next_step`]), or has failed for good and goes, in the transaction that removes it from the
//! queue, to the `OnFailure` destination, the `DeadLetterConfig` target and the function's
//! built-in dead-letter store.

use crate::clock::{iso_ms, now_ms};
use crate::context::{AsyncSettings, Events};
use crate::context::{DEFAULT_MAX_EVENT_AGE_SECS, DEFAULT_MAX_RETRY_ATTEMPTS};
use kumo_engine::{InvokeError, InvokeOutcome};
use kumo_store::{DeadLetter, EventInvokeConfig, NewEvent, QueuedEvent, Retry};
use serde_json::{json, Value};
use std::time::Duration;
use tracing::{debug, info, warn};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How an attempt ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Succeeded,
    FunctionError,
    /// Throttled or a platform failure: the function did not run.
    Refused,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Succeeded {
        invokes: u32,
    },
    Retry(Retry),
    Failed {
        condition: &'static str,
        invokes: u32,
    },
}

/// Lambda's retry rules: function errors are retried `max_retries` times after `retry_delay`,
/// then twice that; refused attempts are retried with a doubling delay from `throttle_delay` up
/// to `throttle_max_delay`; nothing is retried past `max_age_ms` after the event was accepted.
fn next_step(
    attempt: Attempt,
    event: &QueuedEvent,
    max_retries: u32,
    max_age_ms: i64,
    settings: &AsyncSettings,
    now: i64,
) -> Step {
    let too_old = |due: i64| due - event.enqueued_ms > max_age_ms;
    match attempt {
        Attempt::Succeeded => Step::Succeeded {
            invokes: event.invoke_count + 1,
        },
        Attempt::FunctionError => {
            let attempts = event.attempts + 1;
            let invokes = event.invoke_count + 1;
            if attempts > max_retries {
                return Step::Failed {
                    condition: "RetriesExhausted",
                    invokes,
                };
            }
            let due = now + ms(settings.retry_delay) * i64::from(attempts);
            if too_old(due) {
                return Step::Failed {
                    condition: "EventAgeExceeded",
                    invokes,
                };
            }
            Step::Retry(Retry {
                due_ms: due,
                attempts,
                invoke_count: invokes,
                throttles: event.throttles,
            })
        }
        Attempt::Refused => {
            let throttles = event.throttles + 1;
            let shift = (throttles - 1).min(20);
            let delay = ms(settings.throttle_delay)
                .saturating_mul(1 << shift)
                .min(ms(settings.throttle_max_delay));
            let due = now + delay;
            if too_old(due) {
                return Step::Failed {
                    condition: "EventAgeExceeded",
                    invokes: event.invoke_count,
                };
            }
            Step::Retry(Retry {
                due_ms: due,
                attempts: event.attempts,
                invoke_count: event.invoke_count,
                throttles,
            })
        }
    }
}

/// Decides what follows an attempt and stores it.
pub(crate) async fn settle(
    events: &Events,
    event: QueuedEvent,
    result: Result<InvokeOutcome, InvokeError>,
) -> kumo_store::Result<()> {
    let queue = &events.queue;
    let config = queue
        .get_event_config(&event.function)
        .await?
        .unwrap_or_else(|| EventInvokeConfig {
            function: event.function.clone(),
            max_retry_attempts: None,
            max_event_age_secs: None,
            on_success: None,
            on_failure: None,
            last_modified_ms: 0,
        });
    let max_retries = config
        .max_retry_attempts
        .unwrap_or(DEFAULT_MAX_RETRY_ATTEMPTS);
    let max_age_ms = i64::from(
        config
            .max_event_age_secs
            .unwrap_or(DEFAULT_MAX_EVENT_AGE_SECS),
    ) * 1000;
    let (attempt, ending) = match &result {
        Ok(o) if o.function_error.is_none() => (Attempt::Succeeded, Ending::Ran(o)),
        Ok(o) => (Attempt::FunctionError, Ending::Ran(o)),
        // The process is stopping: the event stays claimed and runs again after the restart.
        Err(InvokeError::ShuttingDown) => return Ok(()),
        Err(InvokeError::Throttled { .. }) => (Attempt::Refused, Ending::Refused(429)),
        Err(InvokeError::Platform(_)) => (Attempt::Refused, Ending::Refused(500)),
    };
    let now = now_ms();
    let settings = &events.settings;
    match next_step(attempt, &event, max_retries, max_age_ms, settings, now) {
        Step::Succeeded { invokes } => {
            let mut follow_ups = Vec::new();
            if let Some(dest) = &config.on_success {
                let record = record(events, &event, "Success", invokes, ending);
                follow_ups.extend(destination_event(events, dest, record.to_string(), now));
            }
            queue.complete(&event.id, follow_ups, None).await
        }
        Step::Retry(retry) => {
            debug!(request_id = %event.id, ?attempt, due_ms = retry.due_ms, "retrying");
            queue.retry(&event.id, retry).await
        }
        Step::Failed { condition, invokes } => {
            fail(events, &config, &event, condition, invokes, ending).await
        }
    }
}

/// How the last attempt of an event ended.
enum Ending<'a> {
    Ran(&'a InvokeOutcome),
    /// Never reached the function (throttled: 429, platform error: 500).
    Refused(u16),
}

fn json_or_string(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The invocation record Lambda sends to destinations.
fn record(
    events: &Events,
    event: &QueuedEvent,
    condition: &str,
    invoke_count: u32,
    ending: Ending<'_>,
) -> Value {
    let (response_context, response_payload) = match ending {
        Ending::Ran(o) => {
            let mut ctx = json!({"statusCode": 200, "executedVersion": o.executed_version});
            if let Some(fe) = o.function_error {
                ctx["functionError"] = json!(fe);
            }
            let payload = if o.payload.is_empty() {
                Value::Null
            } else {
                json_or_string(&o.payload)
            };
            (ctx, payload)
        }
        Ending::Refused(status) => (
            json!({"statusCode": status, "executedVersion": "$LATEST"}),
            Value::Null,
        ),
    };
    let mut record = json!({
        "version": "1.0",
        "timestamp": iso_ms(now_ms()),
        "requestContext": {
            "requestId": event.id,
            "functionArn": format!("{}:$LATEST", events.function_arn(&event.function)),
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": json_or_string(&event.payload),
        "responseContext": response_context,
    });
    if !response_payload.is_null() {
        record["responsePayload"] = response_payload;
    }
    record
}

/// An asynchronous invocation of the function `arn` names, if it names one of ours.
fn destination_event(events: &Events, arn: &str, payload: String, now: i64) -> Option<NewEvent> {
    let Some(name) = events.function_from_arn(arn) else {
        warn!(
            destination = arn,
            "destination is not a function of this Kumo; skipped"
        );
        return None;
    };
    Some(NewEvent {
        id: uuid::Uuid::new_v4().to_string(),
        function: name.to_string(),
        invoked_arn: events.function_arn(name.as_str()),
        payload: payload.into_bytes(),
        client_context: None,
        trace_id: None,
        enqueued_ms: now,
        due_ms: now,
    })
}

async fn fail(
    events: &Events,
    config: &EventInvokeConfig,
    event: &QueuedEvent,
    condition: &str,
    invoke_count: u32,
    ending: Ending<'_>,
) -> kumo_store::Result<()> {
    let now = now_ms();
    let record = record(events, event, condition, invoke_count, ending).to_string();
    let mut follow_ups = Vec::new();
    if let Some(dest) = &config.on_failure {
        follow_ups.extend(destination_event(events, dest, record.clone(), now));
    }
    if let Some(target) = events.queue.dead_letter_target(&event.function).await? {
        let original = String::from_utf8_lossy(&event.payload).into_owned();
        follow_ups.extend(destination_event(events, &target, original, now));
    }
    info!(function = %event.function, request_id = %event.id, condition, "event failed");
    let dead_letter = DeadLetter {
        seq: 0,
        function: event.function.clone(),
        request_id: event.id.clone(),
        invoked_arn: event.invoked_arn.clone(),
        payload: event.payload.clone(),
        record,
        enqueued_ms: event.enqueued_ms,
        failed_ms: now,
    };
    events
        .queue
        .complete(&event.id, follow_ups, Some(dead_letter))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(attempts: u32, throttles: u32) -> QueuedEvent {
        QueuedEvent {
            id: "e".into(),
            function: "f".into(),
            invoked_arn: "arn".into(),
            payload: b"{}".to_vec(),
            client_context: None,
            trace_id: None,
            enqueued_ms: 0,
            attempts,
            invoke_count: attempts,
            throttles,
        }
    }

    const SIX_HOURS_MS: i64 = 21_600_000;

    #[test]
    fn function_errors_retry_after_one_then_two_minutes_then_fail() {
        let s = AsyncSettings::default();
        let step = |attempts, now| {
            next_step(
                Attempt::FunctionError,
                &event(attempts, 0),
                2,
                SIX_HOURS_MS,
                &s,
                now,
            )
        };
        let Step::Retry(first) = step(0, 1_000) else {
            panic!("the first error is retried");
        };
        assert_eq!(
            (first.due_ms, first.attempts, first.invoke_count),
            (61_000, 1, 1)
        );
        let Step::Retry(second) = step(1, 61_000) else {
            panic!("the second error is retried");
        };
        assert_eq!((second.due_ms, second.attempts), (181_000, 2));
        assert_eq!(
            step(2, 181_000),
            Step::Failed {
                condition: "RetriesExhausted",
                invokes: 3
            }
        );
    }

    #[test]
    fn zero_retries_fail_at_the_first_error() {
        let s = AsyncSettings::default();
        assert_eq!(
            next_step(Attempt::FunctionError, &event(0, 0), 0, SIX_HOURS_MS, &s, 0),
            Step::Failed {
                condition: "RetriesExhausted",
                invokes: 1
            }
        );
    }

    #[test]
    fn throttles_back_off_doubling_up_to_the_cap_until_the_event_is_too_old() {
        let s = AsyncSettings::default();
        let delays: Vec<i64> = (0..12)
            .map(
                |t| match next_step(Attempt::Refused, &event(0, t), 2, SIX_HOURS_MS, &s, 0) {
                    Step::Retry(r) => {
                        assert_eq!((r.throttles, r.invoke_count), (t + 1, 0));
                        r.due_ms
                    }
                    other => panic!("throttle {t} not retried: {other:?}"),
                },
            )
            .collect();
        assert_eq!(
            delays,
            [
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
                300_000, 300_000
            ]
        );
        // A retry that would come after MaximumEventAgeInSeconds is not made.
        assert_eq!(
            next_step(Attempt::Refused, &event(0, 30), 2, 60_000, &s, 59_500),
            Step::Failed {
                condition: "EventAgeExceeded",
                invokes: 0
            }
        );
        assert_eq!(
            next_step(Attempt::FunctionError, &event(0, 0), 2, 60_000, &s, 1_000),
            Step::Failed {
                condition: "EventAgeExceeded",
                invokes: 1
            }
        );
    }

    #[test]
    fn success_counts_the_attempt() {
        let s = AsyncSettings::default();
        assert_eq!(
            next_step(Attempt::Succeeded, &event(2, 5), 2, SIX_HOURS_MS, &s, 0),
            Step::Succeeded { invokes: 3 }
        );
    }
}
