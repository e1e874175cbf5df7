//! The execution engine: runs invocations in execution environments.
//!
//! An *environment* is one runtime process (a Python or Node bootstrap, or a custom `bootstrap`)
//! with its own Runtime API endpoint, running one invocation at a time. The engine keeps a pool of
//! environments per function:
//!
//! - **warm reuse**: an idle environment of the function's current revision is taken most recently
//!   used first (LIFO), so few environments stay hot;
//! - **scale out**: when every environment is busy a new one starts (a cold start, whose
//!   `Init Duration` is reported);
//! - **scale to zero**: idle environments are stopped after the configured keep-alive;
//! - **throttling**: account concurrency and per-function reserved concurrency are checked before
//!   anything starts; over the limit the invocation fails with [`InvokeError::Throttled`];
//! - **limits**: an invocation past its timeout, or whose runtime exits, destroys its environment;
//!   the caller gets Lambda's error document (`Sandbox.Timedout`, `Runtime.ExitError`...);
//! - **logs**: everything the runtime writes to stdout/stderr is captured per invocation, framed
//!   with `START`/`END`/`REPORT` lines and stored in the log store under `/aws/lambda/NAME`,
//!   within per-invocation and per-second bounds ([`CaptureLimits`]).
//!
//! The HTTP layer hands the engine an [`Invocation`] and awaits an [`InvokeOutcome`]; it never
//! touches environments.

mod env;
mod invocation;
mod logs;
pub mod metrics;
mod network;
mod observer;
mod peer;
mod persist;
mod pool;
mod runtime_api;
mod stock;
mod tmpdisks;

pub use logs::CaptureLimits;
pub use network::{NetworkPool, OutboundConfig};
pub use pool::{
    DotnetRuntime, Engine, EngineConfig, Invocation, InvokeError, InvokeOutcome, JavaRuntime,
    RuntimeCommands, SandboxConfig,
};
pub use tmpdisks::TmpDiskPool;
