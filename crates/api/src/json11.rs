//! The AWS JSON 1.1 protocol: `POST /` with `X-Amz-Target: <Service>.<Operation>` and a JSON body.
//!
//! CloudWatch Logs (`Logs_20140328.*`, in [`crate::logs_api`]) and EventBridge (`AWSEvents.*`, in
//! [`crate::events_api`]) share this one route; this module only picks the service. Errors are
//! answered in the protocol's shape: status 400 (or 5xx), body `{"__type": code, "message": ...}`.

use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error in JSON 1.1 shape.
#[derive(Debug)]
pub struct Json11Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Json11Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServiceUnavailableException",
            message: message.into(),
        }
    }
}

impl IntoResponse for Json11Error {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"__type": self.code, "message": self.message});
        (
            self.status,
            [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amzn-errortype", self.code),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

pub type Json11Result = Result<serde_json::Value, Json11Error>;

/// A successful JSON 1.1 answer.
pub fn ok(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        value.to_string(),
    )
        .into_response()
}

/// `POST /`: routes by `X-Amz-Target`.
pub async fn dispatch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some((service, op)) = target.split_once('.') else {
        return Json11Error::new(
            "UnknownOperationException",
            "missing or malformed X-Amz-Target header",
        )
        .into_response();
    };
    let input = if body.is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                return Json11Error::new(
                    "SerializationException",
                    "the request body is not a JSON object",
                )
                .into_response()
            }
        }
    };
    let result = match service {
        "Logs_20140328" => crate::logs_api::handle(&state, op, input).await,
        "AWSEvents" => crate::events_api::handle(&state, op, input).await,
        _ => Err(Json11Error::new(
            "UnknownOperationException",
            format!("unknown service {service}"),
        )),
    };
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}
