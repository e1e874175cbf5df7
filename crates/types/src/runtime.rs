//! Runtime identifiers (`python3.11`, `nodejs20.x`, `provided.al2023`...).

use crate::{Result, ValidationError};

/// The language family of a runtime: decides which bootstrap runs in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeFamily {
    Python,
    Node,
    Java,
    Dotnet,
    Ruby,
    Go,
    /// OS-only runtimes: the package brings its own `bootstrap`.
    Provided,
}

/// A runtime name from Lambda's `Runtime` enum.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Runtime(String);

/// Every value of the `Runtime` enum in Lambda's API model, in the model's order (error messages
/// list them in this order).
const KNOWN: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "java8",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "dotnet10",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
    "provided",
    "provided.al2",
    "provided.al2023",
    "nodejs26.x",
    "python3.15",
    "java8.al2023",
    "java11.al2023",
    "java17.al2023",
    "custom",
];

impl Runtime {
    pub fn parse(s: &str) -> Result<Self> {
        if KNOWN.contains(&s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationError::constraint(
                "runtime",
                s,
                format!("Member must satisfy enum value set: [{}]", KNOWN.join(", ")),
            ))
        }
    }

    /// Every runtime name Lambda's API knows, in its order.
    pub fn known() -> &'static [&'static str] {
        KNOWN
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn family(&self) -> RuntimeFamily {
        let s = self.0.as_str();
        if s.starts_with("python") {
            RuntimeFamily::Python
        } else if s.starts_with("nodejs") {
            RuntimeFamily::Node
        } else if s.starts_with("java") {
            RuntimeFamily::Java
        } else if s.starts_with("dotnet") {
            RuntimeFamily::Dotnet
        } else if s.starts_with("ruby") {
            RuntimeFamily::Ruby
        } else if s == "go1.x" {
            RuntimeFamily::Go
        } else {
            RuntimeFamily::Provided
        }
    }
}

impl TryFrom<String> for Runtime {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<Runtime> for String {
    fn from(r: Runtime) -> String {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(
            Runtime::parse("python3.11").map(|r| r.family()),
            Ok(RuntimeFamily::Python)
        );
        assert_eq!(
            Runtime::parse("nodejs20.x").map(|r| r.family()),
            Ok(RuntimeFamily::Node)
        );
        assert_eq!(
            Runtime::parse("provided.al2023").map(|r| r.family()),
            Ok(RuntimeFamily::Provided)
        );
        assert!(Runtime::parse("cobol1").is_err());
    }
}
