//! The AWS JSON 1.1 protocol: `POST /` with `X-Amz-Target: <Service>.<Operation>` and a JSON body.
//!
//! This module holds what the services on that protocol share: errors in the protocol's shape
//! (status 400 or 5xx, body `{"__type": code, "message": ...}`) and successful answers. The route
//! that picks the service is in `json11_route.rs`.

use axum::http::StatusCode;
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
