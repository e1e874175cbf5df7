//! Asynchronous invocation and schedules: everything in Kumo that runs a function later rather
//! than now.
//!
//! - **Accepting** an `Event` invocation ([`Events::accept`]): the event is stored durably in the
//!   [`kumo_store::EventQueue`] before the caller hears it was accepted.
//! - **Dispatching** (`dispatch.rs`): due events are claimed per function within its reserved
//!   concurrency (or the account's) and run through the same engine path as synchronous invokes.
//! - **Settling** (`settle.rs`): Lambda's retry rules (function errors twice, 1 and 2 minutes
//!   apart; throttles and platform errors with backoff while the event is younger than its
//!   maximum age), `OnSuccess`/`OnFailure` destinations, the `DeadLetterConfig` target and the
//!   built-in dead-letter store.
//! - **Rules** ([`config_rules`]): what a function's `EventInvokeConfig` may contain.
//! - **Schedules**: [`Schedule`] parses EventBridge's `rate(...)` and six-field `cron(...)`; the
//!   scheduler (`scheduler.rs`) fires due rules into the queue.
//!
//! The HTTP layer (`kumo-api`) only turns requests into calls on [`Events`] and results into
//! responses; `kumo serve` builds one [`Events`] and runs its [`Workers`]. This crate knows
//! nothing of HTTP. Dependencies: types ← store, sandbox ← engine ← events ← api ← kumo.

mod accept;
pub mod clock;
pub mod config_rules;
mod context;
mod cron;
mod dispatch;
mod scheduler;
mod settle;
mod workers;

pub use accept::{AcceptError, EventRequest, MAX_ASYNC_PAYLOAD, MAX_INVOKE_ASYNC_PAYLOAD};
pub use context::{
    Account, AsyncSettings, Events, DEFAULT_MAX_EVENT_AGE_SECS, DEFAULT_MAX_RETRY_ATTEMPTS,
};
pub use cron::{Cron, Schedule};
pub use workers::{start, Workers};
