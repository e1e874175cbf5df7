//! [`Events`]: what the asynchronous side shares between the HTTP layer (which queues events and
//! changes rules) and the workers (which run them), and its settings.

use kumo_engine::Engine;
use kumo_store::{EventQueue, FunctionStore, RuleStore};
use kumo_types::FunctionName;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Lambda's default `MaximumRetryAttempts`.
pub const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 2;
/// Lambda's default `MaximumEventAgeInSeconds` (6 hours).
pub const DEFAULT_MAX_EVENT_AGE_SECS: u32 = 21_600;

/// Timing of retries and schedules.
#[derive(Debug, Clone)]
pub struct AsyncSettings {
    /// Wait before the first retry after a function error; the second waits twice as long
    /// (Lambda: 1 minute, then 2 minutes).
    pub retry_delay: Duration,
    /// First wait after a throttle or platform error, doubling up to `throttle_max_delay`
    /// (Lambda: 1 second up to 5 minutes).
    pub throttle_delay: Duration,
    pub throttle_max_delay: Duration,
    /// Accept `rate(N second[s])` schedules. EventBridge's smallest rate is one minute; this is
    /// for tests and demonstrations only.
    pub allow_second_rates: bool,
    /// Most asynchronous invocations running at once over all functions; 0 means the account's
    /// concurrency (Lambda's behaviour). A lower cap keeps a burst of events from starting as many
    /// environments as the account allows.
    pub max_concurrency: u32,
}

impl Default for AsyncSettings {
    fn default() -> Self {
        Self {
            retry_delay: Duration::from_secs(60),
            throttle_delay: Duration::from_secs(1),
            throttle_max_delay: Duration::from_secs(300),
            allow_second_rates: false,
            max_concurrency: 0,
        }
    }
}

/// The account the asynchronous side works for: ARNs are built and checked with its region and
/// id, and its concurrency bounds the dispatcher.
#[derive(Debug, Clone)]
pub struct Account {
    pub region: String,
    pub account_id: String,
    /// Concurrent executions allowed across all functions.
    pub concurrency: u32,
}

/// The asynchronous side of Kumo: the event queue and rules, the functions they run, and the
/// engine that runs them. The HTTP layer and the workers share one; cheap to clone.
#[derive(Clone)]
pub struct Events {
    pub queue: Arc<dyn EventQueue>,
    pub rules: Arc<dyn RuleStore>,
    pub settings: AsyncSettings,
    pub account: Account,
    pub(crate) functions: Arc<dyn FunctionStore>,
    pub(crate) engine: Engine,
    wake: Arc<Notify>,
    rules_changed: Arc<Notify>,
    /// Set when the workers stop: an attempt that fails from then on may have been cut short by
    /// the shutdown, so it is not counted; the event stays claimed and runs again after restart.
    pub(crate) stopping: Arc<AtomicBool>,
}

impl Events {
    pub fn new(
        queue: Arc<dyn EventQueue>,
        rules: Arc<dyn RuleStore>,
        functions: Arc<dyn FunctionStore>,
        engine: Engine,
        account: Account,
        settings: AsyncSettings,
    ) -> Self {
        Self {
            queue,
            rules,
            settings,
            account,
            functions,
            engine,
            wake: Arc::new(Notify::new()),
            rules_changed: Arc::new(Notify::new()),
            stopping: Arc::default(),
        }
    }

    /// Events accepted and not yet at their end (for metrics).
    pub async fn depth(&self) -> kumo_store::Result<u64> {
        self.queue.depth().await
    }

    /// Age of the oldest event not yet at its end (for metrics).
    pub async fn oldest_age(&self) -> kumo_store::Result<Option<Duration>> {
        self.queue.oldest_age().await
    }

    /// Tells the dispatcher that events were queued.
    pub fn wake_dispatcher(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_notify(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// Tells the scheduler that rules changed.
    pub fn rules_changed(&self) {
        self.rules_changed.notify_one();
    }

    pub(crate) fn rules_notify(&self) -> &Notify {
        &self.rules_changed
    }

    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.account.region, self.account.account_id
        )
    }

    /// The name of a function of this account and region from its ARN (unqualified or
    /// `$LATEST`).
    pub fn function_from_arn(&self, arn: &str) -> Option<FunctionName> {
        let rest = arn.strip_prefix(&format!(
            "arn:aws:lambda:{}:{}:function:",
            self.account.region, self.account.account_id
        ))?;
        let name = match rest.split_once(':') {
            None => rest,
            Some((name, "$LATEST")) => name,
            Some(_) => return None,
        };
        FunctionName::parse(name).ok()
    }

    /// `arn:aws:events:REGION:ACCOUNT:rule/NAME`
    pub fn rule_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:rule/{name}",
            self.account.region, self.account.account_id
        )
    }
}
