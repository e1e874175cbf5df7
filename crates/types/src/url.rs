//! Function URLs: the dedicated HTTP endpoint a function can be given, its auth type and CORS.

use crate::{FunctionName, Result, ValidationError};

/// Who may call a function URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UrlAuthType {
    /// Anyone who can reach Kumo.
    None,
    /// Only callers whose request carries a valid SigV4 signature for service `lambda`.
    AwsIam,
}

impl UrlAuthType {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "NONE" => Ok(Self::None),
            "AWS_IAM" => Ok(Self::AwsIam),
            other => Err(ValidationError::constraint(
                "authType",
                other,
                "Member must satisfy enum value set: [NONE, AWS_IAM]",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::AwsIam => "AWS_IAM",
        }
    }
}

/// Cross-origin resource sharing settings of a function URL. Absent members stay absent, so that
/// what a client set is what it reads back.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cors {
    pub allow_credentials: Option<bool>,
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origins: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<i64>,
}

/// The largest `Cors.MaxAge` Lambda accepts (one day).
pub const MAX_CORS_MAX_AGE: i64 = 86_400;

fn check_list(
    member: &'static str,
    list: Option<&Vec<String>>,
    max_items: usize,
    item_len: std::ops::RangeInclusive<usize>,
) -> Result<()> {
    let Some(list) = list else { return Ok(()) };
    if list.len() > max_items {
        return Err(ValidationError::constraint(
            member,
            format!("[{}]", list.join(", ")),
            format!("Member must have length less than or equal to {max_items}"),
        ));
    }
    for item in list {
        if !item_len.contains(&item.len()) {
            let constraint = if item.len() < *item_len.start() {
                format!(
                    "Member must satisfy constraint: [Member must have length greater than or equal to {}]",
                    item_len.start()
                )
            } else {
                format!(
                    "Member must satisfy constraint: [Member must have length less than or equal to {}]",
                    item_len.end()
                )
            };
            return Err(ValidationError::constraint(
                member,
                format!("[{}]", list.join(", ")),
                constraint,
            ));
        }
    }
    Ok(())
}

impl Cors {
    /// Lambda's model constraints on each member.
    pub fn validate(&self) -> Result<()> {
        check_list(
            "cors.allowHeaders",
            self.allow_headers.as_ref(),
            100,
            0..=1024,
        )?;
        check_list("cors.allowMethods", self.allow_methods.as_ref(), 6, 0..=6)?;
        check_list(
            "cors.allowOrigins",
            self.allow_origins.as_ref(),
            100,
            1..=253,
        )?;
        check_list(
            "cors.exposeHeaders",
            self.expose_headers.as_ref(),
            100,
            0..=1024,
        )?;
        for m in self.allow_methods.iter().flatten() {
            if m != "*" && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase())) {
                return Err(ValidationError::InvalidParameter(format!(
                    "Invalid CORS method {m:?}: use HTTP method names such as GET or POST, or *"
                )));
            }
        }
        if let Some(age) = self.max_age {
            if !(0..=MAX_CORS_MAX_AGE).contains(&age) {
                let constraint = if age < 0 {
                    "Member must have value greater than or equal to 0".to_owned()
                } else {
                    format!("Member must have value less than or equal to {MAX_CORS_MAX_AGE}")
                };
                return Err(ValidationError::constraint("cors.maxAge", age, constraint));
            }
        }
        Ok(())
    }

    /// The origin to answer in `Access-Control-Allow-Origin` for a request from `origin`, if any.
    pub fn allowed_origin<'a>(&'a self, origin: &'a str) -> Option<&'a str> {
        let origins = self.allow_origins.as_deref()?;
        if origins.iter().any(|o| o == "*") {
            // Browsers refuse `*` together with credentials; answer the caller's own origin then.
            return Some(if self.allow_credentials == Some(true) {
                origin
            } else {
                "*"
            });
        }
        origins
            .iter()
            .find(|o| o.eq_ignore_ascii_case(origin))
            .map(|_| origin)
    }
}

/// A function's URL configuration. Kumo binds URLs to `$LATEST` (aliases are not supported yet),
/// so a function has at most one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionUrlConfig {
    pub function: FunctionName,
    /// 32 lower-case letters and digits; the first label of the URL's host name.
    pub url_id: String,
    pub auth_type: UrlAuthType,
    pub cors: Option<Cors>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// Whether `s` has the shape of a URL id (so that random host names never reach the store).
pub fn is_url_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_type_round_trips_and_refuses_unknown_values() {
        assert_eq!(UrlAuthType::parse("NONE"), Ok(UrlAuthType::None));
        assert_eq!(
            UrlAuthType::parse("AWS_IAM").map(UrlAuthType::as_str),
            Ok("AWS_IAM")
        );
        let err = UrlAuthType::parse("IAM").expect_err("unknown auth type");
        assert!(err.to_string().contains("[NONE, AWS_IAM]"), "{err}");
    }

    #[test]
    fn cors_constraints_are_enforced() {
        let ok = Cors {
            allow_methods: Some(vec!["GET".into(), "*".into()]),
            max_age: Some(86_400),
            ..Cors::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let long_method = Cors {
            allow_methods: Some(vec!["OPTIONS".into()]),
            ..Cors::default()
        };
        assert!(long_method.validate().is_err());
        let lower = Cors {
            allow_methods: Some(vec!["get".into()]),
            ..Cors::default()
        };
        assert!(matches!(
            lower.validate(),
            Err(ValidationError::InvalidParameter(_))
        ));
        let age = Cors {
            max_age: Some(86_401),
            ..Cors::default()
        };
        assert!(age.validate().is_err());
        let empty_origin = Cors {
            allow_origins: Some(vec![String::new()]),
            ..Cors::default()
        };
        assert!(empty_origin.validate().is_err());
    }

    #[test]
    fn allowed_origin_matches_listed_origins_or_wildcard() {
        let listed = Cors {
            allow_origins: Some(vec!["https://app.example".into()]),
            ..Cors::default()
        };
        assert_eq!(
            listed.allowed_origin("https://app.example"),
            Some("https://app.example")
        );
        assert_eq!(listed.allowed_origin("https://evil.example"), None);
        let any = Cors {
            allow_origins: Some(vec!["*".into()]),
            ..Cors::default()
        };
        assert_eq!(any.allowed_origin("https://x.example"), Some("*"));
        let any_with_credentials = Cors {
            allow_credentials: Some(true),
            ..any
        };
        assert_eq!(
            any_with_credentials.allowed_origin("https://x.example"),
            Some("https://x.example")
        );
        assert_eq!(Cors::default().allowed_origin("https://x.example"), None);
    }

    #[test]
    fn url_ids_are_32_lowercase_alphanumerics() {
        assert!(is_url_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_url_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_url_id("short"));
    }
}
