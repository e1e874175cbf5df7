//! The error type of the Lambda HTTP surface and its wire shape.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kumo_store::StoreError;
use kumo_types::ValidationError;

/// An error answered in Lambda's REST-JSON shape: status, `x-amzn-ErrorType`, and a JSON body
/// `{"Type": "User", "message": ...}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra JSON members (e.g. `Reason` for throttles).
    pub reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason: None,
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    pub fn invalid_content(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            message,
        )
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ResourceConflictException", message)
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )
    }

    pub fn service(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            message,
        )
    }

    /// A function of another account: Lambda answers 403 with no message.
    pub fn access_denied() -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDeniedException", "")
    }

    pub fn unsupported(what: &str) -> Self {
        Self::invalid_parameter(format!("{what} is not supported by Kumo yet"))
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        match e {
            ValidationError::Constraint { .. }
            | ValidationError::NameTooLong { .. }
            | ValidationError::NoSuchName { .. } => Self::validation(e.to_string()),
            ValidationError::InvalidParameter(m) => Self::invalid_parameter(m),
        }
    }
}

impl From<kumo_events::config_rules::RuleError> for ApiError {
    fn from(e: kumo_events::config_rules::RuleError) -> Self {
        use kumo_events::config_rules::RuleError;
        match e {
            RuleError::Validation(m) => Self::validation(m),
            RuleError::InvalidParameter(m) => Self::invalid_parameter(m),
            RuleError::Store(e) => e.into(),
        }
    }
}

impl From<kumo_events::AcceptError> for ApiError {
    fn from(e: kumo_events::AcceptError) -> Self {
        match e {
            kumo_events::AcceptError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                e.to_string(),
            ),
            kumo_events::AcceptError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidPackage(m) => Self::invalid_parameter(m),
            StoreError::PackageTooLarge(m) => Self::invalid_parameter(m),
            StoreError::RevisionMismatch => Self::precondition_failed(),
            StoreError::AlreadyExists(name) => {
                Self::conflict(format!("Function already exist: {name}"))
            }
            other => {
                tracing::error!(error = ?other, "store failure");
                Self::service("An internal error occurred in the store")
            }
        }
    }
}

impl From<kumo_engine::InvokeError> for ApiError {
    fn from(e: kumo_engine::InvokeError) -> Self {
        use kumo_engine::InvokeError;
        match e {
            InvokeError::Throttled { reason } => {
                let mut err = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    "Rate Exceeded.",
                );
                err.reason = Some(reason);
                err
            }
            InvokeError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceException",
                "Kumo is shutting down; retry on another node",
            ),
            InvokeError::Platform(msg) => Self::service(msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        // The model spells the message key `Message` for some shapes and `message` for others;
        // both SDKs accept either, so send both spellings' owners what they expect.
        let msg_key = match self.code {
            "ResourceNotFoundException" | "ServiceException" | "ResourceInUseException" => {
                "Message"
            }
            _ => "message",
        };
        let mut body = serde_json::json!({ "Type": if self.status.is_server_error() { "Service" } else { "User" } });
        if !self.message.is_empty() {
            body[msg_key] = self.message.clone().into();
        }
        if let Some(reason) = self.reason {
            body["Reason"] = reason.into();
        }
        let mut resp = (
            self.status,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response();
        resp.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        if self.code == "TooManyRequestsException" {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
