//! Lambda's rules for a function's asynchronous settings (`EventInvokeConfig`) and its
//! `DeadLetterConfig` target: ranges, what a destination may be, and what a change must contain.
//! The HTTP layer parses the request and turns a [`RuleError`] into Lambda's error shape.

use crate::context::Events;
use kumo_store::{EventInvokeConfig, StoreError};
use kumo_types::FunctionName;

/// A change that breaks one of the rules.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A model constraint (AWS's `ValidationException`).
    #[error("{0}")]
    Validation(String),
    /// A semantic rule (AWS's `InvalidParameterValueException`).
    #[error("{0}")]
    InvalidParameter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The members of a Put/UpdateFunctionEventInvokeConfig request. For a destination, `None` leaves
/// it as it is, `Some(None)` or `Some(Some(""))` removes it.
#[derive(Debug, Default)]
pub struct ConfigChange<'a> {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    /// Whether `DestinationConfig` was given at all.
    pub destination_config: bool,
    pub on_success: Option<Option<&'a str>>,
    pub on_failure: Option<Option<&'a str>>,
}

/// `v` as a `u32` when it lies in `min..=max`, else AWS's range message for `member`.
pub fn in_range(v: i64, member: &str, min: i64, max: i64) -> Result<u32, RuleError> {
    if v < min {
        return Err(RuleError::Validation(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        )));
    }
    if v > max {
        return Err(RuleError::Validation(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        )));
    }
    Ok(u32::try_from(v).unwrap_or(0))
}

/// Lambda refuses a Put/Update that sets nothing, before it looks the function up.
pub fn require_some_setting(change: &ConfigChange<'_>) -> Result<(), RuleError> {
    if change.maximum_retry_attempts.is_none()
        && change.maximum_event_age_in_seconds.is_none()
        && !change.destination_config
    {
        return Err(RuleError::InvalidParameter(
            "You must specify at least one of error handling or destination setting.".into(),
        ));
    }
    Ok(())
}

impl Events {
    /// A destination or dead-letter target: a function of this Kumo, or nothing (empty string).
    pub fn check_target(&self, arn: Option<&str>) -> Result<Option<String>, RuleError> {
        match arn {
            None | Some("") => Ok(None),
            Some(arn) if self.function_from_arn(arn).is_some() => Ok(Some(arn.to_owned())),
            Some(arn) => Err(RuleError::InvalidParameter(format!(
                "The destination ARN {arn} is invalid. Kumo delivers only to functions of this server (arn:aws:lambda:{}:{}:function:NAME).",
                self.account.region, self.account.account_id
            ))),
        }
    }

    /// A destination of `own`: a function of this Kumo that exists and is not `own` itself.
    async fn check_destination(
        &self,
        own: &FunctionName,
        arn: Option<&str>,
    ) -> Result<Option<String>, RuleError> {
        let Some(target) = self.check_target(arn)? else {
            return Ok(None);
        };
        let invalid =
            || RuleError::InvalidParameter(format!("The destination ARN {target} is invalid."));
        let name = self.function_from_arn(&target).ok_or_else(invalid)?;
        if &name == own {
            return Err(RuleError::InvalidParameter(
                "You can't specify the function as a destination for itself.".into(),
            ));
        }
        match self.functions.get_function(&name).await {
            Ok(_) => Ok(Some(target)),
            Err(StoreError::NotFound(_)) => Err(invalid()),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the members present in `change` to `cfg` (the configuration of `own`), checking
    /// each; `cfg` is only partly changed when this fails, so callers store it only on success.
    pub async fn apply_config_change(
        &self,
        own: &FunctionName,
        cfg: &mut EventInvokeConfig,
        change: &ConfigChange<'_>,
    ) -> Result<(), RuleError> {
        if let Some(v) = change.maximum_retry_attempts {
            cfg.max_retry_attempts = Some(in_range(v, "maximumRetryAttempts", 0, 2)?);
        }
        if let Some(v) = change.maximum_event_age_in_seconds {
            cfg.max_event_age_secs = Some(in_range(v, "maximumEventAgeInSeconds", 60, 21_600)?);
        }
        if let Some(d) = change.on_success {
            cfg.on_success = self.check_destination(own, d).await?;
        }
        if let Some(d) = change.on_failure {
            cfg.on_failure = self.check_destination(own, d).await?;
        }
        Ok(())
    }
}
