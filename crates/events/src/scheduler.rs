//! The scheduler: fires due rules (see [`crate::cron::Schedule`]).
//!
//! Each due rule fires in one store transaction that also queues one asynchronous invocation per
//! target (see [`kumo_store::RuleStore::fire`]); ticks missed while Kumo was down fire once, not
//! once per missed tick.

use crate::clock::{iso_secs, now_ms};
use crate::context::Events;
use crate::cron::Schedule;
use kumo_store::NewEvent;
use serde_json::json;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, warn};

/// The event a scheduled rule sends when its target has no fixed `Input`.
fn scheduled_event(events: &Events, rule: &str, tick_ms: i64) -> serde_json::Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": events.account.account_id,
        "time": iso_secs(tick_ms),
        "region": events.account.region,
        "resources": [events.rule_arn(rule)],
        "detail": {},
    })
}

async fn fire_due(events: &Events, now: i64) -> kumo_store::Result<()> {
    for (rule, targets) in events.rules.due_rules(now).await? {
        let Some(tick) = rule.next_fire_ms else {
            continue;
        };
        let next = match Schedule::parse(&rule.schedule, true) {
            Ok(s) => s.next_after(tick, now),
            Err(e) => {
                warn!(
                    rule = rule.name,
                    error = e,
                    "stored schedule no longer parses; disabled"
                );
                None
            }
        };
        let mut queued = Vec::new();
        for t in &targets {
            let Some(function) = events.function_from_arn(&t.arn) else {
                warn!(
                    rule = rule.name,
                    target = t.arn,
                    "target is not a function of this Kumo"
                );
                continue;
            };
            let payload = match &t.input {
                Some(input) => input.clone(),
                None => scheduled_event(events, &rule.name, tick).to_string(),
            };
            queued.push(NewEvent {
                id: uuid::Uuid::new_v4().to_string(),
                function: function.to_string(),
                invoked_arn: events.function_arn(function.as_str()),
                payload: payload.into_bytes(),
                client_context: None,
                trace_id: None,
                enqueued_ms: now,
                due_ms: now,
            });
        }
        let n = queued.len();
        if events.rules.fire(&rule.name, tick, next, queued).await? {
            debug!(rule = rule.name, targets = n, ?next, "rule fired");
            events.wake_dispatcher();
        }
    }
    Ok(())
}

/// Fires due rules until told to stop.
pub(crate) async fn scheduler(events: Events, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        let notified = events.rules_notify().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = now_ms();
        let mut wait = Duration::from_secs(30);
        if let Err(e) = fire_due(&events, now).await {
            warn!(error = %e, "firing scheduled rules failed");
            wait = Duration::from_secs(1);
        }
        if let Ok(Some(next)) = events.rules.next_fire().await {
            let until = Duration::from_millis(u64::try_from(next - now_ms()).unwrap_or(0));
            wait = wait.min(until);
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}
