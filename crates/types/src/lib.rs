//! Domain types of Kumo: validated names and settings of functions, shared by every crate.
//!
//! This crate owns the rules that decide whether a value is acceptable (function names in their
//! three forms, handlers, memory, timeouts, environment variables, runtimes) and the domain
//! [`FunctionConfig`] that the store persists and the engine runs. It does no I/O and knows nothing
//! about HTTP: the API crate maps [`ValidationError`] to Lambda's wire errors.
//!
//! Limits follow AWS Lambda's documented defaults (see `docs/compat.md`).

mod function;
mod limits;
mod name;
mod runtime;
mod url;

pub use function::{FunctionConfig, FunctionState};
pub use limits::*;
pub use name::{FunctionName, FunctionRef, NameKind, Qualifier, MAX_NAME_LEN};
pub use runtime::{Runtime, RuntimeFamily};
pub use url::{is_url_id, Cors, FunctionUrlConfig, UrlAuthType, MAX_CORS_MAX_AGE};

/// A value that breaks one of Lambda's rules.
///
/// `Constraint` maps to AWS's generic `ValidationException` (a model constraint: length, range,
/// pattern); `InvalidParameter` maps to `InvalidParameterValueException` (a semantic rule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}")]
    Constraint {
        member: &'static str,
        value: String,
        constraint: String,
    },
    #[error("{0}")]
    InvalidParameter(String),
    /// A well-formed function reference whose name part is longer than any function's may be.
    #[error("1 validation error detected: Value '{value}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64")]
    NameTooLong { value: String, name: String },
    /// A well-formed function reference that no function can answer to (a name with `.`, or the
    /// `$LATEST.PUBLISHED` qualifier): "not found" where a function is looked up.
    #[error("1 validation error detected: Value '{value}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+")]
    NoSuchName { value: String, name: String },
}

impl ValidationError {
    pub(crate) fn constraint(
        member: &'static str,
        value: impl ToString,
        constraint: impl Into<String>,
    ) -> Self {
        Self::Constraint {
            member,
            value: value.to_string(),
            constraint: constraint.into(),
        }
    }
}

pub type Result<T, E = ValidationError> = std::result::Result<T, E>;
