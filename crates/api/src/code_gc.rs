//! Deletes code packages no function refers to any more.
//!
//! Packages are content-addressed and shared, so one stops being needed only when no function's
//! code is it. An environment started from it may still be running its last invocation after
//! the function moved on, and an upload is stored just before the function that refers to it:
//! so a package is deleted only once it has been seen unreferenced for the whole grace period
//! (longer than any invocation may run). The clock starts again on every restart.

use crate::AppState;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Every package referenced by a function now.
async fn referenced(state: &AppState) -> Result<HashSet<String>, kumo_store::StoreError> {
    let mut out = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = state.store.list_functions(after.as_deref(), 1000).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        after = Some(last.name.to_string());
        out.extend(page.into_iter().map(|f| f.code_sha256_hex));
    }
}

/// One pass: forgets packages referenced again, deletes those unreferenced for `grace`.
async fn collect(
    state: &AppState,
    unreferenced_since: &mut HashMap<String, Instant>,
    grace: Duration,
) {
    let Ok(stored) = state.code.packages().await else {
        return;
    };
    let stored: HashSet<String> = stored.into_iter().collect();
    // Listed after the packages: a package stored meanwhile is not in `stored` yet.
    let referenced = match referenced(state).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "code collection skipped: cannot list functions");
            return;
        }
    };
    let now = Instant::now();
    unreferenced_since.retain(|sha, _| stored.contains(sha) && !referenced.contains(sha));
    let mut doomed = Vec::new();
    for sha in stored.iter().filter(|s| !referenced.contains(*s)) {
        let since = *unreferenced_since.entry(sha.clone()).or_insert(now);
        if now.duration_since(since) >= grace {
            doomed.push(sha.clone());
        }
    }
    for sha in doomed {
        unreferenced_since.remove(&sha);
        match state.code.remove(&sha).await {
            Ok(()) => tracing::info!(sha256 = %sha, "deleted a code package no function uses"),
            Err(e) => {
                tracing::warn!(sha256 = %sha, error = %e, "could not delete a code package")
            }
        }
    }
}

/// Runs the collection every `interval` for as long as the runtime runs.
pub fn spawn_code_gc(state: AppState, interval: Duration, grace: Duration) {
    tokio::spawn(async move {
        let mut unreferenced_since = HashMap::new();
        let mut tick = tokio::time::interval(interval.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            collect(&state, &mut unreferenced_since, grace).await;
        }
    });
}
