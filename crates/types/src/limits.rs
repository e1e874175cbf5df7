//! Lambda's limits on function settings, and the checks that enforce them.

use crate::{Result, ValidationError};
use std::collections::BTreeMap;

pub const DEFAULT_MEMORY_MB: u32 = 128;
pub const MIN_MEMORY_MB: u32 = 128;
pub const MAX_MEMORY_MB: u32 = 10_240;
pub const DEFAULT_TIMEOUT_SECS: u32 = 3;
pub const MAX_TIMEOUT_SECS: u32 = 900;
pub const DEFAULT_EPHEMERAL_MB: u32 = 512;
pub const MAX_EPHEMERAL_MB: u32 = 10_240;
/// Total size of all environment variable keys and values.
pub const MAX_ENV_BYTES: usize = 4 * 1024;
/// Synchronous invoke request payload (AWS checks 6,291,456 bytes).
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// Synchronous invoke response payload (6 MiB + 100 bytes, as the runtime interface emulator).
pub const MAX_RESPONSE_PAYLOAD: usize = 6 * 1024 * 1024 + 100;
/// Deployment package sent inline as `ZipFile`.
pub const MAX_ZIP_BYTES: u64 = 50 * 1024 * 1024;
/// Deployment package once unzipped.
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;
/// Files, directories and links in a deployment package. Lambda documents no such limit; this is
/// the most a classic (non-ZIP64) archive can hold, far above real packages (a Python data stack
/// or an unbundled `node_modules` has some tens of thousands), and it bounds what unpacking one
/// package costs in inodes and time whatever its size.
pub const MAX_ZIP_ENTRIES: u64 = 65_535;
/// Unreserved account concurrency that must remain after reservations.
pub const MIN_UNRESERVED_CONCURRENCY: u32 = 100;

/// Keys Lambda sets itself; users may not set them.
pub const RESERVED_ENV_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
];

pub fn validate_memory(mb: i64) -> Result<u32> {
    range("memorySize", mb, MIN_MEMORY_MB, MAX_MEMORY_MB)
}

pub fn validate_timeout(secs: i64) -> Result<u32> {
    range("timeout", secs, 1, MAX_TIMEOUT_SECS)
}

pub fn validate_ephemeral_storage(mb: i64) -> Result<u32> {
    range(
        "ephemeralStorage.size",
        mb,
        DEFAULT_EPHEMERAL_MB,
        MAX_EPHEMERAL_MB,
    )
}

fn range(member: &'static str, v: i64, min: u32, max: u32) -> Result<u32> {
    if v < i64::from(min) {
        return Err(ValidationError::constraint(
            member,
            v,
            format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if v > i64::from(max) {
        return Err(ValidationError::constraint(
            member,
            v,
            format!("Member must have value less than or equal to {max}"),
        ));
    }
    u32::try_from(v)
        .map_err(|_| ValidationError::constraint(member, v, "Member must be an integer"))
}

/// `Handler`: up to 128 characters, no whitespace.
pub fn validate_handler(h: &str) -> Result<()> {
    if h.len() > 128 {
        return Err(ValidationError::constraint(
            "handler",
            h,
            "Member must have length less than or equal to 128",
        ));
    }
    if h.is_empty() || h.chars().any(char::is_whitespace) {
        return Err(ValidationError::constraint(
            "handler",
            h,
            "Member must satisfy regular expression pattern: [^\\s]+",
        ));
    }
    Ok(())
}

pub fn validate_description(d: &str) -> Result<()> {
    if d.chars().count() > 256 {
        return Err(ValidationError::constraint(
            "description",
            d,
            "Member must have length less than or equal to 256",
        ));
    }
    Ok(())
}

/// `Role`: `arn:aws:iam::<12 digits>:role/<path/name>`. Kumo does not assume roles, but keeps the
/// value so that clients see what they sent.
pub fn validate_role(role: &str) -> Result<()> {
    let bad = || {
        ValidationError::constraint(
            "role",
            role,
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
        )
    };
    let rest = role.strip_prefix("arn:").ok_or_else(bad)?;
    let (partition, rest) = rest.split_once(':').ok_or_else(bad)?;
    if !partition.starts_with("aws") {
        return Err(bad());
    }
    let rest = rest.strip_prefix("iam::").ok_or_else(bad)?;
    let (account, rest) = rest.split_once(':').ok_or_else(bad)?;
    let name = rest.strip_prefix("role").ok_or_else(bad)?;
    let name = name.strip_prefix('/').unwrap_or(name);
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c));
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || !name_ok {
        return Err(bad());
    }
    Ok(())
}

/// Environment variables: keys `[a-zA-Z]([a-zA-Z0-9_])+`, no reserved keys, 4 KB in all.
pub fn validate_environment(vars: &BTreeMap<String, String>) -> Result<()> {
    for key in vars.keys() {
        let mut chars = key.chars();
        let ok = key.len() >= 2
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(ValidationError::constraint(
                "environment.variables",
                key.clone(),
                "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            ));
        }
    }
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_KEYS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(ValidationError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    // Lambda measures the JSON text of the map, `{"KEY":"value",...}`, not keys and values alone.
    let text = serde_json::to_string(vars).unwrap_or_default();
    if text.len() > MAX_ENV_BYTES {
        return Err(ValidationError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {text}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_timeout_ranges() {
        assert!(validate_memory(127).is_err());
        assert_eq!(validate_memory(128), Ok(128));
        assert_eq!(validate_memory(10_240), Ok(10_240));
        assert!(validate_memory(10_241).is_err());
        assert!(validate_timeout(0).is_err());
        assert_eq!(validate_timeout(900), Ok(900));
        assert!(validate_timeout(901).is_err());
    }

    #[test]
    fn environment_rules() {
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(validate_environment(&vars(&[("GOOD_KEY", "v")])).is_ok());
        assert!(matches!(
            validate_environment(&vars(&[("1BAD", "v")])),
            Err(ValidationError::Constraint { .. })
        ));
        assert!(matches!(
            validate_environment(&vars(&[("AWS_REGION", "x")])),
            Err(ValidationError::InvalidParameter(m)) if m.ends_with("AWS_REGION")
        ));
        let big = "x".repeat(MAX_ENV_BYTES);
        assert!(validate_environment(&vars(&[("BIG", &big)])).is_err());
        // The JSON text counts: {"BIG":"..."} is 10 bytes more than the value.
        let fits = "x".repeat(MAX_ENV_BYTES - 10);
        assert!(validate_environment(&vars(&[("BIG", &fits)])).is_ok());
        let over = "x".repeat(MAX_ENV_BYTES - 9);
        assert!(validate_environment(&vars(&[("BIG", &over)])).is_err());
    }

    #[test]
    fn handler_and_role() {
        assert!(validate_handler("app.handler").is_ok());
        assert!(validate_handler("app handler").is_err());
        assert!(validate_handler("").is_err());
        assert!(validate_role("arn:aws:iam::123456789012:role/lambda-role").is_ok());
        assert!(validate_role("arn:aws:iam::123456789012:role/service-role/x").is_ok());
        assert!(validate_role("AWSLambdaBasicExecutionRole").is_err());
    }
}
