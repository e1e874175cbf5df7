//! Function names, qualifiers and the three ways a caller can name a function.

use crate::{Result, ValidationError};
use std::fmt;

/// The longest bare function name.
pub const MAX_NAME_LEN: usize = 64;

/// A bare function name: 1–64 of `[a-zA-Z0-9-_]`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionName(String);

impl FunctionName {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::constraint(
                "functionName",
                s,
                format!("Member must satisfy regular expression pattern: {PLAIN_PATTERN}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FunctionName {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<FunctionName> for String {
    fn from(n: FunctionName) -> String {
        n.0
    }
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A version or alias qualifier: `$LATEST`, a version number or an alias name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Qualifier(String);

impl Qualifier {
    pub const LATEST: &'static str = "$LATEST";

    pub fn parse(s: &str) -> Result<Self> {
        let ok = s == Self::LATEST
            || (!s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::constraint(
                "qualifier",
                s,
                "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_latest(&self) -> bool {
        self.0 == Self::LATEST
    }
}

/// How a caller named a function: `name`, `name:qualifier`, `123456789012:function:name[:q]` or
/// `arn:aws:lambda:region:123456789012:function:name[:q]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: FunctionName,
    pub qualifier: Option<Qualifier>,
    /// The account id the caller wrote, if any; a mismatch means "not found".
    pub account_id: Option<String>,
    pub region: Option<String>,
}

/// Which of the model's two function-name shapes an operation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `FunctionName` (CreateFunction, concurrency, ...): at most 140 characters.
    Plain,
    /// `NamespacedFunctionName` (Get, Invoke, Delete, ...): at most 256 characters; the name may
    /// hold `.` and the qualifier may be `$LATEST.PUBLISHED`.
    Namespaced,
}

const PLAIN_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";
const NAMESPACED_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";

impl NameKind {
    fn max_len(self) -> usize {
        match self {
            Self::Plain => 140,
            Self::Namespaced => 256,
        }
    }

    fn pattern(self) -> &'static str {
        match self {
            Self::Plain => PLAIN_PATTERN,
            Self::Namespaced => NAMESPACED_PATTERN,
        }
    }

    fn name_byte_ok(self, b: u8) -> bool {
        b.is_ascii_alphanumeric()
            || b == b'-'
            || b == b'_'
            || (self == Self::Namespaced && b == b'.')
    }

    fn qualifier_ok(self, q: &str) -> bool {
        Qualifier::parse(q).is_ok() || (self == Self::Namespaced && q == "$LATEST.PUBLISHED")
    }
}

impl FunctionRef {
    /// Parses any of the three forms of a `FunctionName` member (see [`Self::parse_as`]).
    pub fn parse(s: &str) -> Result<Self> {
        Self::parse_as(s, NameKind::Plain)
    }

    /// Parses any of the three forms, checking length before pattern as Lambda does. A
    /// well-formed reference that no function can answer to (a name longer than 64 characters,
    /// or one with `.`) is [`ValidationError::NameTooLong`] / [`ValidationError::NoSuchName`].
    pub fn parse_as(s: &str, kind: NameKind) -> Result<Self> {
        let bad = || {
            ValidationError::constraint(
                "functionName",
                s,
                format!(
                    "Member must satisfy regular expression pattern: {}",
                    kind.pattern()
                ),
            )
        };
        if s.is_empty() {
            return Err(ValidationError::constraint(
                "functionName",
                s,
                "Member must have length greater than or equal to 1",
            ));
        }
        if s.len() > kind.max_len() {
            return Err(ValidationError::constraint(
                "functionName",
                s,
                format!(
                    "Member must have length less than or equal to {}",
                    kind.max_len()
                ),
            ));
        }
        let parts: Vec<&str> = s.split(':').collect();
        let (region, account_id, rest): (Option<&str>, Option<&str>, &[&str]) = match parts
            .as_slice()
        {
            ["arn", partition, "lambda", region, account, "function", rest @ ..] => {
                if !partition.starts_with("aws") || !is_region(region) || !is_account(account) {
                    return Err(bad());
                }
                (Some(region), Some(account), rest)
            }
            [account, "function", rest @ ..] if is_account(account) => (None, Some(account), rest),
            rest => (None, None, rest),
        };
        let (name, qualifier) = match rest {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            _ => return Err(bad()),
        };
        if name.is_empty() || !name.bytes().all(|b| kind.name_byte_ok(b)) {
            return Err(bad());
        }
        if qualifier.is_some_and(|q| !kind.qualifier_ok(q)) {
            return Err(bad());
        }
        if name.len() > MAX_NAME_LEN {
            return Err(ValidationError::NameTooLong {
                value: s.to_owned(),
                name: name.to_owned(),
            });
        }
        let (Ok(name), Ok(qualifier)) = (
            FunctionName::parse(name),
            qualifier.map(Qualifier::parse).transpose(),
        ) else {
            return Err(ValidationError::NoSuchName {
                value: s.to_owned(),
                name: name.to_owned(),
            });
        };
        Ok(Self {
            name,
            qualifier,
            account_id: account_id.map(str::to_owned),
            region: region.map(str::to_owned),
        })
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    // e.g. us-east-1, us-gov-west-1, eu-central-2, us-isob-east-1, eusc-de-east-1
    let s = s.strip_prefix("eusc-").unwrap_or(s);
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts
            .last()
            .is_some_and(|d| d.len() == 1 && d.bytes().all(|b| b.is_ascii_digit()))
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_three_forms() {
        let r = FunctionRef::parse("my-fn").expect("plain name");
        assert_eq!(r.name.as_str(), "my-fn");
        assert!(r.qualifier.is_none());
        let r = FunctionRef::parse("my-fn:$LATEST").expect("qualified");
        assert!(r.qualifier.as_ref().is_some_and(Qualifier::is_latest));
        let r = FunctionRef::parse("123456789012:function:my-fn").expect("partial arn");
        assert_eq!(r.account_id.as_deref(), Some("123456789012"));
        let r = FunctionRef::parse("arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod")
            .expect("full arn");
        assert_eq!(r.name.as_str(), "my-fn");
        assert_eq!(r.qualifier.map(|q| q.0).as_deref(), Some("prod"));
        assert_eq!(r.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn namespaced_names_parse_but_name_no_function() {
        for s in ["my.fn", "my-fn:$LATEST.PUBLISHED"] {
            assert!(matches!(
                FunctionRef::parse_as(s, NameKind::Namespaced),
                Err(ValidationError::NoSuchName { .. })
            ));
            assert!(matches!(
                FunctionRef::parse(s),
                Err(ValidationError::Constraint { .. })
            ));
        }
        let r = FunctionRef::parse_as(
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f",
            NameKind::Namespaced,
        )
        .expect("GovCloud ARN");
        assert_eq!(r.region.as_deref(), Some("us-gov-west-1"));
        assert!(
            FunctionRef::parse("arn:aws:lambda:eusc-de-east-1:123456789012:function:f").is_ok()
        );
    }

    #[test]
    fn length_is_checked_before_pattern() {
        let long = format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            "a b".repeat(40)
        );
        match FunctionRef::parse(&long) {
            Err(ValidationError::Constraint { constraint, .. }) => {
                assert_eq!(
                    constraint,
                    "Member must have length less than or equal to 140"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            FunctionRef::parse(&"n".repeat(65)),
            Err(ValidationError::NameTooLong { .. })
        ));
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "has space",
            "a/b",
            &"x".repeat(65),
            "arn:aws:lambda:nowhere:123:function:f",
            "a:b:c:d",
        ] {
            assert!(
                FunctionRef::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
